#!/usr/bin/env node
// Release packages for a Warewulf 3 master, from the build's dist/ (npm run package builds first):
//   dist/release/wwruntime-VERSION-ARCH.tar.gz            one per dist/ARCH folder (linux-x64, linux-arm64)
//   dist/release/warewulf-wwruntime-VERSION-1.MACHINE.rpm  built by rpmbuild from that tarball
//                                                         and build/warewulf-wwruntime.spec
//   dist/release/SHA256SUMS
// Every architecture the build made (dist/linux-*/ with its capability cpio) is packaged; the
// runtime folder dist/ARCH/ is taken whole, whatever it holds (executables, libraries, notices).
// Reproducible: the same dist/ gives the same bytes. Dates are SOURCE_DATE_EPOCH (default: the
// time of the last git commit); archive members are sorted, owned by 0:0, with normalised modes;
// gzip stores no name or time; rpmbuild gets a fixed host name and the same epoch.
//   node build/package.mjs [--out DIR] [--quiet]
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileHash, ROOT, run, sumsText } from './lib.mjs';
import { ARCHS, BOOTSTRAP_FILES, CAPABILITY_NAME, MULTICALL } from './targets.mjs';

export const SPEC = 'build/warewulf-wwruntime.spec';

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

/** The architectures the build made, each with its runtime folder and capability cpio. */
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
    const cpio = join(dist, 'capability', `${CAPABILITY_NAME}.${arch}.cpio`);
    for (const f of [join(runtime, MULTICALL), cpio]) {
      if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
    }
    verifySums(runtime);
    return { arch, machine: ARCHS[arch].uname, runtime, cpio };
  });
}

/** Checks the build's own SHA256SUMS (when it has one), so a half-copied dist/ is never shipped. */
function verifySums(dir) {
  const sums = join(dir, 'SHA256SUMS');
  if (!existsSync(sums)) return;
  for (const line of readFileSync(sums, 'utf8').split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (!m) throw new Error(`${sums}: malformed line '${line}'`);
    const f = join(dir, m[2]);
    if (!existsSync(f) || fileHash('sha256', f) !== m[1]) throw new Error(`${f} does not match ${sums}: rebuild (npm run build)`);
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

/** Lays out the tarball's tree: the source tree's shape, so that bootstrap/wwruntime-install finds ../dist. */
function stage(root, a, top) {
  mkdirSync(join(top, 'bootstrap'), { recursive: true });
  mkdirSync(join(top, 'dist', 'capability'), { recursive: true });
  for (const f of ['README.md', 'LICENSE']) copyFileSync(join(root, f), join(top, f));
  for (const f of BOOTSTRAP_FILES) copyFileSync(join(root, 'bootstrap', f), join(top, 'bootstrap', f));
  chmodSync(join(top, 'bootstrap', 'wwruntime-lib.sh'), 0o644); // sourced, never run
  // cp -a keeps symlinks (a runtime's library links) as they are
  run('cp', ['-a', a.runtime, join(top, 'dist', a.arch)]);
  copyFileSync(a.cpio, join(top, 'dist', 'capability', `${CAPABILITY_NAME}.${a.arch}.cpio`));
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

/**
 * Writes the release packages.
 * @param {{ root?: string, dist?: string, out?: string, epoch?: number, say?: (m: string) => void }} [opts]
 * @returns {{ out: string, files: string[] }}
 */
export function packageRelease(opts = {}) {
  const root = opts.root ?? ROOT;
  const dist = opts.dist ?? join(root, 'dist');
  const out = resolve(opts.out ?? join(dist, 'release'));
  const say = opts.say ?? (() => {});
  const epoch = opts.epoch ?? sourceDateEpoch(root);
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  // Everything is made beside the output and renamed into place at the end: an interrupted
  // run leaves the previous release (or none), never a partial one; what a killed run left
  // beside it goes now (a running one's folders stay).
  sweepStale(out);
  const archs = builtArchs(dist);
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
  const oldMask = process.umask(0o022);
  try {
    const files = [];
    for (const a of archs) {
      const name = `wwruntime-${version}-${a.arch}`;
      const top = join(work, a.arch, name);
      stage(root, a, top);
      const tar = join(work, a.arch, `${name}.tar`);
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
          join(work, a.arch),
          '-cf',
          tar,
          name,
        ],
        { env },
      );
      run('gzip', ['-n', '-6', tar], { env });
      copyFileSync(`${tar}.gz`, join(next, `${name}.tar.gz`));
      files.push(`${name}.tar.gz`);
      say(`${name}.tar.gz`);

      const src = join(work, a.arch, 'SOURCES');
      mkdirSync(src);
      renameSync(`${tar}.gz`, join(src, `${name}.tar.gz`));
      const rpms = join(work, a.arch, 'RPMS');
      const def = (k, v) => ['--define', `${k} ${v}`];
      run(
        'rpmbuild',
        [
          '-bb',
          '--target',
          a.machine,
          ...def('_topdir', join(work, a.arch, 'rpmbuild')),
          ...def('_sourcedir', src),
          ...def('_rpmdir', rpms),
          ...def('_rpmfilename', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm'),
          ...def('_tmppath', join(work, a.arch, 'tmp')),
          ...def('wwversion', version),
          join(root, SPEC),
        ],
        { env, cwd: work },
      );
      const rpm = `warewulf-wwruntime-${version}-1.${a.machine}.rpm`;
      if (!existsSync(join(rpms, rpm))) throw new Error(`rpmbuild made no ${rpm}`);
      renameSync(join(rpms, rpm), join(next, rpm));
      files.push(rpm);
      say(rpm);
      rmSync(join(work, a.arch), { recursive: true, force: true });
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
  const o = args.indexOf('--out');
  if (o >= 0 && !args[o + 1]) {
    process.stderr.write('package: --out needs a folder\n');
    process.exit(2);
  }
  try {
    const r = packageRelease({ out: o >= 0 ? args[o + 1] : undefined, say: (m) => quiet || process.stderr.write(`package: ${m}\n`) });
    if (!quiet) process.stderr.write(`package: done: ${r.out}\n`);
  } catch (err) {
    process.stderr.write(`package: ERROR: ${err?.message ?? err}\n`);
    process.exit(1);
  }
}
