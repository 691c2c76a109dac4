// The options every tool shares: their names, ranges, defaults and help, and the parsing of
// a command line and of an option's number. What they mean for reaching a master is
// tools/client.ts's.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WwError } from '../core/errors.ts';
import { DEBUG_RETRY, UPSTREAM_RETRY } from '../core/net/client.ts';
import { ANSWER_CAPS } from '../core/protocol/whole.ts';
import { MAX_SECONDS } from '../core/settings/node.ts';
import { describeRange, parseNumber, shownValue, type NumberRange } from '../core/settings/number.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** What every tool takes, the master-side report (fleet) included. */
export const BASIC_OPTIONS = {
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
  quiet: { type: 'boolean', short: 'q' },
  verbose: { type: 'boolean', short: 'v' },
} as const satisfies Options;

/** What every node tool takes: the basics and how to reach a master. */
export const COMMON_OPTIONS = {
  ...BASIC_OPTIONS,
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

export const DEFAULT_CONNECT_TIMEOUT_S = 10;
export const DEFAULT_IDLE_TIMEOUT_S = 60;
export const DEFAULT_MAX_TIME_S = 120;
export const DEFAULT_SPEED_LIMIT = 1024;
export const DEFAULT_SPEED_TIME_S = 60;
/**
 * In the initramfs (wwgetfiles): a request abandoned in a boot storm is asked again on a new
 * connection, which needs another prefork child while the first goes on working on the old
 * request (PROTOCOL 2.8): measured, 100 nodes abandoning their first request at 60 s made the
 * master start 208 children that each took minutes to "compile". So there the bounds are longer.
 */
export const INITRAMFS_IDLE_TIMEOUT_S = 300;
export const INITRAMFS_MAX_TIME_S = 600;

/** Command-line durations: fractions allowed (--max-time 0.5); at most what a timer can wait. */
export const DURATION: NumberRange = { min: 0.001, max: MAX_SECONDS, fraction: true };
/** --max-wait 0 is meaningful (no back-off sleep at all). */
export const BUDGET: NumberRange = { min: 0, max: MAX_SECONDS, fraction: true };
export const ATTEMPTS: NumberRange = { min: 1, max: 10000 };
export const BYTES_PER_SEC: NumberRange = { min: 0, max: 1e12 };

/** A cap for the help text: 64 MiB. */
const mib = (bytes: number) => `${bytes / (1024 * 1024)} MiB`;

export const COMMON_HELP = `Master options:
  --master LIST          masters to try in order, host[:port][,host[:port]...] (overrides WWMASTER)
  --hwaddr ADDR          this node's boot hardware address (overrides WWINIT_HWADDR)
  --https                talk https to the master (as WWHTTP=https)
  --ca-file FILE         trust only the CA certificate(s) (PEM) in FILE for https, not the system's;
                         implies --https, unless WWHTTP=http is set (then only for a redirect to https)
  --source-port MODE     auto (privileged port 100-1023 when root, default), privileged, or any
  --connect-timeout SEC  give up reaching a master (TCP connect + TLS handshake) after SEC s (default ${DEFAULT_CONNECT_TIMEOUT_S})
  --timeout SEC          abandon a request silent for SEC seconds (default ${DEFAULT_IDLE_TIMEOUT_S}; wwgetfiles in the initramfs ${INITRAMFS_IDLE_TIMEOUT_S})
  --max-time SEC         abandon a request whose whole answer took longer than SEC s (default ${DEFAULT_MAX_TIME_S},
                         wwgetfiles in the initramfs ${INITRAMFS_MAX_TIME_S};
                         the VNFS image: none unless given, see --speed-limit)
  --speed-limit BYTES    the VNFS image: abandon it when slower than BYTES/s (default ${DEFAULT_SPEED_LIMIT}) ...
  --speed-time SEC       ... averaged over SEC seconds (default ${DEFAULT_SPEED_TIME_S})
  --attempts N           rounds over all masters before giving up (${ATTEMPTS.min}-${ATTEMPTS.max}; default ${UPSTREAM_RETRY.attempts}; ${DEBUG_RETRY.attempts} with WWDEBUG not 0)
  --max-wait SEC         bound the total back-off sleep (2 s, 4 s, 6 s, ...) to SEC seconds
  --max-run SEC          end the whole run SEC s after it started (wwgetfiles: start delay included)
  --sysroot DIR          read /warewulf/config, /etc/network.conf, /proc/cmdline under DIR
  Numbers: decimal digits only (leading zeros allowed: 010 is ten; no sign, hex or exponent); SEC may
  have a fraction (0.5), up to ${MAX_SECONDS}; a bad option is a usage error (exit 2).
Limits:
  http_proxy, https_proxy, no_proxy, all_proxy (either case) are ignored: masters are always
  contacted directly, from the node's own (privileged) source port.
  Answers are read whole before use, up to a cap (a larger one is an error, exit 2):
  scripts at most ${mib(ANSWER_CAPS.script)}, node configuration at most ${mib(ANSWER_CAPS.nodeconfig)}, file list at most ${mib(ANSWER_CAPS.list)};
  file contents and the VNFS image are streamed, with no cap.
General:
  -q, --quiet            errors only        -v, --verbose   say more
  -h, --help             this text          -V, --version   version and embedded Node.js version`;

export const SETTINGS_HELP = `Settings (first found wins: environment, /warewulf/config, /etc/network.conf, /proc/cmdline ww*=):
  WWMASTER               comma-separated masters (DHCP_SERVER in /etc/network.conf as a last resort);
                         an entry that is not host[:port] is skipped with a warning
  WWINIT_HWADDR          the node's identity in every request (sent lower-case)
  WWHTTP                 http (default) or https
  WWDEBUG                set and not 0 (00 is 0 too): ${DEBUG_RETRY.attempts} attempts, no back-off
  A bad number in a setting is one warning line and its default, never an abort.`;

export const EXIT_HELP = `Exit codes:
  0  success
  1  another instance holds the lock (wwgetfiles)
  2  failure: no master, master refused or gave up, bad answer, local error, bad usage;
     also, without a message, when stdout's reader went away before the output was whole (| head)
  129, 130, 143  ended by SIGHUP, SIGINT, SIGTERM (128 + the signal's number), after removing the
     temporaries it made and releasing the lock (wwgetvnfs: the target stays marked incomplete)
  A closed stderr only silences the log: the tool carries on and exits as it would have.`;

/** The common options' values, as util.parseArgs gives them. */
export type CommonValues = { [K in keyof typeof COMMON_OPTIONS]?: (typeof COMMON_OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

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
