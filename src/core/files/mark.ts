// The newest-seen mark: the timestamp below which every listed object was handled, so
// that a run asks the master only for newer objects (PROTOCOL 2.2).
import { open, unlink } from 'node:fs/promises';
import { constants as C } from 'node:fs';
import { join } from 'node:path';
import { resolveParent, safeComponents } from '../fs/confine.ts';
import { describe } from '../errors.ts';
import type { FileEntry } from '../protocol/filelist.ts';
import type { StaleTemps } from '../fs/temp.ts';
import { writeSmallFile } from '../fs/place.ts';
import type { Ownership } from '../fs/temp.ts';
import type { Outcome } from './apply.ts';

/**
 * The newest-seen mark. Not in /tmp, where upstream keeps it: systemd empties /tmp at boot, so
 * the mark the initramfs run left was gone and the first run on the booted node fetched every
 * object again; and a mark in a world-writable directory is one a local user can plant.
 */
export const MARK_FILE = 'var/lib/wwruntime/wwgetfiles_timestamp';
/** Upstream's mark (and this tool's before): read only when MARK_FILE is missing, then removed. */
export const LEGACY_MARK_FILE = 'tmp/.wwgetfiles_timestamp';

const MARK_OWNER: Ownership = { uid: 0, gid: 0, mode: 0o644 };

export interface StoredMark {
  /** 0 when absent or not trusted (then everything is fetched). */
  value: number;
  /** The file it came from, relative to the root; null when there is none. */
  file: string | null;
  /** Why a mark that is there is not trusted. */
  distrust?: string;
}

/** Reads one mark file, trusting it only as the tool's own user (`uid`) leaves it. */
async function readMarkFile(rootReal: string, file: string, uid: number): Promise<StoredMark | null> {
  let fh;
  try {
    const parent = await resolveParent(rootReal, safeComponents(`/${file}`), false);
    if (!parent) return null;
    fh = await open(join(parent.dir, parent.name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    return { value: 0, file, distrust: code === 'ELOOP' ? 'a symbolic link' : describe(err) };
  }
  try {
    // Checked on the open file, so nothing can be swapped in between.
    const st = await fh.stat();
    const distrust = !st.isFile()
      ? 'not a regular file'
      : st.uid !== uid
        ? `owned by uid ${st.uid}, not ${uid}`
        : (st.mode & 0o022) !== 0
          ? `writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')})`
          : st.nlink !== 1
            ? `a file with ${st.nlink} names (hard links)`
            : null;
    if (distrust) return { value: 0, file, distrust };
    const buf = Buffer.alloc(64);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const text = buf.subarray(0, bytesRead).toString('latin1').trim();
    if (!/^\d{1,15}$/.test(text)) return { value: 0, file, distrust: 'not a number' };
    return { value: Number(text), file };
  } finally {
    await fh.close();
  }
}

/**
 * The stored mark. Trusted only when it is what this tool writes: a regular file owned by
 * the tool's user (`uid`), writable by no one else, with a single name. Anyone else's file
 * there (a user who wrote 9999999999 would make every run ask for nothing) is not a mark.
 */
export async function readMark(rootReal: string, uid: number): Promise<StoredMark> {
  return (
    (await readMarkFile(rootReal, MARK_FILE, uid)) ?? (await readMarkFile(rootReal, LEGACY_MARK_FILE, uid)) ?? { value: 0, file: null }
  );
}

/**
 * The new mark: the newest timestamp such that every listed object at or
 * below it was handled. A failed object keeps the mark below it so the next
 * run asks for it again.
 */
export function nextMark(before: number, results: { entry: FileEntry; outcome: Outcome }[]): number {
  if (results.length === 0) return before;
  const failed = results.filter((r) => r.outcome === 'failed').map((r) => r.entry.timestamp);
  const candidate = failed.length > 0 ? Math.min(...failed) - 1 : Math.max(...results.map((r) => r.entry.timestamp));
  return Math.max(before, candidate);
}

/**
 * Stores `value` as MARK_FILE unless that is already what it holds (an unchanged mark is not
 * rewritten), and removes a trusted legacy mark it replaces.
 */
export async function writeMark(rootReal: string, stored: StoredMark, value: number, temps: StaleTemps): Promise<void> {
  if (value <= 0 || (stored.file === MARK_FILE && !stored.distrust && value === stored.value)) return;
  // Renamed over whatever is there (a planted file or link is replaced, never followed).
  const parent = await resolveParent(rootReal, safeComponents(`/${MARK_FILE}`), true);
  await temps.sweep(parent!.dir, parent!.name, MARK_OWNER);
  await writeSmallFile({ dir: parent!.dir, name: parent!.name, own: MARK_OWNER, chown: false }, `${value}\n`);
  if (stored.file === LEGACY_MARK_FILE && !stored.distrust) {
    // Carried over; ours, so no one else can have put another file there meanwhile (/tmp is sticky).
    const legacy = await resolveParent(rootReal, safeComponents(`/${LEGACY_MARK_FILE}`), false);
    if (legacy) await unlink(join(legacy.dir, legacy.name)).catch(() => {});
  }
}
