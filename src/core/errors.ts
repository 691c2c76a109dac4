// Exit codes shared by every tool (PROTOCOL section 4). Kept small on purpose:
// cron wrappers and the initramfs only distinguish "ok", "locked" and "failed".
export const EXIT = {
  OK: 0,
  LOCKED: 1,
  FAILED: 2,
} as const;

export type ErrorKind =
  | 'usage' // bad arguments
  | 'config' // a missing or malformed setting
  | 'no-master' // no master configured
  | 'transient' // worth retrying: connection lost, timeout, 5xx, 503, truncation
  | 'refused' // the master answered definitively no (4xx)
  | 'unsafe' // input that would write outside the root, or a hostile entry
  | 'io' // local file system failure
  | 'locked' // another instance holds the lock
  | 'output-closed'; // stdout's reader went away (EPIPE): the product cannot be delivered; ends quietly

/** One error type for the whole core: a one-line message plus a kind that maps to an exit code. */
export class WwError extends Error {
  readonly kind: ErrorKind;
  readonly status?: number;
  constructor(kind: ErrorKind, message: string, opts: { status?: number; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WwError';
    this.kind = kind;
    this.status = opts.status;
  }
  get exitCode(): number {
    return this.kind === 'locked' ? EXIT.LOCKED : EXIT.FAILED;
  }
}

export function isTransient(err: unknown): boolean {
  return err instanceof WwError && err.kind === 'transient';
}

/** A one-line description of any thrown value, for the final error line. */
export function describe(err: unknown): string {
  if (err instanceof WwError) return err.message;
  // First line only, whatever threw it: every message a tool prints is one line.
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.code && e.message) return e.message.split('\n')[0];
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}
