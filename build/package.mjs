#!/usr/bin/env node
// Release packages for a Warewulf 3 master, from the build's dist/ (npm run package builds first).
// Per architecture ARCH the build made (dist/linux-*/, MACHINE its uname -m):
//   wwruntime-VERSION-ARCH.tar.gz                 the runtime folder, bootstrap/ (wwruntime-install),
//                                                 README, LICENSE: the source tree's shape
//   warewulf-wwruntime-VERSION-R.MACHINE.rpm      the same, built by rpmbuild from that tarball and
//                                                 build/warewulf-wwruntime.spec
//   wwruntime-capability-VERSION-ARCH.tar.gz      the one file provision-wwruntime, to unpack into
//                                                 initramfs/MACHINE/capabilities/ of any master
//   warewulf-wwruntime-capability-MACHINE-VERSION-R.noarch.rpm   the same as a noarch RPM
//                                                 (build/warewulf-wwruntime-capability.spec)
//   warewulf-wwruntime-capability-lean-VERSION-ARCH.tar.gz   (opt-in, issue 20 variant c)
//                                                 initramfs/MACHINE/capabilities/provision-wwruntime-lean
//                                                 and bootstrap/wwruntime/MACHINE/BLOB, to extract
//                                                 with tar -C /var/lib/warewulf -xf (the blob is
//                                                 checked against the lean cpio's manifest first)
//   SHA256SUMS
// One executable per package: the runtime folder ships bin/wwruntime and the four tool names as
// symlinks to it, the rest of dist/ARCH (lib/, launchers, NOTICE) as built; its SHA256SUMS is
// rewritten for that tree. The capability is dist/capability/provision-wwruntime.ARCH.* (whatever
// the build made), byte for byte; it is a package of its own because it carries the runtime a
// second time. dist/ARCH is checked against its SHA256SUMS first: a damaged dist/ is refused.
// Reproducible: the same dist/ gives the same bytes. Dates are SOURCE_DATE_EPOCH (default: the
// time of the last git commit); archive members are sorted, owned by 0:0, with normalised modes;
// gzip stores no name or time; rpmbuild gets a fixed host name and the same epoch.
//   node build/package.mjs [--dist DIR] [--out DIR] [--quiet]   (default dist/, dist/release)
// Exit status: 0 done, 1 refused or failed (one line: package: ERROR: ...), 2 bad usage.
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileHash, ROOT, run, sumsText } from './lib.mjs';
import { ARCHS, BOOTSTRAP_FILES, CAPABILITY_NAME, LEAN_CAPABILITY_NAME, LEAN_MANIFEST, MULTICALL, TOOLS } from './targets.mjs';

export const SPEC = 'build/warewulf-wwruntime.spec';
export const CAPABILITY_SPEC = 'build/warewulf-wwruntime-capability.spec';

/** SOURCE_DATE_EPOCH from the environment, else the last commit's time. */
export function sourceDateEpoch(root = ROOT, env = process.env) {
  const fromEnv = env.SOURCE_DATE_EPOCH;
  if (fromEnv !== undefined && fromEnv !== '') {
    if (!/^\d+$/.test(fromEnv)) throw new Error(`SOURCE_DATE_EPOCH must be seconds since 1970, not '${fromEnv}'`);
    return Number(fromEnv);
  }
  try {
    return Number(
      execFileSync('git', ['-C', root, 'log', '-1', '--format=%ct'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(),
    );
  } catch {
    throw new Error('no SOURCE_DATE_EPOCH and no git history to take the date from: set SOURCE_DATE_EPOCH');
  }
}

/** The capability file the build made for an architecture: dist/capability/provision-wwruntime.ARCH.* (one). */
export function capabilityFile(dist, arch) {
  const dir = join(dist, 'capability');
  const prefix = `${CAPABILITY_NAME}.${arch}.`;
  const found = existsSync(dir) ? readdirSync(dir).filter((n) => n.startsWith(prefix) && !n.includes('.tmp')) : [];
  if (found.length === 0) throw new Error(`${dir}/${prefix}* is missing: run npm run build first`);
  if (found.length > 1)
    throw new Error(`${dir}: more than one capability for ${arch} (${found.sort().join(', ')}): rebuild (npm run build)`);
  return join(dir, found[0]);
}

/** The architectures the build made, each with its runtime folder and capability file. */
export function builtArchs(dist) {
  const archs = existsSync(dist)
    ? readdirSync(dist)
        .filter((a) => /^linux-/.test(a))
        .sort()
    : [];
  if (archs.length === 0) throw new Error(`no ${dist}/linux-*/: run npm run build first`);
  return archs.map((arch) => {
    if (!ARCHS[arch]) throw new Error(`${dist}/${arch}: unknown architecture (known: ${Object.keys(ARCHS).join(', ')})`);
    const runtime = join(dist, arch);
    for (const f of [join(runtime, MULTICALL), join(runtime, 'bin', MULTICALL)]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
    }
    const capability = capabilityFile(dist, arch);
    verifyRuntime(runtime);
    return { arch, machine: ARCHS[arch].uname, runtime, capability };
  });
}

/** The data of the regular file NAME in a newc cpio (build/capability.mjs writeCpio), or undefined. */
function cpioFile(cpio, name) {
  const b = readFileSync(cpio);
  let o = 0;
  const pad = (n) => (n + 3) & ~3;
  while (o + 110 <= b.length && b.toString('ascii', o, o + 6) === '070701') {
    const field = (i) => Number.parseInt(b.toString('ascii', o + 6 + i * 8, o + 14 + i * 8), 16);
    const size = field(6);
    const nameSize = field(11);
    const n = b.toString('utf8', o + 110, o + 110 + nameSize - 1);
    const data = pad(o + 110 + nameSize);
    if (n === 'TRAILER!!!') return undefined;
    if (n === name) return b.subarray(data, data + size);
    o = pad(data + size);
  }
  return undefined;
}

/**
 * The lean capability of an architecture (opt-in, issue 20 variant c) and the runtime blob its
 * manifest names, checked: the blob is there with the manifest's size and SHA256. A damaged or
 * partial dist/ is refused with one line.
 */
export function leanCapability(dist, arch) {
  const cpio = join(dist, 'capability', `${LEAN_CAPABILITY_NAME}.${arch}.cpio`);
  if (!existsSync(cpio)) throw new Error(`${cpio} is missing: run npm run build first`);
  const manifest = cpioFile(cpio, `warewulf/wwruntime/${arch}/${LEAN_MANIFEST}`);
  if (!manifest) throw new Error(`${cpio} holds no warewulf/wwruntime/${arch}/${LEAN_MANIFEST}: rebuild (npm run build)`);
  const kv = Object.fromEntries(
    manifest
      .toString('utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .map((l) => l.split(/\s+/)),
  );
  const machine = ARCHS[arch].uname;
  if (!kv.blob || kv.machine !== machine || !/^\d+$/.test(kv.size ?? '') || !/^[0-9a-f]{64}$/.test(kv.sha256 ?? ''))
    throw new Error(`${cpio}: its ${LEAN_MANIFEST} is not a runtime manifest for ${machine}: rebuild (npm run build)`);
  const blob = join(dist, 'capability', 'bootstrap', MULTICALL, machine, kv.blob);
  if (!existsSync(blob)) throw new Error(`${blob} is missing (the lean capability's runtime blob): rebuild (npm run build)`);
  if (statSync(blob).size !== Number(kv.size) || fileHash('sha256', blob) !== kv.sha256)
    throw new Error(`${blob} does not match the size and SHA256 in ${basename(cpio)}: rebuild (npm run build)`);
  return { arch, cpio, blob, machine };
}

/**
 * Checks the runtime folder against the build's own SHA256SUMS, so that a damaged or half-copied
 * dist/ is never shipped: every listed file present and matching, every file listed, every
 * symlink pointing at a file of the folder.
 */
function verifyRuntime(dir) {
  const sums = join(dir, 'SHA256SUMS');
  if (!existsSync(sums)) throw new Error(`${sums} is missing: rebuild (npm run build)`);
  const listed = new Map();
  for (const line of readFileSync(sums, 'utf8').split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`${sums}: malformed line '${line}'`);
    listed.set(m[2], m[1]);
  }
  const walk = (rel) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const p = join(dir, r);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(r);
      else if (st.isSymbolicLink()) {
        const target = readlinkSync(p);
        const to = resolve(dirname(p), target);
        if (isAbsolute(target) || relative(dir, to).startsWith('..') || !existsSync(to) || !statSync(to).isFile())
          throw new Error(`${p} -> ${target}: the link's target is not a file of ${dir}: rebuild (npm run build)`);
      } else if (r !== 'SHA256SUMS' && !listed.has(r)) throw new Error(`${p} is not listed in ${sums}: rebuild (npm run build)`);
    }
  };
  walk('');
  for (const [r, hash] of listed) {
    const f = join(dir, r);
    if (!existsSync(f) || fileHash('sha256', f) !== hash) throw new Error(`${f} does not match ${sums}: rebuild (npm run build)`);
  }
}

/** Modes a package may carry: 0755 for directories and executables, 0644 for the rest. */
function normaliseModes(dir) {
  chmodSync(dir, 0o755);
  for (const n of readdirSync(dir)) {
    const p = join(dir, n);
    const st = lstatSync(p);
    if (st.isSymbolicLink()) continue;
    if (st.isDirectory()) normaliseModes(p);
    else if (st.isFile()) chmodSync(p, st.mode & 0o111 ? 0o755 : 0o644);
    else throw new Error(`${p}: not a file, directory or symlink`);
  }
}

/**
 * The runtime folder a package ships: dist/ARCH with one executable, bin/wwruntime, and the
 * four tool names as symlinks to it (the multi-call executable picks its tool from its name;
 * the standalone executables stay a build output). Its SHA256SUMS lists every name, a link with
 * its target's sum (what sha256sum and wwruntime-install --standalone read through it).
 */
function stageRuntime(from, to) {
  const files = [];
  const walk = (rel) => {
    mkdirSync(join(to, rel), { recursive: true });
    for (const n of readdirSync(join(from, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      const src = join(from, r);
      const st = lstatSync(src);
      if (st.isDirectory()) walk(r);
      else if (r !== 'SHA256SUMS' && !(rel === 'bin' && TOOLS.includes(n))) {
        if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), join(to, r));
        else copyFileSync(src, join(to, r));
        files.push(r);
      }
    }
  };
  walk('');
  for (const t of TOOLS) {
    symlinkSync(MULTICALL, join(to, 'bin', t));
    files.push(`bin/${t}`);
  }
  writeFileSync(join(to, 'SHA256SUMS'), sumsText(to, files.sort()));
}

/** Lays out the tarball's tree: the source tree's shape, so that bootstrap/wwruntime-install finds ../dist. */
function stage(root, a, top) {
  mkdirSync(join(top, 'bootstrap'), { recursive: true });
  mkdirSync(join(top, 'dist'), { recursive: true });
  for (const f of ['README.md', 'LICENSE']) copyFileSync(join(root, f), join(top, f));
  for (const f of BOOTSTRAP_FILES) copyFileSync(join(root, 'bootstrap', f), join(top, 'bootstrap', f));
  chmodSync(join(top, 'bootstrap', 'wwruntime-lib.sh'), 0o644); // sourced, never run
  stageRuntime(a.runtime, join(top, 'dist', a.arch));
  normaliseModes(top);
  for (const f of ['wwruntime-install', 'wwruntime-step']) chmodSync(join(top, 'bootstrap', f), 0o755);
}

/** Removes OUT.workPID and OUT.tmpPID folders of runs that no longer exist. */
function sweepStale(out) {
  const parent = dirname(out);
  if (!existsSync(parent)) return;
  const re = new RegExp(`^${basename(out).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(work|tmp)(\\d+)$`);
  for (const n of readdirSync(parent)) {
    const m = re.exec(n);
    if (!m) continue;
    try {
      process.kill(Number(m[2]), 0);
    } catch (err) {
      if (err.code === 'ESRCH') rmSync(join(parent, n), { recursive: true, force: true });
    }
  }
}

/** The Release: of a spec (the RPMs' file names carry it). */
function specRelease(spec) {
  const m = /^Release:\s*(\S+)\s*$/m.exec(readFileSync(spec, 'utf8'));
  if (!m) throw new Error(`${spec}: no Release: line`);
  return m[1];
}

/**
 * Writes the release packages.
 * @param {{ root?: string, dist?: string, out?: string, epoch?: number, say?: (m: string) => void }} [opts]
 * @returns {{ out: string, files: string[] }}
 */
export function packageRelease(opts = {}) {
  const root = opts.root ?? ROOT;
  const dist = resolve(opts.dist ?? join(root, 'dist'));
  const out = resolve(opts.out ?? join(dist, 'release'));
  const say = opts.say ?? (() => {});
  const epoch = opts.epoch ?? sourceDateEpoch(root);
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  // Everything is made beside the output and renamed into place at the end: an interrupted
  // run leaves the previous release (or none), never a partial one; what a killed run left
  // beside it goes now (a running one's folders stay).
  sweepStale(out);
  const archs = builtArchs(dist);
  const leans = archs.map((a) => leanCapability(dist, a.arch));
  const work = `${out}.work${process.pid}`;
  const next = `${out}.tmp${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  rmSync(next, { recursive: true, force: true });
  mkdirSync(next, { recursive: true });
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: work, // no ~/.rpmmacros of the person building
    LC_ALL: 'C',
    TZ: 'UTC',
    SOURCE_DATE_EPOCH: String(epoch),
  };
  /** DIR/NAME (a folder or a file) as OUT.tar.gz: sorted, 0:0, dated the epoch, gzip without name or time. */
  const tarGz = (dir, name, tar) => {
    run(
      'tar',
      ['--sort=name', '--format=gnu', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '-C', dir, '-cf', tar, name],
      { env },
    );
    run('gzip', ['-n', '-6', tar], { env });
    return `${tar}.gz`;
  };
  /** rpmbuild -bb of SPEC for TARGET with SOURCES (file paths), the RPM FILE moved into the release. */
  const rpmbuild = (w, spec, target, sources, defines, file) => {
    const src = join(w, 'SOURCES');
    const rpms = join(w, 'RPMS');
    mkdirSync(src, { recursive: true });
    for (const f of sources) renameSync(f, join(src, basename(f)));
    const def = (k, v) => ['--define', `${k} ${v}`];
    run(
      'rpmbuild',
      [
        '-bb',
        '--target',
        target,
        ...def('_topdir', join(w, 'rpmbuild')),
        ...def('_sourcedir', src),
        ...def('_rpmdir', rpms),
        ...def('_rpmfilename', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm'),
        ...def('_tmppath', join(w, 'tmp')),
        ...def('wwversion', version),
        ...Object.entries(defines).flatMap(([k, v]) => def(k, v)),
        join(root, spec),
      ],
      { env, cwd: work },
    );
    if (!existsSync(join(rpms, file))) throw new Error(`rpmbuild made no ${file}`);
    renameSync(join(rpms, file), join(next, file));
    rmSync(w, { recursive: true, force: true });
    return file;
  };
  const release = specRelease(join(root, SPEC));
  const capRelease = specRelease(join(root, CAPABILITY_SPEC));
  const oldMask = process.umask(0o022);
  try {
    const files = [];
    const add = (f) => {
      files.push(f);
      say(f);
    };
    for (const a of archs) {
      const w = join(work, a.arch);
      // the runtime: tarball, and the RPM built from it
      const name = `wwruntime-${version}-${a.arch}`;
      stage(root, a, join(w, name));
      const tgz = tarGz(w, name, join(w, `${name}.tar`));
      copyFileSync(tgz, join(next, `${name}.tar.gz`));
      add(`${name}.tar.gz`);
      add(rpmbuild(join(w, 'rpm'), SPEC, a.machine, [tgz], {}, `warewulf-wwruntime-${version}-${release}.${a.machine}.rpm`));
      // the capability: a tarball of the one file for initramfs/MACHINE/capabilities/, and a noarch RPM
      const capName = `wwruntime-capability-${version}-${a.arch}`;
      mkdirSync(join(w, 'cap'), { recursive: true });
      copyFileSync(a.capability, join(w, 'cap', CAPABILITY_NAME));
      chmodSync(join(w, 'cap', CAPABILITY_NAME), 0o644);
      const capTgz = tarGz(join(w, 'cap'), CAPABILITY_NAME, join(w, `${capName}.tar`));
      renameSync(capTgz, join(next, `${capName}.tar.gz`));
      add(`${capName}.tar.gz`);
      const capSource = join(w, basename(a.capability));
      copyFileSync(a.capability, capSource);
      add(
        rpmbuild(
          join(w, 'caprpm'),
          CAPABILITY_SPEC,
          'noarch',
          [capSource],
          { wwnodearch: a.machine, wwcapfile: basename(a.capability) },
          `warewulf-wwruntime-capability-${a.machine}-${version}-${capRelease}.noarch.rpm`,
        ),
      );
      // the lean capability (opt-in): a tarball laid out as the master's /var/lib/warewulf
      // (tar -C /var/lib/warewulf -xf): the cpio for the node machine's capabilities folder, the
      // blob where Apache serves it as /WW/bootstrap/wwruntime/MACHINE/BLOB
      const l = leans.find((x) => x.arch === a.arch);
      const leanName = `warewulf-wwruntime-capability-lean-${version}-${a.arch}`;
      const lw = join(w, 'lean');
      const caps = join(lw, 'initramfs', l.machine, 'capabilities');
      const bdir = join(lw, 'bootstrap', MULTICALL, l.machine);
      mkdirSync(caps, { recursive: true });
      mkdirSync(bdir, { recursive: true });
      copyFileSync(l.cpio, join(caps, LEAN_CAPABILITY_NAME));
      copyFileSync(l.blob, join(bdir, basename(l.blob)));
      chmodSync(join(caps, LEAN_CAPABILITY_NAME), 0o644);
      chmodSync(join(bdir, basename(l.blob)), 0o644);
      const leanTar = join(w, `${leanName}.tar`);
      run(
        'tar',
        [
          '--sort=name',
          '--format=gnu',
          '--owner=0',
          '--group=0',
          '--numeric-owner',
          `--mtime=@${epoch}`,
          '-C',
          lw,
          '-cf',
          leanTar,
          'bootstrap',
          'initramfs',
        ],
        { env },
      );
      run('gzip', ['-n', '-6', leanTar], { env });
      renameSync(`${leanTar}.gz`, join(next, `${leanName}.tar.gz`));
      add(`${leanName}.tar.gz`);
      rmSync(w, { recursive: true, force: true });
    }
    files.sort();
    writeFileSync(join(next, 'SHA256SUMS'), sumsText(next, files));
    rmSync(out, { recursive: true, force: true });
    renameSync(next, out);
    return { out, files: [...files, 'SHA256SUMS'] };
  } finally {
    process.umask(oldMask);
    rmSync(work, { recursive: true, force: true });
    rmSync(next, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const quiet = args.includes('--quiet');
  const value = (flag) => {
    const i = args.indexOf(flag);
    if (i < 0) return undefined;
    if (!args[i + 1]) {
      process.stderr.write(`package: ${flag} needs a folder\n`);
      process.exit(2);
    }
    return args[i + 1];
  };
  try {
    const r = packageRelease({
      out: value('--out'),
      dist: value('--dist'),
      say: (m) => quiet || process.stderr.write(`package: ${m}\n`),
    });
    if (!quiet) process.stderr.write(`package: done: ${r.out}\n`);
  } catch (err) {
    process.stderr.write(`package: ERROR: ${err?.message ?? err}\n`);
    process.exit(1);
  }
}
