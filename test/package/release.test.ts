// npm run package (build/package.mjs, build/warewulf-wwruntime.spec and
// build/warewulf-wwruntime-capability.spec), checked the way an administrator meets it: the
// release folder, its sizes and reproducibility, the tarballs unpacked anywhere, the RPMs
// queried, installed into scratch roots (both node architectures' capabilities on one master,
// an upgrade from the 0.1.0-1 package), used and removed.
// Two package runs from the same build: the second runs while the tests look at the first.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { ROOT } from '../helpers/exec.ts';
import { ARCHS as TARGETS, MULTICALL, TOOLS } from '../../build/targets.mjs';
import { QEMU_ARM64 } from '../helpers/chroot.ts';
import { fileSha256, treeLines as tree } from '../helpers/tree.ts';

const DIST = join(ROOT, 'dist');
const MACHINE: Record<string, string> = Object.fromEntries(Object.entries(TARGETS).map(([a, t]) => [a, t.uname]));
const ISA: Record<string, string> = Object.fromEntries(Object.values(TARGETS).map((t) => [t.uname, t.isa]));
const HOST = spawnSync('uname', ['-m'], { encoding: 'utf8' }).stdout.trim();
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
const PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const ARCHS = readdirSync(DIST)
  .filter((a) => MACHINE[a] && existsSync(join(DIST, a, 'wwruntime')))
  .sort();
const TMP = mkdtempSync('/tmp/wwpkg-test-');
const A = join(TMP, 'release-a');
const B = join(TMP, 'release-b');
const tarName = (arch: string) => `wwruntime-${VERSION}-${arch}`;
const specRelease = (spec: string) => /^Release:\s*(\S+)/m.exec(readFileSync(join(ROOT, 'build', spec), 'utf8'))?.[1];
const RELEASE = specRelease('warewulf-wwruntime.spec');
const CAP_RELEASE = specRelease('warewulf-wwruntime-capability.spec');
const rpmName = (arch: string) => `warewulf-wwruntime-${VERSION}-${RELEASE}.${MACHINE[arch]}.rpm`;
const capTarName = (arch: string) => `wwruntime-capability-${VERSION}-${arch}`;
const capPkg = (arch: string) => `warewulf-wwruntime-capability-${MACHINE[arch]}`;
const capRpmName = (arch: string) => `${capPkg(arch)}-${VERSION}-${CAP_RELEASE}.noarch.rpm`;
/** The build's capability file of an architecture, whatever its format: dist/capability/provision-wwruntime.ARCH.* */
const capFile = (arch: string) => {
  const [f, ...more] = readdirSync(join(DIST, 'capability')).filter((n) => n.startsWith(`provision-wwruntime.${arch}.`));
  assert.ok(f && more.length === 0, `one capability file for ${arch}`);
  return join(DIST, 'capability', f);
};
/** The goal of issue 20: no package over 50 MB (one executable each). */
const MAX_PACKAGE = 50e6;
const leanTarName = (arch: string) => `warewulf-wwruntime-capability-lean-${VERSION}-${arch}`;
/** The build's lean capability (opt-in) of an architecture and its blob. */
const leanFiles = (arch: string) => {
  const dir = join(DIST, 'capability/bootstrap/wwruntime', MACHINE[arch]);
  const blobs = readdirSync(dir).filter((n) => n.includes(`-${arch}-`));
  assert.is(blobs.length, 1, `one blob for ${arch}`);
  return { cpio: join(DIST, 'capability', `provision-wwruntime-lean.${arch}.cpio`), blob: join(dir, blobs[0]), name: blobs[0] };
};
const capDir = (arch: string) => `/var/lib/warewulf/initramfs/${MACHINE[arch]}/capabilities`;

const sha = fileSha256;
function sh(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string; input?: Buffer } = {},
): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    env: opts.env ?? { PATH },
    cwd: opts.cwd,
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 256 << 20,
    timeout: 300_000,
  });
}
const ok = (r: SpawnSyncReturns<string>, what: string) => {
  assert.is(r.status, 0, `${what}: ${r.stderr}${r.error ?? ''}`);
  return r.stdout;
};
const rpmq = (pkg: string, ...args: string[]) => ok(sh('rpm', ['-qp', ...args, pkg]), `rpm -qp ${args.join(' ')}`);

/** `npm run package`'s second half, into its own folder. */
function packageInto(out: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [join(ROOT, 'build/package.mjs'), '--quiet', '--out', out], {
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 1_500_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) res();
      else rej(new Error(`package.mjs --out ${out} exited ${code}`));
    });
  });
}
interface Package {
  sourceDateEpoch(root: string): number;
}
const modPath: string = '../../build/package.mjs';
const { sourceDateEpoch } = (await import(modPath)) as Package;
const epoch = sourceDateEpoch(ROOT);
// The second run goes on while the other tests use the first; the last test compares them.
const t0 = Date.now();
const second = packageInto(B);
second.catch(() => {}); // awaited (and its failure reported) by the reproducibility test
await packageInto(A);
process.stdout.write(`# package run (${ARCHS.join(', ')}): ${((Date.now() - t0) / 1000).toFixed(1)} s, beside a second run\n`);

/** Every entry of a folder as a tarball/rpm lists it: relative path -> [type, mode]. */
function entries(dir: string, rel = ''): [string, string, number][] {
  const out: [string, string, number][] = [];
  for (const n of readdirSync(dir).sort()) {
    const p = join(dir, n);
    const r = rel ? `${rel}/${n}` : n;
    const st = lstatSync(p);
    if (st.isSymbolicLink()) out.push([r, 'l', 0o777]);
    else if (st.isDirectory()) out.push([r, 'd', 0o755], ...entries(p, r));
    else out.push([r, '-', st.mode & 0o111 ? 0o755 : 0o644]);
  }
  return out;
}
/** What a package ships of dist/ARCH: the same tree, with bin/TOOL a symlink to bin/wwruntime. */
const shipped = (arch: string): [string, string, number][] =>
  entries(join(DIST, arch)).map(([p, t, m]) => (TOOLS.some((tool) => p === `bin/${tool}`) ? [p, 'l', 0o777] : [p, t, m]));
/** A shipped runtime folder (dist/ARCH as unpacked or installed) holds dist/ARCH's bytes, one executable, and a true SHA256SUMS. */
function assertShippedRuntime(dir: string, arch: string) {
  for (const [p, t] of shipped(arch)) {
    if (t === 'l') assert.is(readlinkSync(join(dir, p)), MULTICALL, `${p} -> ${MULTICALL}`);
    else if (t === '-' && p !== 'SHA256SUMS') assert.is(sha(join(dir, p)), sha(join(DIST, arch, p)), p);
  }
  // every name listed, a link with its target's sum: sha256sum -c (and wwruntime-install) read through it
  const listed = readFileSync(join(dir, 'SHA256SUMS'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('  ')[1]);
  assert.equal(
    listed,
    shipped(arch)
      .filter(([p, t]) => t !== 'd' && p !== 'SHA256SUMS')
      .map(([p]) => p)
      .sort(),
  );
  ok(sh('sha256sum', ['--strict', '--quiet', '-c', 'SHA256SUMS'], { cwd: dir }), 'sha256sum -c of the shipped SHA256SUMS');
}
const perms = (type: string, mode: number) => {
  let s = type;
  for (let i = 8; i >= 0; i--) s += mode & (1 << i) ? 'rwx'[(8 - i) % 3] : '-';
  return s;
};

/** A scratch root for rpm --root with its own database. */
function rpmRoot(name: string): { root: string; rpm: (...a: string[]) => SpawnSyncReturns<string>; snapshot: () => string[] } {
  const root = join(TMP, name);
  // the folders every EL system has (its filesystem package owns them)
  for (const d of ['usr/bin', 'usr/sbin', 'usr/libexec', 'usr/share/doc', 'usr/share/licenses', 'var/lib'])
    mkdirSync(join(root, d), { recursive: true });
  const rpm = (...a: string[]) => sh('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', ...a]);
  ok(rpm('--initdb'), 'rpm --initdb');
  // the database changes with every transaction; everything else must come back as it was
  const snapshot = () => tree(root).filter((l) => !/ var\/lib\/rpm(\/| |$)/.test(l));
  return { root, rpm, snapshot };
}

/** An empty chroot (no libc, no shell): /tmp and /proc, plus qemu-user for arm64 (no binfmt_misc here). */
function emptyChroot(name: string, arch: string): { root: string; run: (path: string, args: string[]) => SpawnSyncReturns<string> } {
  const root = join(TMP, name);
  mkdirSync(join(root, 'tmp'), { recursive: true });
  mkdirSync(join(root, 'proc'));
  chmodSync(join(root, 'tmp'), 0o1777);
  const pre: string[] = [];
  if (arch === 'linux-arm64') {
    copyFileSync(QEMU_ARM64, join(root, '.qemu-aarch64-static'));
    chmodSync(join(root, '.qemu-aarch64-static'), 0o755);
    pre.push('/.qemu-aarch64-static');
  }
  return {
    root,
    run: (path, args) => {
      ok(sh('mount', ['-t', 'proc', 'proc', join(root, 'proc')]), 'mount proc');
      try {
        return sh('/usr/sbin/chroot', [root, ...pre, path, ...args], { env: {} });
      } finally {
        ok(sh('umount', [join(root, 'proc')]), 'umount proc');
      }
    },
  };
}
/** No C library outside the runtime's own lib/ folder. */
const systemLibc = (root: string) =>
  tree(root)
    .map((l) => l.split(' ')[2])
    .filter((p) => /(^|\/)(libc\.so|libc-|ld-linux|ld-musl)/.test(p) && !p.startsWith('warewulf/lib/'));

test.after(() => rmSync(TMP, { recursive: true, force: true }));

test('both architectures are built and packaged', () => {
  assert.equal(ARCHS, ['linux-arm64', 'linux-x64']);
});

test('dist/release: per built architecture a runtime tarball and RPM, a capability tarball and noarch RPM; SHA256SUMS over them', () => {
  const expect = [
    'SHA256SUMS',
    ...ARCHS.flatMap((a) => [`${tarName(a)}.tar.gz`, rpmName(a), `${capTarName(a)}.tar.gz`, capRpmName(a), `${leanTarName(a)}.tar.gz`]),
  ].sort();
  assert.equal(readdirSync(A).sort(), expect);
  const sums = readFileSync(join(A, 'SHA256SUMS'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => l.split('  ')[1])
    .sort();
  assert.equal(
    sums,
    expect.filter((f) => f !== 'SHA256SUMS'),
  );
  ok(sh('sha256sum', ['--strict', '-c', 'SHA256SUMS'], { cwd: A }), 'sha256sum -c');
  // nothing left beside the output
  assert.equal(
    readdirSync(TMP).filter((n) => n.startsWith('release-a')),
    ['release-a'],
  );
});

test('every package is at most 50 MB: one executable in each', () => {
  const sizes = readdirSync(A)
    .filter((f) => f !== 'SHA256SUMS')
    .sort()
    .map((f) => [f, statSync(join(A, f)).size] as const);
  for (const [f, n] of sizes) process.stdout.write(`# ${f}: ${(n / 1e6).toFixed(1)} MB\n`);
  for (const [f, n] of sizes) assert.ok(n <= MAX_PACKAGE, `${f} is ${(n / 1e6).toFixed(1)} MB, over ${MAX_PACKAGE / 1e6} MB`);
});

for (const arch of ARCHS) {
  const tgz = () => join(A, `${tarName(arch)}.tar.gz`);
  const unpack = (where: string) => {
    mkdirSync(where, { recursive: true });
    ok(sh('tar', ['-xzf', tgz(), '-C', where]), 'tar -x');
    return join(where, tarName(arch));
  };

  test(`${arch} tarball: exactly the intended members, sorted, 0:0, dated SOURCE_DATE_EPOCH; the runtime folder byte for byte`, () => {
    const top = tarName(arch);
    const want: [string, string, number][] = [
      [top, 'd', 0o755],
      [`${top}/LICENSE`, '-', 0o644],
      [`${top}/README.md`, '-', 0o644],
      [`${top}/bootstrap`, 'd', 0o755],
      [`${top}/bootstrap/wwruntime-install`, '-', 0o755],
      [`${top}/bootstrap/wwruntime-lib.sh`, '-', 0o644],
      [`${top}/bootstrap/wwruntime-step`, '-', 0o755],
      [`${top}/dist`, 'd', 0o755],
      [`${top}/dist/${arch}`, 'd', 0o755],
      ...shipped(arch).map(([p, t, m]): [string, string, number] => [`${top}/dist/${arch}/${p}`, t, m]),
    ];
    const listing = ok(sh('tar', ['--numeric-owner', '--full-time', '-tvzf', tgz()], { env: { PATH, TZ: 'UTC' } }), 'tar -t')
      .trim()
      .split('\n');
    const date = new Date(epoch * 1000).toISOString().replace('T', ' ').slice(0, 19);
    const got = listing.map((l) => {
      const [mode, owner, , day, time, ...name] = l.split(/\s+/);
      assert.is(owner, '0/0', l);
      assert.is(`${day} ${time}`, date, l);
      return `${mode} ${name
        .join(' ')
        .replace(/\/$/, '')
        .replace(/ -> .*$/, '')}`;
    });
    // tar --sort=name: each folder's entries by name, depth first, as entries() walks
    assert.equal(
      got,
      want.map(([p, t, m]) => `${perms(t, m)} ${p}`),
    );

    const dir = unpack(join(TMP, `bytes-${arch}`));
    assertShippedRuntime(join(dir, 'dist', arch), arch);
    for (const f of ['wwruntime-install', 'wwruntime-lib.sh', 'wwruntime-step'])
      assert.is(sha(join(dir, 'bootstrap', f)), sha(join(ROOT, 'bootstrap', f)), f);
    rmSync(join(TMP, `bytes-${arch}`), { recursive: true, force: true });
  });

  test(`${arch} capability tarball: the one file provision-wwruntime, 0:0, 0644, the build's capability byte for byte`, () => {
    const tgz = join(A, `${capTarName(arch)}.tar.gz`);
    const listing = ok(sh('tar', ['--numeric-owner', '-tvzf', tgz]), 'tar -t')
      .trim()
      .split('\n');
    assert.is(listing.length, 1, listing.join('\n'));
    assert.match(listing[0], /^-rw-r--r-- 0\/0 .* provision-wwruntime$/);
    // unpacked as the README says: straight into the capabilities folder of a master
    const caps = join(TMP, `capdir-${arch}`, capDir(arch));
    mkdirSync(caps, { recursive: true });
    ok(sh('tar', ['-xzf', tgz, '-C', caps]), 'tar -x');
    assert.equal(readdirSync(caps), ['provision-wwruntime']);
    assert.is(sha(join(caps, 'provision-wwruntime')), sha(capFile(arch)));
    rmSync(join(TMP, `capdir-${arch}`), { recursive: true, force: true });
  });

  test(`${arch} lean capability tarball (opt-in): the lean cpio and its blob laid out as /var/lib/warewulf, 0:0, byte for byte`, () => {
    const tgz = join(A, `${leanTarName(arch)}.tar.gz`);
    const m = MACHINE[arch];
    const l = leanFiles(arch);
    const listing = ok(sh('tar', ['--numeric-owner', '-tvzf', tgz]), 'tar -t')
      .trim()
      .split('\n')
      .map((x) => {
        const [mode, owner, , , , ...name] = x.split(/\s+/);
        assert.is(owner, '0/0', x);
        return `${mode} ${name.join(' ')}`;
      });
    assert.equal(listing, [
      'drwxr-xr-x bootstrap/',
      'drwxr-xr-x bootstrap/wwruntime/',
      `drwxr-xr-x bootstrap/wwruntime/${m}/`,
      `-rw-r--r-- bootstrap/wwruntime/${m}/${l.name}`,
      'drwxr-xr-x initramfs/',
      `drwxr-xr-x initramfs/${m}/`,
      `drwxr-xr-x initramfs/${m}/capabilities/`,
      `-rw-r--r-- initramfs/${m}/capabilities/provision-wwruntime-lean`,
    ]);
    const root = join(TMP, `lean-${arch}`);
    mkdirSync(root, { recursive: true });
    ok(sh('tar', ['-C', root, '-xzf', tgz]), 'tar -x');
    assert.is(sha(join(root, `initramfs/${m}/capabilities/provision-wwruntime-lean`)), sha(l.cpio));
    assert.is(sha(join(root, `bootstrap/wwruntime/${m}/${l.name}`)), sha(l.blob));
    rmSync(root, { recursive: true, force: true });
  });

  test(`${arch} tarball unpacked anywhere: the tools run under env -i, and its wwruntime-install puts them into a libc-less chroot where they run`, () => {
    const dir = unpack(join(TMP, `some where/else-${arch}`));
    if (MACHINE[arch] === HOST) {
      for (const t of [...TOOLS, MULTICALL]) {
        const r = sh(join(dir, 'dist', arch, t), ['--version'], { env: {} });
        assert.is(r.status, 0, `${t}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`^${t === 'wwruntime' ? 'wwruntime' : t}\\b.*${VERSION.replace(/\./g, '\\.')}`));
      }
    }
    const c = emptyChroot(`chroot-${arch}`, arch);
    ok(sh(join(dir, 'bootstrap/wwruntime-install'), ['--into', c.root, '--arch', arch], { env: { PATH } }), 'wwruntime-install --into');
    assert.equal(systemLibc(c.root), [], 'the chroot has no C library of its own');
    for (const t of TOOLS) {
      assert.ok(lstatSync(join(c.root, 'warewulf/bin', t)).isSymbolicLink(), `${t} is a symlink`);
      const r = c.run(`/warewulf/bin/${t}`, ['--version']);
      assert.is(r.status, 0, `${t} in the chroot: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^${t}\\b`));
    }
    if (MACHINE[arch] === HOST) {
      // --standalone from a package (links, not four executables): four copies of wwruntime, checked against SHA256SUMS
      const s = emptyChroot(`standalone-${arch}`, arch);
      ok(
        sh(join(dir, 'bootstrap/wwruntime-install'), ['--into', s.root, '--standalone'], { env: { PATH } }),
        'wwruntime-install --standalone',
      );
      for (const t of TOOLS) {
        assert.ok(lstatSync(join(s.root, 'warewulf/bin', t)).isFile(), `${t} is a file`);
        assert.is(sha(join(s.root, 'warewulf/bin', t)), sha(join(DIST, arch, 'bin', MULTICALL)), t);
        assert.match(s.run(`/warewulf/bin/${t}`, ['--version']).stdout, new RegExp(`^${t}\\b`));
      }
      rmSync(s.root, { recursive: true, force: true });
    }
  });

  test(`${arch} tarball without its runtime folder (or its lib/): a clear error, nothing installed`, () => {
    for (const cut of [arch, `${arch}/lib`]) {
      const where = join(TMP, `cut-${arch}-${cut.replace('/', '-')}`);
      const dir = unpack(where);
      rmSync(join(dir, 'dist', cut), { recursive: true });
      const c = join(where, 'chroot');
      mkdirSync(c);
      const r = sh(join(dir, 'bootstrap/wwruntime-install'), ['--into', c, '--arch', arch], { env: { PATH } });
      assert.is(r.status, 2, `${cut} removed: ${r.stdout}${r.stderr}`);
      assert.is(
        r.stderr
          .trim()
          .split('\n')
          .filter((l) => /ERROR/.test(l)).length,
        1,
        r.stderr,
      );
      assert.match(r.stderr, /ERROR: .*(no executables|missing|without|not a|runtime)/);
      assert.equal(readdirSync(c), [], `nothing installed (${cut} removed)`);
    }
  });

  test(`${arch} tarball's wwruntime-install pointed at a folder of the wrong architecture: a clear error, nothing installed`, () => {
    const dir = unpack(join(TMP, `wrongarch-${arch}`));
    const other = arch === 'linux-x64' ? 'linux-arm64' : 'linux-x64';
    const c = join(TMP, `wrongarch-${arch}`, 'chroot');
    mkdirSync(c);
    // the folder itself given with --from, and the architecture of the other one asked for
    const r = sh(join(dir, 'bootstrap/wwruntime-install'), ['--into', c, '--from', join(dir, 'dist', arch), '--arch', other], {
      env: { PATH },
    });
    assert.is(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`ERROR: .*(${other}|${arch})`));
    assert.equal(readdirSync(c), [], 'nothing installed');
  });

  test(`${arch} RPM: name, version, arch, date, host, payload; only the intended dependencies and provides`, () => {
    const pkg = join(A, rpmName(arch));
    const info = rpmq(
      pkg,
      '--qf',
      '%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{BUILDTIME}|%{BUILDHOST}|%{LICENSE}|%{PAYLOADCOMPRESSOR}|%{FILEDIGESTALGO}',
    );
    assert.is(info, `warewulf-wwruntime|${VERSION}|${RELEASE}|${MACHINE[arch]}|${epoch}|wwruntime-build|GPL-2.0-only|gzip|8`);
    const qpi = rpmq(pkg, '-i');
    assert.match(qpi, /^Name\s+: warewulf-wwruntime$/m);
    assert.match(qpi, new RegExp(`^Architecture: ${MACHINE[arch]}$`, 'm'));
    // no automatic dependencies from the bundled libraries: only the shell of the scripts, and
    // rpmlib features EL7's rpm 4.11 has (no zstd payload)
    const req = rpmq(pkg, '--qf', '[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]').trim().split('\n').sort();
    assert.equal(req, [
      '/bin/sh manual',
      'rpmlib(CompressedFileNames) rpmlib',
      'rpmlib(FileDigests) rpmlib',
      'rpmlib(PayloadFilesHavePrefix) rpmlib',
      `${capPkg(arch)} manual`,
    ]);
    assert.equal(rpmq(pkg, '--provides').trim().split('\n').sort(), [
      `warewulf-wwruntime = ${VERSION}-${RELEASE}`,
      `warewulf-wwruntime(${ISA[MACHINE[arch]]}) = ${VERSION}-${RELEASE}`,
    ]);
    // the capability of the master's own architecture, of the same build
    assert.equal(
      rpmq(pkg, '--qf', '[%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]')
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('warewulf')),
      [`${capPkg(arch)} = ${VERSION}-${RELEASE}`],
    );
  });

  test(`${arch} capability RPM: noarch, named for the nodes' machine; only /bin/sh required; conflicts with the 0.1.0-1 package that carried the capability`, () => {
    const pkg = join(A, capRpmName(arch));
    const info = rpmq(
      pkg,
      '--qf',
      '%{NAME}|%{VERSION}|%{RELEASE}|%{ARCH}|%{BUILDTIME}|%{BUILDHOST}|%{LICENSE}|%{PAYLOADCOMPRESSOR}|%{FILEDIGESTALGO}',
    );
    assert.is(info, `${capPkg(arch)}|${VERSION}|${CAP_RELEASE}|noarch|${epoch}|wwruntime-build|GPL-2.0-only|gzip|8`);
    const req = rpmq(pkg, '--qf', '[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]').trim().split('\n').sort();
    assert.equal(req, [
      '/bin/sh manual',
      '/bin/sh post,interp',
      'rpmlib(CompressedFileNames) rpmlib',
      'rpmlib(FileDigests) rpmlib',
      'rpmlib(PayloadFilesHavePrefix) rpmlib',
    ]);
    assert.equal(rpmq(pkg, '--conflicts').trim(), 'warewulf-wwruntime < 0.1.0-2');
    const d = (p: string) => `drwxr-xr-x root root ${p}`;
    const got = rpmq(pkg, '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]').trim().split('\n');
    assert.equal(
      got.sort(),
      [
        d('/var/lib/warewulf'),
        d('/var/lib/warewulf/initramfs'),
        d(`/var/lib/warewulf/initramfs/${MACHINE[arch]}`),
        d(capDir(arch)),
        `-rw-r--r-- root root ${capDir(arch)}/provision-wwruntime`,
      ].sort(),
    );
    const x = join(TMP, `rpm2cpio-cap-${arch}`);
    mkdirSync(x);
    ok(sh('bash', ['-o', 'pipefail', '-c', 'rpm2cpio "$0" | cpio -idm --quiet', pkg], { cwd: x }), 'rpm2cpio | cpio -i');
    assert.is(sha(join(x, capDir(arch), 'provision-wwruntime')), sha(capFile(arch)));
    rmSync(x, { recursive: true, force: true });
  });

  test(`${arch} RPM: exactly the intended files, modes and owners; contents byte for byte`, () => {
    const pkg = join(A, rpmName(arch));
    const lib = '/usr/libexec/wwruntime';
    const d = (p: string) => `drwxr-xr-x root root ${p}`;
    const want = [
      `-rwxr-xr-x root root /usr/sbin/wwruntime-install`,
      `lrwxrwxrwx root root /usr/bin/wwruntime-fleet`,
      d(lib),
      ...shipped(arch).map(([p, t, m]) => `${perms(t, m)} root root ${lib}/${arch}/${p}`),
      d(`${lib}/${arch}`),
      `-rwxr-xr-x root root ${lib}/wwruntime-install`,
      `-rw-r--r-- root root ${lib}/wwruntime-lib.sh`,
      d('/usr/share/doc/warewulf-wwruntime'),
      `-rw-r--r-- root root /usr/share/doc/warewulf-wwruntime/README.md`,
      d('/usr/share/licenses/warewulf-wwruntime'),
      `-rw-r--r-- root root /usr/share/licenses/warewulf-wwruntime/LICENSE`,
      ...readdirSync(join(DIST, arch))
        .filter((n) => /licen[cs]e|notice|copying/i.test(n))
        .map((n) => `-rw-r--r-- root root /usr/share/licenses/warewulf-wwruntime/${n}`),
    ].sort();
    const got = rpmq(pkg, '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]').trim().split('\n');
    assert.equal(got.sort(), want);
    assert.equal(rpmq(pkg, '-l').trim().split('\n').sort(), want.map((l) => l.split(' ').slice(3).join(' ')).sort());

    const x = join(TMP, `rpm2cpio-${arch}`);
    mkdirSync(x);
    ok(sh('bash', ['-o', 'pipefail', '-c', 'rpm2cpio "$0" | cpio -idm --quiet', pkg], { cwd: x }), 'rpm2cpio | cpio -i');
    assertShippedRuntime(join(x, lib, arch), arch);
    assert.is(readlinkSync(join(x, 'usr/bin/wwruntime-fleet')), `../libexec/wwruntime/${arch}/wwruntime`);
    rmSync(x, { recursive: true, force: true });
  });

  test(`${arch} capability RPM %post: tells the admin to re-run wwbootstrap, and does not run it`, () => {
    assert.is(rpmq(join(A, rpmName(arch)), '--qf', '%{POSTIN}'), '(none)', 'the runtime package has no %post');
    const post = rpmq(join(A, capRpmName(arch)), '--qf', '%{POSTINPROG}\n%{POSTIN}');
    const [prog, ...body] = post.split('\n');
    assert.is(prog, '/bin/sh');
    // a wwbootstrap on the PATH that records being run
    const stub = join(TMP, `stub-${arch}`);
    mkdirSync(stub);
    writeFileSync(join(stub, 'wwbootstrap'), `#!/bin/sh\ntouch ${stub}/ran\n`, { mode: 0o755 });
    writeFileSync(join(stub, 'post.sh'), body.join('\n'));
    ok(sh('shellcheck', ['--shell=sh', join(stub, 'post.sh')]), 'shellcheck of %post');
    const r = sh('/bin/sh', [join(stub, 'post.sh')], { env: { PATH: `${stub}:${PATH}` } });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /re-run\s+wwbootstrap/);
    assert.ok(r.stdout.includes(capDir(arch)), r.stdout);
    assert.not.ok(existsSync(join(stub, 'ran')), 'wwbootstrap was run');
  });

  test(`${arch} RPM installed into a scratch root: verifies, the capability is the built one, wwruntime-install fills a VNFS chroot; rpm -e removes all of it`, () => {
    const s = rpmRoot(`root-${arch}`);
    const before = s.snapshot();
    const foreign = MACHINE[arch] !== HOST ? ['--ignorearch'] : [];
    ok(s.rpm('-i', '--nodeps', '--noscripts', ...foreign, join(A, rpmName(arch)), join(A, capRpmName(arch))), 'rpm -i');
    const verify = s.rpm('-V', '--nodeps', 'warewulf-wwruntime', capPkg(arch));
    assert.is(verify.status, 0, verify.stdout + verify.stderr);
    assert.is(verify.stdout, '', 'rpm -V: every file as packaged');
    assert.is(sha(join(s.root, capDir(arch), 'provision-wwruntime')), sha(capFile(arch)));
    assertShippedRuntime(join(s.root, 'usr/libexec/wwruntime', arch), arch);
    // wwruntime-fleet: a name of the multi-call executable, through the launcher (which follows the link)
    const fleet = join(s.root, 'usr/bin/wwruntime-fleet');
    assert.is(sha(fleet), sha(join(DIST, arch, MULTICALL)), 'wwruntime-fleet resolves to the launcher');
    if (!foreign.length) {
      const r = sh(join(s.root, 'usr/libexec/wwruntime', arch, 'wwgetfiles'), ['--version'], { env: {} });
      assert.match(r.stdout, new RegExp(`^wwgetfiles\\b.*${VERSION.replace(/\./g, '\\.')}`), r.stderr);
    }

    ok(sh('shellcheck', ['--shell=sh', join(s.root, 'usr/sbin/wwruntime-install')]), 'shellcheck of the wrapper');
    // as the admin calls it: from the PATH (the wrapper finds the package's folder)
    const help = sh('/bin/sh', ['-c', 'wwruntime-install --help'], { env: { PATH: `${join(s.root, 'usr/sbin')}:${PATH}` } });
    assert.is(help.status, 0, help.stderr);
    assert.match(help.stdout, /--into CHROOT/);
    const v = emptyChroot(`vnfs-${arch}`, arch);
    ok(
      sh(join(s.root, 'usr/sbin/wwruntime-install'), ['--into', v.root, ...(foreign.length ? ['--arch', arch] : [])], { env: { PATH } }),
      'installed wwruntime-install --into',
    );
    assert.equal(systemLibc(v.root), []);
    assert.ok(lstatSync(join(v.root, 'warewulf/bin/wwgetfiles')).isSymbolicLink());
    const r = v.run('/warewulf/bin/wwgetfiles', ['--version']);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^wwgetfiles\\b.*${VERSION.replace(/\./g, '\\.')}`));

    ok(s.rpm('-e', '--noscripts', 'warewulf-wwruntime', capPkg(arch)), 'rpm -e');
    assert.equal(s.snapshot(), before);
  });

  test(`${arch} RPM on a master that has Warewulf: rpm -e leaves Warewulf's capabilities and folders`, () => {
    const s = rpmRoot(`master-${arch}`);
    mkdirSync(join(s.root, capDir(arch)), { recursive: true });
    writeFileSync(join(s.root, capDir(arch), 'transport-http'), 'not ours\n');
    const before = s.snapshot();
    ok(
      s.rpm(
        '-i',
        '--nodeps',
        '--noscripts',
        ...(MACHINE[arch] !== HOST ? ['--ignorearch'] : []),
        join(A, rpmName(arch)),
        join(A, capRpmName(arch)),
      ),
      'rpm -i',
    );
    assert.ok(existsSync(join(s.root, capDir(arch), 'provision-wwruntime')));
    ok(s.rpm('-e', '--noscripts', 'warewulf-wwruntime', capPkg(arch)), 'rpm -e');
    assert.equal(s.snapshot(), before);
  });

  if (MACHINE[arch] !== HOST) {
    test(`${arch} RPM on this ${HOST} machine: rpm refuses it by architecture, nothing installed`, () => {
      const s = rpmRoot(`refuse-${arch}`);
      const before = s.snapshot();
      const r = s.rpm('-i', '--nodeps', '--noscripts', join(A, rpmName(arch)));
      assert.is.not(r.status, 0);
      assert.match(r.stderr, /intended for a different architecture/);
      assert.equal(s.snapshot(), before);
    });
  }
}

for (const master of ARCHS) {
  test(`one ${MACHINE[master]} master serves both node architectures: its runtime RPM and both noarch capability RPMs install, verify and remove`, () => {
    const s = rpmRoot(`both-${master}`);
    const before = s.snapshot();
    const foreign = MACHINE[master] !== HOST ? ['--ignorearch'] : [];
    // noarch: the other architecture's capability needs no --ignorearch
    ok(s.rpm('-i', '--nodeps', '--noscripts', ...foreign, join(A, rpmName(master)), ...ARCHS.map((a) => join(A, capRpmName(a)))), 'rpm -i');
    const verify = s.rpm('-V', '--nodeps', 'warewulf-wwruntime', ...ARCHS.map(capPkg));
    assert.is(verify.status, 0, verify.stdout + verify.stderr);
    assert.is(verify.stdout, '');
    for (const a of ARCHS) assert.is(sha(join(s.root, capDir(a), 'provision-wwruntime')), sha(capFile(a)), a);
    assert.equal(readdirSync(join(s.root, 'var/lib/warewulf/initramfs')).sort(), ARCHS.map((a) => MACHINE[a]).sort());
    ok(s.rpm('-e', '--noscripts', 'warewulf-wwruntime', ...ARCHS.map(capPkg)), 'rpm -e');
    assert.equal(s.snapshot(), before);
  });
}

/** The 0.1.0-1 package (five executables and the capability in one RPM), from its saved spec and main's tarball layout. */
function oldPackage(arch: string): string {
  const w = join(TMP, `old-${arch}`);
  const top = join(w, `wwruntime-${VERSION}-${arch}`);
  mkdirSync(join(top, 'bootstrap'), { recursive: true });
  mkdirSync(join(top, 'dist/capability'), { recursive: true });
  for (const f of ['README.md', 'LICENSE']) copyFileSync(join(ROOT, f), join(top, f));
  for (const f of ['wwruntime-install', 'wwruntime-lib.sh', 'wwruntime-step'])
    copyFileSync(join(ROOT, 'bootstrap', f), join(top, 'bootstrap', f));
  ok(sh('cp', ['-a', join(DIST, arch), join(top, 'dist', arch)]), 'cp -a');
  copyFileSync(capFile(arch), join(top, `dist/capability/provision-wwruntime.${arch}.cpio`));
  mkdirSync(join(w, 'SOURCES'));
  // gzip -1 for the tarball and the payload: the same files, a third of the CPU time (the spec is otherwise as saved)
  const spec = join(w, 'warewulf-wwruntime-0.1.0-1.spec');
  writeFileSync(
    spec,
    readFileSync(join(ROOT, 'test/package/fixtures/warewulf-wwruntime-0.1.0-1.spec'), 'utf8').replace('w6.gzdio', 'w1.gzdio'),
  );
  ok(
    sh('tar', ['-C', w, '-I', 'gzip -1', '-cf', join(w, 'SOURCES', `wwruntime-${VERSION}-${arch}.tar.gz`), `wwruntime-${VERSION}-${arch}`]),
    'tar -c',
  );
  const def = (k: string, v: string) => ['--define', `${k} ${v}`];
  ok(
    sh(
      'rpmbuild',
      [
        '-bb',
        '--target',
        MACHINE[arch],
        ...def('_topdir', join(w, 'rpmbuild')),
        ...def('_sourcedir', join(w, 'SOURCES')),
        ...def('_rpmdir', join(w, 'RPMS')),
        ...def('_rpmfilename', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm'),
        ...def('_tmppath', join(w, 'tmp')),
        ...def('wwversion', VERSION),
        spec,
      ],
      { env: { PATH, HOME: w, LC_ALL: 'C', SOURCE_DATE_EPOCH: String(epoch) }, cwd: w },
    ),
    'rpmbuild of the 0.1.0-1 spec',
  );
  rmSync(top, { recursive: true, force: true });
  rmSync(join(w, 'SOURCES'), { recursive: true, force: true });
  return join(w, 'RPMS', `warewulf-wwruntime-${VERSION}-1.${MACHINE[arch]}.rpm`);
}

test(`rpm -U from the 0.1.0-1 package (five executables, the capability inside) to this one and its capability: verifies, and the root is exactly a fresh install's`, () => {
  const arch = ARCHS.find((a) => MACHINE[a] === HOST) ?? ARCHS[0];
  const foreign = MACHINE[arch] !== HOST ? ['--ignorearch'] : [];
  const old = oldPackage(arch);
  process.stdout.write(
    `# the 0.1.0-1 ${MACHINE[arch]} package (payload at gzip -1 here): ${(statSync(old).size / 1e6).toFixed(1)} MB; this one: ${(statSync(join(A, rpmName(arch))).size / 1e6).toFixed(1)} MB + capability ${(statSync(join(A, capRpmName(arch))).size / 1e6).toFixed(1)} MB\n`,
  );
  const s = rpmRoot(`upgrade-${arch}`);
  const before = s.snapshot();
  ok(s.rpm('-i', '--nodeps', '--noscripts', ...foreign, old), 'rpm -i of 0.1.0-1');
  for (const t of TOOLS)
    assert.ok(lstatSync(join(s.root, 'usr/libexec/wwruntime', arch, 'bin', t)).isFile(), `0.1.0-1 ships bin/${t} as an executable`);
  ok(s.rpm('-U', '--nodeps', '--noscripts', ...foreign, join(A, rpmName(arch)), join(A, capRpmName(arch))), 'rpm -U');
  assert.equal(
    ok(s.rpm('-qa', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}\n'), 'rpm -qa')
      .trim()
      .split('\n')
      .sort(),
    [`${capPkg(arch)}-${VERSION}-${CAP_RELEASE}`, `warewulf-wwruntime-${VERSION}-${RELEASE}`].sort(),
  );
  const verify = s.rpm('-V', '--nodeps', 'warewulf-wwruntime', capPkg(arch));
  assert.is(verify.status, 0, verify.stdout + verify.stderr);
  assert.is(verify.stdout, '');
  assert.is(sha(join(s.root, capDir(arch), 'provision-wwruntime')), sha(capFile(arch)));
  // no stale file: the same tree as this release installed on a clean root
  const fresh = rpmRoot(`fresh-${arch}`);
  ok(fresh.rpm('-i', '--nodeps', '--noscripts', ...foreign, join(A, rpmName(arch)), join(A, capRpmName(arch))), 'rpm -i');
  assert.equal(s.snapshot(), fresh.snapshot());
  ok(s.rpm('-e', '--noscripts', 'warewulf-wwruntime', capPkg(arch)), 'rpm -e');
  assert.equal(s.snapshot(), before);
  for (const r of [s.root, fresh.root, dirname(old)]) rmSync(r, { recursive: true, force: true });
});

test('reproducible: a second run gives identical bytes', async () => {
  await second;
  assert.equal(readdirSync(B).sort(), readdirSync(A).sort());
  for (const f of readdirSync(A)) assert.is(sha(join(B, f)), sha(join(A, f)), f);
  assert.equal(
    readdirSync(TMP)
      .filter((n) => n.startsWith('release-'))
      .sort(),
    ['release-a', 'release-b'],
  );
});

test.run();
