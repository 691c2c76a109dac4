// Writes archive entries under a target root, confined to it (upstream defect
// 6.7/6.8): every archive path is reduced to plain components (safeComponents:
// no absolute paths, no `..`), its parent is walked component by component with
// lstat, and a symbolic link on the way is followed only when it resolves inside
// the root (so a link the archive itself planted, `x -> /etc`, cannot be written
// through). The final component is never followed: an existing entry there is
// replaced (a file by rename, so a running binary is swapped, not rewritten).
//
// A regular file's data always goes to a temporary beside it (`.NAME.wwgetvnfs<hex>`,
// O_EXCL, 0600) and is renamed to its name only once whole, with its owner, mode and
// times: a full disk, a cut connection or a signal never leaves a partial file at a
// final name (a SIGKILL leaves the temporary, which the next run removes). The last
// name of a cpio hard-link set carries the data for all of them: it too is written
// to a temporary, which then replaces every name of the set.
//
// Synchronous file system calls on purpose: extraction is strictly sequential,
// and a VNFS has tens of thousands of small files, where a thread-pool round trip
// per call (6+ per file) costs more than the call. Data still arrives
// asynchronously (network, gunzip in the thread pool) and overlaps with them.
//
// Metadata, as bsdtar -p does it as root: owner first, then mode (chown clears
// setuid/setgid), then times; directories get theirs after their contents.
import { constants as C } from 'node:fs';
import * as fs from 'node:fs';
import { lazyCrypto, lazyChildProcess } from '../lazy.ts';
import { basename, dirname, join } from 'node:path';
import { EXCLUSIVE_CREATE, isInside, safeComponents } from '../fs/confine.ts';
import { findMknod } from '../fs/place.ts';
import { trackTemp, untrackTemp } from '../fs/cleanup.ts';
import { WwError, describe } from '../errors.ts';
import type { ArchiveEntry } from './archive/types.ts';
import type { Logger } from '../log.ts';

export interface ExtractOptions {
  /** Real path of the target root (realRoot()). */
  root: string;
  /** Restore owners (default: when running as root). */
  owners?: boolean;
  log?: Logger;
  /** Where mknod(1) lives; default: the first of /usr/bin, /bin, /usr/sbin, /sbin. */
  mknod?: string;
  /**
   * An earlier unpack into this root did not finish (its marker was there): remove our
   * stale temporaries from every directory a file is written into, not only where a file
   * is replaced (a killed run's temporary may sit beside a name it never reached).
   */
  sweepAll?: boolean;
}

/** The name wwgetvnfs reserves at the root for its marker (vnfs.ts): never unpacked from an image. */
export const INCOMPLETE_MARKER = '.wwgetvnfs-incomplete';

export interface ExtractStats {
  entries: number;
  files: number;
  directories: number;
  symlinks: number;
  hardlinks: number;
  devices: number;
  skipped: number;
  /** Bytes of file data written. */
  bytes: number;
}

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  atime: number;
}

/** Our temporaries: `.NAME.wwgetvnfs<16 hex>` (and the older `.wwgetvnfs.PID.N`). */
const STALE_TEMP = /^(?:\..+\.wwgetvnfs[0-9a-f]{16}|\.wwgetvnfs\.\d+\.\d+)$/s;

const DIR_OPEN = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
}

/** A local failure as one line: a full disk says so (it must not read like anything else). */
export function localError(err: unknown, path: string): WwError {
  if (err instanceof WwError) return err;
  const code = errno(err);
  if (code === 'ENOSPC') return new WwError('WW_NO_SPACE', `no space left on device writing ${path}`, { cause: err });
  if (code === 'EDQUOT') return new WwError('WW_NO_SPACE', `disk quota exceeded writing ${path}`, { cause: err });
  return new WwError('WW_IO', `cannot write ${path}: ${describe(err)}`, { cause: err });
}

/** Runs a creating call; false when the name already exists (EEXIST), other errors thrown. */
function tryCreate(create: () => void): boolean {
  try {
    create();
    return true;
  } catch (err) {
    if (errno(err) === 'EEXIST') return false;
    throw err;
  }
}

/** Random bytes for temporary names, drawn 4 KiB at a time (one call per 512 names, not one per file). */
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

/** `.NAME.wwgetvnfs<16 hex>` beside `path`: hidden, unique, unguessable (STALE_TEMP matches it). */
function tempBeside(path: string): string {
  return join(dirname(path), `.${basename(path).slice(0, 200)}.wwgetvnfs${random16Hex()}`);
}

/** A temporary for `path`, created exclusively and registered for removal on a signal (cleanup.ts). */
function openTemp(path: string): { fd: number; temp: string } {
  const temp = tempBeside(path);
  const fd = fs.openSync(temp, EXCLUSIVE_CREATE, 0o600);
  trackTemp(temp);
  return { fd, temp };
}

function removeTemp(temp: string): void {
  fs.rmSync(temp, { force: true });
  untrackTemp(temp);
}

export class Extractor {
  readonly stats: ExtractStats = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, devices: 0, skipped: 0, bytes: 0 };
  private readonly root: string;
  private readonly owners: boolean;
  private readonly log?: Logger;
  private mknodPath?: string;
  /** Resolved directories: archive key 'a/b' -> real path. */
  private dirs = new Map<string, string>();
  /** Some cached directory was reached through a symbolic link. */
  private viaLink = false;
  /** Directory metadata applied at the end, keyed by real path. */
  private pending = new Map<string, DirMeta>();
  /** Directories already cleared of stale temporaries in this run. */
  private readonly swept = new Set<string>();
  private readonly sweepAll: boolean;
  /** cpio hard-link sets: real path of the first name -> the names linked to it so far. */
  private readonly linkSets = new Map<string, string[]>();

  constructor(opts: ExtractOptions) {
    this.root = opts.root;
    this.owners = opts.owners ?? process.getuid?.() === 0;
    this.log = opts.log;
    this.mknodPath = opts.mknod;
    this.sweepAll = opts.sweepAll ?? false;
  }

  /** Archive path -> components; null for the root itself ('.', './'). Throws 'unsafe'. */
  static components(path: string): string[] | null {
    if (!path.startsWith('/') && path.split('/').every((p) => p === '' || p === '.')) return null;
    return safeComponents(path, { refuseAbsolute: true });
  }

  private forget(): void {
    this.dirs.clear();
    this.viaLink = false;
  }

  /** Real path of the directory that holds parts[last]; creates missing directories (0755, as mkdir -p). */
  private parent(parts: string[], shown: string): string {
    let cur = this.root;
    let key = '';
    for (let i = 0; i < parts.length - 1; i++) {
      key = key === '' ? parts[i] : `${key}/${parts[i]}`;
      const hit = this.dirs.get(key);
      if (hit !== undefined) {
        cur = hit;
        continue;
      }
      const p = join(cur, parts[i]);
      let st = fs.lstatSync(p, { throwIfNoEntry: false });
      if (!st) {
        try {
          fs.mkdirSync(p, 0o755);
        } catch (e) {
          if (errno(e) !== 'EEXIST') throw e;
        }
        st = fs.lstatSync(p);
      }
      if (st.isSymbolicLink()) {
        let real: string;
        try {
          real = fs.realpathSync(p);
        } catch {
          throw new WwError('WW_UNSAFE_PATH', `refusing ${shown}: ${p} is a dangling symbolic link`);
        }
        if (!isInside(this.root, real)) {
          throw new WwError('WW_UNSAFE_PATH', `refusing ${shown}: ${p} is a symbolic link leading outside ${this.root} (to ${real})`);
        }
        if (!fs.statSync(real).isDirectory()) throw new WwError('WW_UNSAFE_PATH', `refusing ${shown}: ${p} does not lead to a directory`);
        cur = real;
        this.viaLink = true;
      } else if (st.isDirectory()) {
        cur = p;
      } else {
        throw new WwError('WW_IN_THE_WAY', `cannot place ${shown}: ${p} exists and is not a directory`);
      }
      this.dirs.set(key, cur);
    }
    return cur;
  }

  /** Makes room for a new non-directory at `path`; returns what was there. */
  private clear(path: string, parts: string[], shown: string): fs.Stats | undefined {
    const st = fs.lstatSync(path, { throwIfNoEntry: false });
    if (!st) return undefined;
    if (st.isDirectory()) {
      try {
        fs.rmdirSync(path);
      } catch (e) {
        throw new WwError('WW_IO', `cannot replace directory ${path} with ${shown}: ${describe(e)}`);
      }
    } else {
      fs.unlinkSync(path);
    }
    if (st.isDirectory() || st.isSymbolicLink()) {
      // A cached directory may have been reached through what was just removed.
      if (this.viaLink || this.dirs.has(parts.join('/'))) this.forget();
    }
    return st;
  }

  /** Writes one entry. Entry data is consumed here (or skipped by the reader afterwards). */
  async add(e: ArchiveEntry): Promise<void> {
    const shown = JSON.stringify(e.path);
    const parts = Extractor.components(e.path);
    this.stats.entries++;
    if (parts === null) {
      if (e.type !== 'directory') throw new WwError('WW_UNSAFE_PATH', `refusing ${shown}: a ${e.type} in place of the root itself`);
      this.stats.directories++;
      this.pending.set(this.root, this.dirMeta(e));
      return;
    }
    let path = e.path;
    try {
      const dir = this.parent(parts, shown);
      path = join(dir, parts[parts.length - 1]);
      if (dir === this.root && parts[parts.length - 1] === INCOMPLETE_MARKER) {
        // wwgetvnfs's own marker (say, left in the chroot the image was made from): it must stay ours.
        this.stats.skipped++;
        this.log?.warn(`skipping the image's ${INCOMPLETE_MARKER}: wwgetvnfs reserves that name for its marker of an unfinished unpack`);
        return;
      }
      switch (e.type) {
        case 'directory':
          return this.directory(e, path, parts, shown);
        case 'file':
          return await this.file(e, path, parts, shown);
        case 'symlink':
          return this.symlink(e, path, parts, shown);
        case 'hardlink':
          return await this.hardlink(e, path, parts, shown);
        case 'char':
        case 'block':
        case 'fifo':
          return this.node(e, path, parts, shown);
        case 'socket':
          this.stats.skipped++;
          this.log?.debug(`skipping socket ${shown}`);
          return;
      }
    } catch (err) {
      // Always a WwError: anything else would be taken for a network failure and retried.
      throw localError(err, path);
    }
  }

  private dirMeta(e: ArchiveEntry): DirMeta {
    return { mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, atime: e.atime ?? e.mtime };
  }

  private directory(e: ArchiveEntry, path: string, parts: string[], shown: string): void {
    // Try first: on a fresh target nothing is there, and a failed mkdir is the only check needed.
    if (!tryCreate(() => fs.mkdirSync(path, 0o700))) {
      const st = fs.lstatSync(path);
      if (!st.isDirectory()) {
        this.clear(path, parts, shown);
        fs.mkdirSync(path, 0o700);
      }
    }
    this.dirs.set(parts.join('/'), path);
    this.pending.set(path, this.dirMeta(e));
    this.stats.directories++;
  }

  private async file(e: ArchiveEntry, path: string, parts: string[], shown: string): Promise<void> {
    const existing = fs.lstatSync(path, { throwIfNoEntry: false });
    // Replacing is what a re-run over the same tree does: the place to look for what a killed run left.
    if (existing?.isFile() || this.sweepAll) this.sweepStaleTemps(dirname(path));
    // rename(2) replaces a file, link or device at the name, but not a directory.
    if (existing && !existing.isFile()) this.clear(path, parts, shown);
    await this.writeTemp(e, path, (temp) => fs.renameSync(temp, path));
    this.stats.files++;
  }

  /**
   * Writes e's data with its owner, mode and times to a temporary beside `path`, then hands
   * it to `install` (which renames it into place). On any failure the temporary is removed.
   */
  private async writeTemp(e: ArchiveEntry, path: string, install: (temp: string) => void): Promise<void> {
    // O_CREAT|O_EXCL|O_NOFOLLOW under a fresh random name: never follows or reuses whatever is there.
    const { fd, temp } = openTemp(path);
    try {
      await this.writeData(fd, e, path);
      this.meta(fd, e);
      fs.closeSync(fd);
    } catch (err) {
      fs.closeSync(fd);
      removeTemp(temp);
      throw err;
    }
    try {
      install(temp);
    } catch (err) {
      removeTemp(temp);
      throw err;
    }
    untrackTemp(temp);
  }

  /**
   * A run killed while replacing a file leaves its temporary beside it. Replacing is what a
   * re-run over the same tree does, so the first time a run replaces a file in a directory it
   * removes the regular files there named like our temporaries (a fresh unpack never lists).
   */
  private sweepStaleTemps(dir: string): void {
    if (this.swept.has(dir)) return;
    this.swept.add(dir);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      return;
    }
    for (const n of names) {
      if (!STALE_TEMP.test(n)) continue;
      const p = join(dir, n);
      try {
        if (fs.lstatSync(p).isFile()) {
          fs.unlinkSync(p);
          this.log?.debug(`removed ${p}, left by an interrupted run`);
        }
      } catch {
        /* gone meanwhile */
      }
    }
  }

  /** Writes e's data to fd; `where` is the entry's final path, for the message. */
  private async writeData(fd: number, e: ArchiveEntry, where: string): Promise<void> {
    if (e.size === 0) return;
    await e.read((chunk) => {
      let off = 0;
      while (off < chunk.length) {
        try {
          off += fs.writeSync(fd, chunk, off, chunk.length - off);
        } catch (err) {
          throw localError(err, where);
        }
      }
      this.stats.bytes += chunk.length;
    });
  }

  /** Owner, then mode (after chown, which clears setuid/setgid), then times, on an open fd. */
  private meta(fd: number, e: ArchiveEntry): void {
    if (this.owners) fs.fchownSync(fd, e.uid, e.gid);
    fs.fchmodSync(fd, e.mode);
    fs.futimesSync(fd, e.atime ?? e.mtime, e.mtime);
  }

  private symlink(e: ArchiveEntry, path: string, parts: string[], shown: string): void {
    if (!tryCreate(() => fs.symlinkSync(e.linkTarget ?? '', path))) {
      this.clear(path, parts, shown);
      fs.symlinkSync(e.linkTarget ?? '', path);
    }
    if (this.owners) fs.lchownSync(path, e.uid, e.gid);
    fs.lutimesSync(path, e.atime ?? e.mtime, e.mtime);
    this.stats.symlinks++;
  }

  private async hardlink(e: ArchiveEntry, path: string, parts: string[], shown: string): Promise<void> {
    const to = e.linkTarget ?? '';
    const toParts = Extractor.components(to);
    if (toParts === null) throw new WwError('WW_UNSAFE_PATH', `refusing hard link ${shown}: it links to the root directory`);
    const toPath = join(this.parent(toParts, `hard link target ${JSON.stringify(to)}`), toParts[toParts.length - 1]);
    const st = fs.lstatSync(toPath, { throwIfNoEntry: false });
    if (!st) throw new WwError('WW_ARCHIVE_MALFORMED', `cannot make hard link ${shown}: its target ${JSON.stringify(to)} is not in the archive before it`);
    if (st.isDirectory()) throw new WwError('WW_UNSAFE_PATH', `refusing hard link ${shown} to directory ${JSON.stringify(to)}`);
    if (e.size > 0) {
      // The data came with the last name of a link set (cpio): written to a temporary, which then
      // replaces every name of the set (still the set's inode), so no name ever shows partial data.
      if (!st.isFile()) throw new WwError('WW_UNSAFE_PATH', `refusing hard link ${shown}: data for a non-file`);
      const names = [toPath, ...(this.linkSets.get(toPath) ?? [])].filter((n) => n !== path);
      this.linkSets.delete(toPath);
      const existing = fs.lstatSync(path, { throwIfNoEntry: false });
      if (existing?.isDirectory()) this.clear(path, parts, shown);
      await this.writeTemp(e, path, (temp) => {
        for (const name of names) {
          if (fs.lstatSync(name, { throwIfNoEntry: false })?.ino !== st.ino) continue; // replaced by a later entry since
          const other = tempBeside(name);
          trackTemp(other);
          try {
            fs.linkSync(temp, other);
            fs.renameSync(other, name);
          } finally {
            fs.rmSync(other, { force: true }); // gone already after the rename; there after a failure
            untrackTemp(other);
          }
        }
        fs.renameSync(temp, path);
      });
    } else if (toPath !== path) {
      this.clear(path, parts, shown);
      fs.linkSync(toPath, path); // link(2) does not follow a symbolic link at toPath
      const set = this.linkSets.get(toPath);
      if (set) set.push(path);
      else this.linkSets.set(toPath, [path]);
    }
    this.stats.hardlinks++;
  }

  private findMknod(): string {
    this.mknodPath ??= findMknod(); // the same lookup wwgetfiles uses
    return this.mknodPath;
  }

  private node(e: ArchiveEntry, path: string, parts: string[], shown: string): void {
    this.clear(path, parts, shown);
    const args = ['-m', '0600', path, e.type === 'fifo' ? 'p' : e.type === 'char' ? 'c' : 'b'];
    if (e.type !== 'fifo') args.push(String(e.rdevMajor), String(e.rdevMinor));
    // Node has no mknod(2): the system's mknod, by absolute path (the tools run with no PATH).
    const r = lazyChildProcess().spawnSync(this.findMknod(), args, { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
    if (r.status !== 0) {
      const why = r.error ? describe(r.error) : (r.stderr?.toString().trim() || `exit ${r.status}`);
      throw new WwError('WW_IO', `cannot create ${e.type} ${path}: ${why}`);
    }
    if (this.owners) fs.lchownSync(path, e.uid, e.gid);
    fs.chmodSync(path, e.mode); // just created by us, not a symbolic link
    fs.utimesSync(path, e.atime ?? e.mtime, e.mtime);
    this.stats.devices++;
  }

  /** Applies directory owners, modes and times, deepest first (after their contents, as bsdtar). */
  finish(): void {
    const paths = [...this.pending.keys()].sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
    for (const p of paths) {
      const m = this.pending.get(p)!;
      let fd: number;
      try {
        fd = fs.openSync(p, DIR_OPEN);
      } catch (err) {
        // Replaced by a later entry (not a directory any more): its own metadata applies.
        if (['ENOTDIR', 'ELOOP', 'ENOENT'].includes(errno(err) ?? '')) continue;
        throw new WwError('WW_IO', `cannot open directory ${p}: ${describe(err)}`, { cause: err });
      }
      try {
        if (this.owners) fs.fchownSync(fd, m.uid, m.gid);
        fs.fchmodSync(fd, m.mode);
        fs.futimesSync(fd, m.atime, m.mtime);
      } catch (err) {
        throw new WwError('WW_IO', `cannot set attributes of directory ${p}: ${describe(err)}`, { cause: err });
      } finally {
        fs.closeSync(fd);
      }
    }
    this.pending.clear();
  }
}
