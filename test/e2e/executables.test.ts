// The built executables themselves: per architecture, checksummed, stripped, SEA-injected, and
// carrying their own C runtime (issue 9): they run in a chroot with no libc at all, in one whose
// only C library is musl, under env -i and through the multi-call symlinks; linux-arm64 the same
// under qemu-user; the folder runs from anywhere through its launchers; bad copies fail clearly.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ARCHS, MULTICALL, TOOLS } from '../../build/targets.mjs';
import { bundleChroot, cLibraries, distArch, type Chroot } from '../helpers/chroot.ts';
import { ROOT, run } from '../helpers/exec.ts';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { HWADDR as HW } from '../helpers/node.ts';
import { fileSha256 } from '../helpers/tree.ts';

const NAMES = [...TOOLS, MULTICALL];
const sha = fileSha256;

function elf(file: string) {
  const out = execFileSync('readelf', ['-h', '-l', '-d', '-S', '--wide', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return {
    machine: /Machine:\s+(.+)/.exec(out)?.[1].trim(),
    interp: /Requesting program interpreter: ([^\]]+)\]/.exec(out)?.[1],
    runpath: /\((?:RUNPATH|RPATH)\)\s+Library (?:runpath|rpath): \[([^\]]+)\]/.exec(out)?.[1],
    needed: [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]).sort(),
    debug: /\.debug_info/.test(out),
  };
}

let m: RunningMaster;
test.before(async () => {
  // Device and FIFO objects need a mknod program (Node has no mknod call), which these bare roots
  // lack: the node here gets its files, directory and link objects only.
  const fixture = sampleFixture();
  fixture.nodes[0].fileIds = [1, 2, 3, 4, 7, 8, 9];
  m = await startMaster(fixture, { privilegedPorts: true });
});
test.after(() => m.stop());

test('each architecture folder: SHA256SUMS lists every file with its real checksum', () => {
  for (const arch of Object.keys(ARCHS)) {
    const dir = distArch(arch);
    const sums = readFileSync(join(dir, 'SHA256SUMS'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(/\s+/));
    const files = [...NAMES, 'NOTICE', ...NAMES.map((n) => `bin/${n}`), ...readdirSync(join(dir, 'lib')).map((l) => `lib/${l}`)].sort();
    assert.equal(sums.map((s) => s[1]).sort(), files, arch);
    for (const [sum, name] of sums) assert.is(sha(join(dir, name)), sum, `${arch}/${name}`);
    for (const n of NAMES) {
      assert.ok(statSync(join(dir, 'bin', n)).mode & 0o111, `${arch}/bin/${n} is executable`);
      assert.ok(statSync(join(dir, n)).mode & 0o111, `${arch}/${n} is executable`);
    }
  }
});

test('own C runtime: interpreter and run path /warewulf/lib; lib/ is exactly what the base binary names, from the pinned packages', () => {
  const pins = JSON.parse(readFileSync(join(ROOT, 'build/runtime-packages.json'), 'utf8'));
  for (const [arch, a] of Object.entries(ARCHS)) {
    const dir = distArch(arch);
    const work = join(ROOT, 'dist/work', arch);
    const baseName = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
    assert.ok(baseName, `${arch}: stripped base binary in dist/work`);
    const base = elf(join(work, baseName as string));
    assert.is(base.machine, a.machine);
    // exactly the NEEDED libraries and the loader: nothing more, nothing less
    const libs = readdirSync(join(dir, 'lib')).sort();
    assert.equal(libs, [...new Set([...base.needed, basename(base.interp as string)])].sort(), `${arch} lib/`);
    for (const l of libs) {
      const info = elf(join(dir, 'lib', l));
      assert.is(info.machine, a.machine, `${arch}/lib/${l}`);
      for (const n of info.needed) assert.ok(libs.includes(n), `${arch}/lib/${l} needs ${n}`);
    }
    // byte for byte the files of the pinned .deb packages (unpacked by the build with dpkg-deb -x)
    const debroot = join(work, 'debroot');
    for (const l of libs) {
      const inDeb = [`lib/${a.triplet}/${l}`, `usr/lib/${a.triplet}/${l}`].map((r) => join(debroot, r)).find((p) => existsSync(p));
      assert.ok(inDeb, `${arch}: ${l} in the unpacked packages`);
      assert.is(sha(join(dir, 'lib', l)), sha(inDeb as string), `${arch}/lib/${l}`);
    }
    const debs = readdirSync(
      join(
        process.env.WWRUNTIME_CACHE || join(process.env.XDG_CACHE_HOME || join(process.env.HOME ?? '/root', '.cache'), 'wwruntime'),
        'debs',
      ),
    );
    for (const p of pins.archs[arch].packages)
      assert.ok(debs.includes(`${p.package}_${p.version}_${pins.archs[arch].debArch}.deb`), `${p.package}=${p.version} cached`);
    for (const n of NAMES) {
      const exe = join(dir, 'bin', n);
      const info = elf(exe);
      assert.is(info.machine, a.machine, `${arch}/bin/${n}`);
      assert.is(info.interp, `/warewulf/lib/${a.loader}`, `${arch}/bin/${n} interpreter`);
      assert.is(info.runpath, '/warewulf/lib', `${arch}/bin/${n} run path`);
      assert.equal(info.needed, base.needed, `${arch}/bin/${n} NEEDED`);
      assert.not.ok(info.debug, `${arch}/bin/${n} is stripped`);
      // postject flips the sentinel fuse from :0 to :1 when it injects the blob.
      assert.ok(readFileSync(exe).includes('NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2:1'), `${arch}/bin/${n} carries the SEA blob`);
    }
  }
});

/** wwgetnodeconfig, wwgetfiles and wwgetvnfs --target against the test master, inside the chroot. */
async function againstMaster(c: Chroot) {
  const env = { WWMASTER: m.address, WWINIT_HWADDR: HW };
  const cfg = await c.run('/warewulf/bin/wwgetnodeconfig', [], { env });
  assert.is(cfg.code, 0, `${c.arch} wwgetnodeconfig: ${cfg.stderr}`);
  assert.match(cfg.stdout, /WWNODENAME="n0000"\nexport WWNODENAME\n/);
  mkdirSync(join(c.root, 'node'));
  const files = await c.run('/warewulf/bin/wwgetfiles', ['--no-delay'], { env: { ...env, NEWROOT: '/node' } });
  assert.is(files.code, 0, `${c.arch} wwgetfiles: ${files.stderr}`);
  assert.match(files.stderr, /7 listed, 7 installed, 0 unchanged, 0 failed/);
  assert.is(readFileSync(join(c.root, 'node/etc/hosts'), 'utf8'), '127.0.0.1 localhost\n10.0.0.1 master\n10.0.1.0 n0000\n');
  assert.is(statSync(join(c.root, 'node/etc/shadow')).mode & 0o7777, 0o600);
  assert.is(readlinkSync(join(c.root, 'node/etc/localtime')), '/usr/share/zoneinfo/UTC');
  const vnfs = await c.run('/warewulf/bin/wwgetvnfs', ['--target', '/image'], { env });
  assert.is(vnfs.code, 0, `${c.arch} wwgetvnfs: ${vnfs.stderr}`);
  assert.is(readFileSync(join(c.root, 'image/sbin/init'), 'utf8'), '#!/bin/sh\necho init\n');
  assert.is(readlinkSync(join(c.root, 'image/etc/motd')), 'os-release');
  assert.is(statSync(join(c.root, 'image/root')).mode & 0o7777, 0o700);
}

async function versions(c: Chroot) {
  for (const n of NAMES) {
    const r = await c.run(`/warewulf/bin/${n}`, ['--version']);
    assert.is(r.code, 0, `${c.arch} ${n}: ${r.stderr}`);
    // the multi-call executable sees the symlink's name (argv[0] passes through the kernel and loader)
    assert.ok(r.stdout.startsWith(`${n} `), `${c.arch} ${n}: ${r.stdout}`);
  }
}

test('linux-x64 in a chroot with no libc at all (only the bundle, /tmp, /proc), env -i, via the symlinks', async () => {
  const c = bundleChroot('linux-x64');
  try {
    assert.equal(cLibraries(c.root), ['/warewulf/lib/ld-linux-x86-64.so.2', '/warewulf/lib/libc.so.6']);
    // not even /proc: the run path is absolute, no $ORIGIN to resolve
    await versions(c);
    c.mountProc();
    await versions(c);
    await againstMaster(c);
  } finally {
    c.cleanup();
  }
});

test('why the run path is absolute: with $ORIGIN the loader needs /proc to find the executable', async () => {
  const c = bundleChroot('linux-x64');
  try {
    execFileSync('patchelf', ['--set-rpath', '$ORIGIN/../lib', join(c.root, 'warewulf/bin/wwruntime')]);
    const bare = await c.run('/warewulf/bin/wwruntime', ['--version']);
    assert.is(bare.code, 127);
    assert.match(bare.stderr, /error while loading shared libraries: \S+: cannot open shared object file/);
    c.mountProc();
    const withProc = await c.run('/warewulf/bin/wwruntime', ['--version']);
    assert.is(withProc.code, 0, withProc.stderr);
  } finally {
    c.cleanup();
  }
});

test("linux-x64 in a chroot whose only C library is musl (Debian's musl package)", async () => {
  const c = bundleChroot('linux-x64');
  try {
    const musl = execFileSync('dpkg', ['-L', 'musl'], { encoding: 'utf8' })
      .split('\n')
      .filter((p) => p.startsWith('/lib') || p.startsWith('/etc'));
    for (const p of musl) {
      const to = join(c.root, p);
      if (statSync(p).isDirectory())
        mkdirSync(to, { recursive: true }); // /lib may be a usrmerge symlink here
      else if (lstatSync(p).isSymbolicLink()) symlinkSync(readlinkSync(p), to);
      else cpSync(p, to);
    }
    const own = cLibraries(c.root).filter((p) => !p.startsWith('/warewulf/'));
    assert.ok(
      own.some((p) => p.includes('musl')),
      own.join(' '),
    );
    assert.not.ok(
      own.some((p) => /ld-linux|libc\.so\.6/.test(p)),
      own.join(' '),
    );
    // the musl loader works in there: the root really has a (musl) C library
    const loader = musl.find((p) => /ld-musl-.*\.so\.1$/.test(p)) as string;
    const probe = spawnSync('/usr/sbin/chroot', [c.root, loader], { encoding: 'utf8', env: {} });
    assert.match(probe.stderr, /musl libc/);
    c.mountProc();
    await versions(c);
    await againstMaster(c);
  } finally {
    c.cleanup();
  }
});

test('linux-arm64 under qemu-user in a chroot with no libc: --version, wwgetnodeconfig, wwgetfiles, wwgetvnfs --target', async () => {
  const c = bundleChroot('linux-arm64');
  try {
    assert.equal(cLibraries(c.root), ['/warewulf/lib/ld-linux-aarch64.so.1', '/warewulf/lib/libc.so.6']);
    c.mountProc();
    await versions(c);
    await againstMaster(c);
  } finally {
    c.cleanup();
  }
});

test('relocatable: the folder copied anywhere runs through its launchers, also via a symlink elsewhere, under env -i', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'copied-'));
  try {
    const copy = join(dir, 'some where', 'wwruntime-linux-x64');
    cpSync(distArch('linux-x64'), copy, { recursive: true });
    for (const n of NAMES) {
      const r = await run(join(copy, n), ['--version']);
      assert.is(r.code, 0, r.stderr);
      assert.ok(r.stdout.startsWith(`${n} `), r.stdout);
    }
    mkdirSync(join(dir, 'bin'));
    symlinkSync(join(copy, 'wwruntime'), join(dir, 'bin/wwgetnodeconfig'));
    const r = await run(join(dir, 'bin/wwgetnodeconfig'), [], { env: { WWMASTER: m.address, WWINIT_HWADDR: HW } });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stdout, /WWNODENAME="n0000"/);
    // a relative symlink to the launcher, run from its own folder
    symlinkSync('../some where/wwruntime-linux-x64/wwgetscript', join(dir, 'bin/wwgetscript'));
    const s = await run('./wwgetscript', ['--version'], { cwd: join(dir, 'bin') });
    assert.ok(s.stdout.startsWith('wwgetscript '), s.stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad copies: without its runtime, a missing library, the wrong architecture: one line, exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'badcopy-'));
  try {
    const noLib = join(dir, 'nolib');
    cpSync(distArch('linux-x64'), noLib, { recursive: true });
    rmSync(join(noLib, 'lib'), { recursive: true });
    let r = await run(join(noLib, 'wwgetfiles'), ['--version']);
    assert.is(r.code, 2);
    assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^wwgetfiles: ERROR: .*lib\/[^ ]+ is missing: copy the whole linux-x64 folder/);
    const oneLib = join(dir, 'onelib');
    cpSync(distArch('linux-x64'), oneLib, { recursive: true });
    rmSync(join(oneLib, 'lib/libstdc++.so.6'));
    r = await run(join(oneLib, 'wwruntime'), ['--version']);
    assert.is(r.code, 2);
    assert.match(r.stderr, /^wwruntime: ERROR: .*lib\/libstdc\+\+\.so\.6 is missing/);
    r = await run(join(distArch('linux-arm64'), 'wwgetvnfs'), ['--version']);
    assert.is(r.code, 2);
    assert.is(r.stderr, 'wwgetvnfs: ERROR: these are linux-arm64 executables; this machine is x86_64\n');
    // bin/NAME alone where no /warewulf/lib exists: the kernel cannot find the interpreter. This
    // is the documented floor (README): use the launcher, or install with the bootstrap step.
    const c = bundleChroot('linux-x64', false);
    try {
      mkdirSync(join(c.root, 'opt'));
      cpSync(join(distArch('linux-x64'), 'bin/wwruntime'), join(c.root, 'opt/wwruntime'));
      chmodSync(join(c.root, 'opt/wwruntime'), 0o755);
      const bare = await c.run('/opt/wwruntime', ['--version']);
      assert.is(bare.code, 127);
      assert.match(bare.stderr, /No such file or directory/);
    } finally {
      c.cleanup();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
