// One error type for the whole core (after Node's lib/internal/errors.js): every error carries
// a stable code that never changes once released (scripts, tests and the README's table rely on
// it) and a one-line message that may be reworded; whether it is worth retrying is its own
// decision (`retry`), made where the error is raised, not read from the code's name.
//
// Exit codes shared by every tool (PROTOCOL section 4). Kept small on purpose: cron wrappers
// and the initramfs only distinguish "ok", "locked" and "failed".
export const EXIT = {
  OK: 0,
  LOCKED: 1,
  FAILED: 2,
} as const;

/** Each code, what it means, and whether such an error is worth another round by default. */
export const ERROR_CODES = {
  WW_USAGE: { retry: false, what: 'bad arguments' },
  WW_CONFIG: { retry: false, what: 'a missing or malformed setting' },
  WW_NO_MASTER: { retry: false, what: 'no master configured anywhere' },
  WW_LOCKED: { retry: false, what: 'another instance holds the lock' },
  WW_OUTPUT_CLOSED: { retry: false, what: "stdout's reader went away: the product cannot be delivered (ends quietly)" },
  WW_NETWORK: { retry: true, what: 'connection refused, reset or unreachable; name not resolved' },
  WW_CONNECT_TIMEOUT: { retry: true, what: 'TCP connect or TLS handshake took longer than --connect-timeout' },
  WW_NO_PORT: { retry: true, what: 'no free privileged source port' },
  WW_TLS: { retry: true, what: 'TLS handshake failed (a certificate problem: not retried)' },
  WW_TIMEOUT: { retry: true, what: 'an answer silent, too slow or longer than --max-time' },
  WW_RUN_LIMIT: { retry: true, what: 'the run reached --max-run' },
  WW_GAVE_UP: { retry: true, what: 'every master failed in every round' },
  WW_TRUNCATED: { retry: true, what: 'an answer cut short or longer than it said' },
  WW_HTTP_STATUS: { retry: false, what: 'the master answered an error status (5xx, 503 and 429 retried)' },
  WW_EMBEDDED_STATUS: { retry: false, what: "the master's error status inside a 200 body (PROTOCOL 2.7; 5xx retried)" },
  WW_REDIRECT: { retry: false, what: 'too many, invalid or unsupported redirects' },
  WW_ENCODING: { retry: false, what: 'an unrequested Content-Encoding' },
  WW_TOO_LARGE: { retry: false, what: 'an answer larger than its cap' },
  WW_LIST_MALFORMED: { retry: false, what: 'a file list line that does not parse' },
  WW_NODECONFIG_MALFORMED: { retry: false, what: 'an answer that is not node configuration' },
  WW_OBJECT_MALFORMED: { retry: false, what: "a file object's content that cannot be what its type says" },
  WW_UNSAFE_PATH: { retry: false, what: 'a path or archive entry that would leave the root, or is hostile' },
  WW_LIVE_ROOT: { retry: false, what: 'wwgetvnfs refuses to unpack over the running root' },
  WW_IN_THE_WAY: { retry: false, what: 'something of another type is in the way and is not replaced' },
  WW_IO: { retry: false, what: 'a local file system failure' },
  WW_NO_SPACE: { retry: false, what: 'no space left on the device (or quota exceeded)' },
  WW_LOCK_DIR: { retry: false, what: 'the lock directory is missing, foreign or unsafe' },
  WW_ARCHIVE_MALFORMED: { retry: false, what: 'the VNFS image is not a valid cpio or tar archive' },
  WW_GZIP_MALFORMED: { retry: false, what: 'the VNFS image is not valid gzip data' },
  WW_CHECKSUM_MISMATCH: { retry: false, what: "the VNFS image's MD5 differs from WWVNFS_CHECKSUM" },
  WW_NOT_BOOTABLE: { retry: false, what: 'the unpacked VNFS has no sbin/init' },
} as const satisfies Record<string, { retry: boolean; what: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface WwErrorOptions {
  /** Worth another round (default: the code's). */
  retry?: boolean;
  /** The HTTP status behind it, when there is one. */
  status?: number;
  /** The master's Retry-After (503, 429), in ms from when it was received. */
  retryAfterMs?: number;
  cause?: unknown;
}

export class WwError extends Error {
  readonly code: ErrorCode;
  readonly retry: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;
  constructor(code: ErrorCode, message: string, opts: WwErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'WwError';
    this.code = code;
    this.retry = opts.retry ?? ERROR_CODES[code].retry;
    this.status = opts.status;
    this.retryAfterMs = opts.retryAfterMs;
  }
  get exitCode(): number {
    return this.code === 'WW_LOCKED' ? EXIT.LOCKED : EXIT.FAILED;
  }
}

/** Worth another round over the masters: the error says so. */
export function isRetryable(err: unknown): boolean {
  return err instanceof WwError && err.retry;
}

/** A one-line description of any thrown value, for the final error line: the first line only. */
export function describe(err: unknown): string {
  if (err instanceof WwError) return err.message;
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.code && e.message) return e.message.split('\n')[0];
  return String(err instanceof Error ? err.message : err).split('\n')[0];
}
