// core/errors.ts: codes are stable and documented; the retry decision is the error's own.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ERROR_CODES, EXIT, WwError, isRetryable } from '../../src/core/errors.ts';

test('every code is listed in the README exit-code section, with its exit status', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  for (const code of Object.keys(ERROR_CODES)) {
    const exit = code === 'WW_LOCKED' ? EXIT.LOCKED : EXIT.FAILED;
    assert.match(readme, new RegExp(`\\| \`${code}\` \\| ${exit} \\|`), code);
  }
});

test("retry: the code's default, unless the error says otherwise", () => {
  assert.is(new WwError('WW_TRUNCATED', 'x').retry, true);
  assert.is(new WwError('WW_HTTP_STATUS', 'x', { status: 404 }).retry, false);
  assert.is(new WwError('WW_HTTP_STATUS', 'x', { status: 503, retry: true }).retry, true);
  assert.ok(isRetryable(new WwError('WW_NETWORK', 'x')));
  assert.not.ok(isRetryable(new Error('not ours')));
});

test('exit status: 1 only for the lock', () => {
  assert.is(new WwError('WW_LOCKED', 'x').exitCode, 1);
  assert.is(new WwError('WW_IO', 'x').exitCode, 2);
});

test.run();
