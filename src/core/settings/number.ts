// The one grammar for a number an administrator typed: in the environment, in
// /warewulf/config, on the kernel command line, or as an option. Before this
// there were three (whole numbers for settings, decimals for durations, and
// JavaScript's Number() for counts, which took '0x10', '1e1' and ' 4.0 '), and
// the bootstrap's shell read `010` as octal 8. The bootstrap implements the same
// whole-number grammar in sh, so a value means the same thing to both.
//
//   NUMBER  = WS* DIGITS [ '.' DIGITS ] WS*    the fraction only where the caller allows it
//   DIGITS  = one or more of 0-9 (ASCII); leading zeros allowed and stripped: 010 is ten
//   WS      = ASCII white space (space, tab, newline, CR, VT, FF)
//
// Nothing else: no sign, no hex/octal/binary prefix, no exponent, no '.5' or '5.',
// no digit separators, no digits of other scripts. Each use has its range [min, max];
// a value outside it is as bad as one that is not a number.

export interface NumberRange {
  min: number;
  max: number;
  /** Accept a fractional part `.DIGITS` (command-line durations such as --max-time 0.5). */
  fraction?: boolean;
}

const NUMBER = /^[ \t\n\r\v\f]*([0-9]+)(?:\.([0-9]+))?[ \t\n\r\v\f]*$/;

/** The value `text` spells under the grammar and within the range; undefined otherwise. */
export function parseNumber(text: string, r: NumberRange): number | undefined {
  const m = NUMBER.exec(text);
  if (!m) return undefined;
  if (m[2] !== undefined && !r.fraction) return undefined;
  const whole = m[1].replace(/^0+(?=[0-9])/, '');
  // Past 2^53 a double rounds, and could round back into range: every range we use is far
  // below 16 digits, so a longer number is out of range without converting it.
  if (whole.length > 16) return undefined;
  const n = Number(m[2] === undefined ? whole : `${whole}.${m[2]}`);
  if (!Number.isSafeInteger(Math.floor(n)) || n < r.min || n > r.max) return undefined;
  return n;
}

/** 'a whole number of seconds in 0..86400', for messages; `unit` '' for a plain count. */
export function describeRange(r: NumberRange, unit = ''): string {
  const of = unit ? ` of ${unit}` : '';
  return r.fraction ? `a number${of} in ${r.min}..${r.max} (decimals allowed)` : `a whole number${of} in ${r.min}..${r.max}`;
}

/** What someone typed, for a one-line message: control characters escaped, long values cut. */
export function shownValue(v: string, max = 40): string {
  const cut = v.length > max ? `${v.slice(0, max)}...` : v;
  return cut.replace(/[\x00-\x1f\x7f\\']/g, (c) =>
    c === '\n'
      ? '\\n'
      : c === '\t'
        ? '\\t'
        : c === '\\'
          ? '\\\\'
          : c === "'"
            ? "\\'"
            : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
  );
}
