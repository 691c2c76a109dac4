// Streaming reader for cpio "newc" (magic 070701, what the Warewulf master makes
// with `cpio -o -H newc`) and its "crc" twin (070702, a 32-bit byte sum of each
// file's data). Layout: a 110-byte ASCII header of 13 eight-digit hex fields,
// the NUL-terminated name padded to 4 bytes, the data padded to 4 bytes; the
// archive ends with the entry named TRAILER!!!.
//
// Hard links: newc repeats the inode number; GNU cpio and bsdtar write the data
// only with the LAST name of a link set (the others have size 0). The first name
// seen becomes a file, each later one a hard link to it, carrying data if any.
import { WwError } from '../../errors.ts';
import { type ByteReader, entryData } from './bytes.ts';
import type { ArchiveEntry, EntryType } from './types.ts';

const HEADER = 110;
const MAX_NAME = 64 * 1024;
const MAX_LINK = 64 * 1024;
const S_IFMT = 0o170000;

const TYPES: Record<number, EntryType> = {
  0o100000: 'file',
  0o040000: 'directory',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
  0o140000: 'socket',
};

const pad4 = (n: number) => (4 - (n % 4)) % 4;

function bad(r: ByteReader, at: number, msg: string): WwError {
  return new WwError('WW_ARCHIVE_MALFORMED', `image is not a valid cpio archive: ${msg} (entry header at byte ${at})`);
}

export interface CpioHeader {
  magic: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  mtime: number;
  size: number;
  devMajor: number;
  devMinor: number;
  rdevMajor: number;
  rdevMinor: number;
  nameSize: number;
  check: number;
}

export function parseNewcHeader(h: Buffer, onError: (msg: string) => Error): CpioHeader {
  const magic = h.toString('latin1', 0, 6);
  if (magic !== '070701' && magic !== '070702') {
    const hint = magic === '070707' ? ' (old portable "odc" format: only newc/crc are supported)' : '';
    throw onError(`bad magic ${JSON.stringify(magic)}${hint}`);
  }
  const f: number[] = [];
  for (let i = 0; i < 13; i++) {
    const s = h.toString('latin1', 6 + i * 8, 14 + i * 8);
    if (!/^[0-9A-Fa-f]{8}$/.test(s)) throw onError(`header field ${i + 1} is not hexadecimal: ${JSON.stringify(s)}`);
    f.push(parseInt(s, 16));
  }
  const [ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, nameSize, check] = f;
  return { magic, ino, mode, uid, gid, nlink, mtime, size, devMajor, devMinor, rdevMajor, rdevMinor, nameSize, check };
}

export async function* readCpio(r: ByteReader): AsyncGenerator<ArchiveEntry> {
  const links = new Map<string, string>();
  for (;;) {
    const at = r.position;
    const h = await r.read(HEADER, 'a cpio header');
    const hd = parseNewcHeader(h, (m) => bad(r, at, m));
    if (hd.nameSize < 2 || hd.nameSize > MAX_NAME) throw bad(r, at, `name size ${hd.nameSize} out of range`);
    const rawName = await r.read(hd.nameSize, 'a cpio file name');
    if (rawName[hd.nameSize - 1] !== 0) throw bad(r, at, 'file name is not NUL-terminated');
    const name = rawName.toString('utf8', 0, hd.nameSize - 1);
    if (name.includes('\0')) throw bad(r, at, 'file name contains a NUL byte');
    await r.skip(pad4(HEADER + hd.nameSize), 'cpio name padding');
    if (name === 'TRAILER!!!') return;

    let type = TYPES[hd.mode & S_IFMT];
    if (!type) throw bad(r, at, `${JSON.stringify(name)} has unknown file type 0${(hd.mode & S_IFMT).toString(8)}`);
    const base = {
      path: name,
      mode: hd.mode & 0o7777,
      uid: hd.uid,
      gid: hd.gid,
      mtime: hd.mtime,
      rdevMajor: hd.rdevMajor,
      rdevMinor: hd.rdevMinor,
    };
    const what = JSON.stringify(name);

    if (type === 'symlink') {
      if (hd.size > MAX_LINK) throw bad(r, at, `symbolic link ${what} target is ${hd.size} bytes`);
      const target = (await r.read(hd.size, `the link target of ${what}`)).toString('utf8');
      await r.skip(pad4(hd.size), 'cpio data padding');
      yield { ...base, type, size: 0, linkTarget: target, read: async () => {} };
      continue;
    }

    let size = hd.size;
    let linkTarget: string | undefined;
    if (type === 'file' && hd.nlink > 1) {
      const key = `${hd.devMajor}:${hd.devMinor}:${hd.ino}`;
      const first = links.get(key);
      if (first === undefined) links.set(key, name);
      else if (first !== name) {
        type = 'hardlink';
        linkTarget = first;
      }
    } else if (type !== 'file') {
      // Directories, devices, FIFOs carry no data; skip any a writer put there.
      size = 0;
    }

    let sum = 0;
    const crc = hd.magic === '070702' && (type === 'file' || type === 'hardlink');
    const data = entryData(
      r,
      size,
      what,
      crc
        ? (c) => {
            for (let i = 0; i < c.length; i++) sum = (sum + c[i]) >>> 0;
          }
        : undefined,
    );
    yield {
      ...base,
      type,
      size,
      linkTarget,
      read: async (onChunk) => {
        await data.read(onChunk);
        if (crc && sum !== hd.check) {
          throw bad(r, at, `${what}: data checksum ${sum.toString(16)} differs from the header's ${hd.check.toString(16)}`);
        }
      },
    };
    await r.skip(data.rest() + (hd.size - size), `the data of ${what}`);
    await r.skip(pad4(hd.size), 'cpio data padding');
  }
}
