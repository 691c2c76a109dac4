// What SIGTERM, SIGINT and SIGHUP must undo before the process exits (issue 16.3c).
// Node's default for these signals is to die at once, which left every 0600
// temporary in flight (a download, an unpacked file) until some later run swept
// it, and the lock socket until the next instance found it dead.
//
// Every temporary name is registered here while it exists (place.ts, extract.ts),
// and so is the lock; on a signal tools/signals.ts removes them synchronously (cleanUpNow) and the
// process exits 128 + the signal's number (143 TERM, 130 INT, 129 HUP), the
// shell's convention for "ended by that signal". All file system calls on the placing
// paths that create, rename or remove a temporary are synchronous, and a signal
// handler runs between JavaScript tasks, so the set is never stale when it runs.
// What a temporary was for is not finished: the next run does it again (wwgetvnfs
// leaves its incomplete-marker in place for exactly that reason).
import { unlinkSync } from 'node:fs';

const temporaries = new Set<string>();
const hooks = new Set<() => void>();

/** `path` is a temporary this process made: remove it should a signal end the process. */
export function trackTemp(path: string): void {
  temporaries.add(path);
}

/** `path` was renamed into place or removed: no longer ours to clean up. */
export function untrackTemp(path: string): void {
  temporaries.delete(path);
}

/** Runs `hook` (synchronously) should a signal end the process; returns the function that cancels it. */
export function onInterrupt(hook: () => void): () => void {
  hooks.add(hook);
  return () => hooks.delete(hook);
}

/** Removes the registered temporaries and runs the hooks; returns how many temporaries were removed. */
export function cleanUpNow(): number {
  let removed = 0;
  for (const path of temporaries) {
    try {
      unlinkSync(path);
      removed++;
    } catch {
      /* already gone */
    }
  }
  temporaries.clear();
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      /* best effort: the process is ending */
    }
  }
  hooks.clear();
  return removed;
}
