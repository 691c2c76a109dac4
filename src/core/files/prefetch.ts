// Fetching an object's content before its turn (see order.ts), touching nothing
// visible, and the one check of whether what was fetched still holds at its turn.
import { lstatSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { resolveParent } from '../fs/confine.ts';
import type { StaleTemps } from '../fs/temp.ts';
import { discardTemp, finishTemp, readyTemp, renameTemp } from '../fs/temp.ts';
import { downloadFile, downloadSmall, type Downloaded, type ObjectSource } from './fetch.ts';
import { hasOwnership, type Planned } from './plan.ts';

export interface PrefetchContext {
  rootReal: string;
  dryRun: boolean;
  /** Set owners (root only). */
  chown: boolean;
  source: ObjectSource;
  temps: StaleTemps;
}

/** What was fetched for an object before its turn. */
export interface Ahead {
  /** A link target or device number. */
  small?: string;
  file?: AheadFile;
  /** The download failed (after the client's retries): the object fails at its turn. */
  error?: unknown;
}

/**
 * A regular file's content downloaded beside its target, with what that assumed. The file
 * is synced and given its owner; unless its mode has setuid or setgid bits it is also given
 * its mode and closed (sealed), so only the rename is left for its turn. A setuid or setgid
 * one stays mode 0600 and open until then: a run killed meanwhile leaves no such copy under
 * a hidden name.
 */
export interface AheadFile {
  dl: Downloaded;
  dir: string;
  name: string;
  /** The target's directory and the entry the download was compared with (basisOf). */
  basis: string;
  sealed: boolean;
}

/** lstat, synchronously (a thread-pool round trip costs more than the call); null when it fails. */
export function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

const signature = (st: Stats | null) =>
  st ? `${st.dev}:${st.ino}:${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : 'none';

/** What a download beside a target assumes: the directory it goes into and the entry there it is compared with. */
function basisOf(dir: string, st: Stats | null): string {
  const d = lstatOrNull(dir);
  return `${d ? `${d.dev}:${d.ino}` : 'gone'} ${signature(st)}`;
}

/**
 * Fetches what an object needs before its turn: a small content into memory, or a regular
 * file's content into a private temporary beside an existing target. Returns null when that
 * is not possible yet (a parent directory is missing, or a directory is in the way): the
 * object then fetches at its turn, when every earlier object has been applied.
 */
export async function fetchAhead(p: Planned, c: PrefetchContext): Promise<Ahead | null> {
  const e = p.entry;
  if (e.type === 'link' || e.type === 'block' || e.type === 'char') {
    return downloadSmall(c.source, e.id).then(
      (small) => ({ small }),
      (error) => ({ error }),
    );
  }
  if (e.type !== 'file' || !p.parts) return null;
  let dir: string, name: string, st: Stats | null, basis: string;
  try {
    const parent = await resolveParent(c.rootReal, p.parts, false);
    if (!parent) return null;
    ({ dir, name } = parent);
    st = lstatOrNull(join(dir, name));
    if (st?.isDirectory()) return null;
    basis = basisOf(dir, st);
    if (!c.dryRun) await c.temps.sweep(dir, name, p.own);
  } catch {
    return null; // reported, if it still holds, at the object's turn
  }
  const candidate = st?.isFile() && hasOwnership(st, p.own, c.chown) ? { path: join(dir, name), size: st.size } : null;
  try {
    const dl = await downloadFile(c.source, e.id, c.dryRun ? null : { dir, name }, candidate);
    // Done here, overlapped, rather than in list order at its turn.
    const sealed = (p.own.mode & 0o6000) === 0;
    if (dl.temp) await readyTemp(dl.temp, join(dir, name), p.own, c.chown, sealed);
    return { file: { dl, dir, name, basis, sealed } };
  } catch (error) {
    return { error };
  }
}

/**
 * The download done ahead if it still holds at the object's turn, when its parent resolves
 * to `dir` (null: it does not resolve) and its target is `st`; otherwise its temporary is
 * removed here and null returned: the object downloads again.
 *
 * It holds when the parent is the same directory and the target the same entry, unchanged,
 * as when the download began: observed again, not inferred. (The other check this replaced
 * counted this run's placements: any link or directory placed anywhere since the download
 * began voided it, so files listed among links and directories were downloaded twice (the
 * order test's 8 content requests became 12), and it could not see a change made by anyone
 * else. What it caught, this catches: a placement at the target is a new entry, one that
 * makes the path resolve elsewhere a different directory.)
 */
export async function takeAhead(f: AheadFile, dir: string | null, st: Stats | null): Promise<AheadFile | null> {
  if (dir !== null && f.dir === dir && f.basis === basisOf(dir, st)) return f;
  await discardAhead(f);
  return null;
}

/** Removes a download done ahead that will not be used. */
export async function discardAhead(f: AheadFile): Promise<void> {
  if (f.dl.temp) await discardTemp(f.dl.temp);
}

/** Puts a download done ahead in place: what readyTemp left of commitFile. */
export function placeAhead(f: AheadFile, own: Planned['own']): Promise<void> {
  return f.sealed ? renameTemp(f.dl.temp!, f.dir, f.name) : finishTemp(f.dl.temp!, f.dir, f.name, own);
}
