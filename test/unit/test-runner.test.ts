// The test command on a machine that lacks a prerequisite (issue 13): instead of
// dozens of raw ENOENT failures, one line naming what is missing and the command
// that installs it, still followed by the 'N passed, N failed' line.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A PATH holding every command of /usr/bin and /usr/sbin except `hidden`: a machine without those packages. */
function pathWithout(hidden: string[]): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'path-'));
  for (const from of ['/usr/bin', '/usr/sbin']) {
    for (const n of readdirSync(from)) {
      if (hidden.includes(n)) continue;
      try {
        symlinkSync(join(from, n), join(dir, n));
      } catch {
        // the same name in both folders: the first one wins, as in PATH order
      }
    }
  }
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

test('a missing command stops the test command with one line naming it, its package and the install command', () => {
  const p = pathWithout(['shellcheck', 'bsdtar']);
  try {
    // The shellcheck test is the one that would otherwise fail with a raw "spawnSync shellcheck ENOENT".
    const r = spawnSync(process.execPath, [join(ROOT, 'test/run.mjs'), 'bootstrap/shellcheck'], {
      cwd: ROOT,
      env: { PATH: p.dir, WW_SKIP_BUILD: '1' },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.is(r.status, 1, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.is(lines[lines.length - 1], '0 passed, 1 failed', 'still the last line');
    const missing = lines.filter((l) => /missing/.test(l));
    assert.is(missing.length, 1, `one line: ${r.stdout}`);
    assert.match(missing[0], /shellcheck \(package shellcheck\)/);
    assert.match(missing[0], /bsdtar \(package libarchive-tools\)/);
    assert.match(missing[0], /apt-get install --no-install-recommends shellcheck libarchive-tools\b/);
    assert.not.match(r.stdout + r.stderr, /ENOENT/);
    assert.not.match(r.stdout, /# test\//, 'no test file was run');
  } finally {
    p.cleanup();
  }
});

test('with everything present the check is silent', () => {
  const r = spawnSync(process.execPath, [join(ROOT, 'test/run.mjs'), 'no-test-file-matches-this'], {
    cwd: ROOT,
    env: { ...process.env, WW_SKIP_BUILD: '1' },
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.not.match(r.stdout, /missing/, r.stdout);
  assert.match(r.stdout.trimEnd().split('\n').pop() ?? '', /^0 passed, 0 failed$/);
});

test.run();
