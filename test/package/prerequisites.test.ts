// npm run build, npm run demo and npm run package check their commands first (build/prerequisites.mjs,
// the one check of test/prerequisites.txt that npm test also runs): on a machine without them,
// one line naming each missing command and its package, with the command that installs them,
// and nothing built.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';

interface Prerequisites {
  missingPrerequisites(o: { purposes: string[]; root?: string; path?: string }): { pkg: string; cmd: string }[];
}
const modPath: string = '../../build/prerequisites.mjs';
const { missingPrerequisites } = (await import(modPath)) as Prerequisites;

const TMP = mkdtempSync(join(tmpdir(), 'wwprereq-'));
test.after(() => rmSync(TMP, { recursive: true, force: true }));

/** A PATH with node, npm and a shell, and none of the build's commands. */
const bare = join(TMP, 'bin');
mkdirSync(bare);
const npm = spawnSync('sh', ['-c', 'command -v npm'], { encoding: 'utf8' }).stdout.trim();
for (const [name, to] of [
  ['node', process.execPath],
  ['npm', npm],
  ['sh', '/bin/sh'],
])
  symlinkSync(to, join(bare, name));

for (const script of ['build', 'demo', 'package']) {
  test(`npm run ${script} on a machine without the build's commands: one line naming them and how to install them, nothing built`, () => {
    const dist = join(TMP, `dist-${script}`);
    const r = spawnSync(npm, ['run', '--silent', script], {
      cwd: ROOT,
      env: { PATH: bare, HOME: TMP, WWRUNTIME_DIST: dist },
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.is.not(r.status, 0, r.stdout + r.stderr);
    const lines = r.stderr.split('\n').filter((l) => l && !/^npm (notice|error)/.test(l));
    assert.is(lines.length, 1, r.stderr);
    assert.match(lines[0], /prerequisites missing: .*patchelf \(package patchelf\)/);
    assert.match(lines[0], /aarch64-linux-gnu-strip \(package binutils-aarch64-linux-gnu\)/);
    assert.match(
      lines[0],
      /install them with: apt-get install --no-install-recommends .*patchelf.*\(as root; or everything: npm run setup\)$/,
    );
    if (script === 'package') assert.match(lines[0], /rpmbuild \(package rpm\)/);
    else assert.not.match(lines[0], /rpmbuild|mariadb|apache2/, 'only what the build needs');
    assert.not.ok(existsSync(dist), 'the build did not start');
  });
}

test('the build checks only the lines marked "# build"; the tests check every line; an absolute path must exist as written', () => {
  const root = join(TMP, 'tree');
  const bin = join(TMP, 'tools');
  mkdirSync(join(root, 'test'), { recursive: true });
  mkdirSync(bin);
  writeFileSync(
    join(root, 'test/prerequisites.txt'),
    '# comment\npatchelf  patchelf  # build\nrpm  rpmbuild rpm  # package\nbusybox  /nonexistent/busybox\nshellcheck shellcheck\n',
  );
  writeFileSync(join(bin, 'patchelf'), '#!/bin/sh\n', { mode: 0o755 });
  writeFileSync(join(bin, 'rpm'), 'not executable', { mode: 0o644 });
  const names = (purposes: string[]) => missingPrerequisites({ purposes, root, path: bin }).map((m) => m.cmd);
  assert.equal(names(['build']), []);
  assert.equal(names(['build', 'package']), ['rpmbuild', 'rpm']);
  assert.equal(names(['test']), ['rpmbuild', 'rpm', '/nonexistent/busybox', 'shellcheck']);
});

test.run();
