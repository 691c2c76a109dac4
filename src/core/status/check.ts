// `wwruntime status` (issue 18): the records (record.ts) and the schedules (schedule.ts) under a
// root judged the way a Nagios/Icinga plugin reports: per tool and overall, OK, WARNING, CRITICAL
// or UNKNOWN, one summary line with performance data. Pure apart from reading the root.
//
// The rules. wwgetfiles and wwgetscript (runtime) are scheduled: the age of their last success
// against the thresholds (default 2 and 6 intervals of their schedule), WARNING also when the
// newest run failed or started and never finished. wwgetvnfs and the boot step run once per boot:
// no record is fine (a stateful node, an older bootstrap), a failed or unfinished run is WARNING.
// A record that is there but not trusted, or a scheduled tool without one, is UNKNOWN: nothing is
// believed of it. Overall: the worst, CRITICAL before UNKNOWN before WARNING before OK (a record
// that cannot be read must not hide behind a warning). Runtime services not installed at all
// (neither the step's manifest nor a job): UNKNOWN.
import { RECORDED, readAllRecords, type RecordRead, type RecordedTool, type RunCounts } from './record.ts';
import { MANIFEST, readSchedule, readSmall, type Schedule, type ScheduledTool } from './schedule.ts';

export const STATE = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;
export type State = (typeof STATE)[keyof typeof STATE];
export const STATE_NAMES = ['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'] as const;
const SEVERITY: Record<State, number> = { 0: 0, 1: 1, 3: 2, 2: 3 };
const worst = (a: State, b: State): State => (SEVERITY[b] > SEVERITY[a] ? b : a);

/** The interval assumed when a schedule is missing or not understood: the step's default (every 5 minutes). */
export const DEFAULT_INTERVAL_S = 300;

export interface Thresholds {
  /** Seconds since the last success; given, they override the intervals. */
  warningSeconds?: number;
  criticalSeconds?: number;
  warningIntervals: number;
  criticalIntervals: number;
}

export interface CheckOptions {
  rootReal: string;
  /** ms since the epoch. */
  now: number;
  /** Owners whose records are believed. */
  trusted: number[];
  thresholds: Thresholds;
}

export interface ToolStatus {
  tool: RecordedTool;
  state: State;
  /** One phrase for the summary. */
  text: string;
  record: 'ok' | 'missing' | 'bad';
  /** Why a record is not trusted. */
  distrust: string | null;
  /** The newest run: `started` when it has not finished. */
  lastRun: { state: 'started' | 'finished'; start: number; end: number | null; exit: number | null; error: string | null } | null;
  lastSuccess: number | null;
  /** Seconds since the last success. */
  successAge: number | null;
  /** Of the newest finished run. */
  durationSeconds: number | null;
  master: string | null;
  counts: RunCounts | null;
  markAfter: number | null;
  version: string | null;
  schedule: Schedule | null;
  warningSeconds: number | null;
  criticalSeconds: number | null;
}

export interface CheckResult {
  state: State;
  installed: boolean;
  root: string;
  now: number;
  tools: ToolStatus[];
  /** `WWRUNTIME OK - ...`: no '|' inside. */
  summary: string;
  /** Nagios performance data: 'label'=value[UOM];warn;crit;min */
  perfdata: string;
}

/** 95 s, 12m, 3h5m, 2d4h: an age for one line. */
export function shortDuration(s: number): string {
  s = Math.max(0, Math.round(s));
  if (s < 120) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60) || ''}${s % 3600 >= 60 ? 'm' : ''}`;
  return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600) || ''}${s % 86400 >= 3600 ? 'h' : ''}`;
}

const SCHEDULED: readonly RecordedTool[] = ['wwgetfiles', 'wwgetscript'];

function judge(tool: RecordedTool, read: RecordRead, schedule: Schedule | null, o: CheckOptions): ToolStatus {
  const nowS = o.now / 1000;
  const scheduled = SCHEDULED.includes(tool);
  const base: ToolStatus = {
    tool,
    state: STATE.OK,
    text: '',
    record: read.kind,
    distrust: read.kind === 'bad' ? read.why : null,
    lastRun: null,
    lastSuccess: null,
    successAge: null,
    durationSeconds: null,
    master: null,
    counts: null,
    markAfter: null,
    version: null,
    schedule,
    warningSeconds: null,
    criticalSeconds: null,
  };
  if (scheduled) {
    // A scheduled run may end up to an interval plus its start delay after its tick: the intervals count from there.
    const interval = schedule?.intervalSeconds ?? DEFAULT_INTERVAL_S;
    base.warningSeconds = o.thresholds.warningSeconds ?? o.thresholds.warningIntervals * interval;
    base.criticalSeconds = Math.max(base.warningSeconds, o.thresholds.criticalSeconds ?? o.thresholds.criticalIntervals * interval);
  }
  if (read.kind === 'bad') return { ...base, state: STATE.UNKNOWN, text: `record not trusted (${read.why})` };
  if (read.kind === 'missing') {
    return scheduled ? { ...base, state: STATE.UNKNOWN, text: 'no record of any run' } : { ...base, text: 'no record' };
  }
  const r = read.record;
  const done = r.state === 'finished' ? r : r.previous;
  const s: ToolStatus = {
    ...base,
    lastRun: { state: r.state, start: r.start, end: r.end, exit: r.exit, error: r.error },
    lastSuccess: r.lastSuccess,
    successAge: r.lastSuccess === null ? null : Math.max(0, nowS - r.lastSuccess),
    durationSeconds: done && done.end !== null ? Math.max(0, done.end - done.start) : null,
    master: done?.master ?? r.master,
    counts: done?.counts ?? null,
    markAfter: done?.markAfter ?? null,
    version: r.version,
  };
  const phrases: string[] = [];
  let state: State = STATE.OK;
  if (scheduled) {
    const warn = s.warningSeconds!;
    const crit = s.criticalSeconds!;
    // Never succeeded: judged by how long it has been trying.
    const age = s.successAge ?? Math.max(0, nowS - (r.previous?.start ?? r.start));
    const level: State = age > crit ? STATE.CRITICAL : age > warn ? STATE.WARNING : STATE.OK;
    state = worst(state, level);
    const limit =
      level === STATE.CRITICAL ? `, critical ${shortDuration(crit)}` : level === STATE.WARNING ? `, warning ${shortDuration(warn)}` : '';
    phrases.push(s.successAge === null ? `no success in ${shortDuration(age)}${limit}` : `last success ${shortDuration(age)} ago${limit}`);
  } else if (r.lastSuccess !== null) {
    phrases.push(`last success ${shortDuration(nowS - r.lastSuccess)} ago`);
  }
  if (r.state === 'started') {
    // Long enough to be hung or killed (a scheduled run is bounded by --max-run, well below its warning threshold).
    const running = nowS - r.start;
    if (!scheduled || running > s.warningSeconds!) {
      state = worst(state, STATE.WARNING);
      phrases.push(`started ${shortDuration(running)} ago, never finished`);
    } else phrases.push(`running for ${shortDuration(running)}`);
  }
  if (done && done.exit !== null && done.exit !== 0) {
    state = worst(state, STATE.WARNING);
    phrases.push(`${r.state === 'finished' ? 'last run' : 'run before'} failed (exit ${done.exit}${done.error ? `: ${done.error}` : ''})`);
  }
  return { ...s, state, text: phrases.join(', ') || 'ok' };
}

const perfLabel = (tool: string, what: string) => `${tool}_${what}`;
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toFixed(2));

/** Nagios performance data from the tools' statuses. */
function perfdata(tools: ToolStatus[]): string {
  const out: string[] = [];
  for (const t of tools) {
    if (t.warningSeconds !== null && t.successAge !== null)
      out.push(`${perfLabel(t.tool, 'success_age')}=${fmt(t.successAge)}s;${fmt(t.warningSeconds)};${fmt(t.criticalSeconds!)};0`);
    if (t.durationSeconds !== null) out.push(`${perfLabel(t.tool, 'duration')}=${fmt(t.durationSeconds)}s;;;0`);
    if (t.lastRun?.exit !== null && t.lastRun?.exit !== undefined) out.push(`${perfLabel(t.tool, 'exit')}=${t.lastRun.exit};;;0`);
    if (t.counts && t.tool === 'wwgetfiles') {
      for (const k of ['listed', 'installed', 'unchanged', 'failed'] as const) out.push(`${perfLabel(t.tool, k)}=${t.counts[k]};;;0`);
    }
  }
  return out.join(' ');
}

/** The status of the runtime services under `rootReal`. */
export async function checkStatus(o: CheckOptions): Promise<CheckResult> {
  const records = await readAllRecords(o.rootReal, o.trusted);
  const schedules = new Map<RecordedTool, Schedule | null>();
  for (const t of SCHEDULED) schedules.set(t, await readSchedule(o.rootReal, t as ScheduledTool, o.now));
  const installed = (await readSmall(o.rootReal, MANIFEST)) !== undefined || [...schedules.values()].some((s) => s !== null);
  const tools = RECORDED.map((t) => judge(t, records.get(t)!, schedules.get(t) ?? null, o));
  let state: State = installed ? STATE.OK : STATE.UNKNOWN;
  for (const t of tools) state = worst(state, t.state);
  const parts = tools.map((t) => `${t.tool} ${t.state === STATE.OK ? '' : `${STATE_NAMES[t.state]} `}${t.text}`);
  if (!installed) parts.unshift(`runtime services not installed under ${o.rootReal}`);
  // The summary is one line without '|' (it would start the performance data).
  const summary = `WWRUNTIME ${STATE_NAMES[state]} - ${parts.join('; ')}`.replace(/[|\r\n]/g, ' ');
  return { state, installed, root: o.rootReal, now: o.now, tools, summary, perfdata: perfdata(tools) };
}
