// Resolves a node's settings from the sources PROTOCOL section 1 lists, first hit wins:
// the environment, /warewulf/config, /etc/network.conf (DHCP_SERVER, master of last
// resort) and /proc/cmdline (ww*= arguments). File locations are parameters so tests
// can point them at fixtures.
import { readFileSync } from 'node:fs';
import { WwError } from './errors.ts';
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

/** Splits `host[:port][,host[:port]...]`; IPv6 literals go in brackets: `[fd00::1]:8080`. */
export function parseMasterList(value: string): MasterAddress[] {
  const out: MasterAddress[] = [];
  for (const raw of value.split(',')) {
    const label = raw.trim();
    if (label === '') continue;
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9._-]+))(?::(\d{1,5}))?$/.exec(label);
    if (!m) throw new WwError('config', `invalid master address '${label}' in WWMASTER`);
    const port = m[3] === undefined ? undefined : Number(m[3]);
    if (port !== undefined && (port < 1 || port > 65535)) {
      throw new WwError('config', `invalid port in master address '${label}'`);
    }
    out.push({ host: m[1] ?? m[2], port, label });
  }
  return out;
}

/** The masters to try, in order. No master anywhere is the upstream's exit-2 error. */
export function resolveMasters(settings: Settings): MasterAddress[] {
  const value = settings.get('WWMASTER');
  const masters = value ? parseMasterList(value) : [];
  if (masters.length === 0) throw new WwError('no-master', 'Could not identify master node!');
  return masters;
}

/** The node's identity: its boot hwaddr, lower-cased because the master's datastore matches case-sensitively. */
export function resolveHwaddr(settings: Settings): string {
  const value = settings.get('WWINIT_HWADDR');
  if (!value) throw new WwError('config', 'WWINIT_HWADDR is not set: cannot identify this node to the master');
  let hw = value.trim().toLowerCase();
  // InfiniBand: the 59-character (20-byte) address; the master knows the node by its GUID, the last 23 characters.
  if (hw.length === 59) hw = hw.slice(-23);
  if (!/^[a-z0-9:]+$/.test(hw)) {
    throw new WwError('config', `WWINIT_HWADDR '${value}' is not a hardware address (letters, digits and ':' only)`);
  }
  return hw;
}

export function resolveScheme(settings: Settings): 'http' | 'https' {
  const v = (settings.get('WWHTTP') ?? 'http').trim().toLowerCase();
  if (v === '' || v === 'http') return 'http';
  if (v === 'https') return 'https';
  throw new WwError('config', `WWHTTP must be 'http' or 'https', not '${v}'`);
}

/** The longest wait a timer can take (2^31-1 ms, about 24.8 days); beyond it setTimeout fires at once. */
export const MAX_SECONDS = Math.floor(0x7fffffff / 1000);

/** Parses a non-negative whole number of seconds; undefined when unset or empty. */
export function secondsSetting(settings: Settings, key: string): number | undefined {
  const v = settings.get(key);
  if (v === undefined || v.trim() === '') return undefined;
  const shown = v.length > 40 ? `${v.slice(0, 40)}...` : v;
  if (!/^\d+$/.test(v.trim())) throw new WwError('config', `${key} must be a whole number of seconds, not '${shown}'`);
  const n = Number(v.trim());
  if (n > MAX_SECONDS) throw new WwError('config', `${key} must be at most ${MAX_SECONDS} seconds, not '${shown}'`);
  return n;
}
