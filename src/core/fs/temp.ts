// Temporaries: the one kind of temporary file the tools make beside their targets (wwgetfiles'
// downloads and small files, the VNFS extractor's files), the one naming of every temporary name
// (also the links, devices and hard links made under a temporary name and renamed into place),
// and the one sweep of what an interrupted run left of them.
//
// A temporary is created exclusively (O_EXCL|O_NOFOLLOW, mode 0600) under an unpredictable name in
// the target's own directory, written, given its owner and then its mode (chown clears setuid, so
// mode comes last), and only then renamed over the target (upstream defects 6.2, 6.3, 6.6). Its name
// is registered with cleanup.ts while it exists, so a signal removes it.
//
// Synchronous calls for everything but fsync: each is a metadata operation or a page-cache
// copy of microseconds, where a thread-pool round trip (futex wakes, an eventfd write) costs
// more than the call: 1,000 small files made ~57,000 futex calls with async calls, ~11,000
// now. fsync waits for the disk, so it stays in the thread pool, and the downloads running
// beside it go on meanwhile.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { trackTemp, untrackTemp } from './cleanup.ts';
import { EXCLUSIVE_CREATE } from './confine.ts';
import { WwError, describe } from '../errors.ts';
import { GcPacer } from '../gc.ts';
import type { Identity } from '../identity.ts';
import { lazyCrypto } from '../lazy.ts';
import type { Logger } from '../log.ts';

export interface Ownership {
  uid: number;
  gid: number;
  /** Permission bits, 0..0o7777. */
  mode: number;
}

const fsyncAsync = promisify(fs.fsync);

/** Random bytes for temporary names, drawn 4 KiB at a time (one call per 512 names: the extractor makes tens of thousands). */
let pool = Buffer.alloc(0);
let poolAt = 0;
function random16Hex(): string {
  if (poolAt + 8 > pool.length) {
    pool = lazyCrypto().randomBytes(4096);
    poolAt = 0;
  }
  poolAt += 8;
  return pool.toString('hex', poolAt - 8, poolAt);
}

/** `.NAME.wwRANDOM` beside the target: hidden, unique, and unguessable by another local user. */
export function tempPath(dir: string, name: string): string {
  return join(dir, `.${name.slice(0, 200)}.ww${random16Hex()}`);
}

/** tempPath()'s names: `.NAME.ww` + 16 hex digits, NAME cut to 200 characters. */
const TEMP_NAME = /^\.(.+)\.ww[0-9a-f]{16}$/s;
/** The names older wwgetvnfs versions gave theirs (`.NAME.wwgetvnfs<16 hex>`, before that `.wwgetvnfs.PID.N`). */
const OLD_VNFS_TEMP_NAME = /^\.(.+)\.wwgetvnfs[0-9a-f]{16}$/s;
const OLDEST_VNFS_TEMP_NAME = /^\.wwgetvnfs\.\d+\.\d+$/;

/** Removes one of our temporary names (and forgets it: cleanup.ts); nothing there is fine. */
function unlinkQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    /* not there */
  }
  untrackTemp(path);
}

/**
 * Puts something made under a temporary name in place: `make` creates it at the (registered)
 * name, which is then renamed over dir/name. rename(2) replaces a link, file or device at the
 * name itself, so a planted symlink never redirects the write. On failure the name is removed
 * and the error thrown as it came.
 */
export function placeViaTemp(dir: string, name: string, make: (tmp: string) => void): void {
  const tmp = tempPath(dir, name);
  trackTemp(tmp); // before `make` creates it: a signal meanwhile still finds it
  try {
    make(tmp);
    fs.renameSync(tmp, join(dir, name));
    untrackTemp(tmp);
  } catch (err) {
    unlinkQuietly(tmp);
    throw err;
  }
}

/** A private temporary file: created, written, sealed (owner, mode, times), then committed or discarded. */
export class TempFile {
  /** Open descriptor until sealed, committed or discarded (then -1). */
  fd: number;

  private constructor(
    fd: number,
    readonly path: string,
  ) {
    this.fd = fd;
  }

  /** A new temporary for dir/name; errors are thrown as they came (an ENOSPC must stay one). */
  static create(dir: string, name: string): TempFile {
    for (let i = 0; ; i++) {
      const path = tempPath(dir, name);
      try {
        const fd = fs.openSync(path, EXCLUSIVE_CREATE, 0o600);
        trackTemp(path); // removed should a signal end the run (cleanup.ts)
        return new TempFile(fd, path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 5) throw err;
      }
    }
  }

  /** Writes all of buf at the end. */
  write(buf: Buffer): void {
    for (let off = 0; off < buf.length; ) off += fs.writeSync(this.fd, buf, off, buf.length - off);
  }

  /** fsync(2), in the thread pool (it waits for the disk). */
  sync(): Promise<void> {
    return fsyncAsync(this.fd);
  }

  /** The owner (only as root: `chown`), before the mode, since chown clears setuid/setgid. */
  chown(own: Ownership, chown: boolean): void {
    if (chown) fs.fchownSync(this.fd, own.uid, own.gid);
  }

  /** Mode, then (given) times, and close: all that is left is commit(). */
  seal(mode: number, times?: { atime: number; mtime: number }): void {
    fs.fchmodSync(this.fd, mode);
    if (times) fs.futimesSync(this.fd, times.atime, times.mtime);
    this.close();
  }

  /** Closes the descriptor once (a failure after a close must not close a reused number). */
  close(): void {
    if (this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    fs.closeSync(fd);
  }

  /** Renames the temporary over `path`; from then on it is no longer a temporary. */
  commit(path: string): void {
    fs.renameSync(this.path, path);
    untrackTemp(this.path);
  }

  /** Closes and removes it (whatever state it is in). */
  discard(): void {
    try {
      this.close();
    } catch {
      /* closed anyway */
    }
    unlinkQuietly(this.path);
  }
}

// wwgetfiles' steps over a TempFile, with its messages (files/job.ts calls these).

export async function createTemp(dir: string, name: string): Promise<TempFile> {
  try {
    return TempFile.create(dir, name);
  } catch (err) {
    throw new WwError('WW_IO', `cannot create a temporary file in ${dir}: ${describe(err)}`);
  }
}

export async function discardTemp(t: TempFile): Promise<void> {
  t.discard();
}

/** A minor GC per 4 MiB downloaded: a large download's spent HTTP chunks are freed as it goes (gc.ts). */
const writePacer = new GcPacer(4 << 20);

/** Writes all of buf at the end of the temporary (a download's chunk). */
export function writeTemp(t: TempFile, buf: Buffer): void {
  t.write(buf);
  writePacer.add(buf.length);
}

/** sync, chown, chmod, close, rename over dir/name. The temp is removed on any failure. */
export async function commitFile(t: TempFile, dir: string, name: string, own: Ownership, chownOk: boolean): Promise<void> {
  await readyTemp(t, join(dir, name), own, chownOk);
  await finishTemp(t, dir, name, own);
}

/**
 * commitFile's first steps: sync, then chown (as root), and with `seal` also chmod and
 * close, leaving only the rename (renameTemp). A file downloaded ahead of its turn waits
 * like this; unsealed it stays mode 0600 and open for finishTemp.
 */
export async function readyTemp(t: TempFile, target: string, own: Ownership, chownOk: boolean, seal = false): Promise<void> {
  try {
    await t.sync();
    t.chown(own, chownOk);
    if (seal) t.seal(own.mode);
  } catch (err) {
    t.discard();
    throw new WwError('WW_IO', `cannot install ${target}: ${describe(err)}`);
  }
}

/** The last step for a sealed temporary: rename it over dir/name (removed if that fails). */
export async function renameTemp(t: TempFile, dir: string, name: string): Promise<void> {
  try {
    t.commit(join(dir, name));
  } catch (err) {
    t.discard();
    throw new WwError('WW_IO', `cannot install ${join(dir, name)}: ${describe(err)}`);
  }
}

/** commitFile's last steps: chmod (after chown, which clears setuid), close, rename over dir/name. */
export async function finishTemp(t: TempFile, dir: string, name: string, own: Ownership): Promise<void> {
  try {
    t.seal(own.mode);
    t.commit(join(dir, name));
  } catch (err) {
    t.discard();
    throw new WwError('WW_IO', `cannot install ${join(dir, name)}: ${describe(err)}`);
  }
}

export interface StaleTempsOptions {
  /** Whose temporaries count as ours. */
  identity: Identity;
  /** Also the names older wwgetvnfs versions used (the extractor: a re-run after an upgrade). */
  oldVnfsNames?: boolean;
  /** Level of the lines about each removal (the extractor's are debug: there may be thousands). */
  level?: 'info' | 'debug';
}

/**
 * Removes what an interrupted run (SIGKILL, power loss) left beside a path it
 * was installing: entries named exactly like our temporaries for that path.
 * Careful by construction: only those names, never a directory, and only
 * - a regular file owned by us (or already by the object's owner and group) with mode 0600
 *   (being written) or the object's mode (killed between chmod and rename: a setuid
 *   copy must not linger under a hidden name);
 * - a symbolic link, FIFO or device node owned likewise (no data in them).
 * Each directory is listed once per sweeper (one per run, or per VNFS unpack attempt): a
 * temporary this run makes later is never in the listing. The lock (wwgetfiles) or the target's
 * single unpack keeps other runs out.
 * (The VNFS extractor used to remove any regular file with a temporary's name in a directory
 * where it replaced a file, of any owner and mode; this rule is the stricter of the two.)
 */
export class StaleTemps {
  private readonly listings = new Map<string, Map<string, string[]>>();
  removed = 0;
  private readonly me: number;
  private readonly oldVnfsNames: boolean;
  private readonly level: 'info' | 'debug';

  constructor(
    private readonly log: Logger | undefined,
    o: StaleTempsOptions,
  ) {
    this.me = o.identity.uid;
    this.oldVnfsNames = o.oldVnfsNames ?? false;
    this.level = o.level ?? 'info';
  }

  /** dir's temporaries by the name they stand for ('' : oldest VNFS names, which name nothing). */
  private list(dir: string): Map<string, string[]> {
    let byBase = this.listings.get(dir);
    if (!byBase) {
      byBase = new Map<string, string[]>();
      let names: string[] = [];
      try {
        names = fs.readdirSync(dir);
      } catch {
        /* nothing to sweep */
      }
      for (const n of names) {
        const m = TEMP_NAME.exec(n) ?? (this.oldVnfsNames ? OLD_VNFS_TEMP_NAME.exec(n) : null);
        const base = m ? m[1] : this.oldVnfsNames && OLDEST_VNFS_TEMP_NAME.test(n) ? '' : undefined;
        if (base !== undefined) byBase.set(base, [...(byBase.get(base) ?? []), n]);
      }
      this.listings.set(dir, byBase);
    }
    return byBase;
  }

  /** Synchronous (the VNFS extractor's calls all are); sweep() for wwgetfiles. */
  sweepSync(dir: string, name: string, own: Ownership): void {
    const base = name.slice(0, 200);
    const listing = this.list(dir);
    if (listing.size === 0) return;
    // The oldest VNFS names say nothing of their file: judged by the first name swept there.
    const names = [...(listing.get(base) ?? []), ...(listing.get('') ?? [])];
    listing.delete(base);
    listing.delete('');
    for (const n of names) {
      const p = join(dir, n);
      const st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st || st.isDirectory()) continue;
      const mode = st.mode & 0o7777;
      // The states a temporary is left in: ours and 0600, then chowned, then chmodded.
      const ours = st.uid === this.me || (st.uid === own.uid && st.gid === own.gid);
      const remove = st.isFile()
        ? ours && (mode === 0o600 || mode === own.mode)
        : (st.isSymbolicLink() || st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) && ours;
      if (!remove) continue;
      try {
        fs.unlinkSync(p);
        this.removed++;
        this.log?.[this.level](`removed ${p}, left by an interrupted run`);
      } catch (err) {
        this.log?.[this.level === 'info' ? 'warn' : 'debug'](`cannot remove ${p}, left by an interrupted run: ${describe(err)}`);
      }
    }
  }

  async sweep(dir: string, name: string, own: Ownership): Promise<void> {
    this.sweepSync(dir, name, own);
  }
}
