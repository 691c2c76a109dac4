// Footprint, per architecture, computed from dist/ (so it stays true when the build changes):
//   on a node: bytes under NEWROOT/warewulf after the installer (the bootstrap step's code) put in
//     the default set (one multi-call executable + symlinks + its own C runtime in /warewulf/lib +
//     the notice) and the standalone set, next to the stripped base Node binary every executable
//     is made from (the baseline);
//   in the initramfs: the capability file as wwbootstrap takes it, its gzip -6 size (what it adds
//     to initfs.gz, which every node of the bootstrap fetches at boot), and what it unpacks to in
//     the initramfs (RAM until switch_root);
//   with NORUNTIMESERVICES: what the step writes into NEWROOT (goal: nothing) and how long it runs,
//     against a step run that installs (same run).
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ARCHS, CAPABILITY_NAME, HOST_ARCH } from '../build/targets.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const INSTALL = join(ROOT, 'bootstrap/wwruntime-install');
const STEP = join(ROOT, 'bootstrap/wwruntime-step');
const PATH = process.env.PATH ?? '/usr/bin:/bin';

function bytes(p: string): number {
  const st = lstatSync(p);
  if (st.isDirectory()) return readdirSync(p).reduce((n, e) => n + bytes(join(p, e)), 0);
  return st.size;
}
const under = (dir: string) => readdirSync(dir).reduce((n, e) => n + bytes(join(dir, e)), 0);

function install(arch: string, standalone: boolean): { total: number; lib: number } {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-bench-'));
  try {
    const args = ['--into', dir, '--from', join(ROOT, 'dist'), '--arch', arch, ...(standalone ? ['--standalone'] : [])];
    const r = spawnSync('/bin/busybox', ['sh', INSTALL, ...args], { env: { PATH }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`install failed: ${r.stderr}`);
    return { total: bytes(join(dir, 'warewulf')), lib: bytes(join(dir, 'warewulf/lib')) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The bootstrap step on an empty NEWROOT (as the provision handler runs it, busybox sh): exit status, bytes it left in NEWROOT, ms. */
function step(env: Record<string, string>): { status: number | null; written: number; ms: number } {
  const dir = mkdtempSync(join(tmpdir(), 'wwrt-bench-step-'));
  try {
    const root = join(dir, 'newroot');
    const host = join(dir, 'host');
    for (const d of [root, host]) spawnSync('mkdir', ['-p', d]);
    const t0 = process.hrtime.bigint();
    const r = spawnSync('/bin/busybox', ['sh', STEP], {
      env: {
        PATH,
        NEWROOT: root,
        WWRUNTIME_HOSTROOT: host,
        WWRUNTIME_SOURCE: join(ROOT, 'dist'),
        WWINIT_HWADDR: 'aa:bb:cc:dd:ee:ff',
        WWMASTER: '10.0.0.1',
        ...env,
      },
      encoding: 'utf8',
      timeout: 120_000,
    });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    return { status: r.status, written: under(root), ms };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Sum of the member sizes of an archive bsdtar reads (cpio, compressed or not). */
function unpacked(file: string): number {
  const r = spawnSync('bsdtar', ['-tvf', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`bsdtar -tvf ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter(Boolean)
    .reduce((n, l) => n + Number(l.split(/\s+/)[4] ?? 0), 0);
}

const MB = (n: number) => `${n} bytes (${(n / 1048576).toFixed(1)} MiB)`;
for (const arch of Object.keys(ARCHS)) {
  const work = join(ROOT, 'dist/work', arch);
  const base = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
  if (!base) throw new Error(`no stripped base binary in ${work}: run the build`);
  const baseSize = statSync(join(work, base)).size;
  const def = install(arch, false);
  const sa = install(arch, true);
  console.log(`${arch}: stripped base binary ${MB(baseSize)}`);
  console.log(
    `  node, default install (wwruntime + 4 symlinks + lib/ + NOTICE) under /warewulf: ${MB(def.total)}, ${(def.total / baseSize).toFixed(4)}x the base binary (goal <= 1.06)`,
  );
  console.log(
    `    of which the C runtime and notice (warewulf/lib): ${MB(def.lib)}, ${((def.lib / baseSize) * 100).toFixed(2)}% of the base binary`,
  );
  console.log(`  node, standalone install (4 executables + lib/): ${MB(sa.total)}, ${(sa.total / baseSize).toFixed(3)}x`);
  const cap = readdirSync(join(ROOT, 'dist/capability')).filter((n) => n.startsWith(`${CAPABILITY_NAME}.${arch}.`));
  for (const f of cap) {
    const p = join(ROOT, 'dist/capability', f);
    const n = statSync(p).size;
    const gz = spawnSync('gzip', ['-c', '-6', p], { maxBuffer: 1 << 30 });
    const gzn = gz.status === 0 ? gz.stdout.length : Number.NaN;
    const u = unpacked(p);
    console.log(
      `  initramfs, capability ${f}: ${MB(n)}; gzip -6 ${MB(gzn)} (added to initfs.gz, fetched by every node of the bootstrap), ${(gzn / def.total).toFixed(3)}x the node's /warewulf; unpacked in the initramfs ${MB(u)}`,
    );
  }
}
// NORUNTIMESERVICES: the step runs (it must, to remove an earlier install on a stateful node) and writes nothing.
// the faster of 3 runs each, alternating (a loaded machine's noise)
const runs: { installing: ReturnType<typeof step>[]; skipping: ReturnType<typeof step>[] } = { installing: [], skipping: [] };
for (let i = 0; i < 3; i++) {
  runs.installing.push(step({}));
  runs.skipping.push(step({ WWNORUNTIMESERVICES: '1' }));
}
const fastest = (r: ReturnType<typeof step>[]) => r.reduce((a, b) => (b.ms < a.ms ? b : a));
const installing = fastest(runs.installing);
const skipping = fastest(runs.skipping);
if (runs.skipping.some((r) => r.written !== skipping.written)) throw new Error('the NORUNTIMESERVICES runs differ');
console.log(
  `${HOST_ARCH} step, installing: exit ${installing.status}, ${MB(installing.written)} written into NEWROOT, ${installing.ms.toFixed(0)} ms`,
);
console.log(
  `${HOST_ARCH} step, NORUNTIMESERVICES=1: exit ${skipping.status} (1 = skipped), ${MB(skipping.written)} written into NEWROOT (goal 0), ${skipping.ms.toFixed(0)} ms, ${(skipping.ms / installing.ms).toFixed(3)}x the installing step`,
);
if (skipping.written !== 0) {
  console.log('FAIL: a NORUNTIMESERVICES node got files');
  process.exitCode = 1;
}
