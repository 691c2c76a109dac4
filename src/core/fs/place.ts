// Atomic, private placement of one object (upstream defects 6.2, 6.3, 6.6).
// New content is written to an unpredictable name created exclusively
// (O_EXCL|O_NOFOLLOW, mode 0600) in the target's own directory, synced, given
// its owner and then its mode (chown clears setuid, so mode comes last), and
// only then renamed over the target. rename(2) replaces a symlink or file at the
// target itself, so a link is never created inside a directory and a planted
// symlink never redirects a write.
import * as fs from 'node:fs';
import { constants as C, existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { trackTemp, untrackTemp } from './cleanup.ts';
import { WwError, describe } from '../errors.ts';
import { EXCLUSIVE_CREATE } from './confine.ts';
import { GcPacer } from '../gc.ts';
import { lazyChildProcess, lazyCrypto } from '../lazy.ts';

export interface Ownership {
  uid: number;
  gid: number;
  /** Permission bits, 0..0o7777. */
  mode: number;
}

export interface TempFile {
  /** Open descriptor of the temporary, until it is sealed, finished or discarded (then -1). */
  fd: number;
  path: string;
}

// Synchronous calls for everything but fsync: each is a metadata operation or a page-cache
// copy of microseconds, where a thread-pool round trip (futex wakes, an eventfd write) costs
// more than the call: 1,000 small files made ~57,000 futex calls with async calls, ~11,000
// now. fsync waits for the disk, so it stays in the thread pool, and the downloads running
// beside it go on meanwhile.
const fsyncAsync = promisify(fs.fsync);

/** Closes t's descriptor once (a failure after a close must not close a reused number). */
function closeTemp(t: TempFile): void {
  if (t.fd < 0) return;
  const fd = t.fd;
  t.fd = -1;
  fs.closeSync(fd);
}

/** Removes one of our temporaries (and forgets it: cleanup.ts). */
function unlinkQuietly(path: string): void {
  try {
    fs.unlinkSync(path);
  } catch {
    /* not there */
  }
  untrackTemp(path);
}

/** Renames one of our temporaries into place; from then on it is no longer a temporary. */
function renameIntoPlace(tmp: string, path: string): void {
  fs.renameSync(tmp, path);
  untrackTemp(tmp);
}

/** `.NAME.wwRANDOM` beside the target: hidden, unique, and unguessable by another local user. */
export function tempPath(dir: string, name: string): string {
  return join(dir, `.${name.slice(0, 200)}.ww${lazyCrypto().randomBytes(8).toString('hex')}`);
}

export async function createTemp(dir: string, name: string): Promise<TempFile> {
  for (let i = 0; ; i++) {
    const path = tempPath(dir, name);
    try {
      const fd = fs.openSync(path, EXCLUSIVE_CREATE, 0o600);
      trackTemp(path); // removed should a signal end the run (cleanup.ts)
      return { fd, path };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 5) {
        throw new WwError('WW_IO', `cannot create a temporary file in ${dir}: ${describe(err)}`);
      }
    }
  }
}

export async function discardTemp(t: TempFile): Promise<void> {
  try {
    closeTemp(t);
  } catch {
    /* closed anyway */
  }
  unlinkQuietly(t.path);
}

/** A minor GC per 4 MiB written: a large download's spent HTTP chunks are freed as it goes (gc.ts). */
const writePacer = new GcPacer(4 << 20);

/** Writes all of buf at the end of the temporary. */
export function writeTemp(t: TempFile, buf: Buffer): void {
  for (let off = 0; off < buf.length;) off += fs.writeSync(t.fd, buf, off, buf.length - off);
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
    await fsyncAsync(t.fd);
    if (chownOk) fs.fchownSync(t.fd, own.uid, own.gid);
    if (seal) {
      fs.fchmodSync(t.fd, own.mode);
      closeTemp(t);
    }
  } catch (err) {
    await discardTemp(t);
    throw new WwError('WW_IO', `cannot install ${target}: ${describe(err)}`);
  }
}

/** The last step for a sealed temporary: rename it over dir/name (removed if that fails). */
export async function renameTemp(t: TempFile, dir: string, name: string): Promise<void> {
  try {
    renameIntoPlace(t.path, join(dir, name));
  } catch (err) {
    unlinkQuietly(t.path);
    throw new WwError('WW_IO', `cannot install ${join(dir, name)}: ${describe(err)}`);
  }
}

/** commitFile's last steps: chmod (after chown, which clears setuid), close, rename over dir/name. */
export async function finishTemp(t: TempFile, dir: string, name: string, own: Ownership): Promise<void> {
  try {
    fs.fchmodSync(t.fd, own.mode);
    closeTemp(t);
    renameIntoPlace(t.path, join(dir, name));
  } catch (err) {
    await discardTemp(t);
    throw new WwError('WW_IO', `cannot install ${join(dir, name)}: ${describe(err)}`);
  }
}

export async function placeSymlink(dir: string, name: string, target: string, own: Ownership, chownOk: boolean): Promise<void> {
  const tmp = tempPath(dir, name);
  trackTemp(tmp);
  try {
    fs.symlinkSync(target, tmp);
    if (chownOk) fs.lchownSync(tmp, own.uid, own.gid);
    renameIntoPlace(tmp, join(dir, name));
  } catch (err) {
    unlinkQuietly(tmp);
    throw new WwError('WW_IO', `cannot install link ${join(dir, name)}: ${describe(err)}`);
  }
}

/** `NAME.wwYYYYmmddHHMMSS`, as upstream names what it moves out of a directory's way. */
export function asideName(name: string, now: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${name}.ww${now.getFullYear()}${p(now.getMonth() + 1)}${p(now.getDate())}${p(now.getHours())}${p(now.getMinutes())}${p(now.getSeconds())}`;
}

/**
 * Makes dir/name a directory with the given owner and mode. A non-directory in
 * the way (file, link, device) is moved aside first, as upstream does. Owner and
 * mode are set through a descriptor opened with O_NOFOLLOW.
 */
export async function placeDirectory(dir: string, name: string, own: Ownership, chownOk: boolean, now: Date): Promise<string | null> {
  const path = join(dir, name);
  let movedTo: string | null = null;
  const st = fs.lstatSync(path, { throwIfNoEntry: false });
  if (st && !st.isDirectory()) {
    let aside = asideName(name, now);
    // lstat, not exists: a dangling planted symlink must count as taken too.
    const taken = (n: string) => fs.lstatSync(join(dir, n), { throwIfNoEntry: false }) !== undefined;
    for (let i = 1; taken(aside); i++) aside = `${asideName(name, now)}.${i}`;
    fs.renameSync(path, join(dir, aside));
    movedTo = join(dir, aside);
  }
  if (!st || movedTo) {
    try {
      fs.mkdirSync(path, { mode: 0o700 }); // private until owner and mode are set
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const fd = fs.openSync(path, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  try {
    if (chownOk) fs.fchownSync(fd, own.uid, own.gid);
    fs.fchmodSync(fd, own.mode);
  } finally {
    fs.closeSync(fd);
  }
  return movedTo;
}

export type SpecialKind = 'block' | 'char' | 'fifo';

const MKNOD_PATHS = ['/usr/bin/mknod', '/bin/mknod', '/usr/sbin/mknod', '/sbin/mknod'];

/** Node has no mknod(2): the tools run under `env -i`, so the system mknod is found by absolute path. */
export function findMknod(candidates = MKNOD_PATHS): string {
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new WwError('WW_IO', `no mknod program found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Linux dev_t encoding (glibc gnu_dev_makedev) of a major/minor pair. */
export function makedev(major: number, minor: number): number {
  return (
    (minor & 0xff) + ((major & 0xfff) << 8) + Number((BigInt(minor & ~0xff) << 12n) + (BigInt(major & ~0xfff) << 32n))
  );
}

export async function placeSpecial(
  dir: string,
  name: string,
  kind: SpecialKind,
  dev: { major: number; minor: number },
  own: Ownership,
  chownOk: boolean,
  mknod: string,
): Promise<void> {
  const tmp = tempPath(dir, name);
  trackTemp(tmp); // before mknod(1) makes it: a signal meanwhile still finds it
  const args = ['-m', '600', tmp, kind === 'fifo' ? 'p' : kind === 'block' ? 'b' : 'c'];
  if (kind !== 'fifo') args.push(String(dev.major), String(dev.minor));
  try {
    // Synchronous: a signal handler (cleanup.ts) runs only between JavaScript tasks, so it never
    // runs while mknod(1) is about to create `tmp` and always finds it made or not made.
    const r = lazyChildProcess().spawnSync(mknod, args, { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
    if (r.status !== 0) throw new Error(r.error ? describe(r.error) : r.stderr?.toString().trim() || `exit ${r.status}`);
    if (chownOk) fs.lchownSync(tmp, own.uid, own.gid);
    fs.chmodSync(tmp, own.mode);
    renameIntoPlace(tmp, join(dir, name));
  } catch (err) {
    unlinkQuietly(tmp);
    throw new WwError('WW_IO', `cannot create ${kind} ${join(dir, name)}: ${describe(err)}`);
  }
}

/** Writes a small file atomically (the timestamp mark). */
export async function writeSmallFile(dir: string, name: string, data: string, own: Ownership, chownOk: boolean): Promise<void> {
  const t = await createTemp(dir, name);
  try {
    writeTemp(t, Buffer.from(data));
  } catch (err) {
    await discardTemp(t);
    throw new WwError('WW_IO', `cannot write ${join(dir, name)}: ${describe(err)}`);
  }
  await commitFile(t, dir, name, own, chownOk);
}
