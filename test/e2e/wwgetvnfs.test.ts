// wwgetvnfs: the BUILT executable under env -i against the test master. Images
// are made in the test by GNU cpio, bsdtar and GNU tar from a tree with every
// entry type; the unpacked result is compared entry by entry with what bsdtar
// itself unpacks from the same image.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bin, run } from '../helpers/exec.ts';
import { measureOnce } from '../helpers/rss.ts';
import { makeCpio, type CpioEntry } from '../helpers/master/cpio.ts';
import type { Fixture, NodeFixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { RUN_RECORDS, isRunRecord } from '../helpers/tree.ts';
import { bsdtarExtract, diffSnapshots, makeArchive, makeTree, snapshot, type Maker } from '../helpers/vnfstree.ts';

const isRoot = process.getuid?.() === 0;
if (!isRoot) throw new Error('the wwgetvnfs end-to-end tests run as root (owners, devices, privileged ports)');

const work = fs.mkdtempSync(join(tmpdir(), 'ww-e2e-vnfs-'));
const sysroot = join(work, 'sysroot'); // empty: no /warewulf/config, /proc/cmdline, /init
fs.mkdirSync(sysroot);
const src = join(work, 'src');
const srcShort = join(work, 'src-short');
fs.mkdirSync(src);
fs.mkdirSync(srcShort);
makeTree(src);
makeTree(srcShort, { long: false });

const images: Record<string, string> = {};
function addImage(name: string, raw: Buffer): string {
  const file = join(work, `${name}.img`);
  fs.writeFileSync(file, gzipSync(raw, { level: 1 }));
  images[name] = file;
  return file;
}
const MAKERS: [Maker, string][] = [
  ['cpio-newc', src],
  ['cpio-crc', src],
  ['bsdtar-newc', src],
  ['bsdtar-pax', src],
  ['bsdtar-ustar', srcShort],
  ['gnutar-gnu', src],
];
for (const [maker, dir] of MAKERS) addImage(maker, makeArchive(dir, maker));

// Hostile images, byte by byte (makeCpio writes names as given after stripping leading '/': so build our own).
function newc(name: string, o: { mode?: number; data?: string } = {}): Buffer {
  const data = Buffer.from(o.data ?? '');
  const nameBuf = Buffer.from(`${name}\0`);
  const f = [1, o.mode ?? 0o100644, 0, 0, 1, 1700000000, data.length, 0, 0, 0, 0, nameBuf.length, 0];
  const head = Buffer.from('070701' + f.map((x) => x.toString(16).padStart(8, '0')).join(''), 'latin1');
  const pad = (k: number) => Buffer.alloc((4 - (k % 4)) % 4);
  return Buffer.concat([head, nameBuf, pad(110 + nameBuf.length), data, pad(data.length)]);
}
const cpio = (...e: Buffer[]) => Buffer.concat([...e, newc('TRAILER!!!')]);
const evilAbs = join(work, 'evil-absolute');
const INIT = newc('sbin/init', { data: '#!/bin/sh\n', mode: 0o100755 });
addImage('hostile-absolute', cpio(INIT, newc(evilAbs, { data: 'pwned' })));
addImage('hostile-dotdot', cpio(INIT, newc('etc/../../outside/secret', { data: 'pwned' })));
addImage('hostile-symlink', cpio(INIT, newc('esc', { mode: 0o120777, data: '../outside' }), newc('esc/secret', { data: 'pwned' })));
addImage(
  'no-init',
  makeCpio([
    { path: 'etc', type: 'dir' },
    { path: 'etc/motd', content: 'hi\n' },
  ]),
);
// Issue 13: memory must not grow with the image. 128 MiB of hex text in 256 files (about 2:1 at gzip -1):
// enough that garbage left to V8's own schedule (it frees buffers held outside its heap every ~64 MiB) shows.
const LARGE_FILES = 256;
{
  const entries: CpioEntry[] = [
    { path: 'sbin', type: 'dir' },
    { path: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
    { path: 'big', type: 'dir' },
  ];
  for (let i = 0; i < LARGE_FILES; i++) entries.push({ path: `big/f${i}`, content: randomBytes(256 * 1024).toString('hex') });
  addImage('large', makeCpio(entries));
}
// Issue 16.2: an image whose first large file is incompressible (it fills a small disk early), and one
// that carries the name wwgetvnfs reserves for its marker.
addImage(
  'fills-disk',
  makeCpio([
    { path: 'sbin', type: 'dir' },
    { path: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
    { path: 'data', type: 'dir' },
    { path: 'data/big', content: randomBytes(4 << 20) },
    { path: 'etc', type: 'dir' },
    { path: 'etc/after', content: 'x\n' },
  ]),
);
addImage(
  'has-marker',
  makeCpio([
    { path: '.wwgetvnfs-incomplete', content: 'left in the chroot the image was made from\n' },
    { path: 'sbin', type: 'dir' },
    { path: 'sbin/init', content: '#!/bin/sh\n', mode: 0o755 },
  ]),
);
images['not-gzip'] = join(work, 'not-gzip.img');
fs.writeFileSync(images['not-gzip'], makeCpio([{ path: 'sbin/init', content: 'x' }]));

const names = Object.keys(images);
const hw = (name: string) => `00:00:00:00:00:${names.indexOf(name).toString(16).padStart(2, '0')}`;
const fixture: Fixture = {
  nodes: names.map((n): NodeFixture => ({ hwaddr: hw(n), name: n, vnfs: n })),
  files: [],
  vnfs: Object.fromEntries(names.map((n) => [n, { image: images[n] }])),
};

let m: RunningMaster;
test.before(async () => {
  m = await startMaster(fixture, { privilegedPorts: true });
});
test.after(async () => {
  await m.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

let k = 0;
const env = (image: string, extra: Record<string, string> = {}) => ({
  WWMASTER: m.address,
  WWINIT_HWADDR: hw(image),
  WWDEBUG: '1',
  ...extra,
});
function vnfs(image: string, args: string[] = [], extra: Record<string, string> = {}) {
  return run(bin('wwgetvnfs'), ['--sysroot', sysroot, ...args], { env: env(image, extra), timeoutMs: 120_000 });
}
function fresh(): { base: string; target: string; outside: string } {
  const base = join(work, `run-${++k}`);
  const target = join(base, 'target');
  const outside = join(base, 'outside');
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(join(outside, 'secret'), 'original');
  return { base, target, outside };
}

const refs = new Map<string, ReturnType<typeof snapshot>>();
function reference(image: string) {
  if (!refs.has(image)) {
    const dir = join(work, `ref-${image}`);
    bsdtarExtract(images[image], dir);
    refs.set(image, snapshot(dir));
  }
  return refs.get(image)!;
}

for (const [maker] of MAKERS) {
  test(`${maker} image: unpacked entry by entry as bsdtar unpacks it`, async () => {
    const { target } = fresh();
    const before = m.requests.length;
    const r = await vnfs(maker, ['--target', target]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /unpacked \d+ entries .* into /);
    const d = diffSnapshots(reference(maker), snapshot(target), { rootMtime: false });
    assert.equal(d, [], d.join('\n'));
    const paths = m.requests.slice(before).map((q) => `${q.path} ${q.status}`);
    assert.equal(paths.slice(0, 2), ['/WW/vnfs 302', `/WW/vnfs_cache/${maker}/image.${await m.vnfsChecksum(maker)} 200`]);
    assert.ok(
      m.requests.slice(before).every((q) => q.remotePort < 1024),
      'privileged source ports',
    );
  });
}

test('verification: checksum fetched with the node configuration, good', async () => {
  const { target } = fresh();
  const before = m.requests.length;
  const r = await vnfs('cpio-newc', ['--target', target], { WWVALIDATE_VNFS: '1' });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`MD5 ${await m.vnfsChecksum('cpio-newc')} verified`));
  assert.ok(m.requests.slice(before).some((q) => q.path === '/WW/nodeconfig'));
});

test('verification: a wrong checksum is an error naming both', async () => {
  const { target } = fresh();
  const wrong = '0123456789abcdef0123456789abcdef';
  const r = await vnfs('bsdtar-pax', ['--target', target, '--verify'], { WWVNFS_CHECKSUM: wrong });
  assert.is(r.code, 2, r.stderr);
  assert.match(r.stderr, new RegExp(`expected MD5 ${wrong} \\(WWVNFS_CHECKSUM from environment\\)`));
  assert.match(r.stderr, new RegExp(`has MD5 ${await m.vnfsChecksum('bsdtar-pax')}`));
  const bad = await vnfs('bsdtar-pax', ['--target', target, '--verify'], { WWVNFS_CHECKSUM: 'nope' });
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /not an MD5/);
});

test('direct stream (no redirect) and 503 while the master builds its cache', async () => {
  m.options.vnfsRedirect = false;
  m.options.vnfsBusy = 2;
  try {
    const { target } = fresh();
    const before = m.requests.length;
    const r = await vnfs('cpio-newc', ['--target', target]);
    assert.is(r.code, 0, r.stderr);
    assert.equal(
      m.requests.slice(before).map((q) => `${q.path} ${q.status}`),
      ['/WW/vnfs 503', '/WW/vnfs 503', '/WW/vnfs 200'],
    );
    assert.match(r.stderr, /503/);
    assert.equal(diffSnapshots(reference('cpio-newc'), snapshot(target), { rootMtime: false }), []);
  } finally {
    m.options.vnfsRedirect = true;
    m.options.vnfsBusy = 0;
  }
});

test('a connection cut mid-image: retried, and when it keeps happening, exit 2', async () => {
  const size = fs.statSync(images['cpio-newc']).size;
  let cuts = 1;
  m.options.fault = (q) =>
    q.path.startsWith('/WW/vnfs_cache') && cuts-- > 0 ? { kind: 'cut', afterBytes: Math.floor(size / 2) } : undefined;
  try {
    const { target } = fresh();
    const r = await vnfs('cpio-newc', ['--target', target]);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /connection lost|truncated/);
    assert.equal(diffSnapshots(reference('cpio-newc'), snapshot(target), { rootMtime: false }), []);
    cuts = 1000;
    const r2 = await vnfs('cpio-newc', ['--target', fresh().target]);
    assert.is(r2.code, 2);
    assert.match(r2.stderr, /gave up after 3 attempt\(s\).*(connection lost|truncated)/);
  } finally {
    m.options.fault = undefined;
  }
});

for (const [image, re] of [
  ['hostile-absolute', /absolute path/],
  ['hostile-dotdot', /'\.\.'/],
  ['hostile-symlink', /symbolic link leading outside/],
] as [string, RegExp][]) {
  test(`${image}: refused, exit 2, nothing written outside`, async () => {
    const { base, target, outside } = fresh();
    const r = await vnfs(image, ['--target', target]);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, re);
    assert.equal(fs.readdirSync(outside), ['secret']);
    assert.is(fs.readFileSync(join(outside, 'secret'), 'utf8'), 'original');
    assert.equal(fs.readdirSync(base).sort(), ['outside', 'target']);
    assert.not.ok(fs.existsSync(evilAbs));
  });
}

test('/ is refused on a running system (NEWROOT unset), with or without --target /, and the master is not asked', async () => {
  const marker = '/ww-vnfs-test-must-not-exist';
  const before = m.requests.length;
  for (const args of [[], ['--target', '/'], ['-t', '/']]) {
    const r = await vnfs('cpio-newc', args);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /refusing to unpack the VNFS over \/ on a running system/);
    assert.match(r.stderr, /--target DIR/);
    assert.match(r.stderr, /--force/);
  }
  // NEWROOT set to / but not in an initramfs (no /init under the sysroot): still refused.
  const r = await vnfs('cpio-newc', [], { NEWROOT: '/' });
  assert.is(r.code, 2);
  assert.is(m.requests.length, before, 'nothing fetched, nothing unpacked');
  assert.not.ok(fs.existsSync(marker));
  assert.not.ok(fs.existsSync('/usr/bin/pair-a'));
});

test('inside the initramfs (NEWROOT set, /init exists): unpacks into NEWROOT without asking', async () => {
  const sys = join(work, 'initramfs');
  fs.mkdirSync(sys);
  fs.writeFileSync(join(sys, 'init'), '#!/bin/sh\n');
  const newroot = join(sys, 'newroot');
  fs.mkdirSync(newroot);
  const r = await run(bin('wwgetvnfs'), ['--sysroot', sys], { env: env('cpio-newc', { NEWROOT: newroot }), timeoutMs: 120_000 });
  assert.is(r.code, 0, r.stderr);
  assert.ok(fs.existsSync(join(newroot, 'sbin/init')));
  // The run's record (test/e2e/status.test.ts) and the folders made for it alone are not the image's.
  const want = reference('cpio-newc');
  const got = snapshot(newroot);
  assert.is(JSON.parse(fs.readFileSync(join(newroot, RUN_RECORDS, 'wwgetvnfs.json'), 'utf8')).exit, 0);
  for (const k of [...got.keys()])
    if (isRunRecord({ rel: k }) || (['var', 'var/lib', 'var/lib/wwruntime'].includes(k) && !want.has(k))) got.delete(k);
  assert.equal(diffSnapshots(want, got, { rootMtime: false }), []);
});

test('no sbin/init afterwards: exit 2 (unless --no-init-check)', async () => {
  const r = await vnfs('no-init', ['--target', fresh().target]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /sbin\/init does not exist/);
  const ok = await vnfs('no-init', ['--target', fresh().target, '--no-init-check']);
  assert.is(ok.code, 0, ok.stderr);
});

const MARKER = '.wwgetvnfs-incomplete';
const isMarked = (target: string) => fs.lstatSync(join(target, MARKER), { throwIfNoEntry: false })?.isFile() === true;

test('the marker: gone after a complete unpack; kept when sbin/init is missing or the checksum does not match', async () => {
  const done = fresh().target;
  const r = await vnfs('cpio-newc', ['--target', done]);
  assert.is(r.code, 0, r.stderr);
  assert.not.ok(fs.existsSync(join(done, MARKER)));
  const noInit = fresh().target;
  assert.is((await vnfs('no-init', ['--target', noInit])).code, 2);
  assert.ok(isMarked(noInit), 'no sbin/init: still marked incomplete');
  const noInitOk = fresh().target;
  assert.is((await vnfs('no-init', ['--target', noInitOk, '--no-init-check'])).code, 0);
  assert.not.ok(fs.existsSync(join(noInitOk, MARKER)), '--no-init-check: complete without sbin/init');
  const wrong = fresh().target;
  const bad = await vnfs('cpio-newc', ['--target', wrong, '--verify'], { WWVNFS_CHECKSUM: '0123456789abcdef0123456789abcdef' });
  assert.is(bad.code, 2);
  assert.ok(fs.existsSync(join(wrong, 'sbin/init')), 'everything unpacked, sbin/init included ...');
  assert.ok(isMarked(wrong), '... but the checksum failed: marked incomplete');
  // A run over a marked target redoes the unpack and removes the marker (and what a killed run left).
  fs.mkdirSync(join(noInit, 'data'));
  const stale = join(noInit, 'data', '.big.wwgetvnfs0123456789abcdef');
  fs.writeFileSync(stale, 'partial', { mode: 0o600 });
  const again = await vnfs('fills-disk', ['--target', noInit]);
  assert.is(again.code, 0, again.stderr);
  assert.not.ok(fs.existsSync(join(noInit, MARKER)));
  assert.equal(fs.readdirSync(join(noInit, 'data')), ['big'], "the killed run's temporary was removed");
});

test("an image carrying the marker's name: that entry is skipped with a warning, the unpack completes", async () => {
  const { target } = fresh();
  const r = await vnfs('has-marker', ['--target', target]);
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /WARNING: skipping the image's \.wwgetvnfs-incomplete: wwgetvnfs reserves that name/);
  assert.not.ok(fs.existsSync(join(target, MARKER)));
});

test('a full disk: ENOSPC is reported (not the connection), nothing partial at a final name, the target stays marked', async () => {
  const { execFileSync } = await import('node:child_process');
  // Room left: the whole 2 MiB (the disk fills half-way through data/big), then only 64 KiB (it fills at once).
  for (const filler of [0, (2 << 20) - (64 << 10)]) {
    const { target } = fresh();
    fs.mkdirSync(target, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', target]);
    try {
      if (filler) fs.writeFileSync(join(target, 'filler'), Buffer.alloc(filler));
      const r = await vnfs('fills-disk', ['--target', target, '--attempts', '2']);
      assert.is(r.code, 2, r.stderr);
      const errors = r.stderr.split('\n').filter((l) => l.includes('ERROR'));
      assert.equal(errors.length, 1, r.stderr);
      assert.match(
        errors[0],
        new RegExp(`^wwgetvnfs: ERROR: no space left on device writing ${target}/data/big$`),
        `room ${(2 << 20) - filler}: ${errors[0]}`,
      );
      assert.not.match(r.stderr, /connection lost|truncated/);
      assert.equal(fs.readdirSync(join(target, 'data')), [], 'neither data/big nor its temporary');
      assert.ok(isMarked(target), 'marked incomplete');
      assert.not.ok(fs.existsSync(join(target, 'etc/after')));
    } finally {
      execFileSync('umount', [target]);
    }
  }
});

test('an image that is not gzip: exit 2 with a clear message', async () => {
  const r = await vnfs('not-gzip', ['--target', fresh().target]);
  assert.is(r.code, 2);
  assert.match(r.stderr, /not valid gzip data/);
});

test('a 128 MiB image unpacks and verifies within 80 MiB peak RSS (issue 13)', async () => {
  const { target } = fresh();
  const r = await measureOnce([bin('wwgetvnfs'), '--sysroot', sysroot, '--target', target, '--verify'], {
    env: env('large', { WWVNFS_CHECKSUM: await m.vnfsChecksum('large') }),
  });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /verified/);
  assert.is(fs.readdirSync(join(target, 'big')).length, LARGE_FILES);
  assert.is(fs.statSync(join(target, 'big', `f${LARGE_FILES - 1}`)).size, 512 * 1024);
  const mib = r.rssKiB / 1024;
  assert.ok(mib <= 80, `peak RSS ${mib.toFixed(1)} MiB > 80 MiB`);
});

test('--help lists options, settings and exit codes', async () => {
  const r = await run(bin('wwgetvnfs'), ['--help']);
  assert.is(r.code, 0);
  for (const w of [
    '--target',
    '--force',
    '--verify',
    '--no-init-check',
    'NEWROOT',
    'WWVALIDATE_VNFS',
    'WWVNFS_CHECKSUM',
    'WWMASTER',
    'Exit codes',
    'TARGET/.wwgetvnfs-incomplete',
  ]) {
    assert.ok(r.stdout.includes(w), w);
  }
});

test.run();
