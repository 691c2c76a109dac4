// npm run package (build/package.mjs, build/warewulf-wwruntime.spec), checked the way an
// administrator meets it: the release folder, its reproducibility, the tarball unpacked
// anywhere, the RPM queried, installed into a scratch root, used and removed.
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
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
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
const rpmName = (arch: string) => `warewulf-wwruntime-${VERSION}-1.${MACHINE[arch]}.rpm`;
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
const perms = (type: string, mode: number) => {
  let s = type;
  for (let i = 8; i >= 0; i--) s += mode & (1 << i) ? 'rwx'[(8 - i) % 3] : '-';
  return s;
};

/** A scratch root for rpm --root with its own database. */
function rpmRoot(name: string): { root: string; rpm: (...a: string[]) => SpawnSyncReturns<string>; snapshot: () => string[] } {
  const root = join(TMP, name);
  // the folders every EL system has (its filesystem package owns them)
  for (const d of ['usr/sbin', 'usr/libexec', 'usr/share/doc', 'usr/share/licenses', 'var/lib'])
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

test('dist/release: a tarball and an RPM per built architecture, and SHA256SUMS over them', () => {
  const expect = ['SHA256SUMS', ...ARCHS.flatMap((a) => [`${tarName(a)}.tar.gz`, rpmName(a)])].sort();
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
      [`${top}/dist/capability`, 'd', 0o755],
      [`${top}/dist/capability/provision-wwruntime.${arch}.cpio`, '-', 0o644],
      [`${top}/dist/${arch}`, 'd', 0o755],
      ...entries(join(DIST, arch)).map(([p, t, m]): [string, string, number] => [`${top}/dist/${arch}/${p}`, t, m]),
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
    for (const [p, t] of entries(join(DIST, arch))) {
      if (t === '-') assert.is(sha(join(dir, 'dist', arch, p)), sha(join(DIST, arch, p)), p);
    }
    assert.is(
      sha(join(dir, `dist/capability/provision-wwruntime.${arch}.cpio`)),
      sha(join(DIST, `capability/provision-wwruntime.${arch}.cpio`)),
    );
    for (const f of ['wwruntime-install', 'wwruntime-lib.sh', 'wwruntime-step'])
      assert.is(sha(join(dir, 'bootstrap', f)), sha(join(ROOT, 'bootstrap', f)), f);
    rmSync(join(TMP, `bytes-${arch}`), { recursive: true, force: true });
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
    assert.is(info, `warewulf-wwruntime|${VERSION}|1|${MACHINE[arch]}|${epoch}|wwruntime-build|GPL-2.0-only|gzip|8`);
    const qpi = rpmq(pkg, '-i');
    assert.match(qpi, /^Name\s+: warewulf-wwruntime$/m);
    assert.match(qpi, new RegExp(`^Architecture: ${MACHINE[arch]}$`, 'm'));
    // no automatic dependencies from the bundled libraries: only the shell of the scripts, and
    // rpmlib features EL7's rpm 4.11 has (no zstd payload)
    const req = rpmq(pkg, '--qf', '[%{REQUIRENAME} %{REQUIREFLAGS:deptype}\n]').trim().split('\n').sort();
    assert.equal(req, [
      '/bin/sh manual',
      '/bin/sh post,interp',
      'rpmlib(CompressedFileNames) rpmlib',
      'rpmlib(FileDigests) rpmlib',
      'rpmlib(PayloadFilesHavePrefix) rpmlib',
    ]);
    assert.equal(rpmq(pkg, '--provides').trim().split('\n').sort(), [
      `warewulf-wwruntime = ${VERSION}-1`,
      `warewulf-wwruntime(${ISA[MACHINE[arch]]}) = ${VERSION}-1`,
    ]);
  });

  test(`${arch} RPM: exactly the intended files, modes and owners; contents byte for byte`, () => {
    const pkg = join(A, rpmName(arch));
    const lib = '/usr/libexec/wwruntime';
    const d = (p: string) => `drwxr-xr-x root root ${p}`;
    const want = [
      `-rwxr-xr-x root root /usr/sbin/wwruntime-install`,
      d(lib),
      ...entries(join(DIST, arch)).map(([p, t, m]) => `${perms(t, m)} root root ${lib}/${arch}/${p}`),
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
      d('/var/lib/warewulf'),
      d('/var/lib/warewulf/initramfs'),
      d(`/var/lib/warewulf/initramfs/${MACHINE[arch]}`),
      d(capDir(arch)),
      `-rw-r--r-- root root ${capDir(arch)}/provision-wwruntime`,
    ].sort();
    const got = rpmq(pkg, '--qf', '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]').trim().split('\n');
    assert.equal(got.sort(), want);
    assert.equal(rpmq(pkg, '-l').trim().split('\n').sort(), want.map((l) => l.split(' ').slice(3).join(' ')).sort());

    const x = join(TMP, `rpm2cpio-${arch}`);
    mkdirSync(x);
    ok(sh('bash', ['-o', 'pipefail', '-c', 'rpm2cpio "$0" | cpio -idm --quiet', pkg], { cwd: x }), 'rpm2cpio | cpio -i');
    for (const [p, t] of entries(join(DIST, arch))) {
      if (t === '-') assert.is(sha(join(x, lib, arch, p)), sha(join(DIST, arch, p)), p);
    }
    assert.is(sha(join(x, capDir(arch), 'provision-wwruntime')), sha(join(DIST, `capability/provision-wwruntime.${arch}.cpio`)));
    rmSync(x, { recursive: true, force: true });
  });

  test(`${arch} RPM %post: tells the admin to re-run wwbootstrap, and does not run it`, () => {
    const post = rpmq(join(A, rpmName(arch)), '--qf', '%{POSTINPROG}\n%{POSTIN}');
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
    ok(s.rpm('-i', '--nodeps', '--noscripts', ...foreign, join(A, rpmName(arch))), 'rpm -i');
    const verify = s.rpm('-V', '--nodeps', 'warewulf-wwruntime');
    assert.is(verify.status, 0, verify.stdout + verify.stderr);
    assert.is(verify.stdout, '', 'rpm -V: every file as packaged');
    assert.is(sha(join(s.root, capDir(arch), 'provision-wwruntime')), sha(join(DIST, `capability/provision-wwruntime.${arch}.cpio`)));

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

    ok(s.rpm('-e', '--noscripts', 'warewulf-wwruntime'), 'rpm -e');
    assert.equal(s.snapshot(), before);
  });

  test(`${arch} RPM on a master that has Warewulf: rpm -e leaves Warewulf's capabilities and folders`, () => {
    const s = rpmRoot(`master-${arch}`);
    mkdirSync(join(s.root, capDir(arch)), { recursive: true });
    writeFileSync(join(s.root, capDir(arch), 'transport-http'), 'not ours\n');
    const before = s.snapshot();
    ok(s.rpm('-i', '--nodeps', '--noscripts', ...(MACHINE[arch] !== HOST ? ['--ignorearch'] : []), join(A, rpmName(arch))), 'rpm -i');
    assert.ok(existsSync(join(s.root, capDir(arch), 'provision-wwruntime')));
    ok(s.rpm('-e', '--noscripts', 'warewulf-wwruntime'), 'rpm -e');
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
