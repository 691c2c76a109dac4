// Regression slice of the fuzzer (bench/reliability/fuzz.ts): 2,000 generated
// inputs for each parser, a fixed seed, every must-be-0 figure asserted.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzz } from '../../bench/reliability/fuzz.ts';

test('file list, settings, node config, archives: no crash, nothing outside the root, no invalid value accepted', async () => {
  const all = await fuzz({ inputs: 2000, seed: 2024 });
  assert.is(all.length, 4);
  for (const f of all) assert.is(f.get('inputs'), 2000);
  const bad = all.flatMap((f) => f.failures().map((x) => `${f.title}: ${x.name} = ${x.value}`));
  assert.equal(bad, []);
});

test.run();
