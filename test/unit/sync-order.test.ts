import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { inListOrder } from '../../src/core/files/order.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs inListOrder over n items with the given fetch delays, recording what happened. */
async function trace(n: number, limit: number, window: number, delay: (i: number) => number, later = (_i: number, _done: number) => false) {
  const applied: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let maxAhead = 0;
  const fetched: number[] = [];
  await inListOrder(
    Array.from({ length: n }, (_, i) => i),
    limit,
    window,
    async (i) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      maxAhead = Math.max(maxAhead, i - applied.length);
      await tick(delay(i));
      inFlight--;
      if (later(i, applied.length)) return null;
      fetched.push(i);
      return `content ${i}`;
    },
    async (i, ahead) => {
      assert.ok(ahead === null || ahead === `content ${i}`, 'its own fetch result');
      await tick(1);
      applied.push(i);
    },
  );
  return { applied, maxInFlight, maxAhead, fetched };
}

test('applies in list order while fetches overlap, within the limit and the window', async () => {
  // The first item is slow: later fetches finish first but are applied after it.
  const t = await trace(40, 3, 8, (i) => (i === 0 ? 60 : 2));
  assert.equal(
    t.applied,
    Array.from({ length: 40 }, (_, i) => i),
  );
  assert.is(t.maxInFlight, 3);
  assert.ok(t.maxAhead < 8, `never more than the window ahead (${t.maxAhead})`);
  assert.is(t.fetched[0] !== 0, true, 'a later fetch finished before the first');
});

test('items that cannot be fetched ahead are retried after applies, and applied in order without (no deadlock)', async () => {
  // Items 0-9 "need" item 5 applied first (like files under a link listed before them).
  const t = await trace(
    20,
    2,
    4,
    () => 1,
    (i, done) => i > 5 && i < 10 && done <= 5,
  );
  assert.equal(
    t.applied,
    Array.from({ length: 20 }, (_, i) => i),
  );
  assert.ok(t.fetched.includes(8), 'fetched ahead once its turn could come');
  const none = await trace(
    10,
    4,
    16,
    () => 1,
    () => true,
  );
  assert.equal(
    none.applied,
    Array.from({ length: 10 }, (_, i) => i),
  );
});

test('limit 1 and an empty list', async () => {
  const t = await trace(5, 1, 1, () => 1);
  assert.equal(t.applied, [0, 1, 2, 3, 4]);
  assert.is(t.maxInFlight, 1);
  assert.equal((await trace(0, 4, 16, () => 1)).applied, []);
});

test.run();
