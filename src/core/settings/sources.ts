// A node's settings from the sources PROTOCOL section 1 lists, first hit wins: the
// environment, /warewulf/config, /etc/network.conf (DHCP_SERVER, master of last resort)
// and /proc/cmdline (ww*= arguments). File locations are parameters so tests can point
// them at fixtures. What a setting's value means is settings/masters.ts's and settings/node.ts's.
import { readFileSync } from 'node:fs';
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
