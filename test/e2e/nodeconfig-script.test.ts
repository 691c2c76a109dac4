// wwgetnodeconfig and wwgetscript: the BUILT executables under env -i against the test master.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { HWADDR as HW, nodeEnv } from '../helpers/node.ts';

const isRoot = process.getuid?.() === 0;
let m: RunningMaster;
const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-')); // empty: no /warewulf/config, no /proc/cmdline
const env = (extra: Record<string, string> = {}) => nodeEnv(m, extra);
const base = ['--sysroot', sysroot];

test.before(async () => {
  m = await startMaster(sampleFixture(), { privilegedPorts: isRoot });
});
test.after(() => m.stop());

test('--help and --version under env -i, no experimental warning', async () => {
  for (const t of ['wwgetnodeconfig', 'wwgetscript', 'wwgetfiles', 'wwgetvnfs', 'wwruntime']) {
    const v = await run(bin(t), ['--version']);
    assert.is(v.code, 0, t);
    assert.match(v.stdout, new RegExp(`^${t} \\(wwruntime\\) \\d+\\.\\d+\\.\\d+, Node\\.js v24\\.`));
    assert.is(v.stderr, '', `${t}: nothing on stderr`);
    const h = await run(bin(t), ['--help']);
    assert.is(h.code, 0);
    assert.match(h.stdout, /Usage:/);
    if (t !== 'wwruntime') assert.match(h.stdout, /Exit codes:[\s\S]*\b2\b/);
    assert.is(h.stderr, '');
  }
});

test('wwgetnodeconfig prints the configuration as sent, and a shell can source it', async () => {
  const r = await run(bin('wwgetnodeconfig'), base, { env: env() });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /^WWNAME="n0000"$/m);
  assert.match(r.stdout, /^export WWNAME$/m);
  const lines = r.stdout.trimEnd().split('\n');
  assert.match(lines[lines.length - 4], /^WWVNFS_NAME=/, 'VNFS keys come last, as sent');
  const f = join(sysroot, 'nodeconfig');
  writeFileSync(f, r.stdoutBytes);
  const out = execFileSync('sh', ['-c', `. ${f}; printf '%s|%s' "$WWNAME" "$WWGROUPS"`], { encoding: 'utf8', env: {} });
  assert.is(out, 'n0000|compute,test');
});

test('wwgetnodeconfig --json', async () => {
  const r = await run(bin('wwgetnodeconfig'), [...base, '--json'], { env: env() });
  assert.is(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.WWNAME, 'n0000');
  assert.is(j.WWVNFS_NAME, 'sample');
});

test('hwaddr is sent lower-case', async () => {
  const r = await run(bin('wwgetnodeconfig'), base, { env: env({ WWINIT_HWADDR: HW.toUpperCase() }) });
  assert.is(r.code, 0, r.stderr);
  assert.is(m.requests[m.requests.length - 1].query.hwaddr, HW);
});

test('unknown node: exit 2, nothing on stdout (both dialects)', async () => {
  for (const dialect of ['development', 'master'] as const) {
    m.options.dialect = dialect;
    for (const tool of ['wwgetnodeconfig', 'wwgetfiles']) {
      const r = await run(bin(tool), [...base, '--no-delay'].slice(0, tool === 'wwgetfiles' ? 3 : 2), {
        env: env({ WWINIT_HWADDR: 'de:ad:be:ef:00:00', NEWROOT: sysroot }),
      });
      assert.is(r.code, 2, `${tool} ${dialect}: ${r.stderr}`);
      assert.is(r.stdout, '');
      assert.match(r.stderr, /404|unknown node|empty node configuration/);
    }
  }
  m.options.dialect = 'development';
});

test('no master anywhere: the upstream message, exit 2', async () => {
  const r = await run(bin('wwgetscript'), [...base, 'runtime'], { env: { WWINIT_HWADDR: HW } });
  assert.is(r.code, 2);
  assert.match(r.stderr, /ERROR: Could not identify master node!/);
});

test('wwgetscript prints only shell-format objects, whole; empty script exits 0 silently', async () => {
  const r = await run(bin('wwgetscript'), [...base, 'runtime'], { env: env() });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, '#!/bin/sh\necho runtime one\necho runtime two\n');
  // Asynchronously: the test master lives in this process.
  const sh = await run('/bin/sh', ['-c', `${bin('wwgetscript')} ${base.join(' ')} runtime | /bin/sh`], { env: env() });
  assert.is(sh.stdout, 'runtime one\nruntime two\n');
  const none = await run(bin('wwgetscript'), [...base, 'nosuchtype'], { env: env() });
  assert.is(none.code, 0);
  assert.is(none.stdout, '');
});

test('wwgetscript usage errors: exit 2', async () => {
  for (const args of [[], ['a', 'b'], ['bad/type'], ['--bogus', 'runtime']]) {
    const r = await run(bin('wwgetscript'), [...base, ...args], { env: env() });
    assert.is(r.code, 2, args.join(' '));
    assert.is(r.stdout, '');
  }
});

test('failover from a dead master to a live one', async () => {
  const dead = await deadAddress();
  const r = await run(bin('wwgetscript'), [...base, 'pre'], { env: env({ WWMASTER: `${dead},${m.address}` }) });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'echo pre\n');
});

test('a truncated script is an error and nothing is printed (never half a script)', async () => {
  m.options.fault = (req) => (req.path === '/WW/script' ? { kind: 'cut', afterBytes: 10 } : undefined);
  try {
    const r = await run(bin('wwgetscript'), [...base, '--attempts', '2', '--max-wait', '0', 'runtime'], { env: env() });
    assert.is(r.code, 2);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /truncated|connection lost/);
    const c = await run(bin('wwgetnodeconfig'), base, { env: env({ WWDEBUG: '1' }) });
    assert.is(c.code, 0, 'nodeconfig unaffected');
  } finally {
    m.options.fault = undefined;
  }
});

test('a lying Content-Length is truncation too', async () => {
  m.options.fault = (req) => (req.path === '/WW/nodeconfig' ? { kind: 'length', declared: 100000 } : undefined);
  try {
    const r = await run(bin('wwgetnodeconfig'), [...base, '--attempts', '1', '--timeout', '2'], { env: env() });
    assert.is(r.code, 2);
    assert.is(r.stdout, '');
  } finally {
    m.options.fault = undefined;
  }
});

test('403 from an unprivileged source port says root is needed', async () => {
  m.options.privilegedPorts = true;
  try {
    const r = await run(bin('wwgetnodeconfig'), [...base, '--source-port', 'any'], { env: env() });
    assert.is(r.code, 2);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /403.*privileged source ports.*root/);
    if (isRoot) {
      const ok = await run(bin('wwgetnodeconfig'), base, { env: env() });
      assert.is(ok.code, 0, ok.stderr);
      const port = m.requests[m.requests.length - 1].remotePort;
      assert.ok(port >= 100 && port <= 1023, `source port ${port}`);
    }
  } finally {
    m.options.privilegedPorts = isRoot;
  }
});

test('the multi-call executable picks the tool from its invoked name (a symlink elsewhere to the launcher)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'multicall-'));
  symlinkSync(bin('wwruntime'), join(dir, 'wwgetscript'));
  const r = await run(join(dir, 'wwgetscript'), [...base, 'pre'], { env: env() });
  rmSync(dir, { recursive: true, force: true });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'echo pre\n');
  const s = await run(bin('wwruntime'), ['wwgetscript', ...base, 'post'], { env: env() });
  assert.is(s.stdout, 'echo post\n');
  const bad = await run(bin('wwruntime'), ['nosuchtool']);
  assert.is(bad.code, 2);
});

test('settings from /warewulf/config and /proc/cmdline under --sysroot', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sysroot-'));
  execFileSync('mkdir', ['-p', join(root, 'warewulf'), join(root, 'proc')]);
  writeFileSync(join(root, 'warewulf/config'), `WWINIT_HWADDR='${HW}'\nexport WWINIT_HWADDR\n`);
  writeFileSync(join(root, 'proc/cmdline'), `quiet wwmaster=${m.address}\n`);
  const r = await run(bin('wwgetscript'), ['--sysroot', root, 'post']);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'echo post\n');
});

test.run();
