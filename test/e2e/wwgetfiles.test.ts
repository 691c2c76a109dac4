// wwgetfiles: the BUILT executable under env -i against the test master, as root.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { watch } from 'node:fs';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleFixture, type FileObject } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { nodeEnv } from '../helpers/node.ts';
import { isRunRecord, walkTree } from '../helpers/tree.ts';

const isRoot = process.getuid?.() === 0;
let m: RunningMaster;
const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-'));
const newRoot = () => mkdtempSync(join(tmpdir(), 'newroot-'));
const env = (root: string, extra: Record<string, string> = {}) => nodeEnv(m, { NEWROOT: root, ...extra });
const wwgetfiles = (root: string, args: string[] = [], extra: Record<string, string> = {}, opts = {}) =>
  run(bin('wwgetfiles'), ['--sysroot', sysroot, '--no-delay', ...args], { env: env(root, extra), ...opts });

/** Every entry under dir: type, mode, owner, size, content / link target, inode, mtime and ctime. */
function snapshot(dir: string): Record<string, string> {
  return Object.fromEntries(
    walkTree(dir, { skip: isRunRecord }).map(({ rel, path, st, type, mode, link }) => {
      const what =
        type === 'link'
          ? `l>${link}`
          : type === 'file'
            ? `f:${readFileSync(path).toString('base64')}`
            : type === 'dir'
              ? 'd'
              : `x${st.rdev}`;
      return [`/${rel}`, `${what} ${mode.toString(8)} ${st.uid}:${st.gid} ino${st.ino} m${st.mtimeMs} c${st.ctimeMs}`];
    }),
  );
}

test.before(async () => {
  m = await startMaster(sampleFixture(), { privilegedPorts: isRoot });
});
test.after(() => m.stop());

test('installs every file type with owner, group and mode', async () => {
  const root = newRoot();
  const r = await wwgetfiles(root);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /10 listed, 10 installed, 0 unchanged, 0 failed, 0 skipped/);
  const st = (p: string) => lstatSync(join(root, p));
  const mode = (p: string) => st(p).mode & 0o7777;
  assert.is(readFileSync(join(root, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n10.0.0.1 master\n10.0.1.0 n0000\n');
  assert.is(mode('etc/hosts'), 0o644);
  assert.is(mode('etc/shadow'), 0o600);
  assert.ok(st('etc/ww.d').isDirectory());
  assert.is(mode('etc/ww.d'), 0o750);
  assert.is(readlinkSync(join(root, 'etc/localtime')), '/usr/share/zoneinfo/UTC');
  assert.is(readFileSync(join(root, 'etc/ww.d/empty'), 'utf8'), '');
  assert.is(mode('usr/local/bin/wwsuid'), 0o4755);
  assert.ok(st('var/run/ww.fifo').isFIFO());
  assert.is(mode('var/run/ww.fifo'), 0o620);
  if (isRoot) {
    assert.ok(st('dev/wwnull').isCharacterDevice());
    assert.is(st('dev/wwnull').rdev, 0x103);
    assert.ok(st('dev/wwblk').isBlockDevice());
    assert.is(st('dev/wwblk').rdev, 0x801);
    assert.is(st('dev/wwblk').gid, 6);
    assert.is(st('home/user/.profile').uid, 1000);
    assert.is(st('home/user/.profile').gid, 100);
  }
  assert.is(readFileSync(join(root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8').trim(), '1700000900');
  const leftovers = Object.keys(snapshot(root)).filter((p) => /\.ww[0-9a-f]{16}$/.test(p));
  assert.equal(leftovers, [], 'no temporary files left');
});

test('the mark: a second run asks only for newer objects and writes nothing; -F refetches without rewriting', async () => {
  const root = newRoot();
  assert.is((await wwgetfiles(root)).code, 0);
  const before = snapshot(root);
  const n = m.requests.length;
  const r2 = await wwgetfiles(root);
  assert.is(r2.code, 0, r2.stderr);
  const reqs = m.requests.slice(n);
  assert.is(reqs.length, 1, 'steady state: one list request, nothing else');
  assert.is(reqs[0].query.timestamp, '1700000900');
  assert.equal(snapshot(root), before, 'steady state writes nothing');
  const n3 = m.requests.length;
  const r3 = await wwgetfiles(root, ['-F']);
  assert.is(r3.code, 0, r3.stderr);
  assert.match(r3.stderr, /10 listed, 0 installed, 10 unchanged/);
  assert.is(m.requests[n3].query.timestamp, '0');
  const after = snapshot(root);
  assert.equal(after, before, '-F: unchanged objects untouched (same inode, mtime, ctime)');
});

test('a changed object is fetched by timestamp and replaced atomically', async () => {
  const root = newRoot();
  assert.is((await wwgetfiles(root)).code, 0);
  const hosts = m.fixture.files.find((f) => f.id === 1)!;
  const old = { ...hosts };
  try {
    hosts.content = 'changed\n';
    hosts.timestamp = 1700009999;
    hosts.mode = 0o640;
    const ino = lstatSync(join(root, 'etc/hosts')).ino;
    const r = await wwgetfiles(root);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /1 listed, 1 installed/);
    assert.is(readFileSync(join(root, 'etc/hosts'), 'utf8'), 'changed\n');
    assert.is(lstatSync(join(root, 'etc/hosts')).mode & 0o777, 0o640);
    assert.is.not(lstatSync(join(root, 'etc/hosts')).ino, ino, 'a new inode renamed into place');
    assert.is(readFileSync(join(root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8').trim(), '1700009999');
  } finally {
    Object.assign(hosts, old);
  }
});

test('two masters, the first dead', async () => {
  const root = newRoot();
  const r = await wwgetfiles(root, [], { WWMASTER: `${await deadAddress()},${m.address}` });
  assert.is(r.code, 0, r.stderr);
  assert.ok(existsSync(join(root, 'etc/shadow')));
});

test('a second instance exits 1; a SIGKILLed instance leaves no stale lock', async () => {
  const root = newRoot();
  m.options.fault = (req) => (req.path === '/WW/file' && !req.query.fileid ? { kind: 'delay', ms: 1500 } : undefined);
  try {
    const listRequests = () => m.requests.filter((q) => q.path === '/WW/file' && !q.query.fileid).length;
    // Wait until the first instance holds the lock and waits on its (delayed) list: no guessing at start-up time.
    const untilListed = async (n: number) => {
      for (let i = 0; i < 400 && listRequests() <= n; i++) await new Promise((r) => setTimeout(r, 25));
    };
    let seen = listRequests();
    const first = wwgetfiles(root);
    await untilListed(seen);
    const second = await wwgetfiles(root);
    assert.is(second.code, 1);
    assert.match(second.stderr, /ERROR: wwgetfiles already running/);
    const other = await wwgetfiles(newRoot(), [], {}, {});
    assert.is(other.code, 0, 'another root is not blocked');
    assert.is((await first).code, 0);
    let pid = 0;
    seen = listRequests();
    const killed = wwgetfiles(root, [], {}, { onSpawn: (p: number) => (pid = p) });
    await untilListed(seen);
    process.kill(pid, 'SIGKILL');
    assert.is((await killed).signal, 'SIGKILL');
  } finally {
    m.options.fault = undefined;
  }
  const after = await wwgetfiles(root);
  assert.is(after.code, 0, after.stderr);
});

test('a truncated download: target untouched, others installed, exit 2, mark held back', async () => {
  const root = newRoot();
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/shadow'), 'ORIGINAL', { mode: 0o600 });
  m.options.fault = (req) => (req.query.fileid === '2' ? { kind: 'cut', afterBytes: 5 } : undefined);
  try {
    const r = await wwgetfiles(root, ['--attempts', '2', '--max-wait', '0']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /\/etc\/shadow: .*(truncated|connection lost)/);
    assert.match(r.stderr, /1 failed/);
    assert.is(readFileSync(join(root, 'etc/shadow'), 'utf8'), 'ORIGINAL');
    assert.ok(existsSync(join(root, 'etc/hosts')), 'other files still installed');
    assert.ok(existsSync(join(root, 'home/user/.profile')));
    assert.is(
      readFileSync(join(root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8').trim(),
      '1700000199',
      'mark stays below the failed object',
    );
    assert.equal(
      readdirSync(join(root, 'etc')).filter((n) => n.includes('.ww')),
      [],
    );
  } finally {
    m.options.fault = undefined;
  }
  const again = await wwgetfiles(root);
  assert.is(again.code, 0, again.stderr);
  assert.match(readFileSync(join(root, 'etc/shadow'), 'utf8'), /^root:/);
});

test('hostile paths: .., relative, and a symlink out of the root are refused; nothing written outside', async () => {
  const base = mkdtempSync(join(tmpdir(), 'hostile-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(outside);
  symlinkSync(outside, join(root, 'etc/escape'));
  const extra: FileObject[] = [
    { id: 90, name: 'up', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 1700000010, path: '/../outside/pwned', content: 'x' },
    {
      id: 91,
      name: 'up2',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      timestamp: 1700000011,
      path: '/etc/../../outside/pwned2',
      content: 'x',
    },
    { id: 92, name: 'rel', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 1700000012, path: 'etc/relative', content: 'x' },
    { id: 93, name: 'esc', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 1700000013, path: '/etc/escape/pwned3', content: 'x' },
    { id: 94, name: 'escdir', type: 'dir', mode: 0o755, uid: 0, gid: 0, timestamp: 1700000014, path: '/etc/escape/newdir' },
    { id: 95, name: 'esclink', type: 'link', mode: 0o777, uid: 0, gid: 0, timestamp: 1700000015, path: '/etc/escape/l', content: '/x' },
  ];
  m.fixture.files.push(...extra);
  const node = m.fixture.nodes[0];
  const ids = node.fileIds!;
  node.fileIds = [...ids, ...extra.map((e) => e.id)];
  try {
    const r = await wwgetfiles(root);
    assert.is(r.code, 2);
    for (const p of [
      '/../outside/pwned',
      '/etc/../../outside/pwned2',
      'etc/relative',
      '/etc/escape/pwned3',
      '/etc/escape/newdir',
      '/etc/escape/l',
    ]) {
      assert.ok(r.stderr.includes(`${p}: refusing`), `refused ${p}: ${r.stderr}`);
    }
    assert.match(r.stderr, /6 failed/);
    assert.equal(readdirSync(outside), [], 'nothing written outside the root');
    assert.ok(existsSync(join(root, 'etc/hosts')), 'the good objects still installed');
  } finally {
    m.fixture.files = m.fixture.files.filter((f) => f.id < 90);
    node.fileIds = ids;
  }
});

test('pre-planted symlinks at every name the tool writes are replaced, never followed', async () => {
  const base = mkdtempSync(join(tmpdir(), 'planted-'));
  const root = join(base, 'root');
  const victim = join(base, 'victim');
  writeFileSync(victim, 'VICTIM');
  mkdirSync(join(root, 'etc'), { recursive: true });
  mkdirSync(join(root, 'tmp'));
  mkdirSync(join(root, 'var/lib/wwruntime'), { recursive: true });
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true });
  for (const p of [
    'etc/hosts',
    'etc/shadow',
    'etc/localtime',
    'usr/local/bin/wwsuid',
    'var/lib/wwruntime/wwgetfiles_timestamp',
    'tmp/.wwgetfiles_timestamp',
  ]) {
    symlinkSync(victim, join(root, p));
  }
  // the name a directory object would move a non-directory aside to (dangling symlink)
  const r = await wwgetfiles(root);
  assert.is(r.code, 0, r.stderr);
  assert.is(readFileSync(victim, 'utf8'), 'VICTIM');
  for (const p of ['etc/hosts', 'etc/shadow', 'usr/local/bin/wwsuid', 'var/lib/wwruntime/wwgetfiles_timestamp']) {
    assert.ok(lstatSync(join(root, p)).isFile(), p);
  }
  assert.is(readlinkSync(join(root, 'etc/localtime')), '/usr/share/zoneinfo/UTC');
  assert.is(lstatSync(victim).mode & 0o777, 0o644 & ~process.umask() || lstatSync(victim).mode & 0o777, 'victim mode untouched');
});

test('a non-directory in the way of a directory object is moved aside', async () => {
  const root = newRoot();
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/ww.d'), 'in the way');
  const r = await wwgetfiles(root);
  assert.is(r.code, 0, r.stderr);
  assert.ok(lstatSync(join(root, 'etc/ww.d')).isDirectory());
  const aside = readdirSync(join(root, 'etc')).filter((n) => /^ww\.d\.ww\d{14}$/.test(n));
  assert.is(aside.length, 1);
  assert.is(readFileSync(join(root, 'etc', aside[0]), 'utf8'), 'in the way');
});

test('a secret is never readable by others while it is written (watched during the run)', async () => {
  const root = newRoot();
  mkdirSync(join(root, 'etc'));
  const shadow = m.fixture.files.find((f) => f.id === 2)!;
  const old = shadow.content;
  shadow.content = Buffer.alloc(8 * 1024 * 1024, 'secret-line\n');
  const seen: string[] = [];
  let checks = 0;
  const look = () => {
    for (const n of readdirSync(join(root, 'etc'))) {
      if (!n.includes('shadow')) continue;
      try {
        const st = lstatSync(join(root, 'etc', n));
        checks++;
        if (st.mode & 0o077) seen.push(`${n} ${(st.mode & 0o777).toString(8)}`);
      } catch {
        /* renamed away meanwhile */
      }
    }
  };
  const w = watch(join(root, 'etc'), look);
  const poll = setInterval(look, 1);
  try {
    const r = await wwgetfiles(root);
    assert.is(r.code, 0, r.stderr);
  } finally {
    w.close();
    clearInterval(poll);
    shadow.content = old;
  }
  look();
  assert.ok(checks > 3, `watched the directory (${checks} checks)`);
  assert.equal(seen, [], 'no moment with group/other permission bits on the secret or its temp file');
});

test('unknown node answered with embedded error text in a 200 body: exit 2, nothing written but the run record', async () => {
  const root = newRoot();
  m.options.embeddedErrors = true;
  const r = await wwgetfiles(root, [], { WWINIT_HWADDR: '0a:0b:0c:0d:0e:0f' });
  assert.is(r.code, 2);
  assert.match(r.stderr, /embedded error status 404/);
  assert.equal(
    walkTree(root).map((e) => e.rel),
    ['var', 'var/lib', 'var/lib/wwruntime', 'var/lib/wwruntime/status', 'var/lib/wwruntime/status/wwgetfiles.json'],
  );
  const record = JSON.parse(readFileSync(join(root, 'var/lib/wwruntime/status/wwgetfiles.json'), 'utf8'));
  assert.is(record.exit, 2);
  assert.match(record.error, /embedded error status 404/);
});

test('embedded error text in a file content answer is never installed', async () => {
  const root = newRoot();
  m.options.fault = (req) => (req.query.fileid === '1' ? { kind: 'embedded', status: 404 } : undefined);
  try {
    const r = await wwgetfiles(root, ['--attempts', '1']);
    assert.is(r.code, 2);
    assert.not.ok(existsSync(join(root, 'etc/hosts')));
    assert.ok(existsSync(join(root, 'etc/shadow')));
  } finally {
    m.options.fault = undefined;
  }
});

test('--dry-run shows what would change and writes nothing', async () => {
  const root = newRoot();
  const r = await wwgetfiles(root, ['--dry-run']);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /would create \/etc\/shadow \(file 0600 0:0\)/);
  assert.match(r.stderr, /would create \/etc\/localtime \(link 0777 0:0\) -> \/usr\/share\/zoneinfo\/UTC/);
  assert.equal(readdirSync(root), []);
  assert.is((await wwgetfiles(root)).code, 0);
  writeFileSync(join(root, 'etc/hosts'), 'local edit');
  const d = await wwgetfiles(root, ['--dry-run', '-F']);
  assert.match(d.stderr, /would replace \/etc\/hosts/);
  assert.match(d.stderr, /1 would install, 9 unchanged/);
  assert.is(readFileSync(join(root, 'etc/hosts'), 'utf8'), 'local edit');
});

test('the random start delay honours SLEEPTIME and is skipped with --no-delay', async () => {
  const root = newRoot();
  const t0 = Date.now();
  const r = await run(bin('wwgetfiles'), ['--sysroot', sysroot, '-v'], { env: env(root, { SLEEPTIME: '1' }) });
  assert.is(r.code, 0, r.stderr);
  assert.ok(Date.now() - t0 >= 1000, 'slept SLEEPTIME');
  assert.match(r.stderr, /sleeping 1 s/);
});

test('a full disk: the object fails with a clear error, its target is untouched, no temp left, others installed', async () => {
  if (!isRoot) return; // mounting a small tmpfs needs root (CI runs as root)
  const root = newRoot();
  const { execFileSync } = await import('node:child_process');
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', root]);
  const shadow = m.fixture.files.find((f) => f.id === 2)!;
  const old = shadow.content;
  try {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/shadow'), 'ORIGINAL', { mode: 0o600 });
    shadow.content = Buffer.alloc(2 * 1024 * 1024, 'x');
    const r = await wwgetfiles(root, ['--attempts', '1']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /\/etc\/shadow: .*(no space left|ENOSPC)/i);
    assert.is(readFileSync(join(root, 'etc/shadow'), 'utf8'), 'ORIGINAL');
    assert.equal(
      readdirSync(join(root, 'etc')).filter((n) => n.includes('.ww')),
      [],
      'no temp left behind',
    );
    assert.ok(existsSync(join(root, 'etc/hosts')));
  } finally {
    shadow.content = old;
    execFileSync('umount', [root]);
  }
});

test('usage errors exit 2', async () => {
  for (const args of [['extra'], ['--concurrency', '0'], ['--bogus']]) {
    const r = await wwgetfiles(newRoot(), args);
    assert.is(r.code, 2, args.join(' '));
  }
});

test.run();
