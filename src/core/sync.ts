// wwgetfiles' job: bring the node's provisioned file objects (PROTOCOL 2.2,
// 2.3, 3) into the root, safely. Lifecycle: read the mark -> fetch the list ->
// for each object: confine its path, fetch its content, compare with what is
// there, place it atomically -> advance the mark past what was installed.
import { lstat, open, readFile, readdir, readlink, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveParent, realRoot, safeComponents } from './confine.ts';
import { WwError, describe } from './errors.ts';
import { parseFileList, type FileEntry } from './filelist.ts';
import type { Logger } from './log.ts';
import { embeddedStatus, embeddedStatusError, forEachChunk, readBody, type MasterClient } from './master.ts';
import {
  commitFile, createTemp, discardTemp, findMknod, makedev, placeDirectory, placeSpecial, placeSymlink,
  writeSmallFile, type Ownership, type TempFile,
} from './place.ts';

export const MARK_FILE = 'tmp/.wwgetfiles_timestamp';

/** place.ts tempPath(): `.NAME.ww` + 16 hex digits, NAME cut to 200 characters. */
const TEMP_NAME = /^\.(.+)\.ww[0-9a-f]{16}$/s;

/**
 * Removes what an interrupted run (SIGKILL, power loss) left beside a path it
 * was installing: entries named exactly like our temporaries for that path.
 * Careful by construction: only those names, never a directory, and only
 * - a regular file owned by us (or already by the object's owner and group) with mode 0600
 *   (a download in progress) or the object's mode (killed between chmod and rename: a setuid
 *   copy must not linger under a hidden name);
 * - a symbolic link, FIFO or device node owned likewise (no data in them).
 * Each directory is listed once per run; the lock keeps other runs out.
 */
export class StaleTemps {
  private readonly listings = new Map<string, Promise<Map<string, string[]>>>();
  removed = 0;
  private readonly me = process.getuid?.() ?? -1;

  constructor(private readonly log: Logger) {}

  private list(dir: string): Promise<Map<string, string[]>> {
    let p = this.listings.get(dir);
    if (!p) {
      p = readdir(dir).then(
        (names) => {
          const byBase = new Map<string, string[]>();
          for (const n of names) {
            const m = TEMP_NAME.exec(n);
            if (m) byBase.set(m[1], [...(byBase.get(m[1]) ?? []), n]);
          }
          return byBase;
        },
        () => new Map<string, string[]>(),
      );
      this.listings.set(dir, p);
    }
    return p;
  }

  async sweep(dir: string, name: string, own: Ownership): Promise<void> {
    const base = name.slice(0, 200);
    const listing = await this.list(dir);
    const names = listing.get(base);
    if (!names) return;
    listing.delete(base);
    for (const n of names) {
      const p = join(dir, n);
      const st = await lstat(p).catch(() => null);
      if (!st || st.isDirectory()) continue;
      const mode = st.mode & 0o7777;
      // The states place.ts leaves a temporary in: ours and 0600, then chowned, then chmodded.
      const ours = st.uid === this.me || (st.uid === own.uid && st.gid === own.gid);
      const remove = st.isFile()
        ? ours && (mode === 0o600 || mode === own.mode)
        : (st.isSymbolicLink() || st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) && ours;
      if (!remove) continue;
      try {
        await unlink(p);
        this.removed++;
        this.log.info(`removed ${p}, left by an interrupted run`);
      } catch (err) {
        this.log.warn(`cannot remove ${p}, left by an interrupted run: ${describe(err)}`);
      }
    }
  }
}

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

/** The mark as stored, or 0 when absent or unreadable (then everything is fetched). */
export async function readMark(rootReal: string): Promise<number> {
  try {
    const text = (await readFile(join(rootReal, MARK_FILE), 'utf8')).trim();
    return /^\d{1,15}$/.test(text) ? Number(text) : 0;
  } catch {
    return 0;
  }
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
  return client.get('/WW/file', { hwaddr, timestamp: String(since) }, async (res) => {
    const body = await readBody(res, 256 * 1024 * 1024);
    const status = embeddedStatus(body);
    if (status !== null) throw embeddedStatusError(res.url, status);
    return parseFileList(body.toString('utf8'));
  });
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
    const existing = same ? await open(same, 'r') : null;
    let matching = existing !== null;
    try {
      const head: Buffer[] = [];
      let headLen = 0;
      let offset = 0;
      const write = async (buf: Buffer) => {
        let off = 0;
        while (off < buf.length) off += (await temp!.fh.write(buf, off, buf.length - off)).bytesWritten;
      };
      const size = await forEachChunk(res, async (chunk) => {
        if (headLen < 1024) {
          head.push(chunk.subarray(0, 1024 - headLen));
          headLen += Math.min(chunk.length, 1024 - headLen);
        }
        if (matching) {
          const mine = Buffer.alloc(chunk.length);
          const { bytesRead } = await existing!.read(mine, 0, chunk.length, offset);
          if (bytesRead === chunk.length && mine.equals(chunk)) {
            offset += chunk.length;
            return;
          }
          matching = false;
          if (dir === null) return; // dry run: knowing it differs is enough
          temp = await createTemp(dir, name);
          for (let copied = 0; copied < offset;) {
            const part = Buffer.alloc(Math.min(1 << 20, offset - copied));
            const { bytesRead: n } = await existing!.read(part, 0, part.length, copied);
            if (n === 0) throw new WwError('io', `${same} shrank while being compared`);
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
      await existing?.close();
    }
  }, async (dl) => {
    // The exchange failed after the body arrived (e.g. more data than Content-Length): drop what was written.
    if (dl.temp) await discardTemp(dl.temp);
  }, { attempts });
}

/** Small contents: link targets and device numbers. */
function downloadSmall(client: MasterClient, hwaddr: string, id: number, attempts?: number): Promise<string> {
  return client.get('/WW/file', { hwaddr, fileid: String(id) }, async (res) => {
    const body = await readBody(res, 64 * 1024);
    const status = embeddedStatus(body);
    if (status !== null) throw embeddedStatusError(res.url, status);
    return body.toString('utf8');
  }, undefined, { attempts });
}

function parseDevice(text: string, path: string): { major: number; minor: number } {
  if (!/^\s*\d{1,10}\s*$/.test(text)) throw new WwError('refused', `device number for ${path} is not a number: '${text.slice(0, 40)}'`);
  const n = Number(text.trim());
  return { major: Math.floor(n / 256), minor: n % 256 };
}

function sameOwner(st: { uid: number; gid: number; mode: number }, own: Ownership, chown: boolean, withMode = true): boolean {
  return (!chown || (st.uid === own.uid && st.gid === own.gid)) && (!withMode || (st.mode & 0o7777) === own.mode);
}

const octal = (m: number) => m.toString(8).padStart(4, '0');

/** Installs (or, in a dry run, assesses) one object. Returns its outcome and a change line. */
async function installOne(
  e: FileEntry, rootReal: string, o: SyncOptions, now: Date, temps: StaleTemps | null, noCompare = false,
): Promise<[Outcome, string?]> {
  const own: Ownership = { uid: e.uid, gid: e.gid, mode: e.mode };
  const parts = safeComponents(e.path, { requireAbsolute: true });
  if (e.type === 'socket') {
    o.log.warn(`${e.path}: socket objects are not supported; skipped`);
    return ['skipped'];
  }
  const parent = await resolveParent(rootReal, parts, !o.dryRun);
  const target = parent ? join(parent.dir, parent.name) : null;
  const st = target ? await lstat(target).catch(() => null) : null;
  const verb = st ? 'replace' : 'create';
  // Only where this run will write: the temporaries of a directory object's path are left alone (placeDirectory makes none).
  if (temps && parent && !o.dryRun && e.type !== 'dir') await temps.sweep(parent.dir, parent.name, own);
  // Owners are set only as root; otherwise say what the object really got (the running user,
  // or the owner an existing directory kept), not the listed owner it did not get.
  const describeAs = (owner: string) => `${e.path} (${e.type} ${octal(e.mode)} ${owner})`;
  const desc = describeAs(o.chown ? `${e.uid}:${e.gid}` : `owner ${e.uid}:${e.gid} not set: not root`);
  const placed = async () => {
    if (o.chown || !target) return desc;
    const got = await lstat(target).catch(() => null);
    return got ? describeAs(`${got.uid}:${got.gid}`) : desc;
  };

  if (e.type === 'dir') {
    if (st?.isDirectory() && sameOwner(st, own, o.chown)) return ['unchanged'];
    if (o.dryRun || !parent) return ['installed', `${st?.isDirectory() ? 'update' : verb} ${desc}`];
    const moved = await placeDirectory(parent.dir, parent.name, own, o.chown, now);
    return ['installed', `${moved ? `moved ${moved} aside; ` : ''}${st?.isDirectory() ? 'updated' : 'created'} ${await placed()}`];
  }

  if (e.type === 'link') {
    // Trailing newlines are dropped, as upstream's `$(cat)` drops them: the real master sends none, so one
    // is an editing accident in the stored object, and a link to 'target\n' would dangle on every node.
    const linkTarget = (await downloadSmall(o.client, o.hwaddr, e.id, o.objectAttempts)).replace(/\n+$/, '');
    if (linkTarget === '' || linkTarget.includes('\0')) throw new WwError('refused', `${e.path}: empty or invalid link target`);
    if (st?.isSymbolicLink() && target && (await readlink(target)) === linkTarget && sameOwner(st, own, o.chown, false)) {
      return ['unchanged'];
    }
    if (o.dryRun || !parent) return ['installed', `${verb} ${desc} -> ${linkTarget}`];
    if (st?.isDirectory()) throw new WwError('io', `${e.path}: a directory is in the way of this link; not replaced`);
    await placeSymlink(parent.dir, parent.name, linkTarget, own, o.chown);
    return ['installed', `${verb}d ${await placed()} -> ${linkTarget}`];
  }

  if (e.type === 'block' || e.type === 'char' || e.type === 'fifo') {
    const dev = e.type === 'fifo' ? { major: 0, minor: 0 } : parseDevice(await downloadSmall(o.client, o.hwaddr, e.id, o.objectAttempts), e.path);
    const kindOk = st && (e.type === 'fifo' ? st.isFIFO() : e.type === 'block' ? st.isBlockDevice() : st.isCharacterDevice());
    if (kindOk && (e.type === 'fifo' || st!.rdev === makedev(dev.major, dev.minor)) && sameOwner(st!, own, o.chown)) {
      return ['unchanged'];
    }
    if (o.dryRun || !parent) return ['installed', `${verb} ${desc}`];
    if (st?.isDirectory()) throw new WwError('io', `${e.path}: a directory is in the way; not replaced`);
    await placeSpecial(parent.dir, parent.name, e.type, dev, own, o.chown, o.mknodPath ?? findMknod());
    return ['installed', `${verb}d ${await placed()}`];
  }

  // Regular file: download beside the target, then compare before replacing anything.
  if (st?.isDirectory()) throw new WwError('io', `${e.path}: a directory is in the way of this file; not replaced`);
  // Only an existing file with the right owner and mode can turn out unchanged: compare against it while downloading.
  const candidate = !noCompare && st?.isFile() && sameOwner(st, own, o.chown) ? target : null;
  const dl = await downloadFile(o.client, o.hwaddr, e.id, o.dryRun ? null : parent!.dir, parts[parts.length - 1], candidate, o.objectAttempts);
  if (dl.identical && st!.size === dl.size) return ['unchanged'];
  if (dl.identical && dl.temp === null && parent && !o.dryRun) {
    // The existing file is longer than the new content (a strict prefix matched): write it out afresh.
    return installOne(e, rootReal, o, now, null, true);
  }
  if (!dl.temp || !parent) return ['installed', `${verb} ${desc}, ${dl.size} bytes`];
  await commitFile(dl.temp, parent.dir, parent.name, own, o.chown);
  return ['installed', `${verb}d ${await placed()}, ${dl.size} bytes`];
}

/** Runs tasks with at most `limit` in flight; objects at the same path stay in list order. */
async function pool<T>(items: T[], limit: number, key: (t: T) => string, run: (t: T) => Promise<void>): Promise<void> {
  const chains = new Map<string, Promise<void>>();
  const queue = [...items];
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      const k = key(item);
      const prev = chains.get(k) ?? Promise.resolve();
      const mine = prev.then(() => run(item!));
      chains.set(k, mine);
      await mine;
    }
  });
  await Promise.all(workers);
}

const MARK_OWNER: Ownership = { uid: 0, gid: 0, mode: 0o644 };

export async function syncFiles(o: SyncOptions): Promise<SyncReport> {
  const now = (o.now ?? (() => new Date()))();
  const rootReal = await realRoot(o.root);
  // -F ignores the stored mark (upstream deletes it first; the effect is the same, and an unchanged mark is not rewritten).
  const stored = await readMark(rootReal);
  const markBefore = o.useMark && !o.forceFull ? stored : 0;
  const entries = await fetchFileList(o.client, o.hwaddr, markBefore);
  o.log.debug(`${entries.length} file object(s) listed newer than ${markBefore}`);

  const report: SyncReport = {
    listed: entries.length, installed: 0, unchanged: 0, failed: 0, skipped: 0, changes: [], errors: [], markBefore, markAfter: markBefore,
  };
  const results: { entry: FileEntry; outcome: Outcome }[] = [];
  const temps = new StaleTemps(o.log);
  const handle = async (e: FileEntry) => {
    let outcome: Outcome;
    try {
      const [out, change] = await installOne(e, rootReal, o, now, temps);
      outcome = out;
      if (change) {
        report.changes.push(change);
        o.log.info(o.dryRun ? `would ${change}` : change);
      }
    } catch (err) {
      outcome = 'failed';
      const msg = `${e.path.length > 200 ? `${e.path.slice(0, 200)}...` : e.path}: ${describe(err)}`;
      report.errors.push(msg);
      o.log.error(msg);
    }
    report[outcome]++;
    results.push({ entry: e, outcome });
  };
  // Directories first, in list order (they need no download and may hold later objects), then the rest in parallel.
  for (const e of entries.filter((x) => x.type === 'dir')) await handle(e);
  await pool(entries.filter((x) => x.type !== 'dir'), o.concurrency, (e) => e.path, handle);

  report.markAfter = nextMark(markBefore, results);
  if (!o.dryRun && report.markAfter !== stored && report.markAfter > 0) {
    const parent = await resolveParent(rootReal, safeComponents(`/${MARK_FILE}`), true);
    await temps.sweep(parent!.dir, parent!.name, MARK_OWNER);
    await writeSmallFile(parent!.dir, parent!.name, `${report.markAfter}\n`, MARK_OWNER, false);
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
