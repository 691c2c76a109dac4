#!/usr/bin/env node
// npm run storm [-- OPTIONS]: builds the executables (unless WW_SKIP_BUILD is set), then runs the
// storm rig (bench/storm/storm.ts, which says what it does with --help). Ctrl-C reaches the rig,
// which stops every process it started and removes its folders; this wrapper just waits for it.
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const args = process.argv.slice(2);
if (!process.env.WW_SKIP_BUILD && !args.includes('--help') && !args.includes('-h')) {
  const b = spawnSync(process.execPath, [join(ROOT, 'build/build.mjs'), '--quiet'], { stdio: 'inherit' });
  if (b.status !== 0) process.exit(1);
}
const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/storm/storm.ts'), ...args], { stdio: 'inherit', cwd: ROOT });
// Ctrl-C's SIGINT reaches the rig from the terminal as well; SIGTERM and SIGHUP sent to this wrapper are passed on.
process.on('SIGINT', () => {});
for (const sig of ['SIGTERM', 'SIGHUP']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
