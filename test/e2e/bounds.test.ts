// Time bounds of the BUILT executables (issue 12.1, 12.3): a master that stalls the
// TLS handshake or trickles its answers ends each tool within the documented bound,
// computed from the options, and a cron-style wwgetfiles run releases its lock.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture, type Fixture } from '../helpers/master/fixtures.ts';
import { startMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { makeCa } from '../helpers/certs.ts';

const HW = '02:00:00:00:00:01';
const cronSysroot = mkdtempSync(join(tmpdir(), 'sysroot-cron-')); // no /init: a running node
const fixture = (): Fixture => ({
  nodes: [{ hwaddr: HW, name: 'n1', fileIds: [1, 2, 3], scripts: { runtime: [9] } }],
  files: [
    { id: 1, name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 100, path: '/etc/a', content: 'A\n' },
    { id: 2, name: 'b', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 200, path: '/etc/b', content: 'B'.repeat(4000) },
    { id: 3, name: 'c', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 300, path: '/etc/c', content: 'C'.repeat(4000) },
    {
      id: 9,
      name: 'rt',
      type: 'file',
      mode: 0o755,
      uid: 0,
      gid: 0,
      timestamp: 900,
      path: '/tmp/rt',
      format: 'shell',
      content: 'echo ran\n',
    },
  ],
});
const secs = (t0: number) => (Date.now() - t0) / 1000;

test('cron-style wwgetfiles, every content download trickled: 3 rounds per object, exit 2, mark held, lock released; time = formula', async () => {
  // Contents of objects 2 and 3 trickle (never silent for --timeout); the list and object 1 answer normally.
  const m = await startMaster(fixture(), {
    fault: (r) => (r.query.fileid === '2' || r.query.fileid === '3' ? { kind: 'trickle', everyMs: 200 } : undefined),
  });
  const root = mkdtempSync(join(tmpdir(), 'newroot-'));
  const env = { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root };
  try {
    const t0 = Date.now();
    const r = await run(bin('wwgetfiles'), ['--sysroot', cronSysroot, '--no-delay', '--source-port', 'any', '--max-time', '1'], {
      env,
      timeoutMs: 40_000,
    });
    const took = secs(t0);
    // Formula: per object, object-attempts (3) x --max-time (1 s) + back-off 2 s + 4 s (jittered 0.5x-1.5x:
    // 3-9 s) = 6-12 s; the two objects overlap (the window halves on the first timeout, so not wholly), so the
    // run is that plus start-up and the list, and at most about twice it.
    assert.is(r.code, 2, r.stderr);
    assert.ok(took >= 6 && took < 24, `run took ${took} s; formula 6-12 s per object`);
    assert.match(r.stderr, /\/etc\/b: gave up after 3 attempt\(s\):.*no complete answer within 1 s \(--max-time\)/);
    assert.match(r.stderr, /3 listed, 1 installed, 0 unchanged, 2 failed/);
    assert.is(m.requests.filter((q) => q.query.fileid === '2').length, 3);
    assert.is(readFileSync(join(root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8'), '199\n');
    assert.ok(existsSync(join(root, 'etc/a')) && !existsSync(join(root, 'etc/b')));
    // The lock went with the process: the next run starts (and fails the same way), not "already running".
    m.options.fault = undefined;
    const again = await run(bin('wwgetfiles'), ['--sysroot', cronSysroot, '--no-delay', '--source-port', 'any'], {
      env,
      timeoutMs: 20_000,
    });
    assert.is(again.code, 0, again.stderr);
    assert.is(readFileSync(join(root, 'etc/c'), 'utf8'), 'C'.repeat(4000));
  } finally {
    await m.stop();
  }
});

test('--max-run ends the whole run, the start delay included', async () => {
  const m = await startMaster(fixture(), { fault: () => ({ kind: 'trickle', everyMs: 200 }) });
  const root = mkdtempSync(join(tmpdir(), 'newroot-'));
  try {
    const t0 = Date.now();
    // A fixed 2 s start delay (SLEEPTIME), then a list that trickles: the run ends 4 s after it started.
    const r = await run(bin('wwgetfiles'), ['--sysroot', cronSysroot, '--source-port', 'any', '--max-run', '4'], {
      env: { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root, SLEEPTIME: '2' },
      timeoutMs: 30_000,
    });
    const took = secs(t0);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /run time limit \(--max-run\) reached/);
    assert.ok(took >= 4 && took < 7, `run took ${took} s; bound 4 s`);
  } finally {
    await m.stop();
  }
});

test('wwgetscript against a trickling master: --max-time per request, then the normal retry; nothing printed', async () => {
  const m = await startMaster(fixture(), { fault: () => ({ kind: 'trickle', everyMs: 100 }) });
  try {
    const t0 = Date.now();
    const r = await run(bin('wwgetscript'), ['runtime', '--source-port', 'any', '--max-time', '1', '--attempts', '2'], {
      env: { WWMASTER: m.address, WWINIT_HWADDR: HW },
      timeoutMs: 30_000,
    });
    const took = secs(t0);
    // 2 rounds x 1 s + the 2 s back-off, jittered 0.5x-1.5x = 3-5 s.
    assert.is(r.code, 2);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /gave up after 2 attempt\(s\).*--max-time/);
    assert.ok(took >= 3 && took < 8, `took ${took} s; formula 3-5 s`);
  } finally {
    await m.stop();
  }
});

test('wwgetvnfs: the image is bounded by the speed limit (a slow one completes, a dead one ends)', async () => {
  // The cache answer (the image itself) trickles; the /WW/vnfs redirect answers at once.
  let everyMs = 50;
  let bytes = 32; // 640 B/s: the sample image takes ~0.6 s
  const m = await startMaster(sampleFixture(), {
    fault: (r) => (r.path.startsWith('/WW/vnfs_cache/') ? { kind: 'trickle', everyMs, bytes } : undefined),
  });
  const vnfs = () =>
    run(
      bin('wwgetvnfs'),
      [
        '--target',
        mkdtempSync(join(tmpdir(), 'vnfs-rate-')),
        '--source-port',
        'any',
        '--no-owners',
        '--speed-limit',
        '100',
        '--speed-time',
        '0.5',
        '--attempts',
        '1',
      ],
      { env: { WWMASTER: m.address, WWINIT_HWADDR: '00:11:22:33:44:55' }, timeoutMs: 30_000 },
    );
  try {
    const slow = await vnfs();
    assert.is(slow.code, 0, slow.stderr);
    everyMs = 100;
    bytes = 1; // 10 B/s
    const t0 = Date.now();
    const dead = await vnfs();
    assert.is(dead.code, 2);
    assert.match(dead.stderr, /slower than 100 bytes\/s over 0\.5 s/);
    assert.ok(secs(t0) < 5);
  } finally {
    await m.stop();
  }
});

test('https master stalling the handshake: --connect-timeout covers it; a refused certificate names --ca-file', async () => {
  const ca = makeCa();
  const leaf = ca.leaf('m', 'IP:127.0.0.1');
  const m = await startMaster(fixture(), { tls: leaf, handshakeStall: () => true });
  try {
    const t0 = Date.now();
    const r = await run(
      bin('wwgetnodeconfig'),
      ['--https', '--ca-file', ca.certPath, '--source-port', 'any', '--connect-timeout', '1', '--attempts', '2'],
      {
        env: { WWMASTER: m.address, WWINIT_HWADDR: HW },
        timeoutMs: 30_000,
      },
    );
    const took = secs(t0);
    assert.is(r.code, 2);
    assert.match(r.stderr, /gave up after 2 attempt\(s\).*TLS handshake with 127\.0\.0\.1:\d+ timed out after 1 s/);
    assert.ok(took >= 3 && took < 8, `took ${took} s; formula 2 x 1 s + 2 s back-off (jittered 1-3 s) = 3-5 s`);
  } finally {
    await m.stop();
  }
  // The embedded Node.js suggests its own --use-system-ca flag, which nobody can pass to our executables.
  const good = await startMaster(fixture(), { tls: ca.leaf('m2', 'IP:127.0.0.1') });
  try {
    const other = makeCa('another CA');
    const r = await run(bin('wwgetnodeconfig'), ['--https', '--ca-file', other.certPath, '--source-port', 'any'], {
      env: { WWMASTER: good.address, WWINIT_HWADDR: HW },
      timeoutMs: 30_000,
    });
    rmSync(other.dir, { recursive: true, force: true });
    assert.is(r.code, 2);
    assert.match(r.stderr, /--ca-file/);
    assert.not.match(r.stderr, /use-system-ca/);
    const ok = await run(bin('wwgetnodeconfig'), ['--https', '--ca-file', ca.certPath, '--source-port', 'any'], {
      env: { WWMASTER: good.address, WWINIT_HWADDR: HW },
      timeoutMs: 30_000,
    });
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /WWNAME="n1"/);
  } finally {
    await good.stop();
    rmSync(ca.dir, { recursive: true, force: true });
  }
});

test.run();
