// Bad input an administrator can type (issue 16): numbers in settings and options,
// a bad WWMASTER entry, --ca-file without --https, proxies in the environment. The
// BUILT executables under env -i against the test master. Each case: one clear line
// on stderr and a documented exit code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { makeCa } from '../helpers/certs.ts';
import { nodeEnv } from '../helpers/node.ts';

const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-')); // a running node: no /init
let m: RunningMaster;
const lines = (s: string) => s.split('\n').filter((l) => l !== '');

test.before(async () => {
  m = await startMaster(sampleFixture());
});
test.after(() => m.stop());

const base = ['--sysroot', sysroot, '--source-port', 'any'];
const env = (extra: Record<string, string> = {}) => nodeEnv(m, extra);

test('a bad number in a setting: one warning line, the documented default, the run goes on (exit 0)', async () => {
  const root = mkdtempSync(join(tmpdir(), 'newroot-'));
  // SLEEPTIME=0 keeps the run quick; the bad interval is still read and reported.
  const r = await run(bin('wwgetfiles'), base, { env: env({ NEWROOT: root, SLEEPTIME: '0', WWGETFILES_INTERVAL: '09x' }) });
  assert.is(r.code, 0, r.stderr);
  const warn = lines(r.stderr).filter((l) => /WARNING/.test(l));
  assert.equal(warn, ["wwgetfiles: WARNING: WWGETFILES_INTERVAL='09x' is not a whole number of seconds in 0..86400, using 180"]);
  assert.ok(existsSync(join(root, 'etc/hosts')));
  // A bad SLEEPTIME: the random delay instead (here none: WWGETFILES_INTERVAL=0).
  const r2 = await run(bin('wwgetfiles'), base, { env: env({ NEWROOT: root, SLEEPTIME: '-1', WWGETFILES_INTERVAL: '000' }) });
  assert.is(r2.code, 0, r2.stderr);
  assert.equal(
    lines(r2.stderr).filter((l) => /WARNING/.test(l)),
    ["wwgetfiles: WARNING: SLEEPTIME='-1' is not a whole number of seconds in 0..86400, using the random start delay"],
  );
  rmSync(root, { recursive: true, force: true });
});

test('010 means ten: SLEEPTIME with leading zeros and white space', async () => {
  const root = mkdtempSync(join(tmpdir(), 'newroot-'));
  const t0 = Date.now();
  const r = await run(bin('wwgetfiles'), [...base, '-v'], { env: env({ NEWROOT: root, SLEEPTIME: ' 01 ' }) });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /sleeping 1 s/);
  assert.ok(Date.now() - t0 >= 1000);
  rmSync(root, { recursive: true, force: true });
});

test('a bad number in an option: a usage error, one line, exit 2, nothing contacted', async () => {
  const before = m.requests.length;
  const cases: [string, string[], RegExp][] = [
    ['wwgetfiles', ['--attempts', '0x10'], /--attempts takes a whole number in 1\.\.10000, not '0x10'/],
    ['wwgetfiles', ['--attempts', '1e1'], /--attempts takes a whole number/],
    ['wwgetfiles', ['--concurrency', '4.0'], /--concurrency takes a whole number in 1\.\.64, not '4\.0'/],
    ['wwgetfiles', ['--concurrency', '65'], /--concurrency takes a whole number in 1\.\.64/],
    [
      'wwgetfiles',
      ['--object-attempts', '-3'],
      /--object-attempts needs a value \(one starting with '-' is written --object-attempts=VALUE\)/,
    ],
    ['wwgetfiles', ['--object-attempts=-3'], /--object-attempts takes a whole number in 1\.\.10000, not '-3'/],
    ['wwgetnodeconfig', ['--max-time', '0x1'], /--max-time takes a number of seconds in 0\.001\.\.2147483 \(decimals allowed\), not '0x1'/],
    ['wwgetnodeconfig', ['--max-time', '0'], /--max-time takes a number of seconds/],
    ['wwgetnodeconfig', ['--timeout', '99999999999999999999'], /--timeout takes a number of seconds/],
    ['wwgetnodeconfig', ['--connect-timeout', '+1'], /--connect-timeout takes a number of seconds/],
    ['wwgetnodeconfig', ['--speed-limit', '1.5'], /--speed-limit takes a whole number of bytes per second in 0\.\./],
    ['wwgetnodeconfig', ['--max-wait', '1e3'], /--max-wait takes a number of seconds in 0\.\./],
    ['wwgetscript', ['runtime', '--max-run', ' '], /--max-run takes a number of seconds/],
    ['wwgetnodeconfig', ['--master', 'garb@ge!'], /--master: invalid master address 'garb@ge!'/],
    ['wwgetnodeconfig', ['--ca-file', ''], /--ca-file needs a file/],
  ];
  // Never the real /: should an option be taken after all, wwgetfiles installs into a scratch root, at once.
  const scratch = mkdtempSync(join(tmpdir(), 'newroot-'));
  for (const [tool, args, want] of cases) {
    const r = await run(bin(tool), [...base, ...(tool === 'wwgetfiles' ? ['--no-delay'] : []), ...args], {
      env: env({ NEWROOT: scratch }),
    });
    assert.is(r.code, 2, `${tool} ${args.join(' ')}: ${r.stderr}`);
    assert.is(lines(r.stderr).length, 1, `one line: ${r.stderr}`);
    assert.match(r.stderr, want);
    assert.match(r.stderr, new RegExp(`^${tool}: ERROR: .*\\(see '${tool} --help'\\)\\n$`));
  }
  assert.is(m.requests.length, before, 'no master contacted for a usage error');
  rmSync(scratch, { recursive: true, force: true });
  // The same grammar where it is good: leading zeros, a fraction where durations allow one.
  const ok = await run(bin('wwgetnodeconfig'), [...base, '--attempts', '003', '--max-time', '0.50', '--timeout', ' 5 '], { env: env() });
  assert.is(ok.code, 0, ok.stderr);
});

test('a port with leading zeros in WWMASTER is the same port', async () => {
  const r = await run(bin('wwgetnodeconfig'), base, { env: env({ WWMASTER: `${m.host}:00${m.port}` }) });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /WWNAME="n0000"/);
});

test('WWMASTER with one bad entry: skipped with a warning naming it, the good one used', async () => {
  const r = await run(bin('wwgetnodeconfig'), base, { env: env({ WWMASTER: `garb@ge!,${m.address}` }) });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /WWNAME="n0000"/);
  assert.equal(lines(r.stderr), ["wwgetnodeconfig: WARNING: WWMASTER entry 'garb@ge!' is not host[:port]; skipped"]);
  // None valid: the upstream error, exit 2.
  const none = await run(bin('wwgetnodeconfig'), base, { env: env({ WWMASTER: 'garb@ge!,host:99999' }) });
  assert.is(none.code, 2);
  assert.equal(lines(none.stderr), [
    "wwgetnodeconfig: WARNING: WWMASTER entry 'garb@ge!' is not host[:port]; skipped",
    "wwgetnodeconfig: WARNING: WWMASTER entry 'host:99999' has a port outside 1..65535; skipped",
    'wwgetnodeconfig: ERROR: Could not identify master node!',
  ]);
});

test('--ca-file without --https talks https (the CA file means TLS); WWHTTP=http set explicitly keeps http, with a warning', async () => {
  const ca = makeCa();
  const tls = await startMaster(sampleFixture(), { tls: ca.leaf('m', 'IP:127.0.0.1') });
  try {
    const r = await run(bin('wwgetnodeconfig'), [...base, '--ca-file', ca.certPath, '--attempts', '1'], {
      env: env({ WWMASTER: tls.address }),
      timeoutMs: 30_000,
    });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /WWNAME="n0000"/);
    // Explicit http: what was asked for, said once, and (against a TLS port) a failure, not a silent success.
    const h = await run(bin('wwgetnodeconfig'), [...base, '--ca-file', ca.certPath, '--attempts', '1', '--max-time', '2'], {
      env: env({ WWMASTER: tls.address, WWHTTP: 'http' }),
      timeoutMs: 30_000,
    });
    assert.is(h.code, 2);
    assert.match(
      lines(h.stderr)[0],
      /^wwgetnodeconfig: WARNING: WWHTTP=http \(environment\) with --ca-file: talking plain http; the CA file applies only to a redirect to https$/,
    );
  } finally {
    await tls.stop();
    rmSync(ca.dir, { recursive: true, force: true });
  }
});

test('proxy variables are ignored: masters are always contacted directly', async () => {
  const dead = `http://${await deadAddress()}`;
  const proxies = {
    http_proxy: dead,
    HTTP_PROXY: dead,
    https_proxy: dead,
    HTTPS_PROXY: dead,
    all_proxy: dead,
    ALL_PROXY: dead,
    no_proxy: 'none',
    NO_PROXY: 'none',
  };
  const r = await run(bin('wwgetnodeconfig'), base, { env: env(proxies) });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /WWNAME="n0000"/);
});

test('--help of every tool: the answer size caps, proxies ignored, signals and their exit codes', async () => {
  for (const tool of ['wwgetfiles', 'wwgetscript', 'wwgetnodeconfig', 'wwgetvnfs']) {
    const r = await run(bin(tool), ['--help']);
    assert.is(r.code, 0);
    assert.match(r.stdout, /scripts at most 64 MiB, node configuration at most 16 MiB, file list at most 256 MiB/, tool);
    assert.match(r.stdout, /http_proxy, https_proxy, no_proxy, all_proxy .*are ignored/, tool);
    assert.match(r.stdout, /129, 130, 143 +ended by SIGHUP, SIGINT, SIGTERM/, tool);
  }
});

test.run();
