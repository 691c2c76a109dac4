// The one number grammar (issue 16.1): every number read from the environment, the
// settings files, the kernel command line or an option goes through src/core/settings/number.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { describeRange, parseNumber } from '../../src/core/settings/number.ts';

const WHOLE = { min: 0, max: 86400 };
const FRACTION = { min: 0.001, max: 2147483, fraction: true };

test('plain decimal digits, base 10, leading zeros stripped: 010 is ten, 09 is nine (no octal)', () => {
  assert.is(parseNumber('180', WHOLE), 180);
  assert.is(parseNumber('010', WHOLE), 10);
  assert.is(parseNumber('09', WHOLE), 9);
  assert.is(parseNumber('0', WHOLE), 0);
  assert.is(parseNumber('000', WHOLE), 0);
  assert.is(parseNumber('00000000000000000000000000000000086400', WHOLE), 86400, 'many leading zeros');
});

test('surrounding ASCII white space is trimmed; inner white space and other spaces are not numbers', () => {
  assert.is(parseNumber('  180\t\n', WHOLE), 180);
  assert.is(parseNumber('\r\v\f7 ', WHOLE), 7);
  assert.is(parseNumber('1 80', WHOLE), undefined);
  assert.is(parseNumber('\u00a0180', WHOLE), undefined, 'no-break space is not ASCII white space');
  assert.is(parseNumber('', WHOLE), undefined);
  assert.is(parseNumber('   ', WHOLE), undefined);
});

test('signs, hex, exponents, digits of other scripts, junk: not numbers', () => {
  for (const v of [
    '+5',
    '-5',
    '-0',
    '0x10',
    '0X1f',
    '1e3',
    '1E3',
    'Infinity',
    'NaN',
    '09x',
    '5s',
    '٣',
    '１',
    '0b1',
    '0o7',
    '1_000',
    '1,000',
    '.',
  ]) {
    assert.is(parseNumber(v, WHOLE), undefined, JSON.stringify(v));
    assert.is(parseNumber(v, FRACTION), undefined, JSON.stringify(v));
  }
});

test('range edges are inclusive; one past either edge is refused', () => {
  assert.is(parseNumber('86400', WHOLE), 86400);
  assert.is(parseNumber('86401', WHOLE), undefined);
  assert.is(parseNumber('0', { min: 1, max: 86400 }), undefined);
  assert.is(parseNumber('1', { min: 1, max: 86400 }), 1);
  assert.is(parseNumber('64', { min: 1, max: 64 }), 64);
  assert.is(parseNumber('65', { min: 1, max: 64 }), undefined);
});

test('20-digit and longer values are out of range, never rounded into it', () => {
  assert.is(parseNumber('99999999999999999999', WHOLE), undefined);
  assert.is(parseNumber('18446744073709551617', { min: 0, max: Number.MAX_SAFE_INTEGER }), undefined);
  assert.is(parseNumber('9007199254740993', { min: 0, max: Number.MAX_SAFE_INTEGER }), undefined, 'beyond 2^53: would round');
  assert.is(parseNumber('9007199254740991', { min: 0, max: Number.MAX_SAFE_INTEGER }), Number.MAX_SAFE_INTEGER);
  assert.is(parseNumber(`0000${'9'.repeat(20)}`, WHOLE), undefined);
});

test('a fraction .DIGITS only where the caller allows it', () => {
  assert.is(parseNumber('0.5', FRACTION), 0.5);
  assert.is(parseNumber(' 00.25 ', FRACTION), 0.25);
  assert.is(parseNumber('2', FRACTION), 2);
  assert.is(parseNumber('0.5', WHOLE), undefined);
  assert.is(parseNumber('4.0', { min: 1, max: 64 }), undefined, 'a whole number has no fraction, not even .0');
  for (const v of ['.5', '5.', '0.5.1', '0,5', '1.e3', '0.5e1', '-0.5']) assert.is(parseNumber(v, FRACTION), undefined, v);
});

test('fractions at the range edges', () => {
  assert.is(parseNumber('0.001', FRACTION), 0.001);
  assert.is(parseNumber('0.0009', FRACTION), undefined);
  assert.is(parseNumber('0', FRACTION), undefined);
  assert.is(parseNumber('2147483.0', FRACTION), 2147483);
  assert.is(parseNumber('2147483.1', FRACTION), undefined);
});

test('range descriptions, as the messages print them', () => {
  assert.is(describeRange(WHOLE), 'a whole number in 0..86400');
  assert.is(describeRange({ min: 1, max: 64 }, ''), 'a whole number in 1..64');
  assert.is(describeRange(WHOLE, 'seconds'), 'a whole number of seconds in 0..86400');
  assert.is(describeRange(FRACTION, 'seconds'), 'a number of seconds in 0.001..2147483 (decimals allowed)');
});

test.run();
