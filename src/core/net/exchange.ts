// One HTTP exchange with one master: the request, its redirects, its time bounds (idle socket,
// --max-time or --max-run, the image's rate), the retry of a stale keep-alive connection, and
// what an answer's status and headers mean. Which master to ask, and when to ask again, is the
// client's (net/client.ts); whether the body is complete is net/body.ts's.
import http from 'node:http';
import { usesPrivilegedPort, type ConnectOptions } from './socket.ts';
import { isCertificateError } from './tls.ts';
import { WwError, describe } from '../errors.ts';
import type { MasterAddress } from '../settings/masters.ts';

/** What `consume` is handed: a 200 answer whose body it must read whole (net/body.ts). */
export interface MasterResponse {
  master: MasterAddress;
  url: string;
  status: number;
  headers: http.IncomingHttpHeaders;
  body: http.IncomingMessage;
  /** Body bytes taken so far (forEachChunk counts them), for the rate bound. */
  progress?: { bytes: number };
}

/** A transfer slower than bytesPerSec, averaged over windowMs, is dead, not slow (curl's --speed-limit/--speed-time). */
export interface SpeedLimit {
  bytesPerSec: number;
  windowMs: number;
}

/** The time bounds of one exchange, redirects included. */
export interface ExchangeBound {
  /** When the exchange must have its whole answer (ms, on the client's clock); Infinity: no bound. */
  end: number;
  /** What reaching `end` means, for the error. */
  why: string;
  speed?: SpeedLimit;
}

/** What is the same for every exchange of one client. */
export interface ExchangeSettings {
  agent: (secure: boolean) => http.Agent;
  /** How requests leave (the 403 hint depends on the source port). */
  connect: ConnectOptions;
  /** A socket silent for this long (waiting for headers or mid-body) is abandoned. */
  idleTimeoutMs: number;
  maxRedirects: number;
  userAgent: string;
  now: () => number;
  /** Called for every request sent: redirects and a stale connection's retry count too. */
  sent: () => void;
}

export interface ExchangeRequest<T> {
  master: MasterAddress;
  url: string;
  consume: (res: MasterResponse) => Promise<T>;
  /** Undoes a result that arrived from a failed exchange (e.g. removes a downloaded temporary file). */
  discard?: (result: T) => void | Promise<void>;
  bound: ExchangeBound;
}

interface Attempt<T> extends ExchangeRequest<T> {
  /** Redirects followed so far. */
  redirects: number;
  /** Whether this is already the fresh connection's try after a stale keep-alive one. */
  staleRetried: boolean;
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'HPE_INVALID_CONSTANT',
]);

/** Maps a socket/parser error to a WwError naming the master. */
export function networkError(err: unknown, url: string): WwError {
  if (err instanceof WwError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e?.code ?? '';
  const what = code === 'ECONNREFUSED' ? 'connection refused' : describe(err);
  // Network trouble is worth another round; only a TLS certificate problem will not fix itself.
  const permanent = !TRANSIENT_CODES.has(code) && isCertificateError(code);
  return new WwError(permanent ? 'WW_TLS' : 'WW_NETWORK', `${url}: ${what}`, { cause: err, retry: !permanent });
}

/** Retry-After (RFC 9110 10.2.3): delay-seconds or an HTTP-date, as ms from `now`; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now: number): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d{1,10}$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) || !/[a-z]/i.test(v) ? undefined : Math.max(0, at - now);
}

/** What a status other than 200 (and other than a redirect) means, in one line. */
export function statusError(url: string, status: number, connect: ConnectOptions, retryAfterMs?: number): WwError {
  if (status === 403) {
    const hint = usesPrivilegedPort(connect)
      ? "this node is not allowed to fetch it (is the request coming from one of the node's addresses?)"
      : 'the master only serves privileged source ports: run as root (or use --source-port=privileged)';
    return new WwError('WW_HTTP_STATUS', `${url}: 403 Forbidden: ${hint}`, { status });
  }
  if (status === 404) return new WwError('WW_HTTP_STATUS', `${url}: 404 Not Found (unknown node, file object or VNFS)`, { status });
  const after = retryAfterMs === undefined ? '' : `, retry after ${Math.round(retryAfterMs / 1000)} s`;
  if (status === 503) {
    return new WwError('WW_HTTP_STATUS', `${url}: 503 Service Unavailable (master busy${after})`, { status, retry: true, retryAfterMs });
  }
  if (status === 429) {
    return new WwError('WW_HTTP_STATUS', `${url}: 429 Too Many Requests (master busy${after})`, { status, retry: true, retryAfterMs });
  }
  if (status >= 500) return new WwError('WW_HTTP_STATUS', `${url}: HTTP ${status}`, { status, retry: true });
  return new WwError('WW_HTTP_STATUS', `${url}: HTTP ${status}`, { status });
}

/**
 * GETs r.url and runs r.consume on the 200 answer; settles once consume has, and fails when the
 * answer, or anything after it on the connection, was not a complete one.
 */
export function exchange<T>(s: ExchangeSettings, r: ExchangeRequest<T>): Promise<T> {
  return attempt(s, { ...r, redirects: 0, staleRetried: false });
}

function attempt<T>(s: ExchangeSettings, a: Attempt<T>): Promise<T> {
  const { url, consume, discard, bound } = a;
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
    s.sent();
    const req = http.request(
      {
        protocol: u.protocol,
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: u.port || (secure ? 443 : 80),
        path: u.pathname + u.search,
        method: 'GET',
        agent: s.agent(secure),
        headers: { 'User-Agent': s.userAgent, Accept: '*/*' },
      },
      (res) => {
        const status = res.statusCode ?? 0;
        const fail = (e: WwError) => {
          res.resume(); // drain so the connection can be reused
          reject(e);
        };
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          const max = s.maxRedirects;
          if (a.redirects >= max) return reject(new WwError('WW_REDIRECT', `${url}: more than ${max} redirects`));
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
          return attempt(s, { ...a, url: next.href, redirects: a.redirects + 1, staleRetried: false }).then(resolve, reject);
        }
        if (status !== 200) {
          const after = status === 503 || status === 429 ? parseRetryAfter(res.headers['retry-after'], Date.now()) : undefined;
          return fail(statusError(url, status, s.connect, after));
        }
        // We never send Accept-Encoding, so an encoded body (mod_deflate, a proxy) is not the bytes to
        // install or print: refuse it rather than place compressed content under the object's name.
        const encoding = res.headers['content-encoding'];
        if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
          return fail(
            new WwError('WW_ENCODING', `${url}: unrequested Content-Encoding '${encoding}' (the master must send the bytes as they are)`),
          );
        }
        consuming = true;
        res0 = res;
        consume({ master: a.master, url, status, headers: res.headers, body: res, progress }).then(
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
            reject(lateError ?? networkError(err, url));
          },
        );
      },
    );
    req.setTimeout(s.idleTimeoutMs, () => {
      req.destroy(new WwError('WW_TIMEOUT', `${url}: no data for ${s.idleTimeoutMs / 1000} s`));
    });
    req.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (!consuming && req.reusedSocket && !a.staleRetried && (code === 'ECONNRESET' || code === 'EPIPE')) {
        // The master closed an idle keep-alive connection just as we reused it (Apache's
        // KeepAliveTimeout): not a failure of the master, so ask again at once on a fresh one.
        stop();
        return attempt(s, { ...a, staleRetried: true }).then(resolve, reject);
      }
      if (!consuming) return reject(networkError(err, url));
      lateError ??= networkError(err, url);
      if (!res0?.complete) res0?.destroy(lateError);
    });
    const left = bound.end - s.now();
    // Beyond setTimeout's range (24.8 days) Node would fire at once; a bound that far is no bound.
    if (left < 2 ** 31 - 1) timers.push(setTimeout(() => abort(new WwError('WW_TIMEOUT', `${url}: ${bound.why}`)), Math.max(0, left)));
    if (bound.speed) {
      const { bytesPerSec, windowMs } = bound.speed;
      const started = s.now();
      const samples: [number, number][] = [[started, 0]];
      const tick = () => {
        const t = s.now();
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
