// SIGTERM, SIGINT and SIGHUP end a tool cleanly: what core/fs/cleanup.ts holds (temporaries, the
// lock) is removed, one line is logged, and the process exits 128 + the signal's number.
import { cleanUpNow } from '../core/fs/cleanup.ts';

export const EXIT_SIGNALS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;

let interruptedBy: string | null = null;

/** The signal that is ending the process, or null: its exit is not a run that stopped unfinished. */
export function interruption(): string | null {
  return interruptedBy;
}

/** Installs the handlers: clean up, one line on stderr, exit 128 + the signal's number. */
export function exitCleanlyOnSignals(name: string, write: (line: string) => void): void {
  for (const [signal, n] of Object.entries(EXIT_SIGNALS)) {
    process.once(signal, () => {
      interruptedBy = signal;
      const removed = cleanUpNow();
      const what = removed === 0 ? '' : `; removed ${removed} temporary file${removed === 1 ? '' : 's'}`;
      write(`${name}: ERROR: interrupted by ${signal}${what}\n`);
      process.exit(128 + n);
    });
  }
}
