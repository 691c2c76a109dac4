// WWDEBUG inside the initramfs: upstream's /etc/functions always sets it, to "0" unless wwdebug=N is
// on the kernel command line (PROTOCOL 1 and 7). "0" must mean off, or a node booting while its
// master is down would give up after 3 quick attempts (and reboot) instead of backing off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadAddress } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';

const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-'));
const tryOnce = async (wwdebug: string) => {
  const dead = await deadAddress();
  // two rounds, so exactly one back-off line shows the policy in force
  return run(bin('wwgetscript'), ['runtime', '--sysroot', sysroot, '--attempts', '2'], {
    env: { WWMASTER: dead, WWINIT_HWADDR: '52:54:00:77:00:01', WWDEBUG: wwdebug },
  });
};

test('WWDEBUG=0 (the initramfs default) means off: the upstream back-off applies', async () => {
  const r = await tryOnce('0');
  assert.is(r.code, 2);
  assert.match(r.stderr, /retrying in ([12](\.\d)?|3) s \(attempt 2 of 2\)/, r.stderr);
});

test('WWDEBUG=00 and " 0 " are 0 too (one number grammar, issue 16): off', async () => {
  for (const v of ['00', ' 0 ']) {
    const r = await tryOnce(v);
    assert.is(r.code, 2);
    assert.match(r.stderr, /retrying in ([12](\.\d)?|3) s \(attempt 2 of 2\)/, `${JSON.stringify(v)}: ${r.stderr}`);
  }
});

test('WWDEBUG=1 still means no back-off', async () => {
  const r = await tryOnce('1');
  assert.is(r.code, 2);
  assert.match(r.stderr, /retrying in 0 s \(attempt 2 of 2\)/, r.stderr);
});

test.run();
