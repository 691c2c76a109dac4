// Issue 2's figures: each executable's size against the stripped base binary,
// and the median wall time and peak RSS of `--version` against the bare base
// binary running `-e 0`, measured in the same run.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DIST, ROOT } from '../test/helpers/exec.ts';
import { measure, median, mib } from './lib/measure.ts';

const RUNS = Number(process.env.BENCH_RUNS ?? 21);
const work = join(ROOT, 'dist', 'work');
const baseName = readdirSync(work).find((n) => /^node-v.*-stripped$/.test(n));
if (!baseName) throw new Error('no stripped base binary in dist/work: run the build');
const base = join(work, baseName);
const baseSize = statSync(base).size;

const baseline = measure([base, '-e', '0'], RUNS);
const bMs = median(baseline.ms);
const bRss = median(baseline.rssKiB);
console.log(`stripped base binary ${baseName}: ${mib(baseSize)} (${baseSize} bytes)`);
console.log(`baseline: ${baseName} -e 0: median ${bMs.toFixed(1)} ms, peak RSS ${(bRss / 1024).toFixed(1)} MiB  (${RUNS} runs)`);
console.log('');
console.log('executable          size        vs base   --version median   ratio   peak RSS    ratio');
for (const name of ['wwgetfiles', 'wwgetscript', 'wwgetvnfs', 'wwgetnodeconfig', 'wwruntime']) {
  const exe = join(DIST, name);
  const size = statSync(exe).size;
  const s = measure([exe, '--version'], RUNS);
  const ms = median(s.ms);
  const rss = median(s.rssKiB);
  console.log(
    `${name.padEnd(18)}  ${mib(size).padStart(10)}  +${((size - baseSize) / 1024).toFixed(0).padStart(5)} KiB   ${ms.toFixed(1).padStart(8)} ms   ${(ms / bMs).toFixed(2).padStart(5)}x  ${(rss / 1024).toFixed(1).padStart(7)} MiB  ${(rss / bRss).toFixed(2).padStart(5)}x`,
  );
}
