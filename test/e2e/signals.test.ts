// SIGTERM, SIGINT and SIGHUP (issue 16.3c): the BUILT tools remove the temporaries
// they made, release the lock, and exit 128 + the signal's number (143, 130, 129).
// A test master stalls a body half-way, so the signal lands mid-download.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { makeCpio } from '../helpers/master/cpio.ts';
import { sampleFixture, type Fixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run, type RunResult } from '../helpers/exec.ts';
import { walkTree } from '../helpers/tree.ts';
import { HWADDR as HW } from '../helpers/node.ts';

const isRoot = process.getuid?.() === 0;
if (!isRoot) throw new Error('the signal tests run as root (owners, the lock in /run/wwruntime)');

const BIG = 4 << 20;
const work = fs.mkdtempSync(join(tmpdir(), 'ww-signals-'));
const sysroot = join(work, 'sysroot');
fs.mkdirSync(sysroot);

function fixture(): Fixture {
  const f = sampleFixture();
  f.files.push({
    id: 50,
    name: 'big',
    type: 'file',
    mode: 0o640,
    uid: 0,
    gid: 0,
    timestamp: 1700000950,
    path: '/etc/big',
    content: randomBytes(BIG),
  });
  f.nodes[0].fileIds!.push(50);
  // An image whose one large file is incompressible: a stall half-way is in the middle of it.
  const image = gzipSync(
    makeCpio([
      { path: 'sbin', type: 'dir' },
      { path: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
      { path: 'data', type: 'dir' },
      { path: 'data/big', content: randomBytes(BIG) },
    ]),
    { level: 1 },
  );
  f.vnfs = { sample: { image } };
  return f;
}

let m: RunningMaster;
test.before(async () => {
  m = await startMaster(fixture(), {
    privilegedPorts: true,
    // Half of the big object's content, then silence (until the client is gone).
    fault: (r) => (r.query.fileid === '50' || r.path.startsWith('/WW/vnfs_cache/') ? { kind: 'stall' } : undefined),
  });
});
test.after(async () => {
  await m.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const walk = (dir: string): string[] => walkTree(dir).map((e) => e.path);

/** Starts the tool, waits until `ready()` holds (checked every 20 ms), sends `signal`. */
async function interrupt(
  exe: string,
  args: string[],
  env: Record<string, string>,
  signal: NodeJS.Signals,
  ready: () => boolean,
): Promise<RunResult & { sawReady: boolean }> {
  let pid = 0;
  const done = run(exe, args, { env, timeoutMs: 60_000, onSpawn: (p) => (pid = p) });
  let sawReady = false;
  const t0 = Date.now();
  while (Date.now() - t0 < 30_000) {
    if (ready()) {
      sawReady = true;
      break;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise((r) => setTimeout(r, 100)); // well inside the stalled body
  process.kill(pid, signal);
  return { ...(await done), sawReady };
}

const TEMP = /\/\.[^/]+\.ww[0-9a-f]{16}$/;
const lockKey = (root: string) => {
  const st = fs.statSync(root, { bigint: true });
  return `wwgetfiles-${st.dev.toString(16)}-${st.ino.toString(16)}.`;
};

for (const [signal, code] of [
  ['SIGTERM', 143],
  ['SIGINT', 130],
  ['SIGHUP', 129],
] as const) {
  test(`wwgetfiles, ${signal} mid-download: temporary removed, lock released, exit ${code}`, async () => {
    const root = fs.mkdtempSync(join(work, 'root-'));
    const r = await interrupt(
      bin('wwgetfiles'),
      ['--sysroot', sysroot, '--no-delay'],
      { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root },
      signal,
      () => fs.existsSync(join(root, 'etc')) && fs.readdirSync(join(root, 'etc')).some((n) => n.startsWith('.big.ww')),
    );
    assert.ok(r.sawReady, 'the download of /etc/big had begun');
    assert.equal(
      walk(root)
        .filter((p) => TEMP.test(p))
        .map((p) => p.slice(root.length)),
      [],
      'no temporary left',
    );
    assert.not.ok(fs.existsSync(join(root, 'etc/big')), 'nothing at the final name');
    assert.equal(
      fs.readdirSync('/run/wwruntime').filter((n) => n.startsWith(lockKey(root))),
      [],
      'lock released',
    );
    assert.is(r.signal, null, `exited, not killed by ${signal}`);
    assert.is(r.code, code, r.stderr);
    assert.match(r.stderr, new RegExp(`wwgetfiles: ERROR: interrupted by ${signal}; removed [1-9][0-9]* temporary files?\\n$`));
  });
}

test('wwruntime wwgetfiles (multi-call), SIGTERM: the same', async () => {
  const root = fs.mkdtempSync(join(work, 'root-'));
  const r = await interrupt(
    bin('wwruntime'),
    ['wwgetfiles', '--sysroot', sysroot, '--no-delay'],
    { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root },
    'SIGTERM',
    () => fs.existsSync(join(root, 'etc')) && fs.readdirSync(join(root, 'etc')).some((n) => n.startsWith('.big.ww')),
  );
  assert.ok(r.sawReady);
  assert.is(r.code, 143, r.stderr);
  assert.equal(
    walk(root).filter((p) => TEMP.test(p)),
    [],
  );
});

test('wwgetvnfs, SIGTERM mid-file: temporary removed, nothing partial at a final name, marker kept, exit 143', async () => {
  const target = join(work, 'vnfs-target');
  const data = join(target, 'data');
  const r = await interrupt(
    bin('wwgetvnfs'),
    ['--sysroot', sysroot, '--target', target],
    { WWMASTER: m.address, WWINIT_HWADDR: HW },
    'SIGTERM',
    () => fs.existsSync(data) && fs.readdirSync(data).some((n) => fs.statSync(join(data, n)).size > 0),
  );
  assert.ok(r.sawReady, 'the unpack of data/big had begun');
  assert.equal(fs.readdirSync(data), [], 'neither a temporary nor a partial data/big');
  assert.ok(fs.lstatSync(join(target, '.wwgetvnfs-incomplete'), { throwIfNoEntry: false })?.isFile(), 'the target is marked incomplete');
  assert.is(r.code, 143, r.stderr);
  assert.match(r.stderr, /wwgetvnfs: ERROR: interrupted by SIGTERM; removed 1 temporary file\n$/);
});

test('wwgetscript, SIGTERM while the master stalls: exit 143, nothing printed', async () => {
  m.options.fault = (r) => (r.path === '/WW/script' ? { kind: 'stall' } : undefined);
  try {
    const r = await interrupt(
      bin('wwgetscript'),
      ['--sysroot', sysroot, 'runtime'],
      { WWMASTER: m.address, WWINIT_HWADDR: HW },
      'SIGTERM',
      () => m.requests.some((q) => q.path === '/WW/script'),
    );
    assert.is(r.code, 143, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /wwgetscript: ERROR: interrupted by SIGTERM\n$/);
  } finally {
    m.options.fault = (r) => (r.query.fileid === '50' || r.path.startsWith('/WW/vnfs_cache/') ? { kind: 'stall' } : undefined);
  }
});

test.run();
