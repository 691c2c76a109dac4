// The streaming readers against archives made by the real tools (GNU cpio,
// bsdtar, GNU tar) from a tree with every entry type: every entry's type, mode,
// owner, size, content, link target, device number and mtime must match lstat
// of the source tree.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteReader } from '../../src/core/vnfs/archive/bytes.ts';
import { detectFormat, readArchive } from '../../src/core/vnfs/archive/detect.ts';
import { WwError } from '../../src/core/errors.ts';
import { diffSnapshots, makeArchive, makeTree, snapshot, type Maker, type Snap } from '../helpers/vnfstree.ts';

const work = mkdtempSync(join(tmpdir(), 'ww-archive-'));
const src = join(work, 'src');
const srcShort = join(work, 'src-short');
if (process.getuid?.() !== 0) throw new Error('these tests need root (owners, device nodes)');
mkdirSync(src);
mkdirSync(srcShort);
makeTree(src);
makeTree(srcShort, { long: false });
const want = snapshot(src);
const wantShort = snapshot(srcShort);

function norm(p: string): string {
  const s = p.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  return s === '' || s === '.' ? '.' : s;
}

/** Reads an archive with our reader into the same shape as snapshot(). */
async function readModel(archive: Buffer, chunk = 7919): Promise<{ model: Map<string, Snap>; format: string }> {
  // Feed it in odd-sized chunks so headers straddle chunk boundaries.
  const r = new ByteReader(
    (async function* () {
      for (let i = 0; i < archive.length; i += chunk) yield archive.subarray(i, i + chunk);
    })(),
  );
  const model = new Map<string, Snap>();
  const groups = new Map<string, Set<string>>(); // name -> group
  const data = new Map<Set<string>, { size: number; sha: string }>();
  let format = '';
  for await (const e of readArchive(r, (f) => (format = f))) {
    const path = norm(e.path);
    const snap: Snap = { type: e.type, mode: e.mode, uid: e.uid, gid: e.gid, mtime: Math.floor(e.mtime) };
    let content: { size: number; sha: string } | undefined;
    if (e.type === 'file' || (e.type === 'hardlink' && e.size > 0)) {
      const h = createHash('sha256');
      let n = 0;
      await e.read((c) => {
        h.update(c);
        n += c.length;
      });
      assert.is(n, e.size);
      content = { size: n, sha: h.digest('hex') };
    }
    if (e.type === 'file') {
      const g = new Set([path]);
      groups.set(path, g);
      data.set(g, content!);
    } else if (e.type === 'hardlink') {
      const g = groups.get(norm(e.linkTarget!));
      assert.ok(g, `hard link ${path} to unknown ${e.linkTarget}`);
      g!.add(path);
      groups.set(path, g!);
      if (content) data.set(g!, content);
      snap.type = 'file';
    } else if (e.type === 'symlink') {
      snap.link = e.linkTarget;
      snap.mode = 0;
    } else if (e.type === 'char' || e.type === 'block') {
      snap.rdev = `${e.rdevMajor}:${e.rdevMinor}`;
    }
    model.set(path, snap);
  }
  for (const [name, g] of groups) {
    const s = model.get(name)!;
    const d = data.get(g)!;
    s.size = d.size;
    s.sha = d.sha;
    if (g.size > 1) s.names = [...g].sort().join(' ');
  }
  return { model, format };
}

const CASES: [Maker, string, boolean][] = [
  ['cpio-newc', 'cpio-newc', true],
  ['cpio-crc', 'cpio-crc', true],
  ['bsdtar-newc', 'cpio-newc', true],
  ['bsdtar-pax', 'tar', true],
  ['bsdtar-ustar', 'tar', false],
  ['gnutar-gnu', 'tar', true],
  ['gnutar-posix', 'tar', true],
];

for (const [maker, format, long] of CASES) {
  test(`${maker}: every entry matches the source tree`, async () => {
    const archive = makeArchive(long ? src : srcShort, maker);
    const { model, format: f } = await readModel(archive);
    assert.is(f, format);
    const d = diffSnapshots(long ? want : wantShort, model);
    assert.equal(d, [], d.join('\n'));
  });
}

test('chunking does not matter: one byte at a time and one big chunk', async () => {
  const archive = makeArchive(srcShort, 'cpio-newc');
  const a = await readModel(archive, 1);
  const b = await readModel(archive, archive.length);
  assert.equal(diffSnapshots(wantShort, a.model), []);
  assert.equal(diffSnapshots(wantShort, b.model), []);
});

async function entries(buf: Buffer) {
  const out = [];
  for await (const e of readArchive(ByteReader.from(buf))) {
    out.push(e);
    if (e.size > 1 << 20) break; // header-only tests
    await e.read(() => {});
  }
  return out;
}

async function rejects(buf: Buffer, re: RegExp) {
  try {
    await entries(buf);
  } catch (err) {
    assert.instance(err, WwError);
    assert.match((err as Error).message, re);
    return;
  }
  assert.unreachable(`expected ${re}`);
}

// --- hand-made archives -----------------------------------------------------

function newc(
  name: string,
  o: { mode?: number; size?: number; data?: Buffer; nlink?: number; ino?: number; magic?: string; check?: number; nameSize?: number } = {},
): Buffer {
  const data = o.data ?? Buffer.alloc(o.size ?? 0);
  const nameBuf = Buffer.from(`${name}\0`);
  const f = [
    o.ino ?? 1,
    o.mode ?? 0o100644,
    0,
    0,
    o.nlink ?? 1,
    1700000000,
    o.size ?? data.length,
    0,
    0,
    0,
    0,
    o.nameSize ?? nameBuf.length,
    o.check ?? 0,
  ];
  const head = Buffer.from((o.magic ?? '070701') + f.map((n) => n.toString(16).padStart(8, '0')).join(''), 'latin1');
  const pad = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  return Buffer.concat([head, nameBuf, pad(110 + nameBuf.length), data, pad(data.length)]);
}
const trailer = () => newc('TRAILER!!!');

test('cpio: 070702 data checksum is verified', async () => {
  const data = Buffer.from('hello');
  const sum = [...data].reduce((a, b) => a + b, 0);
  const ok = Buffer.concat([newc('f', { data, magic: '070702', check: sum }), trailer()]);
  assert.is((await entries(ok)).length, 1);
  await rejects(Buffer.concat([newc('f', { data, magic: '070702', check: sum + 1 }), trailer()]), /data checksum/);
});

test('cpio: truncated data, bad hex, unterminated name, odc magic are refused with a clear message', async () => {
  const full = Buffer.concat([newc('f', { data: Buffer.alloc(1000, 1) }), trailer()]);
  await rejects(full.subarray(0, 500), /truncated/);
  const badHex = Buffer.from(newc('f'));
  badHex.write('zz', 20, 'latin1');
  await rejects(badHex, /not hexadecimal/);
  await rejects(Buffer.concat([newc('f', { nameSize: 1 }), trailer()]), /name size|NUL/);
  const odc = Buffer.from('070707' + '0'.repeat(600));
  try {
    detectFormat(odc);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /odc/);
  }
  await rejects(Buffer.from('hello, world, this is not an archive'), /not a cpio newc or tar archive/);
  await rejects(Buffer.alloc(0), /empty/);
});

test('cpio: a symlink target is its data; a hard link set with data on the last name', async () => {
  const buf = Buffer.concat([
    newc('l', { mode: 0o120777, data: Buffer.from('target/x') }),
    newc('a', { nlink: 2, ino: 9, size: 0 }),
    newc('b', { nlink: 2, ino: 9, data: Buffer.from('shared') }),
    trailer(),
  ]);
  const es = await entries(buf);
  assert.equal(
    es.map((e) => [e.path, e.type, e.linkTarget, e.size]),
    [
      ['l', 'symlink', 'target/x', 0],
      ['a', 'file', undefined, 0],
      ['b', 'hardlink', 'a', 6],
    ],
  );
});

function tarHeader(
  name: string,
  o: { type?: string; size?: number; sizeField?: Buffer; mode?: number; link?: string; magic?: string } = {},
): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(`${(o.mode ?? 0o644).toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (o.sizeField) o.sizeField.copy(h, 124);
  else h.write(`${(o.size ?? 0).toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  h.write(`${(1700000000).toString(8)}\0`, 136, 'latin1');
  h.write(o.type ?? '0', 156, 'latin1');
  if (o.link) h.write(o.link, 157, 100, 'utf8');
  h.write(o.magic ?? 'ustar\x0000', 257, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of h) sum += c;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return `${len}${body}`;
}

test('tar: sizes beyond 8 GiB in base-256 and pax (large files) are read exactly', async () => {
  const big = 5 * 2 ** 30 + 123; // > 4 GiB
  const b256 = Buffer.alloc(12);
  b256[0] = 0x80;
  b256.writeUIntBE(big, 6, 6);
  const [e1] = await entries(Buffer.concat([tarHeader('big1', { sizeField: b256, magic: 'ustar  \0' })]));
  assert.is(e1.size, big);
  const pax = Buffer.from(paxRecord('size', String(12 * 2 ** 30)) + paxRecord('path', 'x/' + 'p'.repeat(300)));
  const padded = Buffer.concat([pax, Buffer.alloc((512 - (pax.length % 512)) % 512)]);
  const [e2] = await entries(
    Buffer.concat([tarHeader('PaxHeader', { type: 'x', size: pax.length }), padded, tarHeader('short', { size: 0 })]),
  );
  assert.is(e2.size, 12 * 2 ** 30);
  assert.is(e2.path, 'x/' + 'p'.repeat(300));
});

test('tar: bad checksum, sparse and unknown types are refused', async () => {
  const h = tarHeader('f');
  h[0] = 0x67;
  await rejects(Buffer.concat([h, Buffer.alloc(1024)]), /checksum/);
  await rejects(Buffer.concat([tarHeader('s', { type: 'S' }), Buffer.alloc(1024)]), /sparse/);
  await rejects(Buffer.concat([tarHeader('s', { type: 'Q' }), Buffer.alloc(1024)]), /unsupported entry type/);
});

test('tar: a > 4 GiB file from GNU tar (pax) streams through with the exact size', async () => {
  const { spawn } = await import('node:child_process');
  const { truncateSync, writeFileSync } = await import('node:fs');
  const d = join(work, 'large');
  mkdirSync(d);
  writeFileSync(join(d, 'sbin-init'), 'x');
  const size = 4 * 2 ** 30 + 4097;
  truncateSync(join(d, 'sbin-init'), size); // sparse on disk; tar reads zeros (no -S: stored whole)
  const child = spawn('tar', ['--format=posix', '-cf', '-', '-C', d, 'sbin-init'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let n = 0;
  for await (const e of readArchive(new ByteReader(child.stdout))) {
    assert.is(e.size, size);
    await e.read((c) => {
      n += c.length;
    });
  }
  assert.is(n, size);
});

test.after(() => rmSync(work, { recursive: true, force: true }));
test.run();
