// What every tool's entry module shares: the common options, building the
// master client from settings, the help layout, and turning errors into the
// one-line message and exit code of PROTOCOL section 4.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { SourcePortMode } from '../core/connect.ts';
import { EXIT, WwError, describe } from '../core/errors.ts';
import { createLogger, type Logger, type Verbosity } from '../core/log.ts';
import { DEBUG_RETRY, MasterClient, UPSTREAM_RETRY, type RetryPolicy } from '../core/master.ts';
import {
  loadSettings, parseMasterList, resolveHwaddr, resolveMasters, resolveScheme, type Settings,
} from '../core/settings.ts';
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
  --ca-file FILE         the CA certificate(s) (PEM) trusted for https, instead of the system's
  --source-port MODE     auto (privileged port 100-1023 when root, default), privileged, or any
  --connect-timeout SEC  give up reaching a master (TCP connect + TLS handshake) after SEC s (default 10)
  --timeout SEC          abandon a request silent for SEC seconds (default 60)
  --max-time SEC         abandon a request whose whole answer took longer than SEC s (default 120;
                         the VNFS image: none unless given, see --speed-limit)
  --speed-limit BYTES    the VNFS image: abandon it when slower than BYTES/s (default 1024) ...
  --speed-time SEC       ... averaged over SEC seconds (default 60)
  --attempts N           rounds over all masters before giving up (default 30; 3 with WWDEBUG not 0)
  --max-wait SEC         bound the total back-off sleep (2 s, 4 s, 6 s, ...) to SEC seconds
  --max-run SEC          end the whole run SEC s after it started (wwgetfiles: start delay included)
  --sysroot DIR          read /warewulf/config, /etc/network.conf, /proc/cmdline under DIR
General:
  -q, --quiet            errors only        -v, --verbose   say more
  -h, --help             this text          -V, --version   version and embedded Node.js version`;

export const SETTINGS_HELP = `Settings (first found wins: environment, /warewulf/config, /etc/network.conf, /proc/cmdline ww*=):
  WWMASTER               comma-separated masters (DHCP_SERVER in /etc/network.conf as a last resort)
  WWINIT_HWADDR          the node's identity in every request (sent lower-case)
  WWHTTP                 http (default) or https
  WWDEBUG                set and not 0: 3 attempts, no back-off`;

export const EXIT_HELP = `Exit codes:
  0  success
  1  another instance holds the lock (wwgetfiles)
  2  failure: no master, master refused or gave up, bad answer, local error, bad usage;
     also, without a message, when stdout's reader went away before the output was whole (| head)
  A closed stderr only silences the log: the tool carries on and exits as it would have.`;

export type Parsed<O extends Options> = ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;

/** util.parseArgs with our error style: a usage error is a WwError('usage'). */
export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true }) as Parsed<O>;
  } catch (err) {
    throw new WwError('usage', describe(err));
  }
}

export const DEFAULT_MAX_TIME_S = 120;
export const DEFAULT_SPEED_LIMIT = 1024;
export const DEFAULT_SPEED_TIME_S = 60;

function seconds(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new WwError('usage', `--${name} takes a number of seconds, not '${v}'`);
  return Number(v);
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

/** Builds the master client from options and settings (options win); `started` is when the run began (--max-run). */
export function connectContext(io: ToolIO, values: CommonValues, log: Logger, settings: Settings, started = Date.now()): Context {
  const masters = values.master ? parseMasterList(values.master) : resolveMasters(settings);
  if (masters.length === 0) throw new WwError('no-master', 'Could not identify master node!');
  const hwaddr = resolveHwaddr(values.hwaddr ? { get: () => values.hwaddr, sourceOf: () => 'environment' } : settings);
  const scheme = values.https ? 'https' : resolveScheme(settings);
  const mode = (values['source-port'] ?? 'auto') as SourcePortMode;
  if (!['auto', 'privileged', 'any'].includes(mode)) {
    throw new WwError('usage', `--source-port must be auto, privileged or any, not '${mode}'`);
  }
  let ca: Buffer | undefined;
  if (values['ca-file']) {
    try {
      ca = readFileSync(values['ca-file']);
    } catch (err) {
      throw new WwError('config', `cannot read CA file ${values['ca-file']}: ${describe(err)}`);
    }
  }
  // The initramfs always sets WWDEBUG, to "0" unless wwdebug=N is on the kernel command line: "0" is off.
  const wwdebug = (settings.get('WWDEBUG') ?? '').trim();
  const debug = wwdebug !== '' && wwdebug !== '0';
  const base: RetryPolicy = debug ? DEBUG_RETRY : UPSTREAM_RETRY;
  const attempts = values.attempts === undefined ? base.attempts : Number(values.attempts);
  if (!Number.isInteger(attempts) || attempts < 1) throw new WwError('usage', `--attempts takes a whole number >= 1`);
  const maxWait = values['max-wait'] === undefined ? undefined : seconds(values['max-wait'], 'max-wait', 0) * 1000;
  const positive = (name: 'max-time' | 'speed-time' | 'max-run', dflt?: number) => {
    const v = seconds(values[name], name, dflt ?? 0);
    if (values[name] !== undefined && v <= 0) throw new WwError('usage', `--${name} takes a number of seconds > 0`);
    return v * 1000;
  };
  const maxTime = positive('max-time', DEFAULT_MAX_TIME_S);
  const speedLimit = values['speed-limit'] === undefined ? DEFAULT_SPEED_LIMIT : Number(values['speed-limit']);
  if (!/^\d+$/.test(values['speed-limit'] ?? '0')) throw new WwError('usage', '--speed-limit takes a whole number of bytes per second (0: none)');
  const client = new MasterClient({
    masters,
    scheme,
    connect: { sourcePort: mode, connectTimeoutMs: seconds(values['connect-timeout'], 'connect-timeout', 10) * 1000, ca },
    idleTimeoutMs: seconds(values.timeout, 'timeout', 60) * 1000,
    maxTimeMs: maxTime,
    imageMaxTimeMs: values['max-time'] === undefined ? undefined : maxTime,
    speedLimit: speedLimit > 0 ? { bytesPerSec: speedLimit, windowMs: positive('speed-time', DEFAULT_SPEED_TIME_S) } : undefined,
    deadline: values['max-run'] === undefined ? undefined : started + positive('max-run'),
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

/** Runs a tool body and maps any error to the one-line message and exit code. */
export async function guarded(io: ToolIO, name: string, body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    // A reader that stopped reading is not an error to report: `| head` wanted no more.
    if (err instanceof WwError && err.kind === 'output-closed') return err.exitCode;
    const msg = describe(err);
    io.stderr.write(`${name}: ERROR: ${msg}\n`);
    if (err instanceof WwError) {
      if (err.kind === 'usage') io.stderr.write(`${name}: try '${name} --help'\n`);
      return err.exitCode;
    }
    return EXIT.FAILED;
  }
}
