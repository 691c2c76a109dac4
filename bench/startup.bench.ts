// Start-up with the executables' own C runtime (issue 9) against the same executable linked to
// the system's C runtime and against the bare base binary, all measured in this run.
// Every command goes through /usr/sbin/chroot into one scratch root, so that each pays the same
// exec and sees the same (empty) /etc: the own-runtime executables run as a node runs them, from
// /warewulf/bin (interpreter /warewulf/lib/...); the system-linked ones from /usr/bin with copies
// of this machine's C runtime in /lib64 and /lib/x86_64-linux-gnu. Only the launcher row runs in
// a chroot of / (it needs a shell).
// Rows are pooled over interleaved rounds (drift on a shared machine hits every row alike).
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXECUTABLES, TOOLS } from '../build/targets.mjs';
import { ROOT } from '../test/helpers/exec.ts';
import { measure, median, mib } from './lib/measure.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const ROUNDS = 7;
const ARCH = 'linux-x64';
const dist = join(ROOT, 'dist', ARCH);
const work = join(ROOT, 'dist/work', ARCH);
const baseName = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
if (!baseName) throw new Error(`no stripped base binary in ${work}: run the build`);
const base = join(work, baseName);
const system = join(work, 'wwruntime.system');

// The node's layout in a bare root: bin/ (+ the base binary with the same patchelf treatment), lib/.
const root = mkdtempSync(join(tmpdir(), 'wwrt-startup-'));
try {
  mkdirSync(join(root, 'warewulf/bin'), { recursive: true });
  mkdirSync(join(root, 'warewulf/lib'));
  for (const l of readdirSync(join(dist, 'lib'))) copyFileSync(join(dist, 'lib', l), join(root, 'warewulf/lib', l));
  for (const n of EXECUTABLES) copyFileSync(join(dist, 'bin', n), join(root, 'warewulf/bin', n));
  for (const t of TOOLS) symlinkSync('wwruntime', join(root, 'warewulf/bin', `${t}.link`));
  copyFileSync(base, join(root, 'warewulf/bin/node'));
  const interp = execFileSync('readelf', ['-l', join(dist, 'bin/wwruntime')], { encoding: 'utf8' }).match(
    /interpreter: ([^\]]+)\]/,
  )?.[1] as string;
  execFileSync('patchelf', ['--set-interpreter', interp, '--set-rpath', '/warewulf/lib', join(root, 'warewulf/bin/node')]);
  for (const n of readdirSync(join(root, 'warewulf/bin'))) chmodSync(join(root, 'warewulf/bin', n), 0o755);
  // the system-linked build and the bare base binary, with this machine's C runtime (what NEEDED names)
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  mkdirSync(join(root, 'lib64'));
  mkdirSync(join(root, 'lib/x86_64-linux-gnu'), { recursive: true });
  copyFileSync(system, join(root, 'usr/bin/wwruntime'));
  copyFileSync(base, join(root, 'usr/bin/node'));
  for (const n of ['wwruntime', 'node']) chmodSync(join(root, 'usr/bin', n), 0o755);
  copyFileSync('/lib64/ld-linux-x86-64.so.2', join(root, 'lib64/ld-linux-x86-64.so.2'));
  for (const l of readdirSync(join(dist, 'lib')).filter((n) => !n.startsWith('ld-'))) {
    const host = ['/lib/x86_64-linux-gnu', '/usr/lib/x86_64-linux-gnu'].map((d) => join(d, l)).find((p) => existsSync(p)) as string;
    copyFileSync(realpathSync(host), join(root, 'lib/x86_64-linux-gnu', l));
  }

  const rows: [string, string[]][] = [
    [`bare ${baseName} -e 0 (system C runtime)`, ['/usr/sbin/chroot', root, '/usr/bin/node', '-e', '0']],
    [`bare ${baseName} -e 0 (own C runtime)`, ['/usr/sbin/chroot', root, '/warewulf/bin/node', '-e', '0']],
    ['wwruntime --version, system C runtime', ['/usr/sbin/chroot', root, '/usr/bin/wwruntime', '--version']],
    ['wwruntime --version, own C runtime (node layout)', ['/usr/sbin/chroot', root, '/warewulf/bin/wwruntime', '--version']],
    ['wwruntime --version, own C runtime via launcher', ['/usr/sbin/chroot', '/', join(dist, 'wwruntime'), '--version']],
    ...TOOLS.map((t): [string, string[]] => [
      `${t} --version, own (standalone)`,
      ['/usr/sbin/chroot', root, `/warewulf/bin/${t}`, '--version'],
    ]),
    ...TOOLS.map((t): [string, string[]] => [
      `${t} --version, own (symlink)`,
      ['/usr/sbin/chroot', root, `/warewulf/bin/${t}.link`, '--version'],
    ]),
  ];
  // as on a node: /proc mounted (Node reads /proc/self/* at start)
  mkdirSync(join(root, 'proc'));
  execFileSync('mount', ['-t', 'proc', 'proc', join(root, 'proc')]);
  const ms = new Map<string, number[]>(rows.map(([k]) => [k, []]));
  const cpu = new Map<string, number[]>(rows.map(([k]) => [k, []]));
  const rss = new Map<string, number[]>(rows.map(([k]) => [k, []]));
  for (let r = 0; r < ROUNDS; r++) {
    for (const [k, argv] of rows) {
      const s = measure(argv, Math.ceil(RUNS / ROUNDS), {});
      ms.get(k)?.push(...s.ms);
      cpu.get(k)?.push(...s.cpuMs);
      rss.get(k)?.push(...s.rssKiB);
    }
  }
  const m = (k: string) => median(ms.get(k) ?? []);
  const c = (k: string) => median(cpu.get(k) ?? []);
  const bare = rows[0][0];
  const sys = rows[2][0];
  const own = rows[3][0];
  console.log(
    `stripped base binary ${baseName}: ${mib(statSync(base).size)}; ${ROUNDS} interleaved rounds, ${ROUNDS * Math.ceil(RUNS / ROUNDS)} runs per row`,
  );
  console.log('');
  console.log(
    'command                                           wall median  vs bare  vs system   CPU median  vs bare  vs system   peak RSS',
  );
  for (const [k] of rows) {
    console.log(
      `${k.padEnd(50)} ${m(k).toFixed(1).padStart(7)} ms ${(m(k) / m(bare)).toFixed(3).padStart(7)}x ${(m(k) / m(sys)).toFixed(3).padStart(8)}x ${c(k).toFixed(1).padStart(8)} ms ${(c(k) / c(bare)).toFixed(3).padStart(7)}x ${(c(k) / c(sys)).toFixed(3).padStart(8)}x ${(median(rss.get(k) ?? []) / 1024).toFixed(1).padStart(7)} MiB`,
    );
  }
  console.log('');
  console.log(
    `own C runtime / system-linked (wwruntime --version): wall ${(m(own) / m(sys)).toFixed(3)}, CPU ${(c(own) / c(sys)).toFixed(3)} (goal <= 1.05)`,
  );
} finally {
  const proc = join(root, 'proc');
  if (readFileSync('/proc/self/mounts', 'utf8').includes(` ${proc} `)) execFileSync('umount', [proc]);
  rmSync(root, { recursive: true, force: true });
}
