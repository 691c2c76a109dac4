// Issue 16: the completeness marker of wwgetvnfs (TARGET/.wwgetvnfs-incomplete, written before the
// unpack starts and removed once it is complete and verified). The step installs nothing into a
// root that has it; the transport turns a "success" that left it into a failure (30-getvnfs reboots).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';
import { treeLines as tree } from '../helpers/tree.ts';
import { fakeRuntime, IMAGE_ENV, INSTALL, runStep, scratch, SHELLS } from './harness.ts';

const oneLine = (r: { status: number | null; stderr: string }, re: RegExp, root: string, before: string[] = []) => {
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), re);
  assert.equal(tree(root), before, 'nothing installed, nothing changed');
};

for (const shell of SHELLS) {
  test(`${shell.join(' ')}: NEWROOT with .wwgetvnfs-incomplete: not installing (one line, exit 2, root unchanged)`, () => {
    const s = scratch();
    try {
      const src = fakeRuntime(s.dir);
      mkdirSync(join(s.root, 'etc'));
      writeFileSync(join(s.root, '.wwgetvnfs-incomplete'), '');
      const before = tree(s.root);
      oneLine(
        runStep(shell, s, { WWRUNTIME_SOURCE: src }),
        /^wwruntime: ERROR: NEWROOT holds an unfinished VNFS unpack \(\.wwgetvnfs-incomplete\): not installing$/,
        s.root,
        before,
      );
      oneLine(runStep(shell, s, { WWRUNTIME_SOURCE: src, WWNORUNTIMESERVICES: '1' }), /unfinished VNFS unpack/, s.root, before);
      oneLine(
        runStep(shell, s, IMAGE_ENV, INSTALL, ['--into', s.root, '--from', src]),
        /holds an unfinished VNFS unpack \(\.wwgetvnfs-incomplete\): not installing$/,
        s.root,
        before,
      );
      rmSync(join(s.root, '.wwgetvnfs-incomplete'));
      assert.is(runStep(shell, s, { WWRUNTIME_SOURCE: src }).status, 0);
    } finally {
      s.cleanup();
    }
  });
}

const TRANSPORT = join(ROOT, 'bootstrap/wwruntime-transport');

/** The transport's wwgetvnfs with a stand-in executable running `script` (as `wwruntime wwgetvnfs ARGS`). */
function transport(script: string, args: (dir: string) => string[]) {
  const s = scratch();
  const home = join(s.dir, 'home');
  mkdirSync(join(home, 'linux-x64'), { recursive: true });
  writeFileSync(join(home, 'linux-x64/wwruntime'), `#!/bin/sh\n${script}\n`);
  chmodSync(join(home, 'linux-x64/wwruntime'), 0o755);
  const bin = join(s.dir, 'tbin');
  mkdirSync(bin);
  copyFileSync(TRANSPORT, join(bin, 'wwgetvnfs'));
  chmodSync(join(bin, 'wwgetvnfs'), 0o755);
  const r = spawnSync('/bin/busybox', ['sh', join(bin, 'wwgetvnfs'), ...args(s.dir)], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/bin', NEWROOT: s.root, WWRUNTIME_HOME: home, WWRUNTIME_ARCH: 'x86_64' },
  });
  s.cleanup();
  return r;
}

test('transport wwgetvnfs: exit 0 with the marker still in the target is a failure (30-getvnfs reboots)', () => {
  const MARKER_LINE = /^wwgetvnfs: ERROR: .* still holds \.wwgetvnfs-incomplete after the unpack reported success: the VNFS is incomplete$/;
  const failed = (r: ReturnType<typeof transport>) => {
    assert.is(r.status, 2, r.stderr);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), MARKER_LINE);
  };
  // the marker left in NEWROOT (the target inside the initramfs)
  failed(transport('touch "$NEWROOT/.wwgetvnfs-incomplete"; exit 0', () => []));
  // --target DIR, --target=DIR, -t DIR: the marker is looked for there ($2 of the stand-in is the folder or --target=...)
  failed(transport('mkdir -p "$3"; touch "$3/.wwgetvnfs-incomplete"; exit 0', (d) => ['--target', join(d, 'T')]));
  failed(transport('mkdir -p "$3"; touch "$3/.wwgetvnfs-incomplete"; exit 0', (d) => ['-t', join(d, 'T')]));
  failed(transport('d=${2#--target=}; mkdir -p "$d"; touch "$d/.wwgetvnfs-incomplete"; exit 0', (d) => [`--target=${join(d, 'T')}`]));
  // a marker somewhere else than the target does not count
  const other = transport('touch "$NEWROOT/.wwgetvnfs-incomplete"; exit 0', (d) => [`--target=${join(d, 'X')}`]);
  assert.is(other.status, 0, other.stderr);
  // finished: no marker; the tool's own status otherwise
  assert.is(transport('exit 0', () => []).status, 0);
  const two = transport('echo "wwgetvnfs: ERROR: x" >&2; exit 2', () => []);
  assert.is(two.status, 2);
  assert.not.match(two.stderr, /incomplete/);
});

test.run();
