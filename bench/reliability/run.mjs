#!/usr/bin/env node
// npm run reliability: builds the executables, then runs the issue-6 and issue-12 harnesses in
// turn (crash sweep, faulty master, fuzzing, scale, run bound), each printing its figures.
// Exits non-zero when any must-be-0 figure is not 0 (or a harness fails).
//   node bench/reliability/run.mjs [--quick] [PATTERN]   (PATTERN: only harness files containing it)
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const pattern = args.find((a) => !a.startsWith('--')) ?? '';
const HARNESSES = ['crash-sweep.ts', 'faulty-master.ts', 'fuzz.ts', 'scale.ts', 'run-bound.ts'].filter((h) => h.includes(pattern));

if (!process.env.WW_SKIP_BUILD) {
  const b = spawnSync(process.execPath, [join(ROOT, 'build/build.mjs'), '--quiet'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(1);
}
const t0 = Date.now();
const failed = [];
for (const h of HARNESSES) {
  console.log(`\n## ${h}${quick ? ' (--quick)' : ''}`);
  const started = Date.now();
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/reliability', h), ...(quick ? ['--quick'] : [])], {
    stdio: 'inherit',
    cwd: ROOT,
  });
  console.log(`## ${h}: ${r.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (r.status !== 0) failed.push(h);
}
console.log(
  `\nreliability: ${HARNESSES.length - failed.length} of ${HARNESSES.length} harnesses ok in ${((Date.now() - t0) / 1000).toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`,
);
process.exit(failed.length ? 1 : 0);
