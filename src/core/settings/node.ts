// What the settings say about this node and how it talks to the master: its hwaddr, the
// scheme, WWDEBUG, and the numbers of seconds and flags an administrator sets as node
// attributes. Every number is read with the one grammar of settings/number.ts; a bad one is
// one warning and the default, never an abort.
import { WwError } from '../errors.ts';
import { describeRange, parseNumber, shownValue } from './number.ts';
import type { Settings } from './sources.ts';

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

/**
 * WWDEBUG: on or off. The initramfs always sets it, to "0" unless wwdebug=N is on the kernel
 * command line: "0" is off, and so is "00" (one grammar); anything else that is set (upstream:
 * any non-empty value) is on.
 */
export function debugSetting(settings: Settings): boolean {
  const v = settings.get('WWDEBUG') ?? '';
  return v.trim() !== '' && parseNumber(v, { min: 0, max: Number.MAX_SAFE_INTEGER }) !== 0;
}
