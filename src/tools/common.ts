// What every tool's entry module shares: the common options, building the
// master client from settings, the help layout, and turning errors into the
// one-line message and exit code of PROTOCOL section 4.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SourcePortMode } from '../core/net/socket.ts';
import { WwError, describe } from '../core/errors.ts';
import { createLogger, type Logger, type Verbosity } from '../core/log.ts';
import { DEBUG_RETRY, MasterClient, UPSTREAM_RETRY, type RetryPolicy } from '../core/net/client.ts';
import { describeRange, parseNumber, shownValue, type NumberRange } from '../core/settings/number.ts';
import { loadSettings, type Settings } from '../core/settings/sources.ts';
import { parseMasterList, resolveMasters } from '../core/settings/masters.ts';
import { MAX_SECONDS, debugSetting, resolveHwaddr, resolveScheme } from '../core/settings/node.ts';
import type { Identity } from '../core/identity.ts';
import { versionLine } from '../version.ts';
import type { Output } from './output.ts';

export { writeAll } from './output.ts';

export interface ToolIO {
  argv: string[];
  env: Record<string, string | undefined>;
  /** The product (scripts, node configuration, --help); see output.ts for a closed one. */
  stdout: Output;
  /** The log. */
  stderr: Output;
  /** Who the run is, read once for the whole run (core/identity.ts). */
  identity: Identity;
}

export interface Tool {
  name: string;
  summary: string;
  main(io: ToolIO): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

export const COMMON_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
  master: { type: 'string' },
  hwaddr: { type: 'string' },
  https: { type: 'boolean' },
  'ca-file': { type: 'string' },
  'source-port': { type: 'string' },
  'connect-timeout': { type: 'string' },
  timeout: { type: 'string' },
  attempts: { type: 'string' },
  'max-wait': { type: 'string' },
  'max-time': { type: 'string' },
  'speed-limit': { type: 'string' },
  'speed-time': { type: 'string' },
  'max-run': { type: 'string' },
  sysroot: { type: 'string' },
} as const satisfies Options;

export const COMMON_HELP = `Master options:
  --master LIST          masters to try in order, host[:port][,host[:port]...] (overrides WWMASTER)
  --hwaddr ADDR          this node's boot hardware address (overrides WWINIT_HWADDR)
  --https                talk https to the master (as WWHTTP=https)
  --ca-file FILE         trust only the CA certificate(s) (PEM) in FILE for https, not the system's;
                         implies --https, unless WWHTTP=http is set (then only for a redirect to https)
  --source-port MODE     auto (privileged port 100-1023 when root, default), privileged, or any
  --connect-timeout SEC  give up reaching a master (TCP connect + TLS handshake) after SEC s (default 10)
  --timeout SEC          abandon a request silent for SEC seconds (default 60)
  --max-time SEC         abandon a request whose whole answer took longer than SEC s (default 120;
                         the VNFS image: none unless given, see --speed-limit)
  --speed-limit BYTES    the VNFS image: abandon it when slower than BYTES/s (default 1024) ...
  --speed-time SEC       ... averaged over SEC seconds (default 60)
  --attempts N           rounds over all masters before giving up (1-10000; default 30; 3 with WWDEBUG not 0)
  --max-wait SEC         bound the total back-off sleep (2 s, 4 s, 6 s, ...) to SEC seconds
  --max-run SEC          end the whole run SEC s after it started (wwgetfiles: start delay included)
  --sysroot DIR          read /warewulf/config, /etc/network.conf, /proc/cmdline under DIR
  Numbers: decimal digits only (leading zeros allowed: 010 is ten; no sign, hex or exponent); SEC may
  have a fraction (0.5), up to 2147483; a bad option is a usage error (exit 2).
Limits:
  http_proxy, https_proxy, no_proxy, all_proxy (either case) are ignored: masters are always
  contacted directly, from the node's own (privileged) source port.
  Answers are read whole before use, up to a cap (a larger one is an error, exit 2):
  scripts at most 64 MiB, node configuration at most 16 MiB, file list at most 256 MiB;
  file contents and the VNFS image are streamed, with no cap.
General:
  -q, --quiet            errors only        -v, --verbose   say more
  -h, --help             this text          -V, --version   version and embedded Node.js version`;

export const SETTINGS_HELP = `Settings (first found wins: environment, /warewulf/config, /etc/network.conf, /proc/cmdline ww*=):
  WWMASTER               comma-separated masters (DHCP_SERVER in /etc/network.conf as a last resort);
                         an entry that is not host[:port] is skipped with a warning
  WWINIT_HWADDR          the node's identity in every request (sent lower-case)
  WWHTTP                 http (default) or https
  WWDEBUG                set and not 0 (00 is 0 too): 3 attempts, no back-off
  A bad number in a setting is one warning line and its default, never an abort.`;

export const EXIT_HELP = `Exit codes:
  0  success
  1  another instance holds the lock (wwgetfiles)
  2  failure: no master, master refused or gave up, bad answer, local error, bad usage;
     also, without a message, when stdout's reader went away before the output was whole (| head)
  129, 130, 143  ended by SIGHUP, SIGINT, SIGTERM (128 + the signal's number), after removing the
     temporaries it made and releasing the lock (wwgetvnfs: the target stays marked incomplete)
  A closed stderr only silences the log: the tool carries on and exits as it would have.`;

export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

/** util.parseArgs with our error style: a usage error is a WwError('WW_USAGE'). */
export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (err) {
    // util.parseArgs explains over three lines; the tools say it in one.
    let msg = String((err as Error)?.message ?? err).split('\n')[0];
    const ambiguous = /^Option '(--[^']+)' argument is ambiguous/.exec(msg);
    if (ambiguous) msg = `${ambiguous[1]} needs a value (one starting with '-' is written ${ambiguous[1]}=VALUE)`;
    throw new WwError('WW_USAGE', msg);
  }
}

export const DEFAULT_MAX_TIME_S = 120;
export const DEFAULT_SPEED_LIMIT = 1024;
export const DEFAULT_SPEED_TIME_S = 60;

/** Command-line durations: fractions allowed (--max-time 0.5); at most what a timer can wait. */
const DURATION: NumberRange = { min: 0.001, max: MAX_SECONDS, fraction: true };
/** --max-wait 0 is meaningful (no back-off sleep at all). */
const BUDGET: NumberRange = { min: 0, max: MAX_SECONDS, fraction: true };
const ATTEMPTS: NumberRange = { min: 1, max: 10000 };
const BYTES_PER_SEC: NumberRange = { min: 0, max: 1e12 };

/**
 * An option's number (src/core/settings/number.ts grammar): `dflt` when not given; a bad one is a usage
 * error, since it was typed on this command line (unlike a setting, which only warns).
 */
export function numberOption(v: string | undefined, name: string, range: NumberRange, dflt: number, unit = ''): number {
  if (v === undefined) return dflt;
  const n = parseNumber(v, range);
  if (n === undefined) throw new WwError('WW_USAGE', `--${name} takes ${describeRange(range, unit)}, not '${shownValue(v)}'`);
  return n;
}

export interface Context {
  settings: Settings;
  log: Logger;
  hwaddr: string;
  client: MasterClient;
}

type CommonValues = { [K in keyof typeof COMMON_OPTIONS]?: (typeof COMMON_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

export function makeLogger(io: ToolIO, values: CommonValues, name: string): Logger {
  const verbosity: Verbosity = values.quiet ? 0 : values.verbose ? 2 : 1;
  return createLogger((l) => io.stderr.write(l), verbosity, `${name}: `);
}

export function settingsFor(io: ToolIO, values: CommonValues): Settings {
  const root = values.sysroot ?? '/';
  return loadSettings({
    env: io.env,
    configPath: join(root, 'warewulf/config'),
    networkConfPath: join(root, 'etc/network.conf'),
    cmdlinePath: join(root, 'proc/cmdline'),
  });
}

/**
 * http or https. A CA file only means something for TLS, so --ca-file alone implies https
 * (before, it was read and then plain http went to the TLS port, failing obscurely or, through
 * a plain-http port, silently unverified). WWHTTP=http set explicitly is kept, with a warning:
 * the CA file then applies only to a redirect to https.
 */
function chooseScheme(https: boolean, caFile: boolean, settings: Settings, log: Logger): 'http' | 'https' {
  if (https) return 'https';
  const scheme = resolveScheme(settings);
  if (scheme === 'https' || !caFile) return scheme;
  const explicit = (settings.get('WWHTTP') ?? '').trim();
  if (explicit === '') return 'https';
  log.warn(`WWHTTP=${shownValue(explicit)} (${settings.sourceOf('WWHTTP')}) with --ca-file: talking plain http; the CA file applies only to a redirect to https`);
  return 'http';
}

/** Builds the master client from options and settings (options win); `started` is when the run began (--max-run). */
export function connectContext(io: ToolIO, values: CommonValues, log: Logger, settings: Settings, started = Date.now()): Context {
  // Options first: a usage error comes before any setting is read, any file opened or any master asked.
  const mode = (values['source-port'] ?? 'auto') as SourcePortMode;
  if (!['auto', 'privileged', 'any'].includes(mode)) {
    throw new WwError('WW_USAGE', `--source-port must be auto, privileged or any, not '${shownValue(mode)}'`);
  }
  const caFile = values['ca-file'];
  if (caFile === '') throw new WwError('WW_USAGE', '--ca-file needs a file (PEM CA certificates)');
  const optionMasters = values.master ? parseMasterList(values.master) : undefined;
  const attemptsOption = values.attempts === undefined ? undefined : numberOption(values.attempts, 'attempts', ATTEMPTS, 0);
  const maxWait = values['max-wait'] === undefined ? undefined : numberOption(values['max-wait'], 'max-wait', BUDGET, 0, 'seconds') * 1000;
  const ms = (name: 'connect-timeout' | 'timeout' | 'max-time' | 'speed-time' | 'max-run', dflt: number) =>
    numberOption(values[name], name, DURATION, dflt, 'seconds') * 1000;
  const maxTime = ms('max-time', DEFAULT_MAX_TIME_S);
  const speedLimit = numberOption(values['speed-limit'], 'speed-limit', BYTES_PER_SEC, DEFAULT_SPEED_LIMIT, 'bytes per second');
  const speedTime = ms('speed-time', DEFAULT_SPEED_TIME_S);
  const connectTimeout = ms('connect-timeout', 10);
  const idleTimeout = ms('timeout', 60);
  const maxRun = values['max-run'] === undefined ? undefined : ms('max-run', 0);

  // Then the settings.
  const masters = optionMasters ?? resolveMasters(settings, (l) => log.warn(l));
  if (masters.length === 0) throw new WwError('WW_NO_MASTER', 'Could not identify master node!');
  const hwaddr = resolveHwaddr(values.hwaddr ? { get: () => values.hwaddr, sourceOf: () => 'environment' } : settings);
  const scheme = chooseScheme(!!values.https, caFile !== undefined, settings, log);
  const base: RetryPolicy = debugSetting(settings) ? DEBUG_RETRY : UPSTREAM_RETRY;
  const attempts = attemptsOption ?? base.attempts;
  let ca: Buffer | undefined;
  if (caFile !== undefined) {
    try {
      ca = readFileSync(caFile);
    } catch (err) {
      throw new WwError('WW_CONFIG', `cannot read CA file ${caFile}: ${describe(err)}`);
    }
  }
  const client = new MasterClient({
    masters,
    scheme,
    connect: { sourcePort: mode, connectTimeoutMs: connectTimeout, ca, identity: io.identity },
    idleTimeoutMs: idleTimeout,
    maxTimeMs: maxTime,
    imageMaxTimeMs: values['max-time'] === undefined ? undefined : maxTime,
    speedLimit: speedLimit > 0 ? { bytesPerSec: speedLimit, windowMs: speedTime } : undefined,
    deadline: maxRun === undefined ? undefined : started + maxRun,
    retry: { ...base, attempts, maxWaitMs: maxWait },
    log,
  });
  log.debug(`masters ${masters.map((m) => m.label).join(',')} (${settings.sourceOf('WWMASTER') ?? 'option'}), hwaddr ${hwaddr}, ${scheme}`);
  return { settings, log, hwaddr, client };
}

/** Prints --help / --version when asked; returns true when it did. */
export function handleInfo(io: ToolIO, values: { help?: boolean; version?: boolean }, name: string, help: string): boolean {
  if (values.help) {
    io.stdout.write(help.endsWith('\n') ? help : `${help}\n`);
    return true;
  }
  if (values.version) {
    io.stdout.write(`${versionLine(name)}\n`);
    return true;
  }
  return false;
}
