// Regression slice of the faulty-master harness (bench/reliability/faulty-master.ts):
// every fault once against the built wwgetfiles (only master; then a good second
// master), and `wwgetscript runtime | /bin/sh` (only master) under the faults that
// cut a script's body short.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { faultyMaster } from '../../bench/reliability/faulty-master.ts';

test('every fault: nothing wrong installed, no half-run script, documented exit codes, failover used', async () => {
  const all = await faultyMaster({
    files: [1, 1, 0],
    scripts: [1, 0, 0],
    seed: 99,
    attempts: 1,
    timeout: '0.5',
    scriptFaults: ['reset mid-body', 'body shorter than Content-Length', 'stall beyond the timeout'],
  });
  assert.is(all.length, 13);
  const bad = all.flatMap((f) => f.failures().map((x) => `${f.title}: ${x.name} = ${x.value}`));
  assert.equal(bad, [], all.map((f) => f.list.map((x) => `${f.title}: ${x.name}: ${x.value}`).join('\n')).join('\n'));
});

test.run();
