// The adaptive window (src/core/net/pace.ts), on a clock the test moves: no timers, no flakiness.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FAST_MAX_MS, MAX_PAUSE_MS, MIN_WINDOW, Pace, SLOW_MIN_MS, STRIKE_DECAY } from '../../src/core/net/pace.ts';
import { backoffMs, MAX_STEP_MS } from '../../src/core/net/client.ts';
import { parseRetryAfter } from '../../src/core/net/exchange.ts';

/** One request at `at` answered after `took` ms with `verdict`; returns the pause it asked for. */
function answer(p: Pace, at: number, took: number, verdict: 'ok' | 'overload' | 'neutral' = 'ok'): number {
  assert.ok(p.waitMs(at) >= 0, 'the window had room');
  return p.finish(p.start(at), verdict, at + took);
}

test('starts at one request and grows by one per window of fast answers, up to the ceiling', () => {
  const p = new Pace({ ceiling: 4 });
  assert.is(p.limit, 1);
  p.start(0);
  assert.is(p.waitMs(0), -1, 'a second request waits while the first is in flight');
  const seen: number[] = [];
  let t = 0;
  p.finish({ startedAt: 0 }, 'ok', 20);
  for (let i = 0; i < 12; i++, t += 20) {
    answer(p, t, 20);
    seen.push(p.limit);
  }
  assert.is(seen[0], 2, 'one fast answer at a window of one: two');
  assert.ok(seen.indexOf(3) > seen.indexOf(2) + 1, 'two (not one) answers at a window of two: three');
  assert.is(p.limit, 4, 'reaches the ceiling');
  for (let i = 0; i < 20; i++) answer(p, 1000 + i, 20);
  assert.is(p.window, 4, 'never beyond the ceiling');
});

test('slow answers do not grow it; much slower ones ease it back to one', () => {
  const p = new Pace({ ceiling: 8, initial: 4 });
  answer(p, 0, 20); // the fastest: 20 ms
  const w = p.window;
  answer(p, 100, 90); // between 3x+10 and 6x+10: neither
  assert.is(p.window, w);
  for (let i = 0; i < 20; i++) answer(p, 200 + i * 200, 150); // > 4x: queueing at the master
  assert.is(p.window, 1, 'down to one request, not below: slowness alone is no failure');
  assert.is(answer(p, 10_000, 150), 0, 'no pause at a window of one');
});

test('a node that never saw the master unloaded: answers slower than FAST_MAX_MS never grow the window', () => {
  const p = new Pace({ ceiling: 4 });
  for (let i = 0; i < 50; i++) answer(p, i * 1000, 600 + (i % 3) * 50); // a storm: 600-700 ms each, its "fastest" 600
  assert.is(p.window, 1, 'one request at a time while the master is this slow');
  for (let i = 0; i < 3; i++) answer(p, 100_000 + i * 100, FAST_MAX_MS - 20); // it recovers
  assert.is(p.limit, 2, 'a fast answer at last: it grows');
});

test('halves on overload, once per overload however many requests in flight saw it', () => {
  const p = new Pace({ ceiling: 8, initial: 8 });
  const tickets = [0, 1, 2, 3].map((i) => p.start(i));
  p.finish(tickets[0], 'overload', 10);
  assert.is(p.window, 4);
  for (const t of tickets.slice(1)) p.finish(t, 'overload', 11);
  assert.is(p.window, 4, 'the three others sent before the cut are the same overload');
  answer(p, 20, 5, 'overload');
  assert.is(p.window, 2, 'a request sent after the cut: a new overload');
  answer(p, 40, 5, 'neutral');
  assert.is(p.window, 2, 'a 404 says nothing of load');
});

test('below one request: pauses of (1/window - 1) answer-times, no request in between, back up on fast answers', () => {
  const p = new Pace({ ceiling: 4 });
  answer(p, 0, 40); // smoothed time 40 ms; window 2
  answer(p, 100, 5, 'overload'); // 1
  let pause = answer(p, 200, 5, 'overload'); // 1/2: pause one answer-time (the smoothed 40 ms)
  assert.is(p.window, 0.5);
  assert.is(pause, 40);
  assert.is(p.waitMs(225), 20, 'the next request waits out the pause (from the answer at 205)');
  assert.is(p.waitMs(245), 0);
  for (let i = 0; i < 10; i++) pause = answer(p, 1000 * (i + 1), 5, 'overload');
  assert.is(p.window, MIN_WINDOW, 'bounded below');
  assert.is(pause, 40 * 15, 'one request in sixteen answer-times');
  const q = new Pace({ ceiling: 4, initial: MIN_WINDOW });
  assert.is(answer(q, 0, 120_000, 'overload'), MAX_PAUSE_MS, 'a timeout counts as a second, and no pause is longer than 15 s');
  let t = 20_000;
  let n = 0;
  while (p.window < 1) {
    t += answer(p, t, 40) + 40;
    n++;
  }
  assert.ok(n >= 4 && n <= 8, `back to one request after ${n} good answers (x1.5 each)`);
});

test('answers slow to begin cut it below one request, a quarter at a time, once per cut', () => {
  const p = new Pace({ ceiling: 4 });
  answer(p, 0, 30); // the fastest: 30 ms
  const w = p.window;
  answer(p, 100, SLOW_MIN_MS - 10); // slower than 6x the fastest, but not slower than SLOW_MIN_MS
  assert.is(p.limit, 1, 'eased back to one request');
  assert.ok(p.window >= 1, `not below one for a 240 ms answer (window ${p.window}, was ${w})`);
  answer(p, 1000, 2000); // a storm's answer: two seconds before the head came
  assert.is(p.window, 1, 'above one: eased back to one first');
  answer(p, 10_000, 2000);
  assert.is(p.window, 0.75, 'then cut below it');
  // Two requests sent before that cut, answered after it: the same queue, no second cut.
  const q = new Pace({ ceiling: 4, initial: 2 });
  answer(q, 0, 20);
  q.window = 1;
  const a = q.start(100);
  q.finish(a, 'ok', 2100);
  assert.is(q.window, 0.75);
  const b = { startedAt: 150 };
  q.inFlight++;
  q.finish(b, 'ok', 2200);
  assert.is(q.window, 0.75, 'sent before the cut: not cut again');
  for (let i = 0; i < 40; i++) answer(q, 10_000 + i * 20_000, 3000);
  assert.is(q.window, MIN_WINDOW, 'bounded below');
});

test("a good answer's time is when its head came, not how long its body took", () => {
  const p = new Pace({ ceiling: 4 });
  answer(p, 0, 20);
  const t = p.start(100);
  t.answeredAt = 120; // the head after 20 ms, then a large file for 5 s
  p.finish(t, 'ok', 5120);
  assert.ok(p.window > 1, `a big file is no sign of load (window ${p.window})`);
  const u = p.start(6000);
  p.finish(u, 'overload', 6010);
  assert.ok(p.window < 2, 'a failure is timed to its end');
});

test('overloads are strikes, and good answers wear them off', () => {
  const p = new Pace({ ceiling: 4 });
  for (let i = 1; i <= 3; i++) {
    answer(p, i * 1000, 5, 'overload');
    assert.is(p.strikes, i);
  }
  const tickets = [p.start(10_000), p.start(10_001)];
  p.finish(tickets[0], 'overload', 10_010);
  p.finish(tickets[1], 'overload', 10_011);
  assert.is(p.strikes, 4, 'requests in flight at one overload are one strike');
  for (let i = 0; i < STRIKE_DECAY; i++) answer(p, 20_000 + i * 100, 20);
  assert.is(p.strikes, 3, `one strike off per ${STRIKE_DECAY} good answers`);
  for (let i = 0; i < 100; i++) answer(p, 30_000 + i * 100, 20);
  assert.is(p.strikes, 0);
  answer(p, 50_000, 5, 'neutral');
  assert.is(p.strikes, 0, 'a 404 is no strike');
});

test('back-off: strikes double the step beyond the first, whichever request met them', () => {
  const b = (strikes: number, round = 1) => backoffMs({ stepMs: 2000, round, random: () => 0.5, strikes, overloadStepMs: 2000 });
  assert.is(b(0), 2000);
  assert.is(b(1), 2000, 'a first strike: upstream step');
  assert.is(b(2), 4000);
  assert.is(b(3), 8000);
  assert.is(b(5), 32_000);
  assert.is(b(8), MAX_STEP_MS, 'capped as ever');
  assert.is(b(2, 5), 10_000, "the request's own rounds when they are more");
  assert.is(backoffMs({ stepMs: 2000, round: 1, random: () => 0, strikes: 3, overloadStepMs: 2000 }), 4000, 'still jittered');
  assert.is(backoffMs({ stepMs: 2000, round: 3, random: () => 0.5, strikes: 3 }), 6000, 'a master that does not answer: upstream steps');
  const o = (strikes: number, round = 1) => backoffMs({ stepMs: 2000, round, random: () => 0.5, strikes, overloadStepMs: 15_000 });
  assert.is(o(1), 15_000, "the master said it is overloaded: its surplus workers' time, not 2 s");
  assert.is(o(2), 30_000);
  assert.is(o(3), MAX_STEP_MS);
  assert.is(o(0, 2), 4000, 'no strike: the round step');
  assert.is(
    backoffMs({ stepMs: 2000, round: 1, random: () => 0, strikes: 3, overloadStepMs: 15_000, retryAfterMs: 4000 }),
    4000,
    "a Retry-After is the master's word: it replaces the strikes' step",
  );
  assert.is(backoffMs({ stepMs: 0, round: 1, random: () => 0.5, strikes: 3, overloadStepMs: 0 }), 0, 'WWDEBUG: no back-off at all');
});

test('back-off: upstream steps spread 0.5x-1.5x, capped, and never before Retry-After', () => {
  assert.is(backoffMs({ stepMs: 2000, round: 3, random: () => 0.5 }), 6000);
  assert.is(backoffMs({ stepMs: 2000, round: 3, random: () => 0 }), 3000);
  assert.is(backoffMs({ stepMs: 2000, round: 3, random: () => 0.999 }), 8994);
  assert.is(
    backoffMs({ stepMs: 2000, round: 1000, random: () => 0.5 }),
    MAX_STEP_MS,
    'the initramfs never waits longer than upstream does at most',
  );
  const spread = new Set(Array.from({ length: 100 }, (_, i) => backoffMs({ stepMs: 2000, round: 1, random: () => i / 100 })));
  assert.ok(spread.size > 90, 'a thousand nodes do not come back at the same millisecond');
  assert.is(backoffMs({ stepMs: 2000, round: 1, random: () => 0, retryAfterMs: 30_000 }), 30_000);
  assert.is(backoffMs({ stepMs: 2000, round: 1, random: () => 0.999, retryAfterMs: 30_000 }), 37_493);
  assert.is(backoffMs({ stepMs: 0, round: 1, random: () => 0.5, retryAfterMs: 3_600_000 }), 675_000, 'Retry-After obeyed up to 10 min');
});

test('Retry-After: seconds or an HTTP-date; anything else ignored', () => {
  const now = Date.parse('Wed, 02 Dec 2026 03:00:00 GMT');
  assert.is(parseRetryAfter('30', now), 30_000);
  assert.is(parseRetryAfter(' 030 ', now), 30_000);
  assert.is(parseRetryAfter('Wed, 02 Dec 2026 03:01:00 GMT', now), 60_000);
  assert.is(parseRetryAfter('Wed, 02 Dec 2026 02:00:00 GMT', now), 0, 'a date past: at once');
  for (const bad of [undefined, '', '-5', '1e3', '0x10', 'soon', '12345678901'])
    assert.is(parseRetryAfter(bad, now), undefined, String(bad));
});

test.run();
