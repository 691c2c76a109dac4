// The master's access logs as lines: plain or gzip-compressed (told by the content, not the
// name), streamed a chunk at a time so that a log of gigabytes needs no more memory than
// its longest line, and that line is capped. Where the logs are by default: the EL and
// Debian Apache folders, the live log and its rotations (access_log.1, access_log-20261201,
// access_log.2.gz, ...).
import * as fs from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { WwError, describe } from '../errors.ts';

/** A longer line is no access log line of ours (Apache's own request line limit is 8 KiB): skipped, not buffered. */
export const MAX_LINE = 64 * 1024;

export interface FileLines {
  /** Whole lines handed over. */
  lines: number;
  /** Lines longer than MAX_LINE, skipped. */
  long: number;
  /** The file ended inside a line (a line being written, or a cut copy): that line is skipped. */
  partial: boolean;
  gzip: boolean;
  /** The compressed data ended early or is corrupt: the lines before it were read. */
  damaged?: string;
}

/** The default places, EL's and Debian's; each pattern is a folder and the log's name. */
export const DEFAULT_LOGS = [
  { dir: '/var/log/httpd', name: 'access_log' },
  { dir: '/var/log/apache2', name: 'access.log' },
];

/** The logs found under root in the default places: the live log and its rotations, in name order. A folder that cannot be listed: WW_IO. */
export function defaultLogPaths(root = '/'): string[] {
  const out: string[] = [];
  for (const { dir, name } of DEFAULT_LOGS) {
    const at = join(root, dir);
    let names: string[];
    try {
      names = fs.readdirSync(at);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      // EL's /var/log/httpd is root's alone: say so, rather than "no log found".
      throw new WwError('WW_IO', `cannot list ${at}: ${describe(err)}`);
    }
    const esc = name.replace(/\./g, '\\.');
    // NAME, NAME.N, NAME-YYYYMMDD, each optionally .gz
    const re = new RegExp(`^${esc}(?:\\.\\d+|-\\d{8,10})?(?:\\.gz)?$`);
    for (const n of names.filter((x) => re.test(x)).sort()) out.push(join(at, n));
  }
  return out;
}

/**
 * Calls onLine with each whole line of the file (without its newline, CR kept off, read as
 * Latin-1: Apache escapes every other byte). Unreadable file: WwError WW_IO.
 */
export async function readLogLines(path: string, onLine: (line: string) => void): Promise<FileLines> {
  let fd: number;
  try {
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      throw Object.assign(new Error('not a regular file'), { code: 'EINVAL' });
    }
  } catch (err) {
    throw new WwError('WW_IO', `cannot read ${path}: ${describe(err)}`);
  }
  const magic = Buffer.alloc(2);
  const gzip = fs.readSync(fd, magic, 0, 2, 0) === 2 && magic[0] === 0x1f && magic[1] === 0x8b;
  const raw = fs.createReadStream('', { fd, highWaterMark: 256 * 1024 });
  const result: FileLines = { lines: 0, long: 0, partial: false, gzip };
  // pipeline: a read error of the file ends the gunzip stream too (pipe() would leave it waiting).
  const source: NodeJS.ReadableStream = gzip ? pipeline(raw, createGunzip(), () => {}) : raw;
  let pending: Buffer[] = [];
  let pendingLen = 0;
  let skipping = false; // inside a line already past MAX_LINE
  const emit = (buf: Buffer) => {
    const end = buf.length > 0 && buf[buf.length - 1] === 0x0d ? buf.length - 1 : buf.length;
    result.lines++;
    onLine(buf.toString('latin1', 0, end));
  };
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        if (skipping || pendingLen + (nl - start) > MAX_LINE) {
          result.long++;
        } else if (pendingLen > 0) {
          pending.push(chunk.subarray(start, nl));
          emit(Buffer.concat(pending));
        } else {
          emit(chunk.subarray(start, nl));
        }
        pending = [];
        pendingLen = 0;
        skipping = false;
        start = nl + 1;
      }
      if (start < chunk.length && !skipping) {
        if (pendingLen + (chunk.length - start) > MAX_LINE) {
          skipping = true;
          pending = [];
          pendingLen = 0;
        } else {
          // A copy: the chunk's memory is not kept alive for a few bytes of it.
          pending.push(Buffer.from(chunk.subarray(start)));
          pendingLen += chunk.length - start;
        }
      }
    }
  } catch (err) {
    if (!gzip) throw new WwError('WW_IO', `cannot read ${path}: ${describe(err)}`);
    result.damaged = describe(err);
  } finally {
    raw.destroy();
  }
  if (pendingLen > 0 || skipping) result.partial = true;
  return result;
}
