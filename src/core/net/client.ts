// The master client: GETs against /WW/* on each master in WWMASTER order, with
// the upstream back-off between rounds, and a strict view of what counts as a
// complete answer (PROTOCOL 2.6, 2.7): a short body, a missing final chunk or a
// dropped connection is never handed to the caller as a result.
import http from 'node:http';
import { createAgent, isCertificateError, usesPrivilegedPort, type ConnectOptions } from './socket.ts';
import { WwError, describe, isRetryable } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MasterAddress } from '../settings/sources.ts';

export interface RetryPolicy {
  /** Rounds over all masters before giving up (upstream: 30). */
  attempts: number;
  /** Sleep after round n is n * stepMs (upstream: 2 s, 4 s, 6 s, ...). */
  stepMs: number;
  /** Upper bound on the total time spent sleeping between rounds. */
  maxWaitMs?: number;
}

export const UPSTREAM_RETRY: RetryPolicy = { attempts: 30, stepMs: 2000 };
/** WWDEBUG: fail fast while an admin watches. */
export const DEBUG_RETRY: RetryPolicy = { attempts: 3, stepMs: 0 };

/** A transfer slower than bytesPerSec, averaged over windowMs, is dead, not slow (curl's --speed-limit/--speed-time). */
export interface SpeedLimit {
  bytesPerSec: number;
  windowMs: number;
}

/** Per-request departures from the client's policy. */
export interface RequestLimits {
  /** Rounds over all masters for this request (default: retry.attempts). */
  attempts?: number;
  /**
   * The VNFS image: bounded by the speed limit (and by imageMaxTimeMs only when
   * set), since its size and the link's speed vary too widely for one deadline.
   */
  image?: boolean;
}

export interface MasterClientOptions {
  masters: MasterAddress[];
  scheme: 'http' | 'https';
  connect: ConnectOptions;
  /** A socket silent for this long (waiting for headers or mid-body) is abandoned. */
  idleTimeoutMs: number;
  /** --max-time: one request's whole answer (connect to last byte, redirects included); not the image. */
  maxTimeMs?: number;
  /** --max-time for the VNFS image too, when the user gave one. */
  imageMaxTimeMs?: number;
  /** The image's rate bound. */
  speedLimit?: SpeedLimit;
  /** --max-run: the whole run ends by this time (ms since the epoch, on `now`'s clock). */
  deadline?: number;
  now?: () => number;
  retry: RetryPolicy;
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** Concurrent connections per master (keep-alive, reused). */
  maxSockets?: number;
  maxRedirects?: number;
  userAgent?: string;
}

export interface MasterResponse {
  master: MasterAddress;
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** Body bytes taken so far (forEachChunk counts them), for the rate bound. */
  progress?: { bytes: number };
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN',
  'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE', 'HPE_INVALID_CONSTANT',
]);

/** Maps a socket/parser error to a WwError naming the master. */
function networkError(err: unknown, url: string): WwError {
  if (err instanceof WwError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const what = code === 'ECONNREFUSED' ? 'connection refused' : describe(err);
  // Network trouble is worth another round; only a TLS certificate problem will not fix itself.
  const permanent = !TRANSIENT_CODES.has(code) && isCertificateError(code);
  return new WwError(permanent ? 'WW_TLS' : 'WW_NETWORK', `${url}: ${what}`, { cause: err, retry: !permanent });
}

const RUN_LIMIT = 'run time limit (--max-run) reached';

interface AttemptBound {
  /** When the attempt must have its whole answer (ms, on the client's clock); Infinity: no bound. */
  end: number;
  /** What reaching `end` means, for the error. */
  why: string;
  speed?: SpeedLimit;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function hostPort(m: MasterAddress, scheme: string): string {
  const host = m.host.includes(':') ? `[${m.host}]` : m.host;
  const dflt = scheme === 'https' ? 443 : 80;
  return m.port === undefined || m.port === dflt ? host : `${host}:${m.port}`;
}

export class MasterClient {
  readonly opts: MasterClientOptions;
  private readonly agents: { http: http.Agent; https?: http.Agent };
  private order: MasterAddress[];
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  /** Requests sent, for summaries and benchmarks. */
  requests = 0;

  constructor(opts: MasterClientOptions) {
    this.opts = opts;
    const n = opts.maxSockets ?? 4;
    this.agents = { http: createAgent(false, opts.connect, n) }; // the https one when first needed (net/socket.ts)
    this.order = [...opts.masters];
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
  }

  private httpsAgent(): http.Agent {
    this.agents.https ??= createAgent(true, this.opts.connect, this.opts.maxSockets ?? 4);
    return this.agents.https;
  }

  url(master: MasterAddress, path: string, query: Record<string, string>): string {
    // ':' stays literal (as upstream's curl sends hwaddrs); everything else is percent-encoded.
    const qs = Object.entries(query)
      .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v).replace(/%3A/gi, ':')}`)
      .join('&');
    return `${this.opts.scheme}://${hostPort(master, this.opts.scheme)}${path}${qs ? `?${qs}` : ''}`;
  }

  /**
   * Runs `consume` on a 200 answer for `path`, trying each master in order and
   * backing off between rounds. `consume` must read the whole body (see
   * readBody/forEachChunk) and be safe to run again: a transient failure inside
   * it (cut connection, truncation) moves on to the next master or round.
   */
  async get<T>(
    path: string,
    query: Record<string, string>,
    consume: (res: MasterResponse) => Promise<T>,
    /** Undoes a result that arrived from a failed exchange (e.g. removes a downloaded temporary file). */
    discard?: (result: T) => void | Promise<void>,
    limits: RequestLimits = {},
  ): Promise<T> {
    const { retry, log, deadline } = this.opts;
    const attempts = limits.attempts ?? retry.attempts;
    let waited = 0;
    for (let round = 1; ; round++) {
      const failures: WwError[] = [];
      for (const master of [...this.order]) {
        if (deadline !== undefined && this.now() >= deadline) {
          const last = failures[failures.length - 1];
          const tried = round - (last ? 0 : 1);
          throw new WwError('WW_RUN_LIMIT', `${RUN_LIMIT} ${tried ? `after ${tried} attempt(s)` : 'before this request was sent'}${last ? `: ${last.message}` : ''}`);
        }
        try {
          const bound = this.bound(limits);
          const result = await this.once(master, this.url(master, path, query), consume, 0, discard, false, bound);
          // Stay with the master that answered: the file list and its contents should come from one place.
          this.order = [master, ...this.order.filter((m) => m !== master)];
          return result;
        } catch (err) {
          const e = err instanceof WwError ? err : networkError(err, this.url(master, path, query));
          failures.push(e);
          log.debug(`master ${master.label}: ${e.message}`);
        }
      }
      // A definitive answer (4xx, hostile content) will not change by waiting.
      const definitive = failures.find((f) => !isRetryable(f));
      if (definitive) throw definitive;
      const last = failures[failures.length - 1];
      const delay = retry.stepMs * round;
      if (round >= attempts || (retry.maxWaitMs !== undefined && waited + delay > retry.maxWaitMs)) {
        throw new WwError('WW_GAVE_UP', `gave up after ${round} attempt(s): ${last.message}`, { cause: last });
      }
      // A sleep that would end past the run's deadline is not worth starting.
      if (deadline !== undefined && this.now() + delay >= deadline) {
        throw new WwError('WW_RUN_LIMIT', `${RUN_LIMIT} after ${round} attempt(s): ${last.message}`, { cause: last });
      }
      log.warn(`${last.message}; retrying in ${delay / 1000} s (attempt ${round + 1} of ${attempts})`);
      waited += delay;
      await this.sleep(delay);
    }
  }

  /** The time bounds of one attempt (redirects included), from the client's options and the request's limits. */
  private bound(limits: RequestLimits): AttemptBound {
    const { maxTimeMs, imageMaxTimeMs, speedLimit, deadline } = this.opts;
    const max = limits.image ? imageMaxTimeMs : maxTimeMs;
    const start = this.now();
    const maxEnd = max === undefined ? Infinity : start + max;
    const runEnd = deadline ?? Infinity;
    return {
      end: Math.min(maxEnd, runEnd),
      why: runEnd <= maxEnd ? RUN_LIMIT : `no complete answer within ${(max ?? 0) / 1000} s (--max-time)`,
      speed: limits.image ? speedLimit : undefined,
    };
  }

  private once<T>(
    master: MasterAddress,
    url: string,
    consume: (res: MasterResponse) => Promise<T>,
    redirects: number,
    discard?: (result: T) => void | Promise<void>,
    staleRetried = false,
    bound: AttemptBound = { end: Infinity, why: '' },
  ): Promise<T> {
    return new Promise<T>((resolveOnce, rejectOnce) => {
      const timers: NodeJS.Timeout[] = [];
      const stop = () => timers.forEach((t) => clearTimeout(t));
      const resolve = (v: T) => {
        stop();
        resolveOnce(v);
      };
      const reject = (e: unknown) => {
        stop();
        rejectOnce(e);
      };
      // Once the answer is handed to consume, only consume settles this exchange: a later socket or
      // parser error (data after the declared body, a reset) fails it, but not before consume has
      // stopped, so no abandoned consume goes on writing while the next attempt runs.
      let consuming = false;
      let lateError: WwError | undefined;
      let res0: http.IncomingMessage | undefined;
      const progress = { bytes: 0 };
      // Time bounds end the exchange the way a cut connection would: before the answer, the request
      // fails; during consume, the body errors and consume fails; a body already complete is kept.
      const abort = (e: WwError) => {
        if (!consuming) req.destroy(e);
        else if (!res0?.complete) {
          lateError ??= e;
          res0?.destroy(e);
        }
      };
      const u = new URL(url);
      const secure = u.protocol === 'https:';
      this.requests++;
      const req = http.request(
        {
          protocol: u.protocol,
          host: u.hostname.replace(/^\[|\]$/g, ''),
          port: u.port || (secure ? 443 : 80),
          path: u.pathname + u.search,
          method: 'GET',
          agent: secure ? this.httpsAgent() : this.agents.http,
          headers: { 'User-Agent': this.opts.userAgent ?? 'wwruntime', Accept: '*/*' },
        },
        (res) => {
          const status = res.statusCode ?? 0;
          const fail = (e: WwError) => {
            res.resume(); // drain so the connection can be reused
            reject(e);
          };
          if (status >= 300 && status < 400 && res.headers.location) {
            res.resume();
            const max = this.opts.maxRedirects ?? 5;
            if (redirects >= max) return reject(new WwError('WW_REDIRECT', `${url}: more than ${max} redirects`));
            let next: URL;
            try {
              next = new URL(res.headers.location, url); // the real master sends a relative Location
            } catch {
              return reject(new WwError('WW_REDIRECT', `${url}: invalid redirect '${res.headers.location}'`));
            }
            if (next.protocol !== 'http:' && next.protocol !== 'https:') {
              return reject(new WwError('WW_REDIRECT', `${url}: redirect to unsupported '${next.protocol}'`));
            }
            stop();
            return this.once(master, next.href, consume, redirects + 1, discard, false, bound).then(resolve, reject);
          }
          if (status !== 200) return fail(this.statusError(url, status));
          // We never send Accept-Encoding, so an encoded body (mod_deflate, a proxy) is not the bytes to
          // install or print: refuse it rather than place compressed content under the object's name.
          const encoding = res.headers['content-encoding'];
          if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
            return fail(new WwError('WW_ENCODING', `${url}: unrequested Content-Encoding '${encoding}' (the master must send the bytes as they are)`));
          }
          consuming = true;
          res0 = res;
          consume({ master, url, status, headers: res.headers, body: res, progress }).then(
            async (result) => {
              if (lateError === undefined) return resolve(result);
              try {
                await discard?.(result);
              } finally {
                reject(lateError);
              }
            },
            (err) => {
              res.destroy();
              reject(lateError ?? (err instanceof WwError ? err : networkError(err, url)));
            },
          );
        },
      );
      req.setTimeout(this.opts.idleTimeoutMs, () => {
        req.destroy(new WwError('WW_TIMEOUT', `${url}: no data for ${this.opts.idleTimeoutMs / 1000} s`));
      });
      req.on('error', (err) => {
        const code = (err as NodeJS.ErrnoException).code ?? '';
        if (!consuming && req.reusedSocket && !staleRetried && (code === 'ECONNRESET' || code === 'EPIPE')) {
          // The master closed an idle keep-alive connection just as we reused it (Apache's
          // KeepAliveTimeout): not a failure of the master, so ask again at once on a fresh one.
          stop();
          return this.once(master, url, consume, redirects, discard, true, bound).then(resolve, reject);
        }
        if (!consuming) return reject(networkError(err, url));
        lateError ??= networkError(err, url);
        if (!res0?.complete) res0?.destroy(lateError);
      });
      const left = bound.end - this.now();
      // Beyond setTimeout's range (24.8 days) Node would fire at once; a bound that far is no bound.
      if (left < 2 ** 31 - 1) timers.push(setTimeout(() => abort(new WwError('WW_TIMEOUT', `${url}: ${bound.why}`)), Math.max(0, left)));
      if (bound.speed) {
        const { bytesPerSec, windowMs } = bound.speed;
        const started = this.now();
        const samples: [number, number][] = [[started, 0]];
        const tick = () => {
          const t = this.now();
          samples.push([t, progress.bytes]);
          // Keep the newest sample at least a window old: the bytes since then are the window's.
          while (samples.length > 1 && samples[1][0] <= t - windowMs) samples.shift();
          const [t0, b0] = samples[0];
          if (t - t0 >= windowMs && progress.bytes - b0 < (bytesPerSec * (t - t0)) / 1000) {
            abort(new WwError('WW_TIMEOUT', `${url}: answer slower than ${bytesPerSec} bytes/s over ${windowMs / 1000} s (dead, not slow)`));
          }
        };
        timers.push(setInterval(tick, Math.min(1000, windowMs / 4))); // clearTimeout clears an interval too
      }
      req.end();
    });
  }

  statusError(url: string, status: number): WwError {
    if (status === 403) {
      const hint = usesPrivilegedPort(this.opts.connect)
        ? 'this node is not allowed to fetch it (is the request coming from one of the node\'s addresses?)'
        : 'the master only serves privileged source ports: run as root (or use --source-port=privileged)';
      return new WwError('WW_HTTP_STATUS', `${url}: 403 Forbidden: ${hint}`, { status });
    }
    if (status === 404) return new WwError('WW_HTTP_STATUS', `${url}: 404 Not Found (unknown node, file object or VNFS)`, { status });
    if (status === 503) return new WwError('WW_HTTP_STATUS', `${url}: 503 Service Unavailable (master busy)`, { status, retry: true });
    if (status >= 500) return new WwError('WW_HTTP_STATUS', `${url}: HTTP ${status}`, { status, retry: true });
    return new WwError('WW_HTTP_STATUS', `${url}: HTTP ${status}`, { status });
  }

  close(): void {
    this.agents.http.destroy();
    this.agents.https?.destroy();
  }
}

/**
 * Calls onChunk for every body chunk (awaiting it, so a slow disk slows the
 * download instead of filling memory), then checks the body is complete:
 * Content-Length reached, or the final chunk of a chunked answer seen.
 */
export async function forEachChunk(
  res: MasterResponse,
  onChunk: (chunk: Buffer) => void | Promise<void>,
): Promise<number> {
  let received = 0;
  try {
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      if (res.progress) res.progress.bytes += (chunk as Buffer).length;
      try {
        await onChunk(chunk as Buffer);
      } catch (err) {
        // The consumer's own failure (a full disk, say) is local and definitive: not the network's.
        throw err instanceof WwError ? err : new WwError('WW_IO', describe(err), { cause: err });
      }
    }
  } catch (err) {
    if (err instanceof WwError) throw err;
    throw new WwError('WW_TRUNCATED', `${res.url}: connection lost after ${received} bytes (truncated answer)`, { cause: err });
  }
  const declared = res.headers['content-length'];
  if (!res.body.complete) {
    throw new WwError('WW_TRUNCATED', `${res.url}: truncated answer (${received} bytes${declared ? ` of ${declared}` : ''})`);
  }
  if (declared !== undefined && Number(declared) !== received) {
    throw new WwError('WW_TRUNCATED', `${res.url}: body is ${received} bytes, Content-Length said ${declared}`);
  }
  return received;
}

/** Reads a whole (bounded) body into memory; for lists, scripts and node configuration. */
export async function readBody(res: MasterResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  await forEachChunk(res, (c) => {
    size += c.length;
    if (size > limit) throw new WwError('WW_TOO_LARGE', `${res.url}: answer larger than ${limit} bytes`);
    chunks.push(c);
  });
  return Buffer.concat(chunks);
}

/**
 * The real master's /WW/file error paths print CGI headers into a 200 body
 * (PROTOCOL 2.7): `Content-Type: ...\r\nStatus: 404\r\n\r\n<html>...`. Returns
 * that embedded status, or null for an ordinary body.
 */
export function embeddedStatus(head: Buffer): number | null {
  // The master prints `Content-Type: ...` first; accept `Status: ...` first too, in case a
  // different mod_perl or CGI layer orders the headers the other way.
  const start = head.toString('latin1', 0, Math.min(head.length, 14)).toLowerCase();
  if (!start.startsWith('content-type: ') && !start.startsWith('status:')) return null;
  const text = head.toString('latin1', 0, Math.min(head.length, 1024));
  const end = text.search(/\r?\n\r?\n/);
  const headerBlock = end < 0 ? text : text.slice(0, end);
  // Every line of the block must look like a header, or this is ordinary content that happens to start alike.
  if (!headerBlock.split(/\r?\n/).every((l) => /^[A-Za-z][A-Za-z0-9-]*:/.test(l))) return null;
  const m = /(?:^|\n)Status:\s*(\d{3})/i.exec(headerBlock);
  return m ? Number(m[1]) : null;
}

export function embeddedStatusError(url: string, status: number): WwError {
  const what = status === 404 ? ' (unknown node or file object)' : status === 403 ? ' (node not allowed)' : '';
  return new WwError('WW_EMBEDDED_STATUS', `${url}: master answered with embedded error status ${status}${what}`, { status, retry: status >= 500 });
}
