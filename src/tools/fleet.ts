// wwruntime-fleet (also `wwruntime fleet`): the master-side report of the fleet from Apache's
// access logs. Parses arguments and prints; the reading and tallying are core/fleet's.
import { EXIT, WwError } from '../core/errors.ts';
import { defaultLogPaths, readLogLines, DEFAULT_LOGS } from '../core/fleet/logfiles.ts';
import { renderJson, renderText } from '../core/fleet/render.ts';
import { FLEET_EXIT, FleetTally } from '../core/fleet/report.ts';
import { renderTextfile, writeTextfile } from '../core/fleet/textfile.ts';
import { wwshNodeNames } from '../core/fleet/wwsh.ts';
import { parseNumber, shownValue } from '../core/settings/number.ts';
import { BASIC_OPTIONS, numberOption, parse } from './options.ts';
import { writeAll } from './output.ts';
import { handleInfo, makeLogger, type Tool, type ToolIO } from './tool.ts';

const NAME = 'wwruntime-fleet';
const DEFAULTS = { since: '24h', interval: '5m', stale: 3, bootLoop: 3, bootWindow: '1h' };
const HELP = `Usage: ${NAME} [options] [LOG...]        (also: wwruntime fleet ...)
Reports every node the master's Apache access logs show (Warewulf 3's warewulf-httpd.conf under
the distribution's combined log; common and vhost_combined lines are read too): per node hwaddr
and source address, its last contact per endpoint (/WW/file list, /WW/file?fileid content,
/WW/script, /WW/nodeconfig, /WW/vnfs), the mark its newest file list request reported
(timestamp=), its HTTP errors in the window, and whether it is
  stale      no file list request for longer than --stale intervals (a node that never asked
             for one: counted from its first request)
  failing    its newest answer on some endpoint, in the window, was 4xx or 5xx
  boot-loop  --boot-loop or more answered /WW/vnfs requests within --boot-window, in the window
LOG: plain or gzip-compressed (told by content), rotated ones too, in any order. Default: every
  ${DEFAULT_LOGS.map((l) => `${l.dir}/${l.name}*`).join(' and ')} (the live log and its rotations).
  Lines that are no access log line, too long, or a half-written last line are counted and skipped.
  --since WHEN           start of the window (default ${DEFAULTS.since}): a duration back from the report's
                         time, or a time
  --now TIME             the report's time (default: now); lines after it are not counted
  --interval DURATION    how often nodes ask for their file list (default ${DEFAULTS.interval}: the runtime services' cron)
  --stale N              intervals without a file list request before a node is stale (1-1000, default ${DEFAULTS.stale})
  --boot-loop N          VNFS requests that make a boot-loop (2-1000, default ${DEFAULTS.bootLoop}) ...
  --boot-window DURATION ... within this long (default ${DEFAULTS.bootWindow})
  --json                 the report as one JSON object (times in epoch seconds)
  --textfile PATH        also write the report as a Prometheus textfile (for node_exporter's textfile
                         collector: a .prom file in its folder), atomically
  --no-names             do not ask \`wwsh node print\` for node names (asked when wwsh is on the PATH,
                         for at most 15 s; without it the names are '-')
  -q, --quiet            errors only on stderr       -v, --verbose   say more
  -h, --help             this text                   -V, --version   version
  DURATION: a number with an optional unit s, m, h or d (90, 90s, 15m, 24h, 7d); fractions allowed.
  TIME: @EPOCH-SECONDS, or YYYY-MM-DDTHH:MM[:SS] with Z or +HH:MM (local time without either).
Output: the first line is the summary, in the Nagios/Icinga plugin form
  FLEET STATE: N nodes, N stale, N failing, N boot-looping, N ok; ... | nodes=N ok=N stale=N ...
then one line per node, problems first; ages are before the report's time, 'AGE!STATUS' an error.
Exit codes (Nagios plugin conventions, so it can serve as a check as is):
  0  OK: the report was made; no node is stale, failing or boot-looping
  1  WARNING: some node is failing or boot-looping (none stale)
  2  CRITICAL: some node is stale
  3  UNKNOWN: no node request in the logs (the report says so); or no report at all: bad usage,
     a log that cannot be read, no log found, the textfile not written (one line on stderr)
  A /WW/file error the master sends inside an HTTP 200 (PROTOCOL 2.7) is logged as 200: not seen here.`;

const OPTIONS = {
  ...BASIC_OPTIONS,
  since: { type: 'string' },
  now: { type: 'string' },
  interval: { type: 'string' },
  stale: { type: 'string' },
  'boot-loop': { type: 'string' },
  'boot-window': { type: 'string' },
  json: { type: 'boolean' },
  textfile: { type: 'string' },
  'no-names': { type: 'boolean' },
} as const;

const UNIT: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };
/** Up to ten years, in seconds. */
const MAX_DURATION = 10 * 365 * 86400;

/** DURATION (see --help), in seconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const m = /^([0-9.]+)([smhd]?)$/.exec(text);
  if (!m) return undefined;
  const n = parseNumber(m[1], { min: 0, max: MAX_DURATION, fraction: true });
  if (n === undefined) return undefined;
  const s = n * UNIT[m[2]];
  return s > 0 && s <= MAX_DURATION ? s : undefined;
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?$/;

/** TIME (see --help), epoch seconds; undefined when it is not one. */
export function parseTime(text: string): number | undefined {
  if (text.startsWith('@')) return parseNumber(text.slice(1), { min: 0, max: 1e11, fraction: true });
  if (!ISO.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms / 1000 : undefined;
}

function durationOption(v: string | undefined, name: string, dflt: string): number {
  const s = parseDuration(v ?? dflt);
  if (s === undefined) throw new WwError('WW_USAGE', `--${name} takes a duration (90, 15m, 24h, 7d), not '${shownValue(v ?? '')}'`);
  return s;
}

export const fleet: Tool = {
  name: NAME,
  summary: "the fleet's nodes from the master's access logs",
  failureExit: FLEET_EXIT.UNKNOWN,
  async main(io: ToolIO) {
    const { values, positionals } = parse(io.argv, OPTIONS);
    if (handleInfo(io, values, NAME, HELP)) return EXIT.OK;
    const log = makeLogger(io, values, NAME);
    let now = Date.now() / 1000;
    if (values.now !== undefined) {
      const t = parseTime(values.now);
      if (t === undefined)
        throw new WwError('WW_USAGE', `--now takes a time (@EPOCH or YYYY-MM-DDTHH:MM:SSZ), not '${shownValue(values.now)}'`);
      now = t;
    }
    const sinceText = values.since ?? DEFAULTS.since;
    const back = parseDuration(sinceText);
    const since = parseTime(sinceText) ?? (back === undefined ? undefined : now - back);
    if (since === undefined)
      throw new WwError('WW_USAGE', `--since takes a duration (24h) or a time (@EPOCH, YYYY-MM-DDTHH:MMZ), not '${shownValue(sinceText)}'`);
    if (since > now) throw new WwError('WW_USAGE', '--since is after the report time (--now)');
    const interval = durationOption(values.interval, 'interval', DEFAULTS.interval);
    const staleIntervals = numberOption(values.stale, 'stale', { min: 1, max: 1000 }, DEFAULTS.stale);
    const bootLoop = {
      count: numberOption(values['boot-loop'], 'boot-loop', { min: 2, max: 1000 }, DEFAULTS.bootLoop),
      window: durationOption(values['boot-window'], 'boot-window', DEFAULTS.bootWindow),
    };

    const paths = positionals.length > 0 ? positionals : defaultLogPaths('/');
    if (paths.length === 0)
      throw new WwError(
        'WW_IO',
        `no access log found (${DEFAULT_LOGS.map((l) => `${l.dir}/${l.name}*`).join(', ')}): give the logs as arguments`,
      );
    const tally = new FleetTally({ now, since });
    for (const path of paths) {
      const before = { ...tally.lines };
      const f = await readLogLines(path, (line) => tally.addLine(line));
      tally.addFile(path, f);
      if (f.damaged) log.warn(`${path}: compressed data ends early or is corrupt after ${f.lines} lines (${f.damaged})`);
      const read = tally.lines.read - before.read;
      if (read > 0 && tally.lines.garbage + tally.lines.long + tally.lines.partial - before.garbage - before.long - before.partial === read)
        log.warn(`${path}: none of its ${read} lines is an access log line (combined or common format)`);
    }
    let names: Map<string, string> | null = null;
    if (!values['no-names']) {
      const got = await wwshNodeNames(io.env);
      if (got.names) names = got.names;
      else if (/not on the PATH/.test(got.why)) log.debug(`no node names: ${got.why}`);
      else log.warn(`no node names: ${got.why}`);
    }
    const report = tally.report({ interval, staleIntervals, bootLoop }, names);
    if (values.textfile !== undefined) writeTextfile(values.textfile, renderTextfile(report));
    await writeAll(io.stdout, values.json ? renderJson(report) : renderText(report));
    return report.exitCode;
  },
};
