// LD_LIBRARY_PATH cannot break the bundled C runtime (issue 16.2). `module load gcc` on a cluster
// puts a folder holding another libstdc++.so.6 into LD_LIBRARY_PATH; a run path given as DT_RUNPATH
// loses to it, one given as DT_RPATH wins (ld.so searches DT_RPATH, then LD_LIBRARY_PATH, then
// DT_RUNPATH). The executables carry DT_RPATH /warewulf/lib and no DT_RUNPATH, and the libraries of
// lib/ carry neither, so the executable's DT_RPATH also applies to what those libraries need.
// Tested in a chroot holding only the bundle, as a node runs /warewulf/bin/NAME; linux-arm64 under
// qemu-user. LD_PRELOAD still acts (README "Their own C runtime" says why); asserted here too.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MULTICALL, TOOLS } from '../../build/targets.mjs';
import { bundleChroot, distArch, type Chroot } from '../helpers/chroot.ts';
import { run } from '../helpers/exec.ts';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { HWADDR as HW } from '../helpers/node.ts';

const NAMES = [...TOOLS, MULTICALL];
// A folder name no host path has: /usr/sbin/chroot (a host program) sees LD_LIBRARY_PATH too.
const HOSTILE = '/ww-hostile-lib';
const MUSL = '/lib/x86_64-linux-musl/libc.so';

let m: RunningMaster;
test.before(async () => {
  assert.not.ok(existsSync(HOSTILE), `${HOSTILE} exists on this machine`);
  const f = sampleFixture();
  f.nodes[0].fileIds = [1, 2, 3, 4, 7, 8, 9]; // no mknod in the chroot
  m = await startMaster(f);
});
test.after(() => m?.stop());

function dynamic(file: string) {
  const out = execFileSync('readelf', ['-d', '--wide', file], { encoding: 'utf8' });
  return {
    rpath: /\(RPATH\)\s+Library rpath: \[([^\]]+)\]/.exec(out)?.[1],
    runpath: /\(RUNPATH\)\s+Library runpath: \[([^\]]+)\]/.exec(out)?.[1],
  };
}

/** The hostile folders of an architecture: name -> files (name in the folder -> content). */
function hostileSets(arch: string): Record<string, Record<string, Buffer>> {
  const lib = join(distArch(arch), 'lib');
  const names = readdirSync(lib);
  // A real shared object of the right machine that is not the library asked for: what an older or
  // another build's library is to the loader (none of the symbol versions the executable needs).
  const other = readFileSync(join(lib, 'libgcc_s.so.1'));
  const other2 = readFileSync(join(lib, 'libdl.so.2'));
  return {
    'another libstdc++.so.6 (GLIBCXX versions missing: what module load gcc brings)': { 'libstdc++.so.6': other },
    'another C library as libc.so.6': { 'libc.so.6': arch === 'linux-x64' ? readFileSync(MUSL) : other },
    'a truncated libstdc++.so.6 and libc.so.6': {
      'libstdc++.so.6': readFileSync(join(lib, 'libstdc++.so.6')).subarray(0, 1000),
      'libc.so.6': readFileSync(join(lib, 'libc.so.6')).subarray(0, 1000),
    },
    "every name of lib/ (the loader's too) taken by another library": Object.fromEntries(
      names.map((n) => [n, n === 'libgcc_s.so.1' ? other2 : other]),
    ),
  };
}

function fill(c: Chroot, files: Record<string, Buffer>) {
  const dir = join(c.root, HOSTILE);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  for (const [n, b] of Object.entries(files)) writeFileSync(join(dir, n), b);
}

for (const arch of ['linux-x64', 'linux-arm64']) {
  for (const [what] of Object.entries(hostileSets(arch))) {
    test(`${arch}: LD_LIBRARY_PATH with ${what}: every executable still runs, nothing on stderr`, async () => {
      const c = bundleChroot(arch);
      try {
        fill(c, hostileSets(arch)[what]);
        for (const n of NAMES) {
          const r = await c.run(`/warewulf/bin/${n}`, ['--version'], { env: { LD_LIBRARY_PATH: HOSTILE } });
          assert.is(r.code, 0, `${arch} ${n}: exit ${r.code} ${r.signal ?? ''}: ${r.stderr.split('\n').slice(-3).join(' / ')}`);
          assert.ok(r.stdout.startsWith(`${n} (wwruntime) `), r.stdout);
          assert.is(r.stderr, '', `${arch} ${n}: stderr`);
        }
      } finally {
        c.cleanup();
      }
    });
  }

  test(`${arch}: LD_LIBRARY_PATH taking every library name: wwgetnodeconfig and wwgetfiles against the master`, async () => {
    const c = bundleChroot(arch);
    try {
      c.mountProc();
      fill(c, Object.values(hostileSets(arch))[3]);
      const env = { LD_LIBRARY_PATH: `${HOSTILE}:/nonexistent`, WWMASTER: m.address, WWINIT_HWADDR: HW };
      const cfg = await c.run('/warewulf/bin/wwgetnodeconfig', [], { env });
      assert.is(cfg.code, 0, cfg.stderr);
      assert.match(cfg.stdout, /WWNODENAME="n0000"/);
      mkdirSync(join(c.root, 'node'));
      const f = await c.run('/warewulf/bin/wwgetfiles', ['--no-delay', '--root', '/node'], { env });
      assert.is(f.code, 0, f.stderr);
      assert.match(f.stderr, /7 listed, 7 installed, 0 unchanged, 0 failed/);
      assert.is(readFileSync(join(c.root, 'node/etc/hosts'), 'utf8'), '127.0.0.1 localhost\n10.0.0.1 master\n10.0.1.0 n0000\n');
    } finally {
      c.cleanup();
    }
  });

  test(`${arch}: the executables carry DT_RPATH /warewulf/lib and no DT_RUNPATH; lib/ carries neither`, () => {
    const dir = distArch(arch);
    for (const n of NAMES) assert.equal(dynamic(join(dir, 'bin', n)), { rpath: '/warewulf/lib', runpath: undefined }, `${arch}/bin/${n}`);
    for (const l of readdirSync(join(dir, 'lib')))
      assert.equal(dynamic(join(dir, 'lib', l)), { rpath: undefined, runpath: undefined }, `${arch}/lib/${l}`);
  });
}

test('the launcher (a copied folder) ignores LD_LIBRARY_PATH too (it hands lib/ to the loader with --library-path)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ldpath-'));
  try {
    const hostile = join(dir, 'hostile');
    mkdirSync(hostile);
    // libstdc++ only: the launcher's own /bin/sh, uname and readlink need the machine's libc.so.6
    for (const [n, b] of Object.entries(Object.values(hostileSets('linux-x64'))[0])) writeFileSync(join(hostile, n), b);
    const copy = join(dir, 'wwruntime-linux-x64');
    cpSync(distArch('linux-x64'), copy, { recursive: true });
    for (const n of NAMES) {
      const r = await run(join(copy, n), ['--version'], { env: { LD_LIBRARY_PATH: hostile, PATH: '/usr/bin:/bin' } });
      assert.is(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`${n} `), r.stdout);
      assert.is(r.stderr, '');
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('LD_PRELOAD still acts: ld.so loads it before any code of ours (a missing one: its one warning, then the normal run)', async () => {
  const c = bundleChroot('linux-x64');
  // /usr/sbin/chroot, a program of this machine, sees LD_PRELOAD too and warns about a file it
  // cannot find: every line here is that warning, one from chroot, one from the tool (when missing there)
  const warning = (f: string) =>
    `ERROR: ld.so: object '${f}' from LD_PRELOAD cannot be preloaded (cannot open shared object file): ignored.`;
  try {
    const r = await c.run('/warewulf/bin/wwgetscript', ['--version'], { env: { LD_PRELOAD: '/nonexistent-preload.so' } });
    assert.is(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith('wwgetscript (wwruntime) '));
    assert.equal(r.stderr.split('\n').filter(Boolean), [warning('/nonexistent-preload.so'), warning('/nonexistent-preload.so')]);
    // one that exists in the chroot is loaded into the tool (the bundle's own libdl here: harmless)
    copyFileSync(join(distArch('linux-x64'), 'lib/libdl.so.2'), join(c.root, 'ww-preload-only-in-chroot.so'));
    const p = await c.run('/warewulf/bin/wwgetscript', ['--version'], { env: { LD_PRELOAD: '/ww-preload-only-in-chroot.so' } });
    assert.is(p.code, 0, p.stderr);
    assert.equal(
      p.stderr.split('\n').filter(Boolean),
      [warning('/ww-preload-only-in-chroot.so')],
      "only chroot's warning: the tool loaded it",
    );
  } finally {
    c.cleanup();
  }
});

test.run();
