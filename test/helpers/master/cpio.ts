// The test master's own cpio newc writer, for VNFS images. An oracle ON PURPOSE: it shares
// nothing with the product's archive reader (src/), so a misreading there cannot be mirrored here.
import { gzipSync } from 'node:zlib';

const bytes = (c: string | Buffer | undefined): Buffer => (c === undefined ? Buffer.alloc(0) : Buffer.isBuffer(c) ? c : Buffer.from(c));

export interface CpioEntry {
  /** Relative path inside the image, e.g. 'sbin/init'. */
  path: string;
  type?: 'file' | 'dir' | 'link';
  /** Permission bits (default 0o755 dir/link-less, 0o644 file). */
  mode?: number;
  uid?: number;
  gid?: number;
  /** File bytes, or the link target. */
  content?: string | Buffer;
  mtime?: number;
}

/** A cpio newc archive (uncompressed) of the entries, ending with TRAILER!!!. */
export function makeCpio(entries: CpioEntry[]): Buffer {
  const out: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
  let ino = 1;
  const add = (name: string, mode: number, uid: number, gid: number, mtime: number, data: Buffer) => {
    const nameBuf = Buffer.from(name + '\0');
    const header =
      '070701' +
      hex(ino++) +
      hex(mode) +
      hex(uid) +
      hex(gid) +
      hex(1) +
      hex(mtime) +
      hex(data.length) +
      hex(0) +
      hex(0) +
      hex(0) +
      hex(0) +
      hex(nameBuf.length) +
      hex(0);
    out.push(Buffer.from(header), nameBuf, pad4(110 + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) {
    const type = e.type ?? 'file';
    const bits = type === 'dir' ? 0o040000 : type === 'link' ? 0o120000 : 0o100000;
    const perm = e.mode ?? (type === 'dir' ? 0o755 : type === 'link' ? 0o777 : 0o644);
    const data = type === 'dir' ? Buffer.alloc(0) : bytes(e.content);
    add(e.path.replace(/^\/+/, ''), bits | perm, e.uid ?? 0, e.gid ?? 0, e.mtime ?? 1700000000, data);
  }
  ino = 0;
  add('TRAILER!!!', 0, 0, 0, 0, Buffer.alloc(0));
  return Buffer.concat(out);
}

/** A gzip-compressed cpio newc image, the master's default VNFS format. */
export function makeVnfsImage(entries: CpioEntry[]): Buffer {
  return gzipSync(makeCpio(entries));
}
