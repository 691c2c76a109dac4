// The extractor: real archives unpack exactly as bsdtar -p unpacks them, and
// hostile archives built byte by byte are refused with nothing written outside.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ByteReader } from '../../src/core/vnfs/archive/bytes.ts';
import { readArchive } from '../../src/core/vnfs/archive/detect.ts';
import { WwError } from '../../src/core/errors.ts';
import { Extractor } from '../../src/core/vnfs/extract.ts';
import { processIdentity } from '../../src/core/identity.ts';
import { bsdtarExtract, diffSnapshots, makeArchive, makeTree, snapshot, type Maker } from '../helpers/vnfstree.ts';

const work = fs.mkdtempSync(join(tmpdir(), 'ww-extract-'));
const src = join(work, 'src');
fs.mkdirSync(src);
makeTree(src);
let n = 0;

async function extract(archive: Buffer, root: string): Promise<Extractor> {
  const ex = new Extractor({ root: fs.realpathSync(root), identity: processIdentity() });
  for await (const e of readArchive(ByteReader.from(archive))) await ex.add(e);
  ex.finish();
  return ex;
}

for (const maker of ['cpio-newc', 'cpio-crc', 'bsdtar-newc', 'bsdtar-pax', 'gnutar-gnu'] as Maker[]) {
  test(`${maker}: unpacks exactly as bsdtar -p does`, async () => {
    const archive = makeArchive(src, maker);
    const file = join(work, `${maker}.archive`);
    fs.writeFileSync(file, archive);
    const ref = join(work, `${maker}.ref`);
    bsdtarExtract(file, ref);
    const ours = join(work, `${maker}.ours`);
    fs.mkdirSync(ours);
    const ex = await extract(archive, ours);
    const d = diffSnapshots(snapshot(ref), snapshot(ours), { rootMtime: false });
    assert.equal(d, [], d.join('\n'));
    assert.equal(diffSnapshots(snapshot(src), snapshot(ours)), []);
    assert.ok(ex.stats.devices >= 4 && ex.stats.hardlinks >= 3 && ex.stats.symlinks >= 3);
    // Again over the existing tree: every entry replaced, same result.
    await extract(archive, ours);
    assert.equal(diffSnapshots(snapshot(ref), snapshot(ours), { rootMtime: false }), []);
  });
}

// --- hostile archives, byte by byte -------------------------------------------

function newc(name: string, o: { mode?: number; data?: string; nlink?: number; ino?: number } = {}): Buffer {
  const data = Buffer.from(o.data ?? '');
  const nameBuf = Buffer.from(`${name}\0`);
  const f = [o.ino ?? ++n, o.mode ?? 0o100644, 0, 0, o.nlink ?? 1, 1700000000, data.length, 0, 0, 0, 0, nameBuf.length, 0];
  const head = Buffer.from('070701' + f.map((x) => x.toString(16).padStart(8, '0')).join(''), 'latin1');
  const pad = (k: number) => Buffer.alloc((4 - (k % 4)) % 4);
  return Buffer.concat([head, nameBuf, pad(110 + nameBuf.length), data, pad(data.length)]);
}
const archive = (...e: Buffer[]) => Buffer.concat([...e, newc('TRAILER!!!')]);
const DIR = 0o40755;
const LINK = 0o120777;

function setup() {
  const base = join(work, `hostile-${++n}`);
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  fs.mkdirSync(root, { recursive: true });
  fs.mkdirSync(outside);
  fs.writeFileSync(join(outside, 'secret'), 'original');
  return { base, root, outside };
}

function outsideUntouched(outside: string) {
  assert.equal(fs.readdirSync(outside), ['secret']);
  assert.is(fs.readFileSync(join(outside, 'secret'), 'utf8'), 'original');
}

async function refused(buf: Buffer, re: RegExp) {
  const { root, outside } = setup();
  try {
    await extract(buf, root);
    assert.unreachable('extraction should have been refused');
  } catch (err) {
    if (!(err instanceof WwError)) throw err;
    assert.is(err.code, 'WW_UNSAFE_PATH', err.message);
    assert.is(err.exitCode, 2);
    assert.match(err.message, re);
  }
  outsideUntouched(outside);
  return root;
}

test('absolute path refused (not honoured, not silently stripped)', async () => {
  await refused(archive(newc('/tmp/ww-evil-absolute', { data: 'x' })), /absolute/);
  assert.not.ok(fs.existsSync('/tmp/ww-evil-absolute'));
});

test('.. refused, also in the middle of a path', async () => {
  await refused(archive(newc('../outside/secret', { data: 'pwned' })), /'\.\.'/);
  await refused(archive(newc('a', { mode: DIR }), newc('a/../../outside/secret', { data: 'pwned' })), /'\.\.'/);
});

test('writing through a symlink the archive planted, leading outside, is refused', async () => {
  await refused(archive(newc('esc', { mode: LINK, data: '../outside' }), newc('esc/secret', { data: 'pwned' })), /outside/);
  const abs = setup();
  await refused(archive(newc('esc', { mode: LINK, data: abs.outside }), newc('esc/new', { data: 'pwned' })), /outside/);
  // A directory replaced by such a link later in the archive (the cached path must not be trusted).
  await refused(
    archive(newc('d', { mode: DIR }), newc('d', { mode: LINK, data: '../outside' }), newc('d/secret', { data: 'pwned' })),
    /outside/,
  );
  // Deeper: a link to a link.
  await refused(
    archive(newc('l1', { mode: LINK, data: 'l2' }), newc('l2', { mode: LINK, data: '../outside' }), newc('l1/secret', { data: 'pwned' })),
    /outside/,
  );
});

test('hard links to outside, or through an escaping link, are refused', async () => {
  await refused(archive(newc('h', { nlink: 2, ino: 77 }), newc('../outside/secret', { nlink: 2, ino: 77 })), /'\.\.'/);
  const tarHard = (name: string, link: string) => {
    const h = Buffer.alloc(512);
    h.write(name, 0);
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write('00000000000\0', 124);
    h.write('14000000000\0', 136);
    h.write('1', 156);
    h.write(link, 157);
    h.write('ustar\x0000', 257, 'latin1');
    h.fill(0x20, 148, 156);
    let s = 0;
    for (const c of h) s += c;
    h.write(`${s.toString(8).padStart(6, '0')}\0 `, 148);
    return h;
  };
  const { root, outside } = setup();
  for (const link of ['../outside/secret', `${outside}/secret`]) {
    try {
      await extract(Buffer.concat([tarHard('h', link), Buffer.alloc(1024)]), root);
      assert.unreachable();
    } catch (e) {
      assert.is((e as WwError).code, 'WW_UNSAFE_PATH');
    }
  }
  // Through a planted link: esc -> ../outside, then a cpio link set x + esc/secret.
  await refused(
    archive(newc('esc', { mode: LINK, data: '../outside' }), newc('x', { nlink: 2, ino: 5 }), newc('esc/secret', { nlink: 2, ino: 5 })),
    /outside/,
  );
  outsideUntouched(outside);
});

test('a file over a planted symlink replaces the link, never writes through it', async () => {
  const { root, outside } = setup();
  await extract(archive(newc('l', { mode: LINK, data: '../outside/secret' }), newc('l', { data: 'replaced' })), root);
  assert.ok(fs.lstatSync(join(root, 'l')).isFile());
  assert.is(fs.readFileSync(join(root, 'l'), 'utf8'), 'replaced');
  outsideUntouched(outside);
});

test('a symlink pointing outside may exist (it is only data); a link inside the root is followed', async () => {
  const { root, outside } = setup();
  await extract(
    archive(
      newc('abs', { mode: LINK, data: '/etc/passwd' }),
      newc('usr', { mode: DIR }),
      newc('usr/lib', { mode: DIR }),
      newc('lib', { mode: LINK, data: 'usr/lib' }),
      newc('lib/libc.so', { data: 'c' }),
    ),
    root,
  );
  assert.is(fs.readlinkSync(join(root, 'abs')), '/etc/passwd');
  assert.is(fs.readFileSync(join(root, 'usr/lib/libc.so'), 'utf8'), 'c');
  outsideUntouched(outside);
});

test('the root entry "." sets the root directory mode; a non-directory "." is refused', async () => {
  const { root } = setup();
  await extract(archive(newc('.', { mode: 0o40750 }), newc('f', { data: 'x' })), root);
  assert.is(fs.statSync(root).mode & 0o7777, 0o750);
  await refused(archive(newc('./', { data: 'x' })), /root itself/);
});

test('NUL and over-long components are refused', async () => {
  await refused(archive(newc(`${'x'.repeat(256)}/f`, { data: 'x' })), /too long/);
});

test.after(() => fs.rmSync(work, { recursive: true, force: true }));
test.run();
