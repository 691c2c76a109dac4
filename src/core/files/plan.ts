// The plan: one record per listed object, made once per run before anything is
// applied, holding what every later stage asks of the entry's path and owner.
import { safeComponents } from '../fs/confine.ts';
import type { FileEntry } from '../protocol/filelist.ts';
import type { Ownership } from '../fs/temp.ts';

export interface Planned {
  entry: FileEntry;
  /** The path's components, confined once ('//etc/./x' and '/etc/x' are one); null when it is refused. */
  parts: string[] | null;
  /** Why the path is refused: reported as the object's failure at its turn. */
  refused?: unknown;
  own: Ownership;
  /** A later line lists the same path: this one is skipped. */
  superseded: boolean;
}

export interface Plan {
  entries: Planned[];
  /** The directory object listed at the path `leading` names, if one is (and is not superseded). */
  listedDir(leading: string[]): Ownership | undefined;
}

export function planEntries(list: FileEntry[]): Plan {
  const entries = list.map((entry): Planned => {
    const own = { uid: entry.uid, gid: entry.gid, mode: entry.mode };
    try {
      return { entry, parts: safeComponents(entry.path, { requireAbsolute: true }), own, superseded: false };
    } catch (refused) {
      return { entry, parts: null, refused, own, superseded: false };
    }
  });
  // The same path listed twice: the later line wins (upstream applies both, the later last). The earlier is
  // skipped, so a file-then-directory pair neither moves a file aside on every -F run nor fails on the second.
  const keys = entries.map((p) => p.parts?.join('/') ?? null);
  const lastAt = new Map(keys.map((k, i) => [k, i]));
  entries.forEach((p, i) => (p.superseded = keys[i] !== null && lastAt.get(keys[i])! > i));
  // A directory listed after objects inside it: made with its own owner and mode when the first of them needs it
  // (as upstream, mkdir -p would make it 0755 until its turn: a private directory open meanwhile).
  const dirs = new Map(entries.flatMap((p, i) => (p.entry.type === 'dir' && !p.superseded && keys[i] !== null ? [[keys[i]!, p.own]] : [])));
  return { entries, listedDir: (leading) => dirs.get(leading.join('/')) };
}

/** Whether an existing entry already has the planned owner (only checked when owners are set) and, `withMode`, mode. */
export function hasOwnership(st: { uid: number; gid: number; mode: number }, own: Ownership, chown: boolean, withMode = true): boolean {
  return (!chown || (st.uid === own.uid && st.gid === own.gid)) && (!withMode || (st.mode & 0o7777) === own.mode);
}
