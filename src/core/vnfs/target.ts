// Where wwgetvnfs unpacks (PROTOCOL 6.8) and the target's state while it does.
//
// The target: NEWROOT in the initramfs, --target DIR, or else the running system's /, which is
// refused without --force (it would overwrite the live node). Decided before the master is
// contacted.
//
// An unpack that did not finish must never leave a target that looks complete
// (upstream's only check, TARGET/sbin/init, may well be there already): before the
// first entry, TARGET/.wwgetvnfs-incomplete is created and synced with its folder;
// it is removed only as the very last step, after the unpack, the checksum (when
// asked) and the sbin/init check. The boot step and the wwruntime transport treat
// a target holding it as not provisioned.
import {
  constants as C,
  closeSync,
  existsSync,
  fstatSync,
  fsyncSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  rmdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { realRoot } from '../fs/confine.ts';
import { localError } from '../fs/local-error.ts';
import { WwError, describe } from '../errors.ts';
import type { Logger } from '../log.ts';

/** The name wwgetvnfs reserves at the root for its marker: never unpacked from an image (extract.ts). */
export const INCOMPLETE_MARKER = '.wwgetvnfs-incomplete';

/** Where to unpack and whether that is allowed (PROTOCOL 6.8). Pure: the caller supplies the facts. */
export interface TargetChoice {
  target: string;
  /** Why this target, for --verbose. */
  reason: string;
}

export function chooseTarget(o: { target?: string; newroot?: string; initramfs: boolean }): TargetChoice {
  if (o.target !== undefined && o.target !== '') return { target: o.target, reason: '--target' };
  if (o.newroot) return { target: o.newroot, reason: o.initramfs ? 'NEWROOT (initramfs)' : 'NEWROOT' };
  return { target: '/', reason: 'NEWROOT is not set: the running system' };
}

export const LIVE_ROOT_REFUSAL =
  'refusing to unpack the VNFS over / on a running system: it would overwrite every file of this live node ' +
  "(running programs, libraries, /etc) with the image's copies and cannot be undone. " +
  'Inside the initramfs NEWROOT is set and /init exists; here they are not. ' +
  'Use --target DIR to unpack the image somewhere else, or --force if you really mean to overwrite /.';

/**
 * Resolves the target's real path and applies the live-root rule, before the master is contacted.
 * A missing explicit --target is not made here (nothing is created for a run that never gets an
 * image): `create` comes back true and getVnfs makes it on the master's first answer. A directory
 * that does not exist yet cannot be the live /.
 */
export async function prepareTarget(
  choice: TargetChoice,
  o: { initramfs: boolean; force: boolean; create: boolean },
): Promise<{ root: string; create: boolean }> {
  if (o.create && !existsSync(choice.target)) return { root: resolve(choice.target), create: true };
  const root = await realRoot(choice.target);
  if (root === '/' && !o.initramfs && !o.force) throw new WwError('WW_LIVE_ROOT', LIVE_ROOT_REFUSAL);
  return { root, create: false };
}

/** fsync(2) on a directory, so a name made or removed in it is on disk. */
function syncDir(dir: string): void {
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Marks root as being unpacked (before its first entry is written); returns whether the mark was
 * already there, i.e. an earlier unpack did not finish. Whatever else holds the name (a link, an
 * empty directory) is replaced: the mark must be a plain file of ours.
 */
export function markIncomplete(root: string, log: Logger): boolean {
  const path = join(root, INCOMPLETE_MARKER);
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st && !st.isFile()) {
      if (st.isDirectory()) rmdirSync(path);
      else unlinkSync(path);
    }
    const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o644);
    try {
      writeSync(
        fd,
        `wwgetvnfs (pid ${process.pid}) began unpacking the VNFS here at ${new Date().toISOString()}; ` +
          'while this file exists the unpack has not finished and the tree must not be booted or trusted\n',
      );
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    syncDir(root);
    if (st?.isFile()) log.info(`${path}: an earlier unpack did not finish; unpacking again over it`);
    return st?.isFile() === true;
  } catch (err) {
    throw localError(err, path);
  }
}

/**
 * The very last step of a good unpack: the mark goes, and must be gone. The root keeps the
 * times the image gave it (removing a name from a directory sets its mtime).
 */
export function markComplete(root: string): void {
  const path = join(root, INCOMPLETE_MARKER);
  let fd: number | undefined;
  try {
    fd = openSync(root, C.O_RDONLY | C.O_DIRECTORY);
    const st = fstatSync(fd);
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
    fsyncSync(fd);
  } catch (err) {
    throw new WwError('WW_IO', `cannot remove ${path} after a complete unpack: ${describe(err)}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (lstatSync(path, { throwIfNoEntry: false }) !== undefined)
    throw new WwError('WW_IO', `${path} is still there after a complete unpack`);
}

/** Makes an explicit --target that did not exist (on the master's first answer: prepareTarget). */
export async function createRoot(target: string): Promise<string> {
  try {
    mkdirSync(target, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new WwError('WW_IO', `cannot create target ${target}: ${describe(err)}`);
  }
  return realRoot(target);
}
