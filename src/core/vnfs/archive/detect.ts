// Picks the reader from the first bytes of the (decompressed) image: cpio newc
// / crc by their ASCII magic, tar by the ustar magic at offset 257 or, for old
// v7 archives, a valid header checksum. Everything else is named and refused.
import { WwError } from '../../errors.ts';
import type { ByteReader } from './bytes.ts';
import { readCpio } from './cpio.ts';
import { checksumOk, readTar } from './tar.ts';
import type { ArchiveEntry, ArchiveFormat } from './types.ts';

export function detectFormat(head: Buffer): ArchiveFormat {
  if (head.length === 0) throw new WwError('WW_ARCHIVE_MALFORMED', 'image is empty (no archive inside the compressed stream)');
  const magic6 = head.toString('latin1', 0, Math.min(6, head.length));
  if (magic6 === '070701') return 'cpio-newc';
  if (magic6 === '070702') return 'cpio-crc';
  if (head.length >= 512) {
    const m = head.toString('latin1', 257, 262);
    if (m === 'ustar' || checksumOk(head.subarray(0, 512))) return 'tar';
  }
  let what = 'unknown format';
  if (magic6 === '070707') what = 'old portable cpio ("odc"); the master should make newc (cpio -H newc)';
  else if (head.length >= 2 && ((head[0] === 0xc7 && head[1] === 0x71) || (head[0] === 0x71 && head[1] === 0xc7))) what = 'old binary cpio';
  else if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) what = 'gzip inside gzip';
  const hex = head.subarray(0, 8).toString('hex').replace(/(..)/g, '$1 ').trim();
  throw new WwError('WW_ARCHIVE_MALFORMED', `image is not a cpio newc or tar archive: ${what} (first bytes ${hex})`);
}

/** Detects the format and yields its entries. */
export async function* readArchive(r: ByteReader, onFormat?: (f: ArchiveFormat) => void): AsyncGenerator<ArchiveEntry> {
  const format = detectFormat(await r.peek(512));
  onFormat?.(format);
  yield* format === 'tar' ? readTar(r) : readCpio(r);
}
