// Regression slice of the crash sweep (bench/reliability/crash-sweep.ts): a few
// SIGKILLs of the built wwgetfiles and wwgetvnfs --target, with every check of
// the full sweep. The full sweep (300+ kills each) is `npm run reliability`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { sweepFiles, sweepVnfs } from '../../bench/reliability/crash-sweep.ts';
import type { Figures } from '../../bench/reliability/common.ts';

const zero = (f: Figures, except: string[] = []) => {
  const bad = f.failures().filter((x) => !except.some((e) => x.name.startsWith(e)));
  assert.equal(
    bad.map((x) => `${x.name} = ${x.value}`),
    [],
    f.list.map((x) => `${x.name}: ${x.value}`).join('\n'),
  );
};

test('wwgetfiles: 10 kills; no partial object, wrong mode/owner, stale lock or stale temporary; re-runs complete the tree', async () => {
  const f = await sweepFiles({ kills: 10, objects: 30, maxBytes: 1 << 20, seed: 1234 });
  assert.is(f.get('kills (SIGKILL at a random moment of a run)'), 10);
  zero(f);
});

test('wwgetvnfs --target: 2 kills; every re-run unpacks the image exactly', async () => {
  const f = await sweepVnfs({ kills: 2, files: 100, bigBytes: 512 << 10, seed: 4321 });
  assert.is(f.get('kills (SIGKILL at a random moment of an unpack)'), 2);
  zero(f);
});

test.run();
