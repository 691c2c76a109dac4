// build/package.mjs refuses what it must not ship, and an interrupted or refused run never
// leaves a partial release: the previous dist/release stays as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';

interface Package {
  packageRelease(o: { root?: string; dist?: string; out?: string; epoch?: number }): { out: string; files: string[] };
  sourceDateEpoch(root: string, env: Record<string, string | undefined>): number;
}
const modPath: string = '../../build/package.mjs';
const { packageRelease, sourceDateEpoch } = (await import(modPath)) as Package;

function scratch() {
  const dir = mkdtempSync(join(tmpdir(), 'wwpkg-err-'));
  const out = join(dir, 'release');
  mkdirSync(out);
  writeFileSync(join(out, 'SHA256SUMS'), 'the previous release\n');
  return { dir, out, dist: join(dir, 'dist'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
const refused = (s: ReturnType<typeof scratch>, re: RegExp) => {
  assert.throws(() => packageRelease({ root: ROOT, dist: s.dist, out: s.out, epoch: 1 }), re);
  assert.is(readFileSync(join(s.out, 'SHA256SUMS'), 'utf8'), 'the previous release\n');
  // no work or temporary folder of this run left beside it
  assert.equal(
    readdirSync(s.dir).filter((n) => /^release\.(work|tmp)\d+$/.test(n) && n !== `release.work${process.pid}`),
    [],
  );
};

test('no build: asks for npm run build, keeps the previous release', () => {
  const s = scratch();
  try {
    refused(s, /run npm run build first/);
    mkdirSync(join(s.dist, 'linux-x64'), { recursive: true });
    writeFileSync(join(s.dist, 'linux-x64/wwruntime'), 'x');
    refused(s, /bin\/wwruntime is missing: run npm run build first/);
    mkdirSync(join(s.dist, 'linux-x64/bin'));
    writeFileSync(join(s.dist, 'linux-x64/bin/wwruntime'), 'x');
    refused(s, /provision-wwruntime\.linux-x64\.\* is missing: run npm run build first/);
  } finally {
    s.cleanup();
  }
});

test('a runtime folder that does not match its SHA256SUMS, or an unknown architecture, is refused', () => {
  const s = scratch();
  try {
    mkdirSync(join(s.dist, 'linux-x64/lib'), { recursive: true });
    mkdirSync(join(s.dist, 'capability'));
    writeFileSync(join(s.dist, 'capability/provision-wwruntime.linux-x64.cpio'), 'cpio');
    writeFileSync(join(s.dist, 'linux-x64/wwruntime'), 'launcher');
    mkdirSync(join(s.dist, 'linux-x64/bin'));
    writeFileSync(join(s.dist, 'linux-x64/bin/wwruntime'), 'multi-call');
    writeFileSync(join(s.dist, 'linux-x64/lib/libc.so.6'), 'changed after the build');
    const sum = spawnSync('sha256sum', ['lib/libc.so.6', 'wwruntime', 'bin/wwruntime'], {
      cwd: join(s.dist, 'linux-x64'),
      encoding: 'utf8',
    }).stdout;
    writeFileSync(
      join(s.dist, 'linux-x64/SHA256SUMS'),
      sum.replace(/^[0-9a-f]/, (c) => (c === '0' ? '1' : '0')),
    );
    refused(s, /lib\/libc\.so\.6 does not match .*SHA256SUMS: rebuild/);
    writeFileSync(join(s.dist, 'linux-x64/SHA256SUMS'), sum);
    mkdirSync(join(s.dist, 'linux-riscv64'));
    refused(s, /linux-riscv64: unknown architecture/);
  } finally {
    s.cleanup();
  }
});

/** A small dist/ the checks accept as built: linux-x64 with SHA256SUMS over its files, and a capability. */
function fakeDist(dist: string) {
  const x = join(dist, 'linux-x64');
  mkdirSync(join(x, 'bin'), { recursive: true });
  mkdirSync(join(x, 'lib'));
  mkdirSync(join(dist, 'capability'));
  writeFileSync(join(dist, 'capability/provision-wwruntime.linux-x64.cpio'), 'cpio');
  for (const [f, text] of [
    ['wwruntime', 'launcher'],
    ['bin/wwruntime', 'multi-call'],
    ['lib/libc.so.6', 'libc'],
  ])
    writeFileSync(join(x, f), text);
  const sums = spawnSync('sha256sum', ['wwruntime', 'bin/wwruntime', 'lib/libc.so.6'], { cwd: x, encoding: 'utf8' }).stdout;
  writeFileSync(join(x, 'SHA256SUMS'), sums);
  return x;
}
interface Capability {
  writeCpio(dir: string, out: string): void;
  leanManifest(o: { blob: string; machine: string; size: number; sha256: string; unpacked: number }): string;
}
const capPath: string = '../../build/capability.mjs';
const { writeCpio, leanManifest } = (await import(capPath)) as Capability;

/** fakeDist plus the lean capability (opt-in): its cpio with the manifest, and the blob it names. */
function fakeLean(dist: string) {
  const blob = Buffer.from('the runtime blob\n');
  const name = 'wwruntime-0.1.0-linux-x64-0123456789abcdef.tar.xz';
  const tree = join(dist, 'lean-tree');
  mkdirSync(join(tree, 'warewulf/wwruntime/linux-x64'), { recursive: true });
  const sum = spawnSync('sha256sum', { input: blob, encoding: 'utf8' }).stdout.split(' ')[0];
  writeFileSync(
    join(tree, 'warewulf/wwruntime/linux-x64/RUNTIME'),
    leanManifest({ blob: name, machine: 'x86_64', size: blob.length, sha256: sum, unpacked: 1 }),
  );
  writeCpio(tree, join(dist, 'capability/provision-wwruntime-lean.linux-x64.cpio'));
  rmSync(tree, { recursive: true, force: true });
  const file = join(dist, 'capability/bootstrap/wwruntime/x86_64', name);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, blob);
  return file;
}

test('the lean capability: a missing cpio or blob, or a blob that differs from its manifest, is refused with one line, exit 1', () => {
  for (const [what, damage, re] of [
    [
      'no lean cpio',
      (_b: string, d: string) => rmSync(join(d, 'capability/provision-wwruntime-lean.linux-x64.cpio')),
      /provision-wwruntime-lean\.linux-x64\.cpio is missing: run npm run build first/,
    ],
    [
      'no blob',
      (b: string) => rmSync(b),
      /wwruntime-0\.1\.0-linux-x64-0123456789abcdef\.tar\.xz is missing \(the lean capability's runtime blob\): rebuild/,
    ],
    [
      'a truncated blob',
      (b: string) => writeFileSync(b, 'the run'),
      /tar\.xz does not match the size and SHA256 in provision-wwruntime-lean\.linux-x64\.cpio: rebuild/,
    ],
    [
      'a blob of the same size, other bytes',
      (b: string) => writeFileSync(b, 'THE RUNTIME BLOB\n'),
      /tar\.xz does not match the size and SHA256 in provision-wwruntime-lean\.linux-x64\.cpio: rebuild/,
    ],
  ] as [string, (b: string, d: string) => void, RegExp][]) {
    const s = scratch();
    try {
      fakeDist(s.dist);
      damage(fakeLean(s.dist), s.dist);
      refused(s, re);
      const r = cli(s.dist, s.out);
      assert.is(r.status, 1, `${what}: ${r.stderr}`);
      assert.is(r.stderr.split('\n').filter(Boolean).length, 1, `${what}: one line, not ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^package: ERROR: .*${re.source}`), what);
    } finally {
      s.cleanup();
    }
  }
});

/** The package step as the administrator runs it: its exit status and its standard error. */
const cli = (dist: string, out: string) =>
  spawnSync(process.execPath, [join(ROOT, 'build/package.mjs'), '--dist', dist, '--out', out], { encoding: 'utf8', timeout: 60_000 });

test('a damaged runtime folder is refused with one line, exit 1: a dangling or escaping symlink, a file SHA256SUMS does not list', () => {
  for (const [what, damage, re] of [
    [
      'a symlink to a missing file',
      (x: string) => symlinkSync('wwruntime-gone', join(x, 'bin/wwgetfiles')),
      /bin\/wwgetfiles -> wwruntime-gone: the link's target is not a file of /,
    ],
    [
      'a symlink out of the folder',
      (x: string) => symlinkSync('../../../etc/passwd', join(x, 'bin/wwgetvnfs')),
      /bin\/wwgetvnfs -> \.\.\/\.\.\/\.\.\/etc\/passwd: the link's target is not a file of /,
    ],
    [
      'an absolute symlink',
      (x: string) => symlinkSync('/bin/sh', join(x, 'bin/wwgetscript')),
      /bin\/wwgetscript -> \/bin\/sh: the link's target is not a file of /,
    ],
    [
      'a file SHA256SUMS does not list',
      (x: string) => writeFileSync(join(x, 'lib/libextra.so'), 'stray'),
      /lib\/libextra\.so is not listed in .*SHA256SUMS: rebuild/,
    ],
    ['no SHA256SUMS', (x: string) => rmSync(join(x, 'SHA256SUMS')), /SHA256SUMS is missing: rebuild/],
  ] as [string, (x: string) => void, RegExp][]) {
    const s = scratch();
    try {
      damage(fakeDist(s.dist));
      refused(s, re);
      const r = cli(s.dist, s.out);
      assert.is(r.status, 1, `${what}: ${r.stderr}`);
      assert.is(r.stderr.split('\n').filter(Boolean).length, 1, `${what}: one line, not ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^package: ERROR: .*${re.source}`), what);
      assert.is(readFileSync(join(s.out, 'SHA256SUMS'), 'utf8'), 'the previous release\n', `${what}: the previous release kept`);
    } finally {
      s.cleanup();
    }
  }
});

test('a checksum mismatch against dist/ARCH/SHA256SUMS: one line from the package command, exit 1', () => {
  const s = scratch();
  try {
    const x = fakeDist(s.dist);
    writeFileSync(join(x, 'bin/wwruntime'), 'multi-call, damaged');
    const r = cli(s.dist, s.out);
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr.split('\n').filter(Boolean).length, 1, r.stderr);
    assert.match(r.stderr, /^package: ERROR: .*bin\/wwruntime does not match .*SHA256SUMS: rebuild \(npm run build\)$/m);
    assert.is(readFileSync(join(s.out, 'SHA256SUMS'), 'utf8'), 'the previous release\n');
  } finally {
    s.cleanup();
  }
});

test('two capability files for one architecture (an older build beside a newer one) are refused', () => {
  const s = scratch();
  try {
    fakeDist(s.dist);
    writeFileSync(join(s.dist, 'capability/provision-wwruntime.linux-x64.cpio.xz'), 'another');
    refused(s, /more than one capability for linux-x64 .*: rebuild/);
  } finally {
    s.cleanup();
  }
});

test("a killed run's leftovers beside the release are removed; a running one's are kept", () => {
  const s = scratch();
  try {
    const dead = 99_999_999; // above any pid_max: no such process
    for (const n of [`release.work${dead}`, `release.tmp${dead}`, `release.work${process.pid}`, 'release.keep']) {
      mkdirSync(join(s.dir, n, 'x'), { recursive: true });
    }
    refused(s, /run npm run build first/);
    assert.equal(readdirSync(s.dir).sort(), ['release', 'release.keep', `release.work${process.pid}`]);
  } finally {
    s.cleanup();
  }
});

test('SOURCE_DATE_EPOCH: taken from the environment, else the last commit; nonsense refused', () => {
  assert.is(sourceDateEpoch(ROOT, { SOURCE_DATE_EPOCH: '1234567890' }), 1234567890);
  const git = Number(spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%ct'], { encoding: 'utf8' }).stdout.trim());
  assert.is(sourceDateEpoch(ROOT, {}), git);
  assert.throws(() => sourceDateEpoch(ROOT, { SOURCE_DATE_EPOCH: 'yesterday' }), /seconds since 1970/);
  assert.throws(() => sourceDateEpoch(tmpdir(), {}), /set SOURCE_DATE_EPOCH/);
});

test.run();
