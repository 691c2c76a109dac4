// Issue 20: the capability carries the executable packed (bin/wwruntime.xz) and the step unpacks it
// in the initramfs: checked against SHA256SUMS, unpacked into a temporary name, checked again,
// renamed whole. Bad input (a truncated blob, no space in the initramfs or in NEWROOT) fails the
// step with status 2 and one line, and leaves no half-installed /warewulf (nor a partial file).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sha256, treeLines as tree } from '../helpers/tree.ts';
import { fakeRuntime, runStep, scratch, SHELLS, type Scratch } from './harness.ts';

const isRoot = process.getuid?.() === 0;

/**
 * A stand-in runtime (harness fakeRuntime) whose bin/wwruntime is BIG bytes (an ELF header, then
 * repeated noise: ~70 KiB packed) and packed the way build/capability.mjs packs it: bin/wwruntime.xz, and
 * SHA256SUMS listing both the blob and the unpacked executable. Returns the ARCH folder.
 */
function packedRuntime(dir: string, big = 4 << 20, pack = true): string {
  const src = fakeRuntime(dir);
  const a = join(src, 'linux-x64');
  // no runs of zeros (xz would write a sparse file, which fits anywhere): 64 KiB of noise, repeated
  const noise = randomBytes(64 << 10);
  const exe = Buffer.alloc(big);
  for (let o = 0; o < big; o += noise.length) noise.copy(exe, o);
  readFileSync(join(a, 'bin/wwruntime')).copy(exe);
  if (!pack) {
    writeFileSync(join(a, 'bin/wwruntime'), exe);
    const sums = readFileSync(join(a, 'SHA256SUMS'), 'utf8').replace(/^\S+ {2}bin\/wwruntime$/m, `${sha256(exe)}  bin/wwruntime`);
    writeFileSync(join(a, 'SHA256SUMS'), sums);
    return a;
  }
  const blob = execFileSync('xz', ['-6', '-T1', '--check=crc32', '-c'], { input: exe });
  rmSync(join(a, 'bin/wwruntime'));
  writeFileSync(join(a, 'bin/wwruntime.xz'), blob);
  const sums = readFileSync(join(a, 'SHA256SUMS'), 'utf8')
    .split('\n')
    .filter((l) => l && !l.endsWith('  bin/wwruntime'));
  sums.push(`${sha256(exe)}  bin/wwruntime`, `${sha256(blob)}  bin/wwruntime.xz`);
  writeFileSync(join(a, 'SHA256SUMS'), `${sums.sort().join('\n')}\n`);
  return a;
}

/** Rewrites ARCH/SHA256SUMS so that it lists the blob as it is now (a blob cut before the sums were made). */
function relistBlob(a: string): void {
  const blob = readFileSync(join(a, 'bin/wwruntime.xz'));
  const sums = readFileSync(join(a, 'SHA256SUMS'), 'utf8').replace(/^\S+ {2}bin\/wwruntime\.xz$/m, `${sha256(blob)}  bin/wwruntime.xz`);
  writeFileSync(join(a, 'SHA256SUMS'), sums);
}

/** A folder of links to busybox, one per applet: the initramfs's commands, and nothing else. */
function busyboxPath(dir: string): string {
  const bin = join(dir, 'bb');
  mkdirSync(bin);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const ap of applets) symlinkSync('/bin/busybox', join(bin, ap));
  return bin;
}

const failsCleanly = (r: { status: number | null; stderr: string }, re: RegExp, s: Scratch, before: string[]) => {
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.match(r.stderr.trim(), re);
  assert.equal(tree(s.root), before, 'NEWROOT untouched: no half-installed /warewulf');
};

const noTemporaries = (a: string) =>
  assert.equal(
    readdirSync(join(a, 'bin')).filter((n) => n.startsWith('.')),
    [],
    'no temporary left next to the blob',
  );

test('packed runtime: unpacked in place (busybox sh with only busybox applets, dash), checked, installed; once', () => {
  for (const shell of SHELLS) {
    const s = scratch();
    try {
      const a = packedRuntime(s.dir);
      const env: Record<string, string> = { WWRUNTIME_SOURCE: a };
      if (shell[0] === '/bin/busybox') env.PATH = busyboxPath(s.dir); // busybox's unxz and sha256sum
      const r = runStep(shell, s, env);
      assert.is(r.status, 0, r.stderr);
      const want = sha256(readFileSync(join(a, 'bin/wwruntime')));
      assert.is(sha256(readFileSync(join(s.root, 'warewulf/bin/wwruntime'))), want);
      assert.ok(readFileSync(join(a, 'SHA256SUMS'), 'utf8').includes(`${want}  bin/wwruntime\n`));
      noTemporaries(a);
      // a second run (the transport unpacked it already, or a re-install) uses the unpacked file
      rmSync(join(a, 'bin/wwruntime.xz'));
      const again = runStep(shell, s, env);
      assert.is(again.status, 0, again.stderr);
    } finally {
      s.cleanup();
    }
  }
});

test('truncated blob: refused by its sum before unpacking: status 2, one line, nothing unpacked, NEWROOT untouched', () => {
  for (const shell of SHELLS) {
    const s = scratch();
    try {
      const a = packedRuntime(s.dir);
      truncateSync(join(a, 'bin/wwruntime.xz'), 1000);
      const before = tree(s.root);
      failsCleanly(
        runStep(shell, s, { WWRUNTIME_SOURCE: a }),
        /^wwruntime: ERROR: .*\/bin\/wwruntime\.xz is not the packed executable of this build \(SHA256SUMS differs\): damaged or truncated, not installing$/,
        s,
        before,
      );
      assert.equal(readdirSync(join(a, 'bin')), ['wwgetfiles', 'wwgetnodeconfig', 'wwgetscript', 'wwgetvnfs', 'wwruntime.xz']);
    } finally {
      s.cleanup();
    }
  }
});

test("truncated blob that SHA256SUMS lists as it is: the decompressor's error in one line, status 2, nothing unpacked", () => {
  for (const shell of SHELLS) {
    const s = scratch();
    try {
      const a = packedRuntime(s.dir);
      truncateSync(join(a, 'bin/wwruntime.xz'), 300);
      relistBlob(a);
      const env: Record<string, string> = { WWRUNTIME_SOURCE: a };
      if (shell[0] === '/bin/busybox') env.PATH = busyboxPath(s.dir);
      const before = tree(s.root);
      failsCleanly(
        runStep(shell, s, env),
        /^wwruntime: ERROR: could not unpack .*\/bin\/wwruntime\.xz into .*\/bin \(.*(unexpected end of input|corrupted data|Unexpected end).*; \d+ KiB free there\): not installing$/,
        s,
        before,
      );
      assert.not.ok(readdirSync(join(a, 'bin')).includes('wwruntime'), 'no bin/wwruntime');
      noTemporaries(a);
    } finally {
      s.cleanup();
    }
  }
});

test('no space in the initramfs (the blob on a 1 MiB tmpfs, 4 MiB unpacked): status 2, one line, no partial file', () => {
  if (!isRoot) return; // mounting a small tmpfs needs root (CI runs as root)
  for (const shell of SHELLS) {
    const s = scratch();
    const mnt = join(s.dir, 'initramfs');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    try {
      const a0 = packedRuntime(s.dir);
      cpSync(a0, join(mnt, 'linux-x64'), { recursive: true });
      const a = join(mnt, 'linux-x64');
      const env: Record<string, string> = { WWRUNTIME_SOURCE: a };
      if (shell[0] === '/bin/busybox') env.PATH = busyboxPath(s.dir);
      const before = tree(s.root);
      failsCleanly(
        runStep(shell, s, env),
        /^wwruntime: ERROR: could not unpack .*\/bin\/wwruntime\.xz into .*\/bin \(.*[Nn]o space left on device.*; \d+ KiB free there\): not installing$/,
        s,
        before,
      );
      assert.not.ok(readdirSync(join(a, 'bin')).includes('wwruntime'), 'no bin/wwruntime');
      noTemporaries(a);
    } finally {
      execFileSync('umount', [mnt]);
      s.cleanup();
    }
  }
});

test('no space in NEWROOT (a 2 MiB tmpfs, 4 MiB runtime, packed or not): refused before anything is placed, status 2, one line', () => {
  if (!isRoot) return;
  for (const [shell, pack] of SHELLS.flatMap((sh) => [false, true].map((p) => [sh, p] as const))) {
    const s = scratch();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', s.root]);
    try {
      // the copy into NEWROOT is what does not fit (before: lib/ installed, bin/ empty, two lines)
      const a = packedRuntime(s.dir, 4 << 20, pack);
      mkdirSync(join(s.root, 'etc'));
      const before = tree(s.root);
      failsCleanly(
        runStep(shell, s, { WWRUNTIME_SOURCE: a }),
        /^wwruntime: ERROR: no space for the runtime in .*\/root\/warewulf: \d+ KiB needed, \d+ KiB free there: not installing$/,
        s,
        before,
      );
    } finally {
      execFileSync('umount', [s.root]);
      s.cleanup();
    }
  }
});

test('NEWROOT with room for exactly one runtime: installed, and installed again over itself (identical copies need no room)', () => {
  if (!isRoot) return;
  const s = scratch();
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', s.root]);
  try {
    const a = packedRuntime(s.dir);
    for (const shell of SHELLS) {
      const r = runStep(shell, s, { WWRUNTIME_SOURCE: a });
      assert.is(r.status, 0, r.stderr);
    }
  } finally {
    execFileSync('umount', [s.root]);
    s.cleanup();
  }
});

test('NEWROOT on ramfs (df says 0 KiB in all, i.e. no limit it knows): installed, not refused for space', () => {
  if (!isRoot) return;
  const s = scratch();
  execFileSync('mount', ['-t', 'ramfs', 'ramfs', s.root]);
  try {
    const a = packedRuntime(s.dir);
    for (const shell of SHELLS) {
      const r = runStep(shell, s, { WWRUNTIME_SOURCE: a });
      assert.is(r.status, 0, r.stderr);
      assert.ok(readdirSync(join(s.root, 'warewulf/bin')).includes('wwruntime'), 'bin/wwruntime installed');
    }
  } finally {
    execFileSync('umount', [s.root]);
    s.cleanup();
  }
});

test.run();
