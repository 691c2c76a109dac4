// wwruntime status: the runtime services' runs as a monitoring check (Nagios/Icinga plugin
// conventions: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; one summary line with `|` performance
// data, then one line per tool), or --json. The judging is core/status/check.ts's.
import { realpath } from 'node:fs/promises';
import { WwError } from '../core/errors.ts';
import { STATE, STATE_NAMES, checkStatus, shortDuration, type CheckResult, type ToolStatus } from '../core/status/check.ts';
import { STATUS_DIR } from '../core/status/record.ts';
import { DURATION, numberOption, parse } from './options.ts';
import { writeAll } from './output.ts';
import { handleInfo, type Tool, type ToolIO } from './tool.ts';

const NAME = 'status';
const HELP = `Usage: wwruntime ${NAME} [--json] [--root DIR] [-w SEC] [-c SEC] [options]
Reports the runtime services' runs from their records (ROOT/${STATUS_DIR}/TOOL.json,
left by every run of wwgetfiles, wwgetscript runtime, wwgetvnfs and the boot step) and the
jobs the boot step installed (cron files or systemd timers): per tool the last run, the last
success and its age, the error, the next scheduled run. As a monitoring plugin (Nagios, Icinga,
NRPE, Slurm HealthCheckProgram): one summary line with '|' performance data, then a line per tool.
  --json                 the same as one JSON object on stdout (the exit status is the same)
  --root DIR             the node's root to look at (default /)
  -w, --warning SEC      WARNING when the last success of wwgetfiles or wwgetscript is older
                         than SEC (default: --warning-intervals of its schedule)
  -c, --critical SEC     CRITICAL when older than SEC (default: --critical-intervals)
  --warning-intervals N  default 2 (the interval: the gap between the job's next two runs;
  --critical-intervals N default 6  5 minutes when its schedule is missing or not understood)
  -h, --help             this text          -V, --version   version
Rules: a scheduled tool without a record, any record that is there but not trusted (not a
regular file, owned by neither root nor you, writable by others, corrupt, truncated) is UNKNOWN;
a failed run or one that started and never finished is WARNING; wwgetvnfs and the boot step
without a record are fine (they run once per boot, in the initramfs). Runtime services not
installed under the root: UNKNOWN. Overall: the worst, CRITICAL > UNKNOWN > WARNING > OK.
Exit codes: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (also for bad usage).`;

const OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  json: { type: 'boolean' },
  root: { type: 'string' },
  warning: { type: 'string', short: 'w' },
  critical: { type: 'string', short: 'c' },
  'warning-intervals': { type: 'string' },
  'critical-intervals': { type: 'string' },
} as const;

const INTERVALS = { min: 1, max: 10000 };
const iso = (s: number | null) => (s === null ? null : new Date(s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'));

function toolLine(t: ToolStatus, nowS: number): string {
  const bits: string[] = [`${t.tool}: ${STATE_NAMES[t.state]}`];
  if (t.record === 'bad') bits.push(`record not trusted: ${t.distrust}`);
  else if (t.record === 'missing') bits.push('no record');
  if (t.lastRun) {
    const r = t.lastRun;
    bits.push(
      r.state === 'started'
        ? `started ${iso(r.start)} (${shortDuration(nowS - r.start)} ago), not finished`
        : `last run ${iso(r.start)}, exit ${r.exit}, ${(t.durationSeconds ?? 0).toFixed(1)} s${r.error ? `, error: ${r.error}` : ''}`,
    );
    bits.push(
      t.lastSuccess === null ? 'no success recorded' : `last success ${iso(t.lastSuccess)} (${shortDuration(nowS - t.lastSuccess)} ago)`,
    );
    if (t.master) bits.push(`master ${t.master}`);
    if (t.counts)
      bits.push(`${t.counts.listed} listed, ${t.counts.installed} installed, ${t.counts.unchanged} unchanged, ${t.counts.failed} failed`);
    if (t.markAfter !== null) bits.push(`mark ${t.markAfter}`);
    if (t.version) bits.push(`version ${t.version}`);
  }
  if (t.warningSeconds !== null) {
    const s = t.schedule;
    bits.push(
      s === null
        ? 'no schedule installed'
        : `next run ${s.next === null ? `unknown (${s.kind} '${s.spec}' not understood)` : iso(s.next / 1000)}${s.delaySeconds ? ` + up to ${s.delaySeconds} s` : ''} (${s.kind} ${s.file})`,
    );
    bits.push(`thresholds ${shortDuration(t.warningSeconds)}/${shortDuration(t.criticalSeconds!)}`);
  }
  return bits.join('; ');
}

function asJson(r: CheckResult): string {
  return `${JSON.stringify(
    {
      state: STATE_NAMES[r.state],
      exitCode: r.state,
      summary: r.summary,
      perfdata: r.perfdata,
      root: r.root,
      now: iso(r.now / 1000),
      installed: r.installed,
      tools: Object.fromEntries(
        r.tools.map((t) => [
          t.tool,
          {
            state: STATE_NAMES[t.state],
            text: t.text,
            record: t.record,
            distrust: t.distrust,
            lastRun: t.lastRun && { ...t.lastRun, start: iso(t.lastRun.start), end: iso(t.lastRun.end) },
            lastSuccess: iso(t.lastSuccess),
            successAgeSeconds: t.successAge === null ? null : Math.round(t.successAge),
            durationSeconds: t.durationSeconds === null ? null : Math.round(t.durationSeconds * 1000) / 1000,
            master: t.master,
            counts: t.counts,
            markAfter: t.markAfter,
            version: t.version,
            schedule: t.schedule && { ...t.schedule, next: t.schedule.next === null ? null : iso(t.schedule.next / 1000) },
            warningSeconds: t.warningSeconds,
            criticalSeconds: t.criticalSeconds,
          },
        ]),
      ),
    },
    null,
    2,
  )}\n`;
}

export const status: Tool = {
  name: NAME,
  summary: 'the runtime services as a monitoring check (Nagios/Icinga; --json)',
  // Whatever fails unexpectedly (an unreadable root) is UNKNOWN, never the tools' 2, which means CRITICAL here.
  failureExit: STATE.UNKNOWN,
  async main(io: ToolIO) {
    // A plugin's bad usage is UNKNOWN, not the tools' 2 (which is CRITICAL here).
    let values;
    let warningSeconds: number | undefined;
    let criticalSeconds: number | undefined;
    let warningIntervals: number;
    let criticalIntervals: number;
    try {
      const parsed = parse(io.argv, OPTIONS);
      values = parsed.values;
      if (parsed.positionals.length > 0) throw new WwError('WW_USAGE', `unexpected argument '${parsed.positionals[0]}'`);
      warningSeconds = values.warning === undefined ? undefined : numberOption(values.warning, 'warning', DURATION, 0, 'seconds');
      criticalSeconds = values.critical === undefined ? undefined : numberOption(values.critical, 'critical', DURATION, 0, 'seconds');
      warningIntervals = numberOption(values['warning-intervals'], 'warning-intervals', INTERVALS, 2);
      criticalIntervals = numberOption(values['critical-intervals'], 'critical-intervals', INTERVALS, 6);
    } catch (err) {
      if (err instanceof WwError) io.stderr.write(`wwruntime ${NAME}: ERROR: ${err.message} (see 'wwruntime ${NAME} --help')\n`);
      else throw err;
      return STATE.UNKNOWN;
    }
    if (handleInfo(io, values, `wwruntime ${NAME}`, HELP)) return 0;
    const root = values.root || '/';
    let rootReal: string;
    try {
      rootReal = await realpath(root);
    } catch (err) {
      io.stdout.write(`WWRUNTIME UNKNOWN - root ${root} is not usable: ${(err as Error).message}\n`);
      return STATE.UNKNOWN;
    }
    const r = await checkStatus({
      rootReal,
      now: Date.now(),
      trusted: [...new Set([0, io.identity.uid])],
      thresholds: { warningSeconds, criticalSeconds, warningIntervals, criticalIntervals },
    });
    const nowS = r.now / 1000;
    const text = values.json
      ? asJson(r)
      : `${r.summary}${r.perfdata ? ` | ${r.perfdata}` : ''}\n${r.tools.map((t) => `${toolLine(t, nowS)}\n`).join('')}`;
    await writeAll(io.stdout, text);
    return r.state;
  },
};
