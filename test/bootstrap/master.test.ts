// Issue 16: the step finds the master in PROTOCOL 1 order (environment, /warewulf/config,
// /etc/network.conf DHCP_SERVER, /proc/cmdline wwmaster=) and reads the files as data, never as code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseShellVars } from '../../src/core/settings/shellvars.ts';
import { fakeRuntime, read, runStep, scratch, SHELLS, warnings } from './harness.ts';

test('master: environment, /warewulf/config, network.conf DHCP_SERVER, then wwmaster= (PROTOCOL 1 order)', () => {
  const s = scratch();
  try {
    const src = fakeRuntime(s.dir);
    const master = () => parseShellVars(read(join(s.root, 'warewulf/config'))).vars.get('WWMASTER');
    mkdirSync(join(s.host, 'etc'));
    mkdirSync(join(s.host, 'warewulf'));
    writeFileSync(join(s.host, 'proc/cmdline'), 'quiet wwmaster=10.0.0.1 wwmaster=10.0.0.2\n');
    writeFileSync(join(s.host, 'etc/network.conf'), 'IPADDR=10.0.0.50\nDHCP_SERVER=10.7.7.7\n');
    writeFileSync(join(s.host, 'warewulf/config'), "WWMASTER='10.9.9.9:8080'\nexport WWMASTER\n");
    const run = (env: Record<string, string | undefined> = {}) => {
      const r = runStep(SHELLS[1], s, { WWRUNTIME_SOURCE: src, ...env });
      assert.is(r.status, 0, r.stderr);
      return r;
    };
    run({ WWMASTER: 'm1' });
    assert.is(master(), 'm1');
    run();
    assert.is(master(), '10.9.9.9:8080');
    rmSync(join(s.host, 'warewulf/config'));
    run();
    assert.is(master(), '10.7.7.7', 'network.conf comes before the kernel command line');
    writeFileSync(join(s.host, 'etc/network.conf'), 'IPADDR=10.0.0.50\n');
    run();
    assert.is(master(), '10.0.0.2', 'the last wwmaster= on the command line');
  } finally {
    s.cleanup();
  }
});

for (const shell of SHELLS) {
  test(`${shell.join(' ')}: network.conf is parsed as data: $(...) and backticks in it never run`, () => {
    const s = scratch();
    try {
      const src = fakeRuntime(s.dir);
      const pwned = (n: number) => join(s.dir, `pwned${n}`);
      mkdirSync(join(s.host, 'etc'));
      writeFileSync(join(s.host, 'proc/cmdline'), 'quiet\n');
      writeFileSync(
        join(s.host, 'etc/network.conf'),
        [
          `HOSTNAME=$(touch ${pwned(1)})`,
          `GATEWAY=\`touch ${pwned(2)}\``,
          `touch ${pwned(3)}`,
          `NETMASK=1; touch ${pwned(4)}`,
          `  export DHCP_SERVER="10.7.7.8"  `,
          '',
        ].join('\n'),
      );
      const r = runStep(shell, s, { WWRUNTIME_SOURCE: src });
      assert.is(r.status, 0, r.stderr);
      for (const n of [1, 2, 3, 4]) assert.not.ok(existsSync(pwned(n)), `network.conf line ${n} ran`);
      assert.is(parseShellVars(read(join(s.root, 'warewulf/config'))).vars.get('WWMASTER'), '10.7.7.8');
      // a DHCP_SERVER that is code: never run, not taken as the master, one line; then the command line
      writeFileSync(join(s.host, 'etc/network.conf'), `DHCP_SERVER=$(touch ${pwned(5)})\n`);
      writeFileSync(join(s.host, 'proc/cmdline'), 'quiet wwmaster=10.0.0.1\n');
      const b = runStep(shell, s, { WWRUNTIME_SOURCE: src });
      assert.is(b.status, 0, b.stderr);
      assert.not.ok(existsSync(pwned(5)));
      assert.equal(warnings(b.stderr), [`wwruntime: DHCP_SERVER in ${s.host}/etc/network.conf is not a list of host[:port]: ignored`]);
      assert.is(parseShellVars(read(join(s.root, 'warewulf/config'))).vars.get('WWMASTER'), '10.0.0.1');
      writeFileSync(join(s.host, 'proc/cmdline'), 'quiet\n');
      const none = runStep(shell, s, { WWRUNTIME_SOURCE: src });
      assert.is(none.status, 2);
      assert.not.ok(existsSync(pwned(5)));
      assert.match(none.stderr, /ERROR: Could not identify master node!/);
    } finally {
      s.cleanup();
    }
  });
}

test.run();
