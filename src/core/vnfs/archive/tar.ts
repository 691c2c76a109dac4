// Streaming reader for tar: POSIX ustar (name prefix), pax extended headers
// (x: per entry, g: global; path, linkpath, size, uid, gid, mtime, atime,
// SCHILY.devmajor/devminor) and the GNU extensions that real images use (L/K
// long names, base-256 numbers, "ustar  " magic). 512-byte blocks; the archive
// ends with a zero block (normally two), or at the end of the stream.
import { WwError } from '../../errors.ts';
import { type ByteReader, entryData } from './bytes.ts';
import type { ArchiveEntry, EntryType } from './types.ts';

const BLOCK = 512;
const MAX_META = 1024 * 1024; // pax/GNU long-name records are small; refuse absurd ones

const pad512 = (n: number) => (BLOCK - (n % BLOCK)) % BLOCK;

function bad(at: number, msg: string): WwError {
  return new WwError('WW_ARCHIVE_MALFORMED', `image is not a valid tar archive: ${msg} (header at byte ${at})`);
}

/** A numeric header field: octal text, or GNU base-256 when the high bit of the first byte is set. */
export function tarNumber(b: Buffer, off: number, len: number, onError: (m: string) => Error): number {
  const first = b[off];
  if (first & 0x80) {
    const negative = first === 0xff;
    let v = 0;
    for (let i = 0; i < len; i++) {
      let byte = b[off + i];
      if (i === 0) byte &= negative ? 0xff : 0x7f;
      v = v * 256 + (negative ? 0xff - byte : byte);
      if (v > Number.MAX_SAFE_INTEGER) throw onError('base-256 number too large');
    }
    return negative ? -(v + 1) : v;
  }
  const s = b
    .toString('latin1', off, off + len)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw onError(`numeric field ${JSON.stringify(s)} is not octal`);
  return parseInt(s, 8);
}

function cstring(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

export function checksumOk(h: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const c = i >= 148 && i < 156 ? 32 : h[i];
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  const s = h
    .toString('latin1', 148, 156)
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]+$/.test(s)) return false;
  const want = parseInt(s, 8);
  return want === unsigned || want === signed;
}

export function isZeroBlock(h: Buffer): boolean {
  for (let i = 0; i < h.length; i++) if (h[i] !== 0) return false;
  return true;
}

type Pax = Map<string, string>;

/** Parses pax records `LEN key=value\n` (LEN counts the whole record). */
export function parsePax(buf: Buffer, onError: (m: string) => Error): Pax {
  const out: Pax = new Map();
  let i = 0;
  while (i < buf.length) {
    if (buf[i] === 0) break; // some writers pad with NULs
    const sp = buf.indexOf(0x20, i);
    if (sp < 0) throw onError('pax record without length');
    const lenText = buf.toString('latin1', i, sp);
    if (!/^\d+$/.test(lenText)) throw onError(`bad pax record length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    if (len <= sp - i + 1 || i + len > buf.length || buf[i + len - 1] !== 0x0a) throw onError('malformed pax record');
    const rec = buf.subarray(sp + 1, i + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) throw onError('pax record without key');
    out.set(rec.toString('utf8', 0, eq), rec.toString('utf8', eq + 1));
    i += len;
  }
  return out;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
  D: 'directory',
};

function paxNumber(v: string, key: string, onError: (m: string) => Error, fractional = false): number {
  const re = fractional ? /^-?\d+(\.\d+)?$/ : /^\d+$/;
  if (!re.test(v)) throw onError(`pax ${key}=${JSON.stringify(v)} is not a number`);
  const n = Number(v);
  if (!Number.isFinite(n) || Math.abs(n) > Number.MAX_SAFE_INTEGER) throw onError(`pax ${key} out of range`);
  return n;
}

export async function* readTar(r: ByteReader): AsyncGenerator<ArchiveEntry> {
  let global: Pax = new Map();
  let pax: Pax | null = null;
  let longName: string | undefined;
  let longLink: string | undefined;
  for (;;) {
    const at = r.position;
    const h = await r.readOrEnd(BLOCK, 'a tar header');
    if (h === null) return; // no end-of-archive blocks: accepted, as bsdtar does
    if (isZeroBlock(h)) {
      // End of archive: a second zero block normally follows; the caller drains the rest.
      return;
    }
    const err = (m: string) => bad(at, m);
    if (!checksumOk(h)) throw err('header checksum mismatch');
    const flag = String.fromCharCode(h[156]);
    const headerSize = tarNumber(h, 124, 12, err);
    if (headerSize < 0) throw err('negative size');

    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (headerSize > MAX_META) throw err(`extended header of ${headerSize} bytes`);
      const body = await r.read(headerSize, 'a tar extended header');
      // Parsed before the next read: the reader may recycle the memory behind `body` then.
      if (flag === 'x') pax = new Map([...(pax ?? []), ...parsePax(body, err)]);
      else if (flag === 'g') global = new Map([...global, ...parsePax(body, err)]);
      else if (flag === 'L') longName = cstring(body, 0, body.length);
      else longLink = cstring(body, 0, body.length);
      await r.skip(pad512(headerSize), 'tar padding');
      continue;
    }
    if (flag === 'V') {
      await r.skip(headerSize + pad512(headerSize), 'a tar volume label');
      continue;
    }
    const type = TYPES[flag];
    if (!type) {
      const what = flag === 'S' ? 'GNU sparse file' : flag === 'M' ? 'multi-volume continuation' : `entry type ${JSON.stringify(flag)}`;
      throw err(`unsupported ${what}`);
    }
    const p: Pax = new Map([...global, ...(pax ?? [])]);
    for (const k of p.keys()) if (k.startsWith('GNU.sparse.')) throw err('unsupported pax sparse file');

    const ustar = h.toString('latin1', 257, 263) === 'ustar\0';
    let name = cstring(h, 0, 100);
    if (ustar) {
      const prefix = cstring(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const path = p.get('path') ?? longName ?? name;
    const linkname = p.get('linkpath') ?? longLink ?? cstring(h, 157, 100);
    const size = p.has('size') ? paxNumber(p.get('size')!, 'size', err) : headerSize;
    const num = (key: string, off: number, len: number, frac = false) =>
      p.has(key) ? paxNumber(p.get(key)!, key, err, frac) : tarNumber(h, off, len, err);
    const entry = {
      path,
      type,
      mode: tarNumber(h, 100, 8, err) & 0o7777,
      uid: num('uid', 108, 8),
      gid: num('gid', 116, 8),
      mtime: num('mtime', 136, 12, true),
      atime: p.has('atime') ? paxNumber(p.get('atime')!, 'atime', err, true) : undefined,
      rdevMajor: type === 'char' || type === 'block' ? num('SCHILY.devmajor', 329, 8) : 0,
      rdevMinor: type === 'char' || type === 'block' ? num('SCHILY.devminor', 337, 8) : 0,
      linkTarget: type === 'symlink' || type === 'hardlink' ? linkname : undefined,
    };
    pax = null;
    longName = longLink = undefined;
    if (entry.linkTarget === '') throw err(`${JSON.stringify(path)}: empty link target`);

    // Data follows for files, for a POSIX (ustar/pax) hard link that carries it, and for GNU dumpdirs
    // (skipped). Old GNU/v7 hard links may show the target's size with no data: ignored, as libarchive does.
    const dataSize = type === 'file' || (type === 'hardlink' && ustar) ? size : 0;
    const skipped = flag === 'D' ? size : 0;
    const data = entryData(r, dataSize, JSON.stringify(path));
    yield { ...entry, size: dataSize, read: data.read };
    const used = dataSize + skipped;
    await r.skip(data.rest() + skipped + pad512(used), `the data of ${JSON.stringify(path)}`);
  }
}
