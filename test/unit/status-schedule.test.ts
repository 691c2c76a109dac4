// When the jobs run next (core/status/schedule.ts): OnCalendar= checked against systemd's own
// calendar (systemd-analyze calendar --base-time), cron fields against Vixie cron's rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nextRun, parseCron, parseOnCalendar, readSchedule } from '../../src/core/status/schedule.ts';

// Local time is what cron and systemd use: the test pins it.
process.env.TZ = 'UTC';
const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** systemd's next two elapses after `base` (UTC). */
function systemd(spec: string, base: number): string[] {
  const out = execFileSync('systemd-analyze', ['calendar', '--iterations=2', `--base-time=@${Math.floor(base / 1000)}`, spec], {
    env: { ...process.env, TZ: 'UTC', SYSTEMD_COLORS: '0' },
    encoding: 'utf8',
  });
  return [...out.matchAll(/(?:Next elapse|Iter\. #2): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC/g)].map(
    (m) => `${m[1].replace(' ', 'T')}.000Z`,
  );
}

test('OnCalendar: the forms the step writes, and the same next two runs as systemd', () => {
  const bases = [at('2026-12-02T02:17:41Z'), at('2026-12-31T23:58:00Z'), at('2027-02-28T23:59:59Z')];
  for (const spec of [
    '*:0/5',
    '*:0/15',
    '*-*-* 02:30',
    '*-*-* *:07:30',
    '*:00,30',
    'hourly',
    'daily',
    '*-*-01 03:00',
    '*:1..10/3',
    'minutely',
  ]) {
    const m = parseOnCalendar(spec);
    assert.ok(m, spec);
    for (const base of bases) {
      const first = nextRun(m!, base);
      const second = first === null ? null : nextRun(m!, first);
      assert.equal([iso(first), iso(second)], systemd(spec, base), `${spec} after ${iso(base)}`);
    }
  }
});

test('OnCalendar with a weekday or several seconds a minute: not understood (null), never guessed', () => {
  assert.is(parseOnCalendar('Mon *-*-* 00:00'), null);
  assert.is(parseOnCalendar('*:*:0/10'), null);
  assert.is(parseOnCalendar('garbage'), null);
});

test('cron: steps, lists, ranges, both day fields (either matches), 7 is Sunday', () => {
  const base = at('2026-12-02T02:17:41Z'); // a Wednesday
  const next = (spec: string, from = base) => iso(nextRun(parseCron(spec)!, from));
  assert.is(next('*/5 * * * *'), '2026-12-02T02:20:00.000Z');
  assert.is(next('0,30 * * * *'), '2026-12-02T02:30:00.000Z');
  assert.is(next('15 3-5 * * *'), '2026-12-02T03:15:00.000Z');
  assert.is(next('0 0 * * 7'), '2026-12-06T00:00:00.000Z');
  assert.is(next('0 0 1 * 5'), '2026-12-04T00:00:00.000Z', 'Friday the 4th comes before the 1st of January');
  assert.is(next('0 12 29 2 *'), null, 'not within a year and a day: none');
  assert.is(next('0 12 29 2 *', at('2027-06-01T00:00:00Z')), '2028-02-29T12:00:00.000Z');
  for (const bad of ['*/5 * * *', '61 * * * *', '* * * * * *x', 'a b c d e', '*/0 * * * *']) assert.is(parseCron(bad), null, bad);
});

test('readSchedule: the timer wins over a cron file; interval and RandomizedDelaySec; comments and variables skipped', async () => {
  const root = mkdtempSync(join(tmpdir(), 'status-schedule-'));
  mkdirSync(join(root, 'etc/cron.d'), { recursive: true });
  writeFileSync(
    join(root, 'etc/cron.d/wwupdatefiles'),
    '# wwruntime-managed\nSHELL=/bin/sh\nPATH=/usr/bin\n*/10 * * * * root /warewulf/bin/wwgetfiles\n',
  );
  const now = at('2026-12-02T02:17:41Z');
  const cron = await readSchedule(root, 'wwgetfiles', now);
  assert.equal(cron, {
    kind: 'cron',
    file: 'etc/cron.d/wwupdatefiles',
    spec: '*/10 * * * *',
    next: at('2026-12-02T02:20:00Z'),
    intervalSeconds: 600,
    delaySeconds: 0,
  });
  assert.is(await readSchedule(root, 'wwgetscript', now), null);
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  writeFileSync(join(root, 'etc/systemd/system/wwupdatefiles.timer'), '[Timer]\nOnCalendar=*:0/5\nRandomizedDelaySec=180\n');
  const timer = await readSchedule(root, 'wwgetfiles', now);
  assert.equal(
    { kind: timer?.kind, next: timer?.next, interval: timer?.intervalSeconds, delay: timer?.delaySeconds },
    {
      kind: 'systemd',
      next: at('2026-12-02T02:20:00Z'),
      interval: 300,
      delay: 180,
    },
  );
});

test.run();
