// build/package.mjs refuses what it must not ship, and an interrupted or refused run never
// leaves a partial release: the previous dist/release stays as it was.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    refused(s, /provision-wwruntime\.linux-x64\.cpio is missing: run npm run build first/);
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
    writeFileSync(join(s.dist, 'linux-x64/lib/libc.so.6'), 'changed after the build');
    const sum = spawnSync('sha256sum', ['lib/libc.so.6'], { cwd: join(s.dist, 'linux-x64'), encoding: 'utf8' }).stdout;
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
