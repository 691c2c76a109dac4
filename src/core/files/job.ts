// wwgetfiles' job: bring the node's provisioned file objects (PROTOCOL 2.2,
// 2.3, 3) into the root, safely. Lifecycle: read the mark -> fetch the list ->
// for each object: confine its path, fetch its content, compare with what is
// there, place it atomically -> advance the mark past what was installed.
import { mkdir, open, readlink, unlink } from 'node:fs/promises';
import { constants as C, closeSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { resolveParent, realRoot, safeComponents } from '../fs/confine.ts';
import { WwError, describe } from '../errors.ts';
import { parseFileList, type FileEntry } from '../protocol/filelist.ts';
import type { Logger } from '../log.ts';
import { embeddedStatus, embeddedStatusError, forEachChunk, type MasterClient } from '../net/client.ts';
import { ANSWER_CAPS, getWhole } from '../protocol/whole.ts';
import { StaleTemps } from '../fs/temp.ts';
import {
  commitFile, createTemp, discardTemp, finishTemp, readyTemp, renameTemp, findMknod, makedev, placeDirectory, placeSpecial, placeSymlink,
  writeSmallFile, writeTemp, type Ownership, type TempFile,
} from '../fs/place.ts';

/**
 * The newest-seen mark. Not in /tmp, where upstream keeps it: systemd empties /tmp at boot, so
 * the mark the initramfs run left was gone and the first run on the booted node fetched every
 * object again; and a mark in a world-writable directory is one a local user can plant.
 */
export const MARK_FILE = 'var/lib/wwruntime/wwgetfiles_timestamp';
/** Upstream's mark (and this tool's before): read only when MARK_FILE is missing, then removed. */
export const LEGACY_MARK_FILE = 'tmp/.wwgetfiles_timestamp';

export interface SyncOptions {
  client: MasterClient;
  hwaddr: string;
  /** NEWROOT, or '/' on a running node. */
  root: string;
  log: Logger;
  /** Use the newest-seen mark to fetch only newer objects (not in the initramfs, not with -F). */
  useMark: boolean;
  /** -F: delete the mark first. */
  forceFull: boolean;
  dryRun: boolean;
  /** Downloads in flight at once. */
  concurrency: number;
  /** Set owners (root only; otherwise owners are left as the running user). */
  chown: boolean;
  /**
   * Rounds for one object's content (default: the client's). On a running node a
   * download that keeps failing must not hold the run (and the lock) through the
   * whole back-off: it fails, the mark stays below it, the next run asks again.
   */
  objectAttempts?: number;
  now?: () => Date;
  mknodPath?: string;
}

export type Outcome = 'installed' | 'unchanged' | 'failed' | 'skipped';

export interface SyncReport {
  listed: number;
  installed: number;
  unchanged: number;
  failed: number;
  skipped: number;
  /** One line per object that changed or would change (dry run), and per failure. */
  changes: string[];
  errors: string[];
  markBefore: number;
  markAfter: number;
}

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
    const distrust = !st.isFile() ? 'not a regular file'
      : st.uid !== uid ? `owned by uid ${st.uid}, not ${uid}`
      : (st.mode & 0o022) !== 0 ? `writable by group or others (mode ${octal(st.mode & 0o7777)})`
      : st.nlink !== 1 ? `a file with ${st.nlink} names (hard links)`
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
  return (await readMarkFile(rootReal, MARK_FILE, uid)) ?? (await readMarkFile(rootReal, LEGACY_MARK_FILE, uid)) ?? { value: 0, file: null };
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

export async function fetchFileList(client: MasterClient, hwaddr: string, since: number): Promise<FileEntry[]> {
  let entries: FileEntry[] = [];
  await getWhole(client, '/WW/file', { hwaddr, timestamp: String(since) }, {
    cap: ANSWER_CAPS.list,
    check: ({ body }) => void (entries = parseFileList(body.toString('utf8'))),
  });
  return entries;
}

interface Downloaded {
  /** null when nothing was written: a dry run, or content identical to the existing file. */
  temp: TempFile | null;
  size: number;
  /** True when the content matched `same` byte for byte. */
  identical: boolean;
}

/**
 * Streams a regular file's content. When `same` names an existing file that may
 * be identical, the download is compared with it as it arrives and nothing is
 * written unless a byte differs (then the matching prefix is copied into the
 * temp file and writing carries on), so a steady-state run writes nothing, not
 * even a temporary name, and memory stays at one chunk.
 */
function downloadFile(
  client: MasterClient, hwaddr: string, id: number, dir: string | null, name: string, same: string | null, attempts?: number,
): Promise<Downloaded> {
  return client.get('/WW/file', { hwaddr, fileid: String(id) }, async (res) => {
    let temp: TempFile | null = null;
    // Synchronous reads of the existing file (page cache, microseconds; see place.ts). O_NONBLOCK:
    // should a FIFO have replaced the file since it was looked at, opening it must not wait.
    const existing = same ? openSync(same, C.O_RDONLY | C.O_NONBLOCK) : null;
    let matching = existing !== null;
    try {
      const head: Buffer[] = [];
      let headLen = 0;
      let offset = 0;
      const write = async (buf: Buffer) => writeTemp(temp!, buf);
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
          if (dir === null) return; // dry run: knowing it differs is enough
          temp = await createTemp(dir, name);
          for (let copied = 0; copied < offset;) {
            const part = Buffer.alloc(Math.min(1 << 20, offset - copied));
            const n = readSync(existing!, part, 0, part.length, copied);
            if (n === 0) throw new WwError('WW_IO', `${same} shrank while being compared`);
            await write(part.subarray(0, n));
            copied += n;
          }
        } else if (temp === null && dir !== null) {
          temp = await createTemp(dir, name);
        }
        offset += chunk.length;
        if (temp) await write(chunk);
      });
      // The real master's error page inside a 200 body must never become a file (PROTOCOL 2.7).
      const status = embeddedStatus(Buffer.concat(head));
      if (status !== null) throw embeddedStatusError(res.url, status);
      if (!matching && temp === null && dir !== null && size === 0) temp = await createTemp(dir, name); // empty new file
      return { temp, size, identical: matching };
    } catch (err) {
      if (temp) await discardTemp(temp);
      throw err;
    } finally {
      if (existing !== null) closeSync(existing);
    }
  }, async (dl) => {
    // The exchange failed after the body arrived (e.g. more data than Content-Length): drop what was written.
    if (dl.temp) await discardTemp(dl.temp);
  }, { attempts });
}

/** Small contents: link targets and device numbers. */
function downloadSmall(client: MasterClient, hwaddr: string, id: number, attempts?: number): Promise<string> {
  return getWhole(client, '/WW/file', { hwaddr, fileid: String(id) }, { cap: ANSWER_CAPS.small, limits: { attempts } }).then((a) => a.body.toString('utf8'));
}

function parseDevice(text: string, path: string): { major: number; minor: number } {
  if (!/^\s*\d{1,10}\s*$/.test(text)) throw new WwError('WW_OBJECT_MALFORMED', `device number for ${path} is not a number: '${text.slice(0, 40)}'`);
  const n = Number(text.trim());
  return { major: Math.floor(n / 256), minor: n % 256 };
}

function sameOwner(st: { uid: number; gid: number; mode: number }, own: Ownership, chown: boolean, withMode = true): boolean {
  return (!chown || (st.uid === own.uid && st.gid === own.gid)) && (!withMode || (st.mode & 0o7777) === own.mode);
}

const octal = (m: number) => m.toString(8).padStart(4, '0');

/**
 * What was fetched for an object before its turn (see inListOrder): a link target or
 * device number, or a regular file's content downloaded beside its target, with what
 * that assumed. The file is synced and given its owner; unless its mode has setuid or
 * setgid bits it is also given its mode and closed (sealed), so only the rename is left
 * for its turn. A setuid or setgid one stays mode 0600 and open until then: a run killed
 * meanwhile leaves no such copy under a hidden name.
 */
interface Ahead {
  small?: string;
  file?: {
    dl: Downloaded;
    dir: string;
    name: string;
    /** The target entry it was compared with, and a signature of it with its directory. */
    st: Stats | null;
    basis: string;
    /** Changes.now() when the fetch began. */
    began: { reshapes: number; seq: number };
    sealed: boolean;
    used: boolean;
  };
  /** The download failed (after the client's retries): the object fails at its turn. */
  error?: unknown;
}

/**
 * What this run's placements changed, so a download done ahead can tell whether it still
 * holds at its turn. `reshapes` counts placements that may change how a path resolves: a
 * directory placed (a non-directory moved aside), a link placed, anything placed over a
 * link. Parent directories made on the way never change an existing path, and nothing
 * removes or replaces a directory. So while that count has not moved, a download done
 * ahead still sits in the directory its path leads to, and if no placement since it began
 * was at its own target (same real path), that entry is as it was compared.
 */
class Changes {
  reshapes = 0;
  private seq = 0;
  private readonly last = new Map<string, number>();

  now(): { reshapes: number; seq: number } {
    return { reshapes: this.reshapes, seq: this.seq };
  }

  /** Nothing since `began` can have changed the directory of `path` or `path` itself. */
  unchangedSince(began: { reshapes: number; seq: number }, path: string): boolean {
    return began.reshapes === this.reshapes && (this.last.get(path) ?? 0) <= began.seq;
  }

  /** Records a placement at `path` once it is over (done or failed): a fetch that began before sees older counts. */
  async placing<T>(path: string, reshapes: boolean, work: Promise<T>): Promise<T> {
    try {
      return await work;
    } finally {
      this.last.set(path, ++this.seq);
      if (reshapes) this.reshapes++;
    }
  }

  constructor(
    /** Makes a missing parent directory: as the directory object listed at that path, if there is one, else 0755. */
    private readonly make: (path: string, leading: string[]) => Promise<unknown>,
  ) {}

  makeDir = (path: string, leading: string[]): Promise<unknown> => this.placing(path, false, this.make(path, leading));
}

const signature = (st: Stats | null) => (st ? `${st.dev}:${st.ino}:${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeMs}:${st.ctimeMs}` : 'none');

/**
 * What a download beside the target assumed: the directory it went into and the entry it
 * was compared with. At the object's turn both must be the same, else an earlier object
 * changed the place (a link, a directory, the same path) and the download is done again.
 */
function basisOf(dir: string, st: Stats | null): string {
  const d = lstatSync(dir);
  return `${d.dev}:${d.ino} ${signature(st)}`;
}

/**
 * Fetches what an object needs before its turn, touching nothing visible: a small
 * content into memory, or a regular file's content into a private temporary beside an
 * existing target. Returns null when that is not possible yet (a parent directory is
 * missing, or a directory is in the way): the object then fetches at its turn, when
 * every earlier object has been applied.
 */
async function fetchAhead(e: FileEntry, rootReal: string, o: SyncOptions, temps: StaleTemps, changes: Changes): Promise<Ahead | null> {
  if (e.type === 'link' || e.type === 'block' || e.type === 'char') {
    return downloadSmall(o.client, o.hwaddr, e.id, o.objectAttempts).then((small) => ({ small }), (error) => ({ error }));
  }
  if (e.type !== 'file') return null;
  const own: Ownership = { uid: e.uid, gid: e.gid, mode: e.mode };
  const began = changes.now();
  let dir: string, name: string, st: Stats | null, basis: string;
  try {
    const parent = await resolveParent(rootReal, safeComponents(e.path, { requireAbsolute: true }), false);
    if (!parent) return null;
    ({ dir, name } = parent);
    st = lstatOrNull(join(dir, name));
    if (st?.isDirectory()) return null;
    basis = basisOf(dir, st);
    if (!o.dryRun) await temps.sweep(dir, name, own);
  } catch {
    return null; // reported, if it still holds, at the object's turn
  }
  const candidate = st?.isFile() && sameOwner(st, own, o.chown) ? join(dir, name) : null;
  try {
    const dl = await downloadFile(o.client, o.hwaddr, e.id, o.dryRun ? null : dir, name, candidate, o.objectAttempts);
    // Done here, overlapped, rather than in list order at its turn.
    const sealed = (own.mode & 0o6000) === 0;
    if (dl.temp) await readyTemp(dl.temp, join(dir, name), own, o.chown, sealed);
    return { file: { dl, dir, name, st, basis, began, sealed, used: false } };
  } catch (error) {
    return { error };
  }
}

/** lstat, synchronously (a thread-pool round trip costs more than the call); null when it fails. */
function lstatOrNull(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** Installs (or, in a dry run, assesses) one object. Returns its outcome and a change line. */
async function installOne(
  e: FileEntry, rootReal: string, o: SyncOptions, now: Date, temps: StaleTemps | null, ahead: Ahead | null, changes: Changes,
  noCompare = false,
): Promise<[Outcome, string?]> {
  if (ahead?.error !== undefined) throw ahead.error;
  const own: Ownership = { uid: e.uid, gid: e.gid, mode: e.mode };
  // Owners are set only as root; otherwise say what the object really got (the running user,
  // or the owner an existing directory kept), not the listed owner it did not get.
  const describeAs = (owner: string) => `${e.path} (${e.type} ${octal(e.mode)} ${owner})`;
  const desc = describeAs(o.chown ? `${e.uid}:${e.gid}` : `owner ${e.uid}:${e.gid} not set: not root`);
  const placed = async (at: string | null) => {
    if (o.chown || !at) return desc;
    const got = lstatOrNull(at);
    return got ? describeAs(`${got.uid}:${got.gid}`) : desc;
  };
  const early = ahead?.file;
  const finish = (f: NonNullable<Ahead['file']>, t: TempFile) => (f.sealed ? renameTemp(t, f.dir, f.name) : finishTemp(t, f.dir, f.name, own));
  if (early && changes.unchangedSince(early.began, join(early.dir, early.name))) {
    // Fast path: nothing this run placed since the download began can have moved its directory or its target.
    const { st, dl } = early;
    if (!(dl.identical && dl.temp === null && st && st.size !== dl.size)) {
      early.used = true;
      const verb = st ? 'replace' : 'create';
      if (dl.identical && st?.size === dl.size) return ['unchanged'];
      if (!dl.temp) return ['installed', `${verb} ${desc}, ${dl.size} bytes`]; // dry run
      const at = join(early.dir, early.name);
      await changes.placing(at, !!st?.isSymbolicLink(), finish(early, dl.temp));
      return ['installed', `${verb}d ${await placed(at)}, ${dl.size} bytes`];
    }
  }
  const parts = safeComponents(e.path, { requireAbsolute: true });
  if (e.type === 'socket') {
    o.log.warn(`${e.path}: socket objects are not supported; skipped`);
    return ['skipped'];
  }
  const parent = await resolveParent(rootReal, parts, !o.dryRun, changes.makeDir);
  const target = parent ? join(parent.dir, parent.name) : null;
  const st = target ? lstatOrNull(target) : null;
  const verb = st ? 'replace' : 'create';
  // Only where this run will write: the temporaries of a directory object's path are left alone (placeDirectory makes none).
  if (temps && parent && !o.dryRun && e.type !== 'dir') await temps.sweep(parent.dir, parent.name, own);

  if (e.type === 'dir') {
    if (st?.isDirectory() && sameOwner(st, own, o.chown)) return ['unchanged'];
    if (o.dryRun || !parent) return ['installed', `${st?.isDirectory() ? 'update' : verb} ${desc}`];
    const moved = await changes.placing(target!, true, placeDirectory(parent.dir, parent.name, own, o.chown, now));
    return ['installed', `${moved ? `moved ${moved} aside; ` : ''}${st?.isDirectory() ? 'updated' : 'created'} ${await placed(target)}`];
  }

  if (e.type === 'link') {
    // Trailing newlines are dropped, as upstream's `$(cat)` drops them: the real master sends none, so one
    // is an editing accident in the stored object, and a link to 'target\n' would dangle on every node.
    const linkTarget = (ahead?.small ?? await downloadSmall(o.client, o.hwaddr, e.id, o.objectAttempts)).replace(/\n+$/, '');
    if (linkTarget === '' || linkTarget.includes('\0')) throw new WwError('WW_OBJECT_MALFORMED', `${e.path}: empty or invalid link target`);
    if (st?.isSymbolicLink() && target && (await readlink(target)) === linkTarget && sameOwner(st, own, o.chown, false)) {
      return ['unchanged'];
    }
    if (o.dryRun || !parent) return ['installed', `${verb} ${desc} -> ${linkTarget}`];
    if (st?.isDirectory()) throw new WwError('WW_IN_THE_WAY', `${e.path}: a directory is in the way of this link; not replaced`);
    await changes.placing(target!, true, placeSymlink(parent.dir, parent.name, linkTarget, own, o.chown));
    return ['installed', `${verb}d ${await placed(target)} -> ${linkTarget}`];
  }

  if (e.type === 'block' || e.type === 'char' || e.type === 'fifo') {
    const dev = e.type === 'fifo' ? { major: 0, minor: 0 } : parseDevice(ahead?.small ?? await downloadSmall(o.client, o.hwaddr, e.id, o.objectAttempts), e.path);
    const kindOk = st && (e.type === 'fifo' ? st.isFIFO() : e.type === 'block' ? st.isBlockDevice() : st.isCharacterDevice());
    if (kindOk && (e.type === 'fifo' || st!.rdev === makedev(dev.major, dev.minor)) && sameOwner(st!, own, o.chown)) {
      return ['unchanged'];
    }
    if (o.dryRun || !parent) return ['installed', `${verb} ${desc}`];
    if (st?.isDirectory()) throw new WwError('WW_IN_THE_WAY', `${e.path}: a directory is in the way; not replaced`);
    await changes.placing(target!, !!st?.isSymbolicLink(), placeSpecial(parent.dir, parent.name, e.type, dev, own, o.chown, o.mknodPath ?? findMknod()));
    return ['installed', `${verb}d ${await placed(target)}`];
  }

  // Regular file: download beside the target, then compare before replacing anything.
  if (st?.isDirectory()) throw new WwError('WW_IN_THE_WAY', `${e.path}: a directory is in the way of this file; not replaced`);
  // A download done ahead counts only if its directory and the entry it was compared with are still the same.
  const usable = early && !early.used && parent && early.dir === parent.dir && early.basis === basisOf(parent.dir, st);
  if (usable) early.used = true;
  // Only an existing file with the right owner and mode can turn out unchanged: compare against it while downloading.
  const candidate = !noCompare && st?.isFile() && sameOwner(st, own, o.chown) ? target : null;
  const dl = usable ? early.dl : await downloadFile(o.client, o.hwaddr, e.id, o.dryRun ? null : parent!.dir, parts[parts.length - 1], candidate, o.objectAttempts);
  if (dl.identical && st!.size === dl.size) return ['unchanged'];
  if (dl.identical && dl.temp === null && parent && !o.dryRun) {
    // The existing file is longer than the new content (a strict prefix matched): write it out afresh.
    return installOne(e, rootReal, o, now, null, null, changes, true);
  }
  if (!dl.temp || !parent) return ['installed', `${verb} ${desc}, ${dl.size} bytes`];
  const placing = usable ? finish(early, dl.temp) : commitFile(dl.temp, parent.dir, parent.name, own, o.chown);
  await changes.placing(target!, !!st?.isSymbolicLink(), placing);
  return ['installed', `${verb}d ${await placed(target)}, ${dl.size} bytes`];
}

/**
 * Applies items one by one in list order, as upstream does, while fetching ahead:
 * at most `limit` fetches in flight, none more than `window` items past the one being
 * applied (a slow object holds back a bounded number of finished downloads and open
 * temporaries). A fetch never waits for an apply and the item being applied waits only
 * for its own fetch, already in flight, so there is no deadlock. An item whose fetch
 * could not be done ahead (null) is tried again after each apply, and at its turn is
 * applied with null (it fetches for itself then).
 */
export async function inListOrder<T, F>(
  items: T[], limit: number, window: number, fetch: (t: T) => Promise<F | null>, apply: (t: T, ahead: F | null) => Promise<void>,
): Promise<void> {
  type State = 'new' | 'fetching' | 'later' | 'ready' | 'taken';
  const state: State[] = items.map(() => 'new');
  const laterAt: number[] = [];
  const got: (F | null)[] = [];
  const inFlight: Promise<void>[] = [];
  let done = 0;
  let wake = () => {};
  let changed = new Promise<void>((r) => (wake = r));
  const notify = () => {
    const w = wake;
    changed = new Promise<void>((r) => (wake = r));
    w();
  };
  const pick = () => {
    for (let i = done; i < Math.min(items.length, done + window); i++) {
      if (state[i] === 'new' || (state[i] === 'later' && laterAt[i] < done)) return i;
    }
    return -1;
  };
  const worker = async () => {
    while (done < items.length) {
      const i = pick();
      if (i < 0) {
        await changed;
        continue;
      }
      state[i] = 'fetching';
      inFlight[i] = fetch(items[i]).then((f) => {
        if (state[i] !== 'fetching') return;
        if (f === null) [state[i], laterAt[i]] = ['later', done];
        else [state[i], got[i]] = ['ready', f];
      });
      await inFlight[i];
      notify();
    }
  };
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker);
  for (let i = 0; i < items.length; i++) {
    while (state[i] === 'fetching') await inFlight[i];
    const ahead = state[i] === 'ready' ? got[i] : null;
    state[i] = 'taken';
    got[i] = null;
    await apply(items[i], ahead);
    done++;
    notify();
  }
  await Promise.all(workers);
}

/** An object's path as placed ('//etc/./x' and '/etc/x' are one), or null for a path that is refused anyway. */
function placeKey(path: string): string | null {
  try {
    return safeComponents(path, { requireAbsolute: true }).join('/');
  } catch {
    return null;
  }
}

const MARK_OWNER: Ownership = { uid: 0, gid: 0, mode: 0o644 };

export async function syncFiles(o: SyncOptions): Promise<SyncReport> {
  const now = (o.now ?? (() => new Date()))();
  const rootReal = await realRoot(o.root);
  // -F ignores the stored mark (upstream deletes it first; the effect is the same, and an unchanged mark is not rewritten).
  const stored = await readMark(rootReal, process.getuid?.() ?? 0);
  if (stored.distrust && o.useMark && !o.forceFull) {
    o.log.warn(`ignoring the mark ${join(rootReal, stored.file!)}: ${stored.distrust}; fetching every object`);
  }
  const markBefore = o.useMark && !o.forceFull ? stored.value : 0;
  const entries = await fetchFileList(o.client, o.hwaddr, markBefore);
  o.log.debug(`${entries.length} file object(s) listed newer than ${markBefore}`);

  const report: SyncReport = {
    listed: entries.length, installed: 0, unchanged: 0, failed: 0, skipped: 0, changes: [], errors: [], markBefore, markAfter: markBefore,
  };
  const results: { entry: FileEntry; outcome: Outcome }[] = [];
  const temps = new StaleTemps(o.log);
  // The same path listed twice: the later line wins (upstream applies both, the later last). The earlier is
  // skipped, so a file-then-directory pair neither moves a file aside on every -F run nor fails on the second.
  const keys = entries.map((e) => placeKey(e.path));
  const lastAt = new Map(keys.map((k, i) => [k, i]));
  const superseded = (i: number) => keys[i] !== null && lastAt.get(keys[i])! > i;
  // A directory listed after objects inside it: made with its own owner and mode when the first of them needs it
  // (as upstream, mkdir -p would make it 0755 until its turn: a private directory open meanwhile).
  const listedDirs = new Map(entries.flatMap((e, i) => (e.type === 'dir' && !superseded(i) && keys[i] !== null ? [[keys[i]!, e]] : [])));
  const changes = new Changes((path, leading) => {
    const d = listedDirs.get(leading.join('/'));
    return d ? placeDirectory(dirname(path), basename(path), { uid: d.uid, gid: d.gid, mode: d.mode }, o.chown, now) : mkdir(path, { mode: 0o755 });
  });
  const handle = async (i: number, ahead: Ahead | null) => {
    const e = entries[i];
    let outcome: Outcome;
    try {
      let change: string | undefined;
      if (superseded(i)) {
        o.log.debug(`${e.path}: listed again later at the same path; this one skipped`);
        outcome = 'skipped';
      } else {
        [outcome, change] = await installOne(e, rootReal, o, now, temps, ahead, changes);
      }
      if (change) {
        report.changes.push(change);
        o.log.info(o.dryRun ? `would ${change}` : change);
      }
    } catch (err) {
      outcome = 'failed';
      const msg = `${e.path.length > 200 ? `${e.path.slice(0, 200)}...` : e.path}: ${describe(err)}`;
      report.errors.push(msg);
      o.log.error(msg);
    } finally {
      // A download done ahead that was not installed (the place changed, or the object failed): remove it.
      if (ahead?.file?.dl.temp && !ahead.file.used) await discardTemp(ahead.file.dl.temp);
    }
    report[outcome]++;
    results.push({ entry: e, outcome });
  };
  // In list order, as if one by one (a link such as /lib -> usr/lib before the files under it), with the
  // downloads of later objects done ahead, `concurrency` at a time, up to 4 x concurrency places ahead
  // (16 to 64: each waiting download is an open file).
  await inListOrder(
    entries.map((_, i) => i), o.concurrency, Math.min(64, Math.max(16, 4 * o.concurrency)),
    (i) => (superseded(i) ? Promise.resolve(null) : fetchAhead(entries[i], rootReal, o, temps, changes)),
    handle,
  );

  report.markAfter = nextMark(markBefore, results);
  const current = stored.file === MARK_FILE && !stored.distrust && report.markAfter === stored.value;
  if (!o.dryRun && report.markAfter > 0 && !current) {
    // Renamed over whatever is there (a planted file or link is replaced, never followed).
    const parent = await resolveParent(rootReal, safeComponents(`/${MARK_FILE}`), true);
    await temps.sweep(parent!.dir, parent!.name, MARK_OWNER);
    await writeSmallFile(parent!.dir, parent!.name, `${report.markAfter}\n`, MARK_OWNER, false);
    if (stored.file === LEGACY_MARK_FILE && !stored.distrust) {
      // Carried over; ours, so no one else can have put another file there meanwhile (/tmp is sticky).
      const legacy = await resolveParent(rootReal, safeComponents(`/${LEGACY_MARK_FILE}`), false);
      if (legacy) await unlink(join(legacy.dir, legacy.name)).catch(() => {});
    }
  }
  return report;
}

/** The start delay: SLEEPTIME if set, else random 0..interval-1 seconds; none in the initramfs or for interval 0. */
export function startDelaySeconds(opts: { sleeptime?: number; interval?: number; inInitramfs: boolean; random?: () => number }): number {
  if (opts.inInitramfs) return 0;
  if (opts.sleeptime !== undefined) return opts.sleeptime;
  const interval = opts.interval ?? 180;
  if (interval <= 0) return 0;
  return Math.floor((opts.random ?? Math.random)() * interval);
}
