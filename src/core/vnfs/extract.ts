// Writes archive entries under a target root, confined to it (upstream defect
// 6.7/6.8): every archive path is reduced to plain components (safeComponents:
// no absolute paths, no `..`), its parent is walked component by component with
// lstat, and a symbolic link on the way is followed only when it resolves inside
// the root (so a link the archive itself planted, `x -> /etc`, cannot be written
// through). The final component is never followed: an existing entry there is
// replaced (a file by rename, so a running binary is swapped, not rewritten).
//
// A regular file's data always goes to a temporary beside it (fs/temp.ts: `.NAME.ww<hex>`,
// O_EXCL, 0600) and is renamed to its name only once whole, with its owner, mode and
// times: a full disk, a cut connection or a signal never leaves a partial file at a
// final name (a SIGKILL leaves the temporary, which the next run removes: StaleTemps). The last
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
import { basename, dirname, join } from 'node:path';
import { DirCache, resolveParentSync, safeComponents } from '../fs/confine.ts';
import { findMknod, mknodSync } from '../fs/device.ts';
import { localError } from '../fs/local-error.ts';
import { StaleTemps, TempFile, placeViaTemp } from '../fs/temp.ts';
import { WwError, describe } from '../errors.ts';
import type { Identity } from '../identity.ts';
import type { ArchiveEntry } from './archive/types.ts';
import { INCOMPLETE_MARKER } from './target.ts';
import type { Logger } from '../log.ts';

export interface ExtractOptions {
  /** Real path of the target root (realRoot()). */
  root: string;
  /** Who unpacks: owners are restored by default as root, and its stale temporaries are ours. */
  identity: Identity;
  /** Restore owners (default: identity.root). */
  owners?: boolean;
  log?: Logger;
  /** Where mknod(1) lives; default: the first of /usr/bin, /bin, /usr/sbin, /sbin. */
  mknod?: string;
  /**
   * An earlier unpack into this root did not finish (its marker was there): remove our
   * stale temporaries beside every file written, not only beside a file replaced (a killed
   * run's temporary may sit beside a name it never reached).
   */
  sweepAll?: boolean;
}

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

const DIR_OPEN = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException)?.code;
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

export class Extractor {
  readonly stats: ExtractStats = { entries: 0, files: 0, directories: 0, symlinks: 0, hardlinks: 0, devices: 0, skipped: 0, bytes: 0 };
  private readonly root: string;
  private readonly owners: boolean;
  private readonly log?: Logger;
  private mknodPath?: string;
  /** Resolved directories (fs/confine.ts): told whenever a directory or link is replaced here. */
  private readonly dirs = new DirCache();
  /** Directory metadata applied at the end, keyed by real path. */
  private pending = new Map<string, DirMeta>();
  /** What killed runs left beside the files written (fs/temp.ts). */
  private readonly temps: StaleTemps;
  private readonly sweepAll: boolean;
  /** cpio hard-link sets: real path of the first name -> the names linked to it so far. */
  private readonly linkSets = new Map<string, string[]>();

  constructor(opts: ExtractOptions) {
    this.root = opts.root;
    this.owners = opts.owners ?? opts.identity.root;
    this.log = opts.log;
    this.mknodPath = opts.mknod;
    this.sweepAll = opts.sweepAll ?? false;
    this.temps = new StaleTemps(opts.log, { identity: opts.identity, oldVnfsNames: true, level: 'debug' });
  }

  /** Archive path -> components; null for the root itself ('.', './'). Throws 'unsafe'. */
  static components(path: string): string[] | null {
    if (!path.startsWith('/') && path.split('/').every((p) => p === '' || p === '.')) return null;
    return safeComponents(path, { refuseAbsolute: true });
  }

  /** Real path of the directory that holds parts[last]; creates missing directories (0755, as mkdir -p). */
  private parent(parts: string[], shown: string): string {
    return resolveParentSync(this.root, parts, this.dirs, { shown, nameTarget: true });
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
    // A cached directory may have been reached through what was just removed.
    if (st.isDirectory() || st.isSymbolicLink()) this.dirs.removed(parts.join('/'));
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
          return this.device(e, path, parts, shown);
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
    this.sweep(e, path, existing);
    // rename(2) replaces a file, link or device at the name, but not a directory.
    if (existing && !existing.isFile()) this.clear(path, parts, shown);
    await this.writeTemp(e, path, (t) => t.commit(path));
    this.stats.files++;
  }

  /**
   * Writes e's data with its owner, mode and times to a temporary beside `path`, then hands
   * it to `install` (which renames it into place). On any failure the temporary is removed.
   */
  private async writeTemp(e: ArchiveEntry, path: string, install: (temp: TempFile) => void): Promise<void> {
    // O_CREAT|O_EXCL|O_NOFOLLOW under a fresh random name: never follows or reuses whatever is there.
    const t = TempFile.create(dirname(path), basename(path));
    try {
      await this.writeData(t, e, path);
      // Owner, then mode (after chown, which clears setuid/setgid), then times.
      t.chown(e, this.owners);
      t.seal(e.mode, { atime: e.atime ?? e.mtime, mtime: e.mtime });
      install(t);
    } catch (err) {
      t.discard();
      throw err;
    }
  }

  /**
   * A run killed while writing a file leaves its temporary beside it. Replacing is what a re-run
   * over the same tree does, so a file replaced (or, after an unfinished unpack, any file
   * written) first has its name's stale temporaries removed (a fresh unpack never lists).
   */
  private sweep(e: ArchiveEntry, path: string, existing: fs.Stats | undefined): void {
    if (existing?.isFile() || this.sweepAll) this.temps.sweepSync(dirname(path), basename(path), e);
  }

  /** Writes e's data to fd; `where` is the entry's final path, for the message. */
  private async writeData(t: TempFile, e: ArchiveEntry, where: string): Promise<void> {
    if (e.size === 0) return;
    await e.read((chunk) => {
      try {
        t.write(chunk);
      } catch (err) {
        throw localError(err, where);
      }
      this.stats.bytes += chunk.length;
    });
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
    if (!st)
      throw new WwError(
        'WW_ARCHIVE_MALFORMED',
        `cannot make hard link ${shown}: its target ${JSON.stringify(to)} is not in the archive before it`,
      );
    if (st.isDirectory()) throw new WwError('WW_UNSAFE_PATH', `refusing hard link ${shown} to directory ${JSON.stringify(to)}`);
    if (e.size > 0) {
      // The data came with the last name of a link set (cpio): written to a temporary, which then
      // replaces every name of the set (still the set's inode), so no name ever shows partial data.
      if (!st.isFile()) throw new WwError('WW_UNSAFE_PATH', `refusing hard link ${shown}: data for a non-file`);
      const names = [toPath, ...(this.linkSets.get(toPath) ?? [])].filter((n) => n !== path);
      this.linkSets.delete(toPath);
      const existing = fs.lstatSync(path, { throwIfNoEntry: false });
      this.sweep(e, path, existing);
      if (existing?.isDirectory()) this.clear(path, parts, shown);
      await this.writeTemp(e, path, (t) => {
        for (const name of names) {
          if (fs.lstatSync(name, { throwIfNoEntry: false })?.ino !== st.ino) continue; // replaced by a later entry since
          placeViaTemp(dirname(name), basename(name), (other) => fs.linkSync(t.path, other));
        }
        t.commit(path);
      });
    } else if (toPath !== path) {
      // Its name may hold a killed run's temporary of the set's data (linked under this name: above).
      this.sweep(e, path, fs.lstatSync(path, { throwIfNoEntry: false }));
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

  /** A device node or FIFO (not `node`: that is the HPC node in this code base). */
  private device(e: ArchiveEntry, path: string, parts: string[], shown: string): void {
    this.clear(path, parts, shown);
    const mknod = this.findMknod();
    try {
      mknodSync(path, e.type as 'char' | 'block' | 'fifo', e.rdevMajor, e.rdevMinor, undefined, mknod);
    } catch (err) {
      throw new WwError('WW_IO', `cannot create ${e.type} ${path}: ${describe(err)}`);
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
