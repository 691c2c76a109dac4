// When the runtime services run next (issue 18), read from what the bootstrap step installed
// (bootstrap/wwruntime-lib.sh): the cron files etc/cron.d/wwupdatefiles and wwrunscript (five
// time fields), or the systemd timers etc/systemd/system/ww*.timer (OnCalendar=). The next run
// and the interval (the gap to the run after it) are computed here in local time, as cron and
// systemd do. OnCalendar: the forms the step accepts that have no weekday (`H:M[:S]`,
// `Y-M-D H:M[:S]`, with `*`, lists, `a..b` ranges and `/step` repetitions, and minutely,
// hourly, daily, monthly, yearly); any other is reported as not understood, never guessed.
import { constants as C } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { resolveParent, safeComponents } from '../fs/confine.ts';

/** The two scheduled jobs the step installs, by the tool they run. */
export const JOBS = { wwgetfiles: 'wwupdatefiles', wwgetscript: 'wwrunscript' } as const;
export type ScheduledTool = keyof typeof JOBS;
export const MANIFEST = 'warewulf/.wwruntime-manifest';

/** A set of allowed values per field; `test(date)` is whether a minute start matches. */
interface Matcher {
  /** Whether `d` (local time, seconds 0) is a scheduled minute. */
  matches(d: Date): boolean;
  /** The second within a matching minute (cron: 0). */
  second: number;
}

/** One field: '*', N, a-b (cron) or a..b (systemd), each with an optional /step; comma lists. */
function field(text: string, min: number, max: number, range: '-' | '..'): Set<number> | null {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const m = /^(\*|(\d+)(?:(?:-|\.\.)(\d+))?)(?:\/(\d+))?$/.exec(part);
    if (!m) return null;
    if (m[3] !== undefined && !part.includes(range)) return null;
    let lo = m[1] === '*' ? min : Number(m[2]);
    const hi = m[1] === '*' ? max : m[3] !== undefined ? Number(m[3]) : m[4] !== undefined ? max : lo;
    const step = m[4] !== undefined ? Number(m[4]) : 1;
    if (step < 1 || lo < min || hi > max || lo > hi) return null;
    for (; lo <= hi; lo += step) out.add(lo);
  }
  return out;
}

/** cron's five fields (minute hour day-of-month month day-of-week), as Vixie cron reads them. */
export function parseCron(spec: string): Matcher | null {
  const f = spec.trim().split(/\s+/);
  if (f.length !== 5) return null;
  const [mi, h, dom, mon, dow] = [
    field(f[0], 0, 59, '-'),
    field(f[1], 0, 23, '-'),
    field(f[2], 1, 31, '-'),
    field(f[3], 1, 12, '-'),
    field(f[4], 0, 7, '-'),
  ];
  if (!mi || !h || !dom || !mon || !dow) return null;
  if (dow.has(7)) dow.add(0);
  // cron: when both day fields are restricted, a day matching either runs the job.
  const domStar = f[2].startsWith('*');
  const dowStar = f[4].startsWith('*');
  return {
    second: 0,
    matches: (d) => {
      if (!mi.has(d.getMinutes()) || !h.has(d.getHours()) || !mon.has(d.getMonth() + 1)) return false;
      const a = dom.has(d.getDate());
      const b = dow.has(d.getDay());
      return domStar || dowStar ? a && b : a || b;
    },
  };
}

const CALENDAR_WORDS: Record<string, string> = {
  minutely: '*-*-* *:*:00',
  hourly: '*-*-* *:00:00',
  daily: '*-*-* 00:00:00',
  monthly: '*-*-01 00:00:00',
  yearly: '*-01-01 00:00:00',
  annually: '*-01-01 00:00:00',
};

/** systemd's OnCalendar= without a weekday part (see the header); null when not understood. */
export function parseOnCalendar(spec: string): Matcher | null {
  const words = (CALENDAR_WORDS[spec.trim().toLowerCase()] ?? spec).trim().split(/\s+/);
  if (words.length < 1 || words.length > 2) return null;
  const date = words.length === 2 ? words[0] : '*-*-*';
  const time = words[words.length - 1];
  const d = date.split('-');
  const t = time.split(':');
  if (d.length !== 3 || t.length < 2 || t.length > 3) return null;
  const [y, mo, dd] = [field(d[0], 1970, 2199, '..'), field(d[1], 1, 12, '..'), field(d[2], 1, 31, '..')];
  const [h, mi] = [field(t[0], 0, 23, '..'), field(t[1], 0, 59, '..')];
  const s = t.length === 3 ? field(t[2], 0, 59, '..') : new Set([0]);
  // One second per minute only: a timer firing several times a minute is not one of ours.
  if (!y || !mo || !dd || !h || !mi || !s || s.size !== 1) return null;
  return {
    second: [...s][0],
    matches: (x) =>
      y.has(x.getFullYear()) && mo.has(x.getMonth() + 1) && dd.has(x.getDate()) && h.has(x.getHours()) && mi.has(x.getMinutes()),
  };
}

/** The first scheduled time after `after` (ms since the epoch), within a year and a day; null if none. */
export function nextRun(m: Matcher, after: number): number | null {
  const d = new Date(after);
  d.setSeconds(0, 0);
  for (let i = 0; i <= 527_040; i++) {
    if (m.matches(d)) {
      const t = d.getTime() + m.second * 1000;
      if (t > after) return t;
    }
    d.setMinutes(d.getMinutes() + 1);
  }
  return null;
}

export interface Schedule {
  /** `cron` (etc/cron.d/JOB) or `systemd` (etc/systemd/system/JOB.timer). */
  kind: 'cron' | 'systemd';
  /** The file, relative to the root. */
  file: string;
  /** The time fields or OnCalendar= value, as written. */
  spec: string;
  /** ms since the epoch; null when the spec is not understood or never fires. */
  next: number | null;
  /** Seconds between the next two runs; null as `next`. */
  intervalSeconds: number | null;
  /** systemd: RandomizedDelaySec= (seconds) the timer adds; cron: 0. */
  delaySeconds: number;
}

/** A small text file under the root, confined and not through a final link; undefined when absent. */
export async function readSmall(rootReal: string, rel: string, max = 64 * 1024): Promise<string | undefined> {
  try {
    const parent = await resolveParent(rootReal, safeComponents(`/${rel}`), false);
    if (!parent) return undefined;
    const fh = await open(join(parent.dir, parent.name), C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK);
    try {
      if (!(await fh.stat()).isFile()) return undefined;
      const buf = Buffer.alloc(max);
      const { bytesRead } = await fh.read(buf, 0, max, 0);
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

function schedule(kind: 'cron' | 'systemd', file: string, spec: string, m: Matcher | null, now: number, delaySeconds: number): Schedule {
  const next = m ? nextRun(m, now) : null;
  const after = m && next !== null ? nextRun(m, next) : null;
  return { kind, file, spec, next, intervalSeconds: next !== null && after !== null ? (after - next) / 1000 : null, delaySeconds };
}

/** The job of `tool` as the step installed it under the root (a timer wins over a cron file); null when neither. */
export async function readSchedule(rootReal: string, tool: ScheduledTool, now: number): Promise<Schedule | null> {
  const job = JOBS[tool];
  const timerFile = `etc/systemd/system/${job}.timer`;
  const timer = await readSmall(rootReal, timerFile);
  if (timer !== undefined) {
    const spec = /^OnCalendar=(.*)$/m.exec(timer)?.[1].trim() ?? '';
    const delay = Number(/^RandomizedDelaySec=(\d+)\s*$/m.exec(timer)?.[1] ?? 0);
    return schedule('systemd', timerFile, spec, parseOnCalendar(spec), now, delay);
  }
  const cronFile = `etc/cron.d/${job}`;
  const cron = await readSmall(rootReal, cronFile);
  if (cron === undefined) return null;
  // The job line: not a comment, not VAR=value; five time fields, then the user.
  const line = cron.split('\n').find((l) => /^\s*[^#\s]/.test(l) && !/^\s*[A-Za-z_][A-Za-z0-9_]*\s*=/.test(l));
  const spec = line ? line.trim().split(/\s+/).slice(0, 5).join(' ') : '';
  return schedule('cron', cronFile, spec, parseCron(spec), now, 0);
}
