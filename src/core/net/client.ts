// The master client: GETs against /WW/* on each master in WWMASTER order, with the upstream
// back-off between rounds (jittered, Retry-After honoured) and the run's --max-run deadline over
// all of it, and at most as many requests in flight at a master as its pace allows (net/pace.ts).
// One exchange with one master (redirects, timers, status) is net/exchange.ts's; the body's
// completeness is net/body.ts's.
import type http from 'node:http';
import { createAgent, type ConnectOptions } from './socket.ts';
import { Pace, type Ticket, type Verdict } from './pace.ts';
import { exchange, networkError, type ExchangeBound, type ExchangeSettings, type MasterResponse, type SpeedLimit } from './exchange.ts';
import { WwError, isRetryable, type ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { MasterAddress } from '../settings/masters.ts';

export interface RetryPolicy {
  /** Rounds over all masters before giving up (upstream: 30). */
  attempts: number;
  /** Sleep after round n is n * stepMs (upstream: 2 s, 4 s, 6 s, ...). */
  stepMs: number;
  /**
   * The first step after the master answered that it is overloaded (a 5xx, 429): a prefork
   * master's surplus workers, those past the database's max_connections, live until Apache
   * retires them, one a second, so a node that comes back within seconds meets them again.
   */
  overloadStepMs?: number;
  /** Upper bound on the total time spent sleeping between rounds. */
  maxWaitMs?: number;
  /**
   * The initramfs: a round in which a master answered at all (an HTTP error status, a cut answer)
   * does not count towards `attempts`, so the node never gives up on a master that is only busy;
   * only rounds no master answered do. --max-run still ends it.
   */
  whileAnswering?: boolean;
}

export const UPSTREAM_RETRY: RetryPolicy = { attempts: 30, stepMs: 2000, overloadStepMs: 15_000 };
/** WWDEBUG: fail fast while an admin watches. */
export const DEBUG_RETRY: RetryPolicy = { attempts: 3, stepMs: 0, overloadStepMs: 0 };

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
  /** The back-off between rounds. */
  sleep?: (ms: number) => Promise<void>;
  /** The pace's pauses between requests (a window below one), on `now`'s clock. */
  pause?: (ms: number) => Promise<void>;
  /** 0 <= x < 1: the back-off's jitter. */
  random?: () => number;
  /** --concurrency: the ceiling of each master's window, and of connections per master (keep-alive). */
  maxSockets?: number;
  maxRedirects?: number;
  userAgent?: string;
}

const RUN_LIMIT = 'run time limit (--max-run) reached';

/** Failures of this node, not of the master or the network, raised by consume. */
const LOCAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['WW_IO', 'WW_NO_SPACE']);

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The longest back-off step (upstream's 30th round: 60 s), and the longest Retry-After obeyed. */
export const MAX_STEP_MS = 60_000;
export const MAX_RETRY_AFTER_MS = 600_000;

/** What a failed request says of the master's load (net/pace.ts). */
export function verdictOf(e: WwError): Verdict {
  if (e.status !== undefined) return e.status >= 500 || e.status === 429 ? 'overload' : 'neutral';
  if (e.code === 'WW_TIMEOUT' || e.code === 'WW_CONNECT_TIMEOUT' || e.code === 'WW_NETWORK') return 'overload';
  return 'neutral';
}

/** The master answered that it is overloaded (not a timeout or a refused connection). */
const answeredOverload = (e: WwError) => e.status !== undefined && verdictOf(e) === 'overload';

/** Whether the master answered at all (an HTTP status, or part of an answer). */
const answered = (e: WwError) => e.status !== undefined || e.code === 'WW_TRUNCATED';

/**
 * The sleep after round `round`: upstream's 2 s, 4 s, 6 s, ... (at most MAX_STEP_MS), spread over
 * 0.5x-1.5x so a thousand nodes that failed together do not come back together; never shorter than
 * the master's Retry-After (plus up to a quarter more, for the same reason). `strikes`, the
 * master's recent overloads (net/pace.ts), whichever request met them, start the step at
 * `overloadStepMs` when the master answered that it is overloaded (a 5xx, a 429), and double it
 * for each strike beyond the first: in a storm each file's first 500 would otherwise start again
 * at 2 s, and the node would meet the master's surplus workers every few seconds all storm long.
 * A master that does not answer (refused, silent) keeps upstream's steps; a Retry-After replaces
 * the strikes' step.
 */
export function backoffMs(o: {
  stepMs: number;
  round: number;
  random: () => number;
  retryAfterMs?: number;
  strikes?: number;
  overloadStepMs?: number;
}): number {
  // A Retry-After is the master's own word on when to come back: it replaces the strikes' guess.
  // (pace.ts caps strikes at 8; MAX_STEP_MS caps the product.)
  const strikes = o.strikes ?? 0;
  const strikeStep =
    strikes > 0 && o.overloadStepMs !== undefined && o.retryAfterMs === undefined ? o.overloadStepMs * 2 ** (strikes - 1) : 0;
  const step = Math.min(Math.max(o.stepMs * o.round, strikeStep), MAX_STEP_MS) * (0.5 + o.random());
  const after = o.retryAfterMs === undefined ? 0 : Math.min(o.retryAfterMs, MAX_RETRY_AFTER_MS) * (1 + 0.25 * o.random());
  return Math.round(Math.max(step, after));
}

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
  private readonly pause: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  /** Each master's window (by label), made at its first request. */
  private readonly paces = new Map<string, Pace>();
  /** Wakes the requests waiting for a place in a full window. */
  private waiting: (() => void)[] = [];
  private readonly ceiling: number;
  /** What every exchange of this client shares. */
  private readonly exchangeSettings: ExchangeSettings;
  /** Requests sent, for summaries and benchmarks. */
  requests = 0;
  /** The master whose answer was used last (its label), for the run's record; null before any. */
  answered: string | null = null;

  constructor(opts: MasterClientOptions) {
    this.opts = opts;
    const maxSockets = opts.maxSockets ?? 4;
    this.ceiling = maxSockets;
    // The https agent only when first needed: it loads node:https and node:tls (net/tls.ts).
    this.agents = { http: createAgent(opts.connect, { secure: false, maxSockets }) };
    this.order = [...opts.masters];
    this.sleep = opts.sleep ?? defaultSleep;
    this.pause = opts.pause ?? defaultSleep;
    this.random = opts.random ?? Math.random;
    this.now = opts.now ?? Date.now;
    this.exchangeSettings = {
      agent: (secure: boolean) =>
        secure ? (this.agents.https ??= createAgent(opts.connect, { secure: true, maxSockets })) : this.agents.http,
      connect: opts.connect,
      idleTimeoutMs: opts.idleTimeoutMs,
      maxRedirects: opts.maxRedirects ?? 5,
      userAgent: opts.userAgent ?? 'wwruntime',
      now: this.now,
      sent: () => void this.requests++,
    };
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
    let counted = 0;
    for (let round = 1; ; round++) {
      const failures: WwError[] = [];
      const overloaded: Pace[] = [];
      for (const master of [...this.order]) {
        const pace = this.paceOf(master);
        // A request back from its own back-off has waited its due: the hold it set is for the others.
        const ticket = await this.place(pace, round > 1);
        if (deadline !== undefined && this.now() >= deadline) {
          this.done(pace, ticket, 'neutral');
          const last = failures[failures.length - 1];
          const tried = round - (last ? 0 : 1);
          throw new WwError(
            'WW_RUN_LIMIT',
            `${RUN_LIMIT} ${tried ? `after ${tried} attempt(s)` : 'before this request was sent'}${last ? `: ${last.message}` : ''}`,
          );
        }
        const url = this.url(master, path, query);
        // The pace judges the master by when its answer began, not by how long the body took.
        const timed = (res: MasterResponse) => {
          ticket.answeredAt = this.now();
          return consume(res);
        };
        try {
          const result = await exchange(this.exchangeSettings, { master, url, consume: timed, discard, bound: this.bound(limits) });
          this.done(pace, ticket, 'ok');
          // Stay with the master that answered: the file list and its contents should come from one place.
          this.order = [master, ...this.order.filter((m) => m !== master)];
          this.answered = master.label;
          return result;
        } catch (err) {
          const e = networkError(err, url);
          const verdict = verdictOf(e);
          this.done(pace, ticket, verdict);
          if (verdict === 'overload') overloaded.push(pace);
          // This node's own failure (a full disk, an I/O error) while consuming: another master's
          // answer would be written to the same disk, so the request ends here, not at the round's end.
          if (LOCAL_CODES.has(e.code)) throw e;
          failures.push(e);
          log.debug(`master ${master.label}: ${e.message}`);
        }
      }
      // A definitive answer (4xx, hostile content) will not change by waiting.
      const definitive = failures.find((f) => !isRetryable(f));
      if (definitive) throw definitive;
      const last = failures[failures.length - 1];
      if (!retry.whileAnswering || !failures.some(answered)) counted++;
      const retryAfter = failures.map((f) => f.retryAfterMs).filter((v) => v !== undefined);
      const delay = backoffMs({
        stepMs: retry.stepMs,
        round,
        random: this.random,
        retryAfterMs: retryAfter.length ? Math.max(...retryAfter) : undefined,
        strikes: Math.max(0, ...overloaded.map((p) => p.strikes)),
        overloadStepMs: failures.some(answeredOverload) ? retry.overloadStepMs : undefined,
      });
      if (counted >= attempts || (retry.maxWaitMs !== undefined && waited + delay > retry.maxWaitMs)) {
        throw new WwError('WW_GAVE_UP', `gave up after ${round} attempt(s): ${last.message}`, { cause: last });
      }
      // A sleep that would end past the run's deadline is not worth starting.
      if (deadline !== undefined && this.now() + delay >= deadline) {
        throw new WwError('WW_RUN_LIMIT', `${RUN_LIMIT} after ${round} attempt(s): ${last.message}`, { cause: last });
      }
      const of = retry.whileAnswering ? `${attempts - counted} unanswered round(s) left` : `attempt ${round + 1} of ${attempts}`;
      log.warn(`${last.message}; retrying in ${(delay / 1000).toFixed(1).replace(/\.0$/, '')} s (${of})`);
      waited += delay;
      // The whole node waits with this request when the master is overloaded (not for a 404-like answer).
      for (const p of overloaded) p.hold(this.now() + delay);
      // No connection held through the sleep: on a prefork master an idle one pins a worker.
      this.dropIdle();
      await this.sleep(delay);
    }
  }

  private paceOf(master: MasterAddress): Pace {
    let p = this.paces.get(master.label);
    if (!p) this.paces.set(master.label, (p = new Pace({ ceiling: this.ceiling })));
    return p;
  }

  /** Waits for a place in the master's window (and its pause, below one), and takes it. */
  private async place(pace: Pace, waited = false): Promise<Ticket> {
    for (;;) {
      const wait = pace.waitMs(this.now());
      if (wait === 0 || (wait > 0 && waited)) return pace.start(this.now());
      if (wait < 0) {
        await new Promise<void>((r) => this.waiting.push(r));
        continue;
      }
      this.dropIdle();
      await this.pause(wait);
      // Once: a pause on another clock than `now`'s must not spin.
      if (pace.waitMs(this.now()) >= 0) return pace.start(this.now());
    }
  }

  private done(pace: Pace, ticket: Ticket, verdict: Verdict): void {
    const before = pace.limit;
    pace.finish(ticket, verdict, this.now());
    // A smaller window needs fewer connections: close the idle ones now rather than let them pin workers.
    if (pace.limit < before) this.dropIdle();
    const w = this.waiting;
    this.waiting = [];
    for (const wake of w) wake();
  }

  /** Closes every idle keep-alive connection (those in use finish their request). */
  dropIdle(): void {
    for (const agent of [this.agents.http, this.agents.https]) {
      for (const list of Object.values(agent?.freeSockets ?? {})) for (const sock of [...(list ?? [])]) sock.destroy();
    }
  }

  /** The window of each master asked so far, for summaries and benchmarks. */
  windows(): Record<string, number> {
    return Object.fromEntries([...this.paces].map(([k, p]) => [k, p.window]));
  }

  /** The time bounds of one attempt (redirects included), from the client's options and the request's limits. */
  private bound(limits: RequestLimits): ExchangeBound {
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

  close(): void {
    this.agents.http.destroy();
    this.agents.https?.destroy();
  }
}
