#!/usr/bin/env node
// The test command: builds the executables (the end-to-end tests run the built
// binaries, not the TypeScript), runs every test/**/*.test.ts with uvu under tsx,
// and ends with the line 'N passed, N failed'. It first checks the commands of
// test/prerequisites.txt and stops with one line naming any that is missing.
//   node test/run.mjs [PATTERN]   only the test files whose path contains PATTERN
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { missingNodeModules, missingPrerequisites, prerequisitesLine } from '../build/prerequisites.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const pattern = process.argv[2] ?? '';
const FILE_TIMEOUT_S = Number(process.env.WW_TEST_FILE_TIMEOUT ?? 900);

// Prerequisites first (test/prerequisites.txt, the list .ci/install-deps installs): on a machine
// without them the build and dozens of tests would fail with raw ENOENTs; say once what is missing.
const missing = missingPrerequisites({ purposes: ['test'], root: ROOT });
if (missing.length > 0) {
  console.log(prerequisitesLine(['test'], missing));
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const modules = missingNodeModules(ROOT);
if (modules.length > 0) {
  console.log(`npm packages missing: ${modules.join(', ')}; install them with: npm ci  (or everything: npm run setup)`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

if (!process.env.WW_SKIP_BUILD) {
  const b = spawnSync(process.execPath, [join(ROOT, 'build/build.mjs'), '--quiet'], { stdio: 'inherit' });
  if (b.status !== 0) {
    console.log('build failed\n0 passed, 1 failed');
    process.exit(1);
  }
}

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.test.ts') ? [p] : [];
  });
}
const files = walk(join(ROOT, 'test'))
  .filter((f) => relative(ROOT, f).includes(pattern))
  .sort();

let passed = 0;
let failed = 0;
for (const file of files) {
  const rel = relative(ROOT, file);
  process.stdout.write(`\n# ${rel}\n`);
  const code = await new Promise((res) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test/uvu-one.mjs'), file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    // A hung test file must not hang CI: kill it after FILE_TIMEOUT_S and count it as failed.
    const killer = setTimeout(() => {
      process.stdout.write(`# TIMEOUT after ${FILE_TIMEOUT_S} s: ${rel}\n`);
      child.kill('SIGKILL');
    }, FILE_TIMEOUT_S * 1000);
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.on('close', (c) => {
      clearTimeout(killer);
      const clean = out.replace(/\x1b\[[0-9;]*m/g, '');
      const total = Number(/Total:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(clean)?.[1] ?? 0);
      passed += ok;
      let bad = total - ok - skipped;
      if (c !== 0 && bad === 0) bad = 1; // crashed outside a test: count the file as a failure
      failed += bad;
      res(c);
    });
  });
  if (code !== 0) process.stdout.write(`# FAILED: ${rel}\n`);
}
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed === 0 && files.length > 0 ? 0 : 1);
