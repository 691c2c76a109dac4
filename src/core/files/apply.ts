// Applying one object at its turn, per type: directory, symbolic link, device or
// FIFO, regular file. Each is compared with what is there first, so an object
// already in place is left alone; otherwise it is placed atomically (fs/place.ts).
import { mkdir, readlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { resolveParent } from '../fs/confine.ts';
import { WwError } from '../errors.ts';
import type { Logger } from '../log.ts';
import { findMknod, makedev } from '../fs/device.ts';
import { placeDirectory, placeSpecial, placeSymlink } from '../fs/place.ts';
import { commitFile } from '../fs/temp.ts';
import { downloadFile, downloadSmall, parseDevice } from './fetch.ts';
import { hasOwnership, type Plan, type Planned } from './plan.ts';
import { discardAhead, lstatOrNull, placeAhead, takeAhead, type Ahead, type PrefetchContext } from './prefetch.ts';

export type Outcome = 'installed' | 'unchanged' | 'failed' | 'skipped';

export interface ApplyContext extends PrefetchContext {
  log: Logger;
  /** The run's time, for the names of what is moved aside. */
  now: Date;
  mknodPath?: string;
  /** Makes a missing parent directory on the way to an object (parentMaker). */
  makeDir: (path: string, leading: string[]) => Promise<unknown>;
}

/** Makes a missing parent directory: as the directory object listed at that path, if there is one, else 0755. */
export function parentMaker(plan: Plan, chown: boolean, now: Date): ApplyContext['makeDir'] {
  return (path, leading) => {
    const own = plan.listedDir(leading);
    return own ? placeDirectory({ dir: dirname(path), name: basename(path), own, chown }, now) : mkdir(path, { mode: 0o755 });
  };
}

const octal = (m: number) => m.toString(8).padStart(4, '0');

/** Installs (or, in a dry run, assesses) one object. Returns its outcome and a change line. */
export async function installOne(p: Planned, c: ApplyContext, ahead: Ahead | null): Promise<[Outcome, string?]> {
  const e = p.entry;
  if (ahead?.error !== undefined) throw ahead.error;
  if (!p.parts) throw p.refused;
  // Owners are set only as root; otherwise say what the object really got (the running user,
  // or the owner an existing directory kept), not the listed owner it did not get.
  const describeAs = (owner: string) => `${e.path} (${e.type} ${octal(e.mode)} ${owner})`;
  const desc = describeAs(c.chown ? `${e.uid}:${e.gid}` : `owner ${e.uid}:${e.gid} not set: not root`);
  const placed = async (at: string | null) => {
    if (c.chown || !at) return desc;
    const got = lstatOrNull(at);
    return got ? describeAs(`${got.uid}:${got.gid}`) : desc;
  };
  if (e.type === 'socket') {
    c.log.warn(`${e.path}: socket objects are not supported; skipped`);
    return ['skipped'];
  }
  const parent = await resolveParent(c.rootReal, p.parts, !c.dryRun, c.makeDir).catch(async (err) => {
    if (ahead?.file) await discardAhead(ahead.file); // its place cannot be reached now
    throw err;
  });
  const target = parent ? join(parent.dir, parent.name) : null;
  const st = target ? lstatOrNull(target) : null;
  const verb = st ? 'replace' : 'create';
  // Only where this run will write: the temporaries of a directory object's path are left alone (placeDirectory makes none).
  if (parent && !c.dryRun && e.type !== 'dir') await c.temps.sweep(parent.dir, parent.name, p.own);

  if (e.type === 'dir') {
    if (st?.isDirectory() && hasOwnership(st, p.own, c.chown)) return ['unchanged'];
    if (c.dryRun || !parent) return ['installed', `${st?.isDirectory() ? 'update' : verb} ${desc}`];
    const moved = await placeDirectory({ dir: parent.dir, name: parent.name, own: p.own, chown: c.chown }, c.now);
    return ['installed', `${moved ? `moved ${moved} aside; ` : ''}${st?.isDirectory() ? 'updated' : 'created'} ${await placed(target)}`];
  }

  if (e.type === 'link') {
    // Trailing newlines are dropped, as upstream's `$(cat)` drops them: the real master sends none, so one
    // is an editing accident in the stored object, and a link to 'target\n' would dangle on every node.
    const linkTarget = (ahead?.small ?? (await downloadSmall(c.source, e.id))).replace(/\n+$/, '');
    if (linkTarget === '' || linkTarget.includes('\0')) throw new WwError('WW_OBJECT_MALFORMED', `${e.path}: empty or invalid link target`);
    if (st?.isSymbolicLink() && target && (await readlink(target)) === linkTarget && hasOwnership(st, p.own, c.chown, false)) {
      return ['unchanged'];
    }
    if (c.dryRun || !parent) return ['installed', `${verb} ${desc} -> ${linkTarget}`];
    if (st?.isDirectory()) throw new WwError('WW_IN_THE_WAY', `${e.path}: a directory is in the way of this link; not replaced`);
    await placeSymlink({ dir: parent.dir, name: parent.name, own: p.own, chown: c.chown }, linkTarget);
    return ['installed', `${verb}d ${await placed(target)} -> ${linkTarget}`];
  }

  if (e.type === 'block' || e.type === 'char' || e.type === 'fifo') {
    const dev = e.type === 'fifo' ? { major: 0, minor: 0 } : parseDevice(ahead?.small ?? (await downloadSmall(c.source, e.id)), e.path);
    const kindOk = st && (e.type === 'fifo' ? st.isFIFO() : e.type === 'block' ? st.isBlockDevice() : st.isCharacterDevice());
    if (kindOk && (e.type === 'fifo' || st!.rdev === makedev(dev.major, dev.minor)) && hasOwnership(st!, p.own, c.chown)) {
      return ['unchanged'];
    }
    if (c.dryRun || !parent) return ['installed', `${verb} ${desc}`];
    if (st?.isDirectory()) throw new WwError('WW_IN_THE_WAY', `${e.path}: a directory is in the way; not replaced`);
    await placeSpecial(
      { dir: parent.dir, name: parent.name, own: p.own, chown: c.chown },
      { kind: e.type, ...dev },
      c.mknodPath ?? findMknod(),
    );
    return ['installed', `${verb}d ${await placed(target)}`];
  }

  // Regular file: download beside the target, then compare before replacing anything.
  // A download done ahead that no longer holds is discarded right there (prefetch.ts).
  const early = ahead?.file ? await takeAhead(ahead.file, parent?.dir ?? null, st) : null;
  if (st?.isDirectory()) throw new WwError('WW_IN_THE_WAY', `${e.path}: a directory is in the way of this file; not replaced`);
  // Only an existing file with the right owner and mode can turn out unchanged: compare against it while downloading.
  const candidate = st?.isFile() && hasOwnership(st, p.own, c.chown) ? { path: target!, size: st.size } : null;
  const dl = early?.dl ?? (await downloadFile(c.source, e.id, c.dryRun ? null : parent!, candidate));
  if (dl.identical) return ['unchanged'];
  if (!dl.temp || !parent) return ['installed', `${verb} ${desc}, ${dl.size} bytes`];
  await (early?.dl === dl ? placeAhead(early, p.own) : commitFile(dl.temp, parent.dir, parent.name, p.own, c.chown));
  return ['installed', `${verb}d ${await placed(target)}, ${dl.size} bytes`];
}
