// Issue 2/13's figures: each executable's size against the stripped base binary,
// and the median wall time, CPU time and peak RSS of `env -i TOOL --version` against
// the bare base binary running `-e 0`, all runs alternating in the same loop.
import { readdirSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DIST, ROOT } from '../test/helpers/exec.ts';
import { measureAlternating, median, mib } from './lib/measure.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const work = join(ROOT, 'dist', 'work');
const baseName = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
if (!baseName) throw new Error('no stripped base binary in dist/work: run the build');
const base = join(work, baseName);
const baseSize = statSync(base).size;
const TOOLS = ['wwgetfiles', 'wwgetscript', 'wwgetvnfs', 'wwgetnodeconfig', 'wwruntime'];

const load0 = loadavg()[0];
const [baseline, ...samples] = measureAlternating([[base, '-e', '0'], ...TOOLS.map((t) => [join(DIST, t), '--version'])], RUNS);
const bMs = median(baseline.ms);
const bCpu = median(baseline.cpuMs!);
const bRss = median(baseline.rssKiB);
console.log(`stripped base binary ${baseName}: ${mib(baseSize)} (${baseSize} bytes)`);
console.log(
  `baseline: ${baseName} -e 0: median wall ${bMs.toFixed(1)} ms, CPU ${bCpu.toFixed(1)} ms, peak RSS ${(bRss / 1024).toFixed(1)} MiB ` +
    `(${RUNS} alternating runs; load average ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)})`,
);
console.log('');
console.log('executable          size        vs base   --version wall   ratio    CPU      ratio   peak RSS    ratio');
TOOLS.forEach((name, i) => {
  const size = statSync(join(DIST, name)).size;
  const s = samples[i];
  const ms = median(s.ms);
  const cpu = median(s.cpuMs!);
  const rss = median(s.rssKiB);
  console.log(
    `${name.padEnd(18)}  ${mib(size).padStart(10)}  +${((size - baseSize) / 1024).toFixed(0).padStart(5)} KiB   ${ms.toFixed(1).padStart(8)} ms  ${(ms / bMs).toFixed(2).padStart(5)}x` +
      `  ${cpu.toFixed(1).padStart(6)} ms ${(cpu / bCpu).toFixed(2).padStart(5)}x  ${(rss / 1024).toFixed(1).padStart(7)} MiB  ${(rss / bRss).toFixed(2).padStart(5)}x`,
  );
});
