// Installed footprint on a node: bytes under NEWROOT/warewulf after the runtime-services step,
// default (one multi-call executable + symlinks) and standalone (four executables), next to
// the stripped base Node binary every executable is made from.
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const STEP = join(ROOT, 'bootstrap/wwruntime-step');

function bytes(p: string): number {
  const st = lstatSync(p);
  if (st.isDirectory()) return readdirSync(p).reduce((n, e) => n + bytes(join(p, e)), 0);
  return st.size;
}

function install(standalone: boolean): number {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-bench-'));
  try {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/bin', NEWROOT: dir, WWMASTER: '10.0.0.1', WWINIT_HWADDR: 'aa:bb:cc:dd:ee:ff', WWRUNTIME_SOURCE: join(ROOT, 'dist'), WWRUNTIME_HOSTROOT: join(dir, 'nohost') };
    if (standalone) env.WWRUNTIME_STANDALONE = '1';
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/bin/busybox', ['sh', STEP], { env, encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status !== 0) throw new Error(`step failed: ${r.stderr}`);
    const n = bytes(join(dir, 'warewulf'));
    console.log(`${standalone ? 'standalone' : 'default (multi-call)'} install: ${n} bytes under NEWROOT/warewulf (${(n / 1048576).toFixed(1)} MiB), step took ${ms.toFixed(0)} ms`);
    return n;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const work = join(ROOT, 'dist/work');
const base = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
const baseSize = base ? statSync(join(work, base)).size : 0;
console.log(`stripped base binary ${base ?? '(missing)'}: ${baseSize} bytes (${(baseSize / 1048576).toFixed(1)} MiB)`);
const def = install(false);
const sa = install(true);
if (baseSize) {
  console.log(`default install / base binary: ${(def / baseSize).toFixed(3)}`);
  console.log(`standalone install / base binary: ${(sa / baseSize).toFixed(3)}`);
}
const cpio = join(ROOT, 'dist/capability');
try {
  for (const f of readdirSync(cpio).filter((n) => n.endsWith('.cpio'))) {
    const n = statSync(join(cpio, f)).size;
    const gz = spawnSync('gzip', ['-c', '-6', join(cpio, f)], { maxBuffer: 1 << 30 });
    const z = gz.status === 0 ? gz.stdout.length : NaN;
    console.log(`capability ${f}: ${n} bytes, gzip -6 ${z} bytes (added to every node's bootstrap initramfs)`);
  }
} catch {
  console.log('capability: dist/capability missing (run the build)');
}
