// Everything in bootstrap/ passes shellcheck in POSIX sh mode.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';

test('shellcheck --shell=sh bootstrap/*', () => {
  const files = readdirSync(join(ROOT, 'bootstrap')).map((n) => join('bootstrap', n));
  assert.ok(files.length >= 3);
  const r = spawnSync('shellcheck', ['--shell=sh', '--external-sources', ...files], { cwd: ROOT, encoding: 'utf8' });
  if (r.error) throw new Error(`shellcheck not runnable: ${r.error.message}`);
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test('shellcheck --shell=sh the built launchers (build/launcher.sh filled in)', () => {
  const files = ['linux-x64', 'linux-arm64'].map((a) => join(ROOT, 'dist', a, 'wwruntime'));
  const r = spawnSync('shellcheck', ['--shell=sh', ...files], { encoding: 'utf8' });
  if (r.error) throw new Error(`shellcheck not runnable: ${r.error.message}`);
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test("shellcheck --shell=sh the boot test's stand-in initramfs scripts", () => {
  const base = join(ROOT, 'test/boot/initramfs');
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      if (n.isDirectory()) walk(join(d, n.name));
      else if (n.name !== 'README.md' && n.name !== 'register') files.push(join(d, n.name));
    }
  };
  walk(base);
  assert.ok(files.length >= 15);
  // SC2154/SC2034: variables that udhcpc, the sourced node configuration or a caller set
  const r = spawnSync('shellcheck', ['--shell=sh', '-e', 'SC1090,SC1091,SC2154,SC2034', ...files], { encoding: 'utf8' });
  if (r.error) throw new Error(`shellcheck not runnable: ${r.error.message}`);
  assert.is(r.status, 0, r.stdout + r.stderr);
});

test('no bashisms the brief names: no == in tests, no local', () => {
  for (const n of readdirSync(join(ROOT, 'bootstrap'))) {
    const text = spawnSync('cat', [join(ROOT, 'bootstrap', n)], { encoding: 'utf8' }).stdout;
    const code = text
      .split('\n')
      .filter((l) => !/^\s*#/.test(l))
      .join('\n');
    assert.not.match(code, /\[[^\]]*==/, n);
    assert.not.match(code, /^\s*local\s/m, n);
  }
});

test.run();
