// How many requests one node keeps in flight at its master: a window that adapts (issue 17). On a
// prefork master every open connection pins a worker, and a worker past the database's
// max_connections answers 500 (PROTOCOL 2.8), so the node starts with one request, adds one
// per window's worth of fast good answers (additive increase, up to --concurrency), and halves
// on a sign of overload: a 5xx (503 and 429 included), a timeout, a refused connection. Below one
// request the window becomes a pause between requests (a window of 1/4: one request, then three
// answer-times of quiet), during which the client holds no connection. Pure bookkeeping on a
// clock it is handed: the client does the waiting (net/client.ts).

/** What an answer says about the master's load. */
export type Verdict =
  /** A good answer (the time it took decides whether the window grows). */
  | 'ok'
  /** 5xx, 503, 429, a timeout, a refused or unreachable connection: the master is struggling. */
  | 'overload'
  /** Says nothing of load (a 404, a local failure, a cancelled request). */
  | 'neutral';

export interface PaceOptions {
  /** The most requests in flight (--concurrency). */
  ceiling: number;
  /** Where the window starts (default 1). */
  initial?: number;
}

/** The smallest window: one request, then fifteen answer-times of quiet (at most MAX_PAUSE_MS). */
export const MIN_WINDOW = 1 / 16;
export const MAX_PAUSE_MS = 15_000;
/**
 * An answer within FAST x the fastest one seen (plus SLACK_MS), and within FAST_MAX_MS, counts as
 * fast: the window may grow. The absolute bound is for a node that starts in a storm and so never
 * sees the master unloaded: a warm request takes 20-50 ms on an idle master (PROTOCOL 2.8), so an
 * answer slower than that bound says the master is queueing, whatever this node saw before.
 */
const FAST = 3;
export const FAST_MAX_MS = 200;
/** Slower than SLOW x the fastest: the master is queueing; the window eases back towards one. */
const SLOW = 6;
const SLACK_MS = 10;

/** One request's place in the window. */
export interface Ticket {
  startedAt: number;
}

export class Pace {
  readonly ceiling: number;
  /** Requests the master may have from this node at once; below 1, the fraction of time one is in flight. */
  window: number;
  inFlight = 0;
  /** The fastest good answer seen (ms): this master unloaded, as near as this node knows. */
  private fastestMs = Infinity;
  /** Smoothed time of good answers (ms), for the pause below a window of one. */
  private smoothMs = 0;
  /** When the window was last halved: answers to requests sent before it are the same overload. */
  private cutAt = -Infinity;
  /** No request starts before this (the pause of a window below one). */
  private notBefore = -Infinity;

  constructor(o: PaceOptions) {
    this.ceiling = Math.max(1, Math.floor(o.ceiling));
    this.window = Math.min(this.ceiling, Math.max(MIN_WINDOW, o.initial ?? 1));
  }

  /** Requests allowed in flight now. */
  get limit(): number {
    return Math.max(1, Math.floor(this.window));
  }

  /** 0: a request may start at `now`; > 0: ms until one may; -1: the window is full (wait for an answer). */
  waitMs(now: number): number {
    if (this.inFlight >= this.limit) return -1;
    return Math.max(0, this.notBefore - now);
  }

  /**
   * The master is struggling and one request is backing off until `until`: the node's other
   * requests wait too, rather than go on meeting the same failing workers meanwhile.
   */
  hold(until: number): void {
    this.notBefore = Math.max(this.notBefore, until);
  }

  /** A request starts (the caller checked waitMs). */
  start(now: number): Ticket {
    this.inFlight++;
    return { startedAt: now };
  }

  /** Its answer came (or failed) at `now`; returns the pause before the next request may start (ms). */
  finish(t: Ticket, verdict: Verdict, now: number): number {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const took = Math.max(0, now - t.startedAt);
    if (verdict === 'ok') {
      this.smoothMs = this.smoothMs === 0 ? took : 0.875 * this.smoothMs + 0.125 * took;
      this.fastestMs = Math.min(this.fastestMs, took);
      if (took <= Math.min(FAST * this.fastestMs + SLACK_MS, FAST_MAX_MS)) {
        // +1 per window's worth of answers above one; below one, +1/2 of itself per answer (doubling in ~2).
        this.window = Math.min(this.ceiling, this.window < 1 ? Math.min(1, this.window * 1.5) : this.window + 1 / this.window);
      } else if (took > SLOW * this.fastestMs + SLACK_MS && this.window > 1) {
        this.window = Math.max(1, this.window - 1 / this.window);
      }
    } else if (verdict === 'overload' && t.startedAt >= this.cutAt) {
      // Once per overload: the other requests already in flight when it was seen say the same.
      this.window = Math.max(MIN_WINDOW, this.window / 2);
      this.cutAt = now;
    }
    // An answer-time is the smoothed good one, or this one's up to a second (a timeout's is the bound, not the master's pace).
    const answerMs = Math.max(this.smoothMs, Math.min(took, 1000), SLACK_MS);
    const pause = this.window >= 1 ? 0 : Math.min(MAX_PAUSE_MS, Math.ceil(answerMs * (1 / this.window - 1)));
    this.notBefore = Math.max(this.notBefore, now + pause);
    return pause;
  }
}
