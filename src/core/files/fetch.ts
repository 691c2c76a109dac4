// Fetching from the master: the list of a node's file objects (PROTOCOL 2.2) and
// one object's content (2.3), checked for the real master's error page in a 200
// body (2.7) before anything of it can become a file.
import { constants as C, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { WwError } from '../errors.ts';
import { parseFileList, type FileEntry } from '../protocol/filelist.ts';
import { forEachChunk } from '../net/body.ts';
import type { MasterClient } from '../net/client.ts';
import { embeddedStatus, embeddedStatusError } from '../protocol/embedded-status.ts';
import { ANSWER_CAPS, getWhole } from '../protocol/whole.ts';
import { createTemp, discardTemp, writeTemp, type TempFile } from '../fs/temp.ts';

export async function fetchFileList(client: MasterClient, hwaddr: string, since: number): Promise<FileEntry[]> {
  return getWhole(
    client,
    '/WW/file',
    { hwaddr, timestamp: String(since) },
    {
      cap: ANSWER_CAPS.list,
      parse: ({ body }) => parseFileList(body.toString('utf8')),
    },
  );
}

/** Where objects' contents come from. */
export interface ObjectSource {
  client: MasterClient;
  hwaddr: string;
  /** Rounds for one object's content (default: the client's). */
  attempts?: number;
}

export interface Downloaded {
  /** null when nothing was written: a dry run, or content identical to the existing file. */
  temp: TempFile | null;
  size: number;
  /** True when the content is `same`'s, byte for byte, and `same` is still the size it was seen with. */
  identical: boolean;
}

/**
 * Streams a regular file's content into a temporary beside `into` (null: a dry run,
 * write nothing). When `same` names an existing file that may be identical, the
 * download is compared with it as it arrives and nothing is written unless a byte
 * differs (then the matching prefix is copied into the temp file and writing carries
 * on) or the existing file is longer (then the whole download is its prefix: copied,
 * not fetched again), so a steady-state run writes nothing, not even a temporary name,
 * and memory stays at one chunk.
 */
export function downloadFile(
  src: ObjectSource,
  id: number,
  into: { dir: string; name: string } | null,
  same: { path: string; size: number } | null,
): Promise<Downloaded> {
  return src.client.get(
    '/WW/file',
    { hwaddr: src.hwaddr, fileid: String(id) },
    async (res) => {
      let temp: TempFile | null = null;
      // Synchronous reads of the existing file (page cache, microseconds; see place.ts). O_NONBLOCK:
      // should a FIFO have replaced the file since it was looked at, opening it must not wait.
      const existing = same ? openSync(same.path, C.O_RDONLY | C.O_NONBLOCK) : null;
      let matching = existing !== null;
      try {
        const head: Buffer[] = [];
        let headLen = 0;
        let offset = 0;
        const write = async (buf: Buffer) => writeTemp(temp!, buf);
        /** Starts the temporary with the first `length` bytes of the existing file, which matched. */
        const fromPrefix = async (length: number) => {
          temp = await createTemp(into!.dir, into!.name);
          for (let copied = 0; copied < length; ) {
            const part = Buffer.alloc(Math.min(1 << 20, length - copied));
            const n = readSync(existing!, part, 0, part.length, copied);
            if (n === 0) throw new WwError('WW_IO', `${same!.path} shrank while being compared`);
            await write(part.subarray(0, n));
            copied += n;
          }
        };
        const size = await forEachChunk(res, async (chunk) => {
          if (headLen < 1024) {
            head.push(chunk.subarray(0, 1024 - headLen));
            headLen += Math.min(chunk.length, 1024 - headLen);
          }
          if (matching) {
            const mine = Buffer.alloc(chunk.length);
            const bytesRead = readSync(existing!, mine, 0, chunk.length, offset);
            if (bytesRead === chunk.length && mine.equals(chunk)) {
              offset += chunk.length;
              return;
            }
            matching = false;
            if (into === null) return; // dry run: knowing it differs is enough
            await fromPrefix(offset);
          } else if (temp === null && into !== null) {
            temp = await createTemp(into.dir, into.name);
          }
          offset += chunk.length;
          if (temp) await write(chunk);
        });
        // The real master's error page inside a 200 body must never become a file (PROTOCOL 2.7).
        const status = embeddedStatus(Buffer.concat(head));
        if (status !== null) throw embeddedStatusError(res.url, status);
        if (matching && (fstatSync(existing!).size !== size || same!.size !== size)) {
          // Every byte matched, but the existing file is longer (or no longer the size it was seen with).
          matching = false;
          if (into !== null) await fromPrefix(size);
        }
        if (!matching && temp === null && into !== null && size === 0) temp = await createTemp(into.dir, into.name); // empty new file
        return { temp, size, identical: matching };
      } catch (err) {
        if (temp) await discardTemp(temp);
        throw err;
      } finally {
        if (existing !== null) closeSync(existing);
      }
    },
    async (dl) => {
      // The exchange failed after the body arrived (e.g. more data than Content-Length): drop what was written.
      if (dl.temp) await discardTemp(dl.temp);
    },
    { attempts: src.attempts },
  );
}

/** Small contents: link targets and device numbers. */
export function downloadSmall(src: ObjectSource, id: number): Promise<string> {
  return getWhole(
    src.client,
    '/WW/file',
    { hwaddr: src.hwaddr, fileid: String(id) },
    { cap: ANSWER_CAPS.small, limits: { attempts: src.attempts }, parse: (a) => a.body.toString('utf8') },
  );
}

export function parseDevice(text: string, path: string): { major: number; minor: number } {
  if (!/^\s*\d{1,10}\s*$/.test(text))
    throw new WwError('WW_OBJECT_MALFORMED', `device number for ${path} is not a number: '${text.slice(0, 40)}'`);
  const n = Number(text.trim());
  return { major: Math.floor(n / 256), minor: n % 256 };
}
