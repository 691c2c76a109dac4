// Placing one object of wwgetfiles in its directory (upstream defects 6.2, 6.3, 6.6): a
// symbolic link, a directory, a device node or FIFO, a small file. Everything but a directory is
// made under a temporary name beside the target and renamed over it (temp.ts): rename(2) replaces
// a symlink or file at the target itself, so a link is never created inside a directory and a
// planted symlink never redirects a write.
import * as fs from 'node:fs';
import { constants as C } from 'node:fs';
import { join } from 'node:path';
import { WwError, describe } from '../errors.ts';
import { mknodSync, type SpecialKind } from './device.ts';
import { commitFile, createTemp, discardTemp, finishTemp, placeViaTemp, writeTemp, type Ownership } from './temp.ts';

/**
 * Where an object goes and as whom: its directory (already resolved inside the root, confine.ts),
 * its name there, its owner and mode, and whether owners can be set at all (only as root).
 */
export interface PlaceAt {
  dir: string;
  name: string;
  own: Ownership;
  chown: boolean;
}

/** A device node's or FIFO's kind and numbers (0, 0 for a FIFO). */
export interface SpecialNode {
  kind: SpecialKind;
  major: number;
  minor: number;
}

export async function placeSymlink({ dir, name, own, chown }: PlaceAt, target: string): Promise<void> {
  try {
    placeViaTemp(dir, name, (tmp) => {
      fs.symlinkSync(target, tmp);
      if (chown) fs.lchownSync(tmp, own.uid, own.gid);
    });
  } catch (err) {
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
export async function placeDirectory({ dir, name, own, chown }: PlaceAt, now: Date): Promise<string | null> {
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
    if (chown) fs.fchownSync(fd, own.uid, own.gid);
    fs.fchmodSync(fd, own.mode);
  } finally {
    fs.closeSync(fd);
  }
  return movedTo;
}

/** `mknod` is the system's mknod(1), for what Node cannot make itself (device.ts). */
export async function placeSpecial({ dir, name, own, chown }: PlaceAt, { kind, major, minor }: SpecialNode, mknod: string): Promise<void> {
  try {
    placeViaTemp(dir, name, (tmp) => {
      mknodSync(tmp, kind, major, minor, undefined, mknod);
      if (chown) fs.lchownSync(tmp, own.uid, own.gid);
      fs.chmodSync(tmp, own.mode);
    });
  } catch (err) {
    throw new WwError('WW_IO', `cannot create ${kind} ${join(dir, name)}: ${describe(err)}`);
  }
}

/**
 * Writes a small file atomically (the timestamp mark, the run records, the textfile). `sync: false`
 * skips the fsync: for what only reports (a run record, metrics), where a crash may lose the newest
 * version but never leaves half of one at the name, and a run must not wait for the disk (three
 * fsyncs cost a steady-state wwgetfiles run ~40% on a virtual disk).
 */
export async function writeSmallFile({ dir, name, own, chown }: PlaceAt, data: string, o: { sync?: boolean } = {}): Promise<void> {
  const t = await createTemp(dir, name);
  try {
    writeTemp(t, Buffer.from(data));
    if (o.sync === false) t.chown(own, chown);
  } catch (err) {
    await discardTemp(t);
    throw new WwError('WW_IO', `cannot write ${join(dir, name)}: ${describe(err)}`);
  }
  if (o.sync === false) await finishTemp(t, dir, name, own);
  else await commitFile(t, dir, name, own, chown);
}
