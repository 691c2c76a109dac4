// The /WW/file list (PROTOCOL 2.2): `ID NAME UID GID TMODE TIMESTAMP PATH`.
// TMODE is a type character then four octal digits, and a regular file's type
// character is a space, so its line shows two spaces before the mode. PATH is
// the rest of the line. A list with any malformed line is refused whole: it is
// not what a healthy master sends (an error page, a cut or garbled answer).
import { WwError } from '../errors.ts';

export type FileType = 'file' | 'dir' | 'link' | 'block' | 'char' | 'fifo' | 'socket';

export interface FileEntry {
  id: number;
  name: string;
  uid: number;
  gid: number;
  type: FileType;
  /** Permission bits including setuid/setgid/sticky (0..0o7777). */
  mode: number;
  timestamp: number;
  /** As the master sent it; check with confinedPath before use. */
  path: string;
  line: number;
}

const TYPES: Record<string, FileType> = { '': 'file', d: 'dir', l: 'link', b: 'block', c: 'char', p: 'fifo', s: 'socket' };
const LINE = /^\s*(\d{1,15})\s+(\S+)\s+(\d{1,10})\s+(\d{1,10})\s+([dlbcps]?)([0-7]{4})\s+(\d{1,15})\s+(\S.*)$/;
const MAX_ID = 0xfffffffe; // (uid_t)-1 means "unchanged" to chown: never a real owner

export function parseFileListLine(raw: string, line: number): FileEntry {
  const text = raw.replace(/\r$/, '');
  const m = LINE.exec(text);
  if (!m) throw new WwError('WW_LIST_MALFORMED', `file list line ${line} is malformed: '${text.slice(0, 80)}'`);
  const [, id, name, uid, gid, type, mode, ts, path] = m;
  const nums = [Number(id), Number(uid), Number(gid), Number(ts)];
  if (Number(uid) > MAX_ID || Number(gid) > MAX_ID || !nums.every(Number.isSafeInteger)) {
    throw new WwError('WW_LIST_MALFORMED', `file list line ${line} has an out-of-range number: '${text.slice(0, 80)}'`);
  }
  // Ids start at 1: `fileid=0` is how the list itself is asked for (the master treats 0 as "no id"),
  // so an object 0 would have the list installed as its content.
  if (nums[0] < 1) throw new WwError('WW_LIST_MALFORMED', `file list line ${line} is malformed: file object id 0: '${text.slice(0, 80)}'`);
  return {
    id: nums[0],
    name,
    uid: nums[1],
    gid: nums[2],
    type: TYPES[type],
    mode: parseInt(mode, 8),
    timestamp: nums[3],
    path: path.trimEnd(),
    line,
  };
}

export function parseFileList(text: string): FileEntry[] {
  if (text.includes('\0')) throw new WwError('WW_LIST_MALFORMED', 'file list contains NUL bytes');
  const out: FileEntry[] = [];
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '') return;
    out.push(parseFileListLine(raw, i + 1));
  });
  return out;
}
