// Temporaries: the one naming of the temporary files the tools make beside their targets, and
// the sweep of what an interrupted run left of them.
import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Ownership } from './place.ts';

/** tempPath() (place.ts): `.NAME.ww` + 16 hex digits, NAME cut to 200 characters. */
const TEMP_NAME = /^\.(.+)\.ww[0-9a-f]{16}$/s;

/**
 * Removes what an interrupted run (SIGKILL, power loss) left beside a path it
 * was installing: entries named exactly like our temporaries for that path.
 * Careful by construction: only those names, never a directory, and only
 * - a regular file owned by us (or already by the object's owner and group) with mode 0600
 *   (a download in progress) or the object's mode (killed between chmod and rename: a setuid
 *   copy must not linger under a hidden name);
 * - a symbolic link, FIFO or device node owned likewise (no data in them).
 * Each directory is listed once per run; the lock keeps other runs out.
 */
export class StaleTemps {
  private readonly listings = new Map<string, Promise<Map<string, string[]>>>();
  removed = 0;
  private readonly me = process.getuid?.() ?? -1;

  constructor(private readonly log: Logger) {}

  private list(dir: string): Promise<Map<string, string[]>> {
    let p = this.listings.get(dir);
    if (!p) {
      p = readdir(dir).then(
        (names) => {
          const byBase = new Map<string, string[]>();
          for (const n of names) {
            const m = TEMP_NAME.exec(n);
            if (m) byBase.set(m[1], [...(byBase.get(m[1]) ?? []), n]);
          }
          return byBase;
        },
        () => new Map<string, string[]>(),
      );
      this.listings.set(dir, p);
    }
    return p;
  }

  async sweep(dir: string, name: string, own: Ownership): Promise<void> {
    const base = name.slice(0, 200);
    const listing = await this.list(dir);
    const names = listing.get(base);
    if (!names) return;
    listing.delete(base);
    for (const n of names) {
      const p = join(dir, n);
      const st = await lstat(p).catch(() => null);
      if (!st || st.isDirectory()) continue;
      const mode = st.mode & 0o7777;
      // The states place.ts leaves a temporary in: ours and 0600, then chowned, then chmodded.
      const ours = st.uid === this.me || (st.uid === own.uid && st.gid === own.gid);
      const remove = st.isFile()
        ? ours && (mode === 0o600 || mode === own.mode)
        : (st.isSymbolicLink() || st.isFIFO() || st.isCharacterDevice() || st.isBlockDevice()) && ours;
      if (!remove) continue;
      try {
        await unlink(p);
        this.removed++;
        this.log.info(`removed ${p}, left by an interrupted run`);
      } catch (err) {
        this.log.warn(`cannot remove ${p}, left by an interrupted run: ${describe(err)}`);
      }
    }
  }
}

