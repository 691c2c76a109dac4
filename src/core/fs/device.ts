// Device nodes and FIFOs. Node has no mknod(2), so the system's mknod(1) makes them, found by
// absolute path: the tools run under `env -i`, with no PATH. wwgetfiles (place.ts) and the
// VNFS extractor both come through here.
import { existsSync } from 'node:fs';
import { WwError, describe } from '../errors.ts';
import { lazyChildProcess } from '../lazy.ts';

export type SpecialKind = 'block' | 'char' | 'fifo';

const MKNOD_PATHS = ['/usr/bin/mknod', '/bin/mknod', '/usr/sbin/mknod', '/sbin/mknod'];

/** The first mknod(1) of `candidates` that exists. */
export function findMknod(candidates = MKNOD_PATHS): string {
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new WwError('WW_IO', `no mknod program found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Linux dev_t encoding (glibc gnu_dev_makedev) of a major/minor pair. */
export function makedev(major: number, minor: number): number {
  return (minor & 0xff) + ((major & 0xfff) << 8) + Number((BigInt(minor & ~0xff) << 12n) + (BigInt(major & ~0xfff) << 32n));
}

/**
 * Makes a device node or FIFO at `path` (which must not exist) with `mode` (default 0600: private
 * until the caller sets owner and mode); throws a plain Error saying why mknod failed.
 * Synchronous: a signal handler (cleanup.ts) runs only between JavaScript tasks, so it never runs
 * while mknod(1) is about to create a registered temporary and always finds it made or not made.
 */
export function mknodSync(path: string, kind: SpecialKind, major: number, minor: number, mode = 0o600, mknodPath = findMknod()): void {
  const args = ['-m', mode.toString(8), path, kind === 'fifo' ? 'p' : kind === 'block' ? 'b' : 'c'];
  if (kind !== 'fifo') args.push(String(major), String(minor));
  const r = lazyChildProcess().spawnSync(mknodPath, args, { stdio: ['ignore', 'ignore', 'pipe'], env: {} });
  if (r.status !== 0) throw new Error(r.error ? describe(r.error) : r.stderr?.toString().trim() || `exit ${r.status}`);
}
