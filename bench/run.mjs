#!/usr/bin/env node
// npm run bench: builds, then runs every bench/*.bench.ts in turn (each prints its own figures).
//   node bench/run.mjs [PATTERN...]   only the files whose name contains one of the patterns
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const patterns = process.argv.slice(2);
const b = spawnSync(process.execPath, [join(ROOT, 'build/build.mjs'), '--quiet'], { stdio: 'inherit' });
if (b.status !== 0) process.exit(1);
let failed = 0;
for (const f of readdirSync(join(ROOT, 'bench'))
  .filter((n) => n.endsWith('.bench.ts') && (patterns.length === 0 || patterns.some((p) => n.includes(p))))
  .sort()) {
  console.log(`\n## ${f}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', f)], { stdio: 'inherit', cwd: ROOT });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
