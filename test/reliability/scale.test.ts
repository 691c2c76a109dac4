// Regression slice of the scale harness (bench/reliability/scale.ts): 200 nodes
// on one tick, with the splay (compressed into 1 s) and without.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { scale } from '../../bench/reliability/scale.ts';

test('200 nodes, splay and no splay: no failures, every request counted', async () => {
  const [splay, herd] = await scale({ nodes: 200, compress: 180, seed: 7, deadlineS: 60 });
  for (const f of [splay, herd]) {
    assert.is(f.get('failures (nodes that gave up or missed the deadline)'), 0);
    assert.is(f.get('requests at the master'), 400);
  }
});

test.run();
