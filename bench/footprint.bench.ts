// Installed footprint on a node, per architecture: bytes under NEWROOT/warewulf after the installer
// (the bootstrap step's code) put in the default set (one multi-call executable + symlinks + its
// own C runtime in /warewulf/lib + the notice) and the standalone set, next to the stripped base
// Node binary every executable is made from; and the capability archives.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const INSTALL = join(ROOT, 'bootstrap/wwruntime-install');

function bytes(p: string): number {
  const st = lstatSync(p);
  if (st.isDirectory()) return readdirSync(p).reduce((n, e) => n + bytes(join(p, e)), 0);
  return st.size;
}

function install(arch: string, standalone: boolean): { total: number; lib: number } {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-bench-'));
  try {
    const args = ['--into', dir, '--from', join(ROOT, 'dist'), '--arch', arch, ...(standalone ? ['--standalone'] : [])];
    const r = spawnSync('/bin/busybox', ['sh', INSTALL, ...args], { env: { PATH: process.env.PATH ?? '/bin' }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
    return { total: bytes(join(dir, 'warewulf')), lib: bytes(join(dir, 'warewulf/lib')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MB = (n: number) => `${n} bytes (${(n / 1048576).toFixed(1)} MiB)`;
for (const arch of ['linux-x64', 'linux-arm64']) {
  const work = join(ROOT, 'dist/work', arch);
  const base = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
  if (!base) throw new Error(`no stripped base binary in ${work}: run the build`);
  const baseSize = statSync(join(work, base)).size;
  const def = install(arch, false);
  const sa = install(arch, true);
  console.log(`${arch}: stripped base binary ${MB(baseSize)}`);
  console.log(
    `  default install (wwruntime + 4 symlinks + lib/ + NOTICE): ${MB(def.total)}, ${(def.total / baseSize).toFixed(4)}x the base binary (goal <= 1.06)`,
  );
  console.log(
    `    of which the C runtime and notice (warewulf/lib): ${MB(def.lib)}, ${((def.lib / baseSize) * 100).toFixed(2)}% of the base binary`,
  );
  console.log(`  standalone install (4 executables + lib/): ${MB(sa.total)}, ${(sa.total / baseSize).toFixed(3)}x`);
}
const cap = join(ROOT, 'dist/capability');
for (const f of readdirSync(cap)
  .filter((n) => n.endsWith('.cpio'))
  .sort()) {
  const n = statSync(join(cap, f)).size;
  const gz = spawnSync('gzip', ['-c', '-6', join(cap, f)], { maxBuffer: 1 << 30 });
  console.log(
    `capability ${f}: ${n} bytes, gzip -6 ${gz.status === 0 ? gz.stdout.length : NaN} bytes (added to every node's bootstrap initramfs)`,
  );
}
