// Keeping every write inside the target root (upstream defect 6.7). A path from
// the master or an archive is reduced to plain components (no `..`, no NUL),
// and its parent directory is walked one component at a time: missing
// directories are created, symbolic links are followed only when they resolve
// inside the root. The caller then writes with *at-style care: a temporary name
// in that real directory, then rename.
import { constants as C, lstatSync, mkdirSync, realpathSync, statSync } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { join, sep } from 'node:path';
import { WwError } from '../errors.ts';

/** Linux PATH_MAX, terminating NUL included: no longer path can be opened or created. */
export const PATH_MAX = 4096;

export interface PathRules {
  /** Master paths must be absolute; archive paths are relative ('./etc/x', 'etc/x'). */
  requireAbsolute?: boolean;
  /** Refuse (true) or allow (false) a leading '/' on a relative-style path. */
  refuseAbsolute?: boolean;
}

/** Splits a path into safe components, or throws an 'unsafe' error naming it. */
export function safeComponents(path: string, rules: PathRules = {}): string[] {
  const shown = JSON.stringify(path.length > 200 ? `${path.slice(0, 200)}...` : path);
  if (path.includes('\0')) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: contains a NUL byte`);
  // Checked before anything is created: a 16 MiB path of '/x' components must not become thousands of directories.
  if (Buffer.byteLength(path) >= PATH_MAX) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: longer than ${PATH_MAX - 1} bytes`);
  const absolute = path.startsWith('/');
  if (rules.requireAbsolute && !absolute) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: not absolute`);
  if (rules.refuseAbsolute && absolute) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: absolute path in archive`);
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: contains '..'`);
  if (parts.length === 0) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: names the root itself`);
  if (parts.some((p) => Buffer.byteLength(p) > 255)) throw new WwError('WW_UNSAFE_PATH', `refusing path ${shown}: component too long`);
  return parts;
}

export function isInside(root: string, real: string): boolean {
  if (root === '/') return real.startsWith('/');
  return real === root || real.startsWith(root + sep);
}

export interface ParentDir {
  /** Real (symlink-free) path of the directory that holds the entry. */
  dir: string;
  name: string;
  /** The root's real path. */
  root: string;
}

/** How a refusal names the entry being placed, and whether it names where an escaping link leads. */
export interface WalkMessages {
  /** Default: the path from its components ('/etc/x'). */
  shown?: string;
  /** Add ` (to REAL)` to the refusal of a link leading outside (the extractor's messages). */
  nameTarget?: boolean;
}

/**
 * Real directories the walk already resolved, by the components leading to them ('a/b'): the
 * VNFS extractor resolves tens of thousands of parents, nearly all of them seen before.
 * Whoever replaces a directory or symbolic link under the root tells the cache (removed()).
 */
export class DirCache {
  private readonly dirs = new Map<string, string>();
  /** Some cached directory was reached through a symbolic link. */
  private viaLink = false;

  get(key: string): string | undefined {
    return this.dirs.get(key);
  }

  /** `real` is the directory the components `key` name (reached through a link: `viaLink`). */
  set(key: string, real: string, viaLink = false): void {
    this.dirs.set(key, real);
    if (viaLink) this.viaLink = true;
  }

  /**
   * The directory or symbolic link at `key` was removed: forget whatever may have been reached
   * through it (every cached key below `key` has `key` cached too, so an uncached one reached
   * nothing, unless links were followed, which may lead anywhere).
   */
  removed(key: string): void {
    if (this.viaLink || this.dirs.has(key)) {
      this.dirs.clear();
      this.viaLink = false;
    }
  }
}

/**
 * One step of the walk: the real directory that `p` (= cur/part, cur real) stands for, or
 * undefined when nothing is at `p` and `mustExist` is false. A symbolic link is followed only
 * to a directory inside the root; anything else in the way is refused.
 */
function enter(rootReal: string, p: string, parts: string[], m: WalkMessages, mustExist: boolean): string | undefined {
  const st = lstatSync(p, { throwIfNoEntry: mustExist });
  if (!st) return undefined;
  if (st.isDirectory()) return p;
  const shown = m.shown ?? join('/', ...parts);
  if (!st.isSymbolicLink()) throw new WwError('WW_IN_THE_WAY', `cannot place ${shown}: ${p} exists and is not a directory`);
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    throw new WwError('WW_UNSAFE_PATH', `refusing ${shown}: ${p} is a dangling symbolic link`);
  }
  if (!isInside(rootReal, real)) {
    throw new WwError(
      'WW_UNSAFE_PATH',
      `refusing ${shown}: ${p} is a symbolic link leading outside ${rootReal}${m.nameTarget ? ` (to ${real})` : ''}`,
    );
  }
  if (!statSync(real).isDirectory()) throw new WwError('WW_UNSAFE_PATH', `refusing ${shown}: ${p} does not lead to a directory`);
  return real;
}

/** mkdir that tolerates a directory made meanwhile. */
function mkdirTolerant(p: string): void {
  try {
    mkdirSync(p, { mode: 0o755 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
}

/**
 * Resolves the directory that will hold `parts` under `rootReal` (already a
 * realpath). Missing directories are created (mode 0755, as `mkdir -p`, or by
 * `makeDir`, given the real path and the components leading to it) unless
 * `create` is false, in which case null is returned for a missing one.
 */
// lstat/mkdir/realpath run synchronously here: a few microseconds each in the
// dentry cache, against a thread-pool round trip per call (wwgetfiles walks
// every object's parent, one call per component).
export async function resolveParent(
  rootReal: string,
  parts: string[],
  create = true,
  makeDir?: (path: string, leading: string[]) => Promise<unknown>,
): Promise<ParentDir | null> {
  let cur = rootReal;
  for (let i = 0; i < parts.length - 1; i++) {
    const p = join(cur, parts[i]);
    let next = enter(rootReal, p, parts, {}, false);
    if (next === undefined) {
      if (!create) return null;
      if (makeDir) {
        try {
          await makeDir(p, parts.slice(0, i + 1));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        }
      } else {
        mkdirTolerant(p);
      }
      next = enter(rootReal, p, parts, {}, true)!;
    }
    cur = next;
  }
  return { dir: cur, name: parts[parts.length - 1], root: rootReal };
}

/**
 * resolveParent's walk, synchronous and with a cache, for the VNFS extractor: the real path
 * of the directory that holds parts[last], missing directories made (0755, as mkdir -p).
 */
export function resolveParentSync(rootReal: string, parts: string[], cache: DirCache, m: WalkMessages = {}): string {
  let cur = rootReal;
  let key = '';
  for (let i = 0; i < parts.length - 1; i++) {
    key = key === '' ? parts[i] : `${key}/${parts[i]}`;
    const hit = cache.get(key);
    if (hit !== undefined) {
      cur = hit;
      continue;
    }
    const p = join(cur, parts[i]);
    let next = enter(rootReal, p, parts, m, false);
    if (next === undefined) {
      mkdirTolerant(p);
      next = enter(rootReal, p, parts, m, true)!;
    }
    cache.set(key, next, next !== p);
    cur = next;
  }
  return cur;
}

/** realpath of the root, which must be an existing directory. */
export async function realRoot(root: string): Promise<string> {
  try {
    const r = await realpath(root);
    if (!(await stat(r)).isDirectory()) throw new Error('not a directory');
    return r;
  } catch (err) {
    throw new WwError('WW_CONFIG', `target root ${root} is not a usable directory: ${(err as Error).message}`);
  }
}

/** Flags for creating a new private file that never follows a planted symlink. */
export const EXCLUSIVE_CREATE = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
