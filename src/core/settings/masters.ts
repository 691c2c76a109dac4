// WWMASTER (and --master): the masters to ask, in order. A setting with a bad entry is one
// warning and the rest are used, as upstream's loop over the list would; an option with one is
// a usage error, since it was typed on this command line.
import { WwError } from '../errors.ts';
import { parseNumber, shownValue } from './number.ts';
import type { Settings } from './sources.ts';

export interface MasterAddress {
  host: string;
  port?: number;
  /** As the admin wrote it, for messages. */
  label: string;
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
      const what = e.bad.startsWith('has a port')
        ? `invalid port in master address '${shownValue(label)}' (${PORT.min}..${PORT.max})`
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
  const masters = value ? parseMasterList(value, (label, why) => warn(`WWMASTER entry '${shownValue(label)}' ${why}; skipped`)) : [];
  if (masters.length === 0) throw new WwError('WW_NO_MASTER', 'Could not identify master node!');
  return masters;
}
