// How many requests one node keeps in flight at its master: a window that adapts (issue 17). On a
// prefork master every open connection pins a worker, and a worker past the database's
// max_connections answers 500 (PROTOCOL 2.8), so the node starts with one request, adds one
// per window's worth of fast good answers (additive increase, up to --concurrency), and halves
// on a sign of overload: a 5xx (503 and 429 included), a timeout, a refused connection. Below one
// request the window becomes a pause between requests (a window of 1/4: one request, then three
// answer-times of quiet), during which the client holds no connection. Slow answers shrink it
// too, below one as well (a quarter per slow answer): in a storm every node holding one request
// in flight is still more requests than a prefork master has database connections, and the
// surplus children answer 500 to whoever reaches them; answers slow to start are the queue that
// comes before those 500s. Each overload is also a strike, and strikes escalate the back-off
// across requests (net/client.ts), decaying with good answers. Pure bookkeeping on a clock it is
// handed: the client does the waiting.

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
 * answer slower than that bound says the master is queueing, whatever this node saw before. (At
 * 200 ms, 100 nodes booting at once on the storm rig grew past one request each and held more
 * prefork workers than upstream's loop: 136 against 107; at 80 ms, 104. The time is the answer's
 * head, not its body: a large file is no sign of load.)
 */
const FAST = 3;
export const FAST_MAX_MS = 80;
/**
 * Slower than SLOW x the fastest: the master is queueing; the window eases back towards one, and
 * below it (by SLOW_CUT) when the answer is also slower than SLOW_MIN_MS, so that a node that only
 * ever saw a loaded master, or a master whose every answer is slow to start, is not cut for it.
 */
const SLOW = 6;
export const SLOW_MIN_MS = 250;
const SLOW_CUT = 0.75;
const SLACK_MS = 10;
/** Good answers that take one strike away. */
export const STRIKE_DECAY = 4;
/** Strikes are counted up to this (the back-off's escalation stops there anyway). */
const MAX_STRIKES = 8;

/** One request's place in the window. */
export interface Ticket {
  startedAt: number;
  /** When its answer's head arrived (a good answer's time is the master's, not the body's transfer). */
  answeredAt?: number;
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
  /** Overloads seen lately (net/client.ts escalates the back-off by them); good answers wear them off. */
  strikes = 0;

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
    const took = Math.max(0, (verdict === 'ok' ? (t.answeredAt ?? now) : now) - t.startedAt);
    if (verdict === 'ok') {
      this.smoothMs = this.smoothMs === 0 ? took : 0.875 * this.smoothMs + 0.125 * took;
      this.fastestMs = Math.min(this.fastestMs, took);
      this.strikes = Math.max(0, this.strikes - 1 / STRIKE_DECAY);
      const slow = took > SLOW * this.fastestMs + SLACK_MS;
      if (took <= Math.min(FAST * this.fastestMs + SLACK_MS, FAST_MAX_MS)) {
        // +1 per window's worth of answers above one; below one, +1/2 of itself per answer (doubling in ~2).
        this.window = Math.min(this.ceiling, this.window < 1 ? Math.min(1, this.window * 1.5) : this.window + 1 / this.window);
      } else if (slow && this.window > 1) {
        this.window = Math.max(1, this.window - 1 / this.window);
      } else if (slow && took > SLOW_MIN_MS && t.startedAt >= this.cutAt) {
        // Once per cut, as for an overload: the answers already queued with it say the same.
        this.window = Math.max(MIN_WINDOW, this.window * SLOW_CUT);
        this.cutAt = now;
      }
    } else if (verdict === 'overload' && t.startedAt >= this.cutAt) {
      // Once per overload: the other requests already in flight when it was seen say the same.
      this.window = Math.max(MIN_WINDOW, this.window / 2);
      this.cutAt = now;
      this.strikes = Math.min(MAX_STRIKES, Math.floor(this.strikes) + 1);
    }
    // An answer-time is the smoothed good one, or this one's up to a second (a timeout's is the bound, not the master's pace).
    const answerMs = Math.max(this.smoothMs, Math.min(took, 1000), SLACK_MS);
    const pause = this.window >= 1 ? 0 : Math.min(MAX_PAUSE_MS, Math.ceil(answerMs * (1 / this.window - 1)));
    this.notBefore = Math.max(this.notBefore, now + pause);
    return pause;
  }
}
