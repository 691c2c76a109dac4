// Resolves a node's settings from the sources PROTOCOL section 1 lists, first hit wins:
// the environment, /warewulf/config, /etc/network.conf (DHCP_SERVER, master of last
// resort) and /proc/cmdline (ww*= arguments). File locations are parameters so tests
// can point them at fixtures.
import { readFileSync } from 'node:fs';
import { WwError } from '../errors.ts';
import { describeRange, parseNumber, shownValue } from './number.ts';
import { parseShellVars } from './shellvars.ts';

export interface SettingsSources {
  env: Record<string, string | undefined>;
  configPath?: string; // default /warewulf/config
  networkConfPath?: string; // default /etc/network.conf
  cmdlinePath?: string; // default /proc/cmdline
  readFile?: (path: string) => string | undefined;
}

export type SettingSource = 'environment' | 'config' | 'network.conf' | 'cmdline';

export interface Settings {
  get(key: string): string | undefined;
  /** Where a key's value came from, for --verbose and error messages. */
  sourceOf(key: string): SettingSource | undefined;
}

export interface MasterAddress {
  host: string;
  port?: number;
  /** As the admin wrote it, for messages. */
  label: string;
}

function defaultRead(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // a missing source is normal: it just has nothing to say
  }
}

/** Parses the kernel command line's `ww*=value` words the way the Warewulf initramfs does: key upper-cased. */
export function parseCmdline(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const word of text.split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq <= 0) continue;
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (!/^ww[A-Za-z0-9_]*$/i.test(key) || value === '') continue;
    out.set(key.toUpperCase(), value);
  }
  return out;
}

export function loadSettings(src: SettingsSources): Settings {
  const read = src.readFile ?? defaultRead;
  const layers: [SettingSource, Map<string, string>][] = [];
  const env = new Map<string, string>();
  for (const [k, v] of Object.entries(src.env)) if (v !== undefined) env.set(k, v);
  layers.push(['environment', env]);
  const config = read(src.configPath ?? '/warewulf/config');
  layers.push(['config', config === undefined ? new Map() : parseShellVars(config).vars]);
  const netconf = read(src.networkConfPath ?? '/etc/network.conf');
  const dhcp = new Map<string, string>();
  if (netconf !== undefined) {
    const server = parseShellVars(netconf).vars.get('DHCP_SERVER');
    if (server) dhcp.set('WWMASTER', server);
  }
  layers.push(['network.conf', dhcp]);
  const cmdline = read(src.cmdlinePath ?? '/proc/cmdline');
  layers.push(['cmdline', cmdline === undefined ? new Map() : parseCmdline(cmdline)]);

  const find = (key: string) => layers.find(([, m]) => m.has(key));
  return {
    get: (key) => find(key)?.[1].get(key),
    sourceOf: (key) => find(key)?.[0],
  };
}

const MASTER_ENTRY = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::([0-9]+))?$/;
const PORT = { min: 1, max: 65535 };

/** One `host[:port]` entry (IPv6 in brackets: `[fd00::1]:8080`), or why it is not one. */
function parseMasterEntry(label: string): MasterAddress | { bad: string } {
  const m = MASTER_ENTRY.exec(label);
  if (!m) return { bad: 'is not host[:port]' };
  const port = m[3] === undefined ? undefined : parseNumber(m[3], PORT);
  if (m[3] !== undefined && port === undefined) return { bad: `has a port outside ${PORT.min}..${PORT.max}` };
  return { host: m[1] ?? m[2], port, label };
}

/**
 * Splits `host[:port][,host[:port]...]`. With `skip`, an entry that is not an address is
 * reported to it and left out (a setting: use the rest, as upstream's loop over the list
 * would); without, it is a usage error (an option typed on this command line).
 */
export function parseMasterList(value: string, skip?: (label: string, why: string) => void): MasterAddress[] {
  const out: MasterAddress[] = [];
  for (const raw of value.split(',')) {
    const label = raw.trim();
    if (label === '') continue;
    const e = parseMasterEntry(label);
    if ('bad' in e) {
      if (skip) {
        skip(label, e.bad);
        continue;
      }
      const what = e.bad.startsWith('has a port') ? `invalid port in master address '${shownValue(label)}' (${PORT.min}..${PORT.max})`
        : `invalid master address '${shownValue(label)}' (host[:port], IPv6 as [addr]:port)`;
      throw new WwError('WW_USAGE', `--master: ${what}`);
    }
    out.push(e);
  }
  return out;
}

/**
 * The masters to try, in order. A bad entry in WWMASTER is one warning and skipped;
 * no valid master anywhere is upstream's exit-2 error.
 */
export function resolveMasters(settings: Settings, warn: (line: string) => void = () => {}): MasterAddress[] {
  const value = settings.get('WWMASTER');
  const masters = value
    ? parseMasterList(value, (label, why) => warn(`WWMASTER entry '${shownValue(label)}' ${why}; skipped`))
    : [];
  if (masters.length === 0) throw new WwError('WW_NO_MASTER', 'Could not identify master node!');
  return masters;
}

/** The node's identity: its boot hwaddr, lower-cased because the master's datastore matches case-sensitively. */
export function resolveHwaddr(settings: Settings): string {
  const value = settings.get('WWINIT_HWADDR');
  if (!value) throw new WwError('WW_CONFIG', 'WWINIT_HWADDR is not set: cannot identify this node to the master');
  let hw = value.trim().toLowerCase();
  // InfiniBand: the 59-character (20-byte) address; the master knows the node by its GUID, the last 23 characters.
  if (hw.length === 59) hw = hw.slice(-23);
  if (!/^[a-z0-9:]+$/.test(hw)) {
    throw new WwError('WW_CONFIG', `WWINIT_HWADDR '${value}' is not a hardware address (letters, digits and ':' only)`);
  }
  return hw;
}

export function resolveScheme(settings: Settings): 'http' | 'https' {
  const v = (settings.get('WWHTTP') ?? 'http').trim().toLowerCase();
  if (v === '' || v === 'http') return 'http';
  if (v === 'https') return 'https';
  throw new WwError('WW_CONFIG', `WWHTTP must be 'http' or 'https', not '${v}'`);
}

/** The longest wait a timer can take (2^31-1 ms, about 24.8 days); beyond it setTimeout fires at once. */
export const MAX_SECONDS = Math.floor(0x7fffffff / 1000);

/** A setting holding a whole number of seconds, with its range and documented default. */
export interface SecondsSpec {
  key: string;
  min: number;
  max: number;
  /** undefined: no value (the caller does something else, e.g. the random delay instead of SLEEPTIME). */
  default?: number;
  /** How the default reads in the warning, when it is not a number. */
  defaultText?: string;
}

// Whole numbers because they also reach the bootstrap's sh step (cron lines, timers), whose
// shell arithmetic has no fractions; the same ranges as there (bootstrap/wwruntime-lib.sh).
export const WWGETFILES_INTERVAL: SecondsSpec = { key: 'WWGETFILES_INTERVAL', min: 0, max: 86400, default: 180 };
export const SLEEPTIME: SecondsSpec = { key: 'SLEEPTIME', min: 0, max: 86400, defaultText: 'the random start delay' };
/** Read by the bootstrap only (it passes --max-run); here so both sides share one range. */
export const WWRUNTIME_MAX_RUN: SecondsSpec = { key: 'WWRUNTIME_MAX_RUN', min: 1, max: 86400, default: 280 };

/**
 * A whole number of seconds from the settings. Unset or blank: the default. A bad value is
 * a node attribute an administrator typed: one warning line and the default, never an abort
 * (a typo in WWGETFILES_INTERVAL must not stop a node's updates).
 */
export function secondsSetting(settings: Settings, spec: SecondsSpec, warn: (line: string) => void): number | undefined {
  const v = settings.get(spec.key);
  if (v === undefined || v.trim() === '') return spec.default;
  const n = parseNumber(v, spec);
  if (n !== undefined) return n;
  warn(`${spec.key}='${shownValue(v)}' is not ${describeRange(spec, 'seconds')}, using ${spec.defaultText ?? spec.default}`);
  return spec.default;
}

/**
 * A 0/1 setting (WWVALIDATE_VNFS): the same grammar, so ` 1` and `01` are 1. Unset or blank: 0.
 * Anything else: one warning line and 0, as upstream (which tests for exactly `1`) would do silently.
 */
export function flagSetting(settings: Settings, key: string, warn: (line: string) => void, meaning: string): boolean {
  const v = settings.get(key);
  if (v === undefined || v.trim() === '') return false;
  const n = parseNumber(v, { min: 0, max: 1 });
  if (n === undefined) warn(`${key}='${shownValue(v)}' is not 0 or 1, using 0 (${meaning})`);
  return n === 1;
}
