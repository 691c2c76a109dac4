// Issue 3/13's figures: sync 1,000 small files from the test master with the built
// wwgetfiles, against, in the same run:
//   the floor   one curl process fetching the same 1,001 URLs (list + every object) over
//               4 parallel keep-alive connections (curl --parallel --parallel-max 4), as
//               wwgetfiles does: what the network and master alone cost;
//   upstream    one list request, then one curl process per file (once; slow).
// The master waits BENCH_LATENCY_MS (default 4 ms, the real master's measured cost per
// file request, PROTOCOL 2.7) before each answer. Floor, full sync and -F runs alternate,
// BENCH_REPS rounds (default 5); medians and ratios to the floor's median. BENCH_UPSTREAM=0
// leaves out the upstream pattern; BENCH_OTHER=PATH runs another build alongside.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bigFixture } from '../test/helpers/master/fixtures.ts';
import { startMaster } from '../test/helpers/master/server.ts';
import { bin, run } from '../test/helpers/exec.ts';
import { measureAsync, median } from './lib/measure.ts';

const FILES = Number(process.env.BENCH_FILES ?? 1000);
const LATENCY = Number(process.env.BENCH_LATENCY_MS ?? 4);
const REPS = Number(process.env.BENCH_REPS ?? 5);
/** BENCH_OTHER=PATH: another wwgetfiles build (say, the previous commit's) run alongside, for before/after. */
const OTHER = process.env.BENCH_OTHER;
const fixture = bigFixture(1, FILES, 200);
const HW = fixture.nodes[0].hwaddr;
const m = await startMaster(fixture, { latencyMs: LATENCY, privilegedPorts: false });
const sysroot = mkdtempSync(join(tmpdir(), 'bench-sys-'));
const scratch = mkdtempSync(join(tmpdir(), 'bench-wwgetfiles-'));

function sh(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((res) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('close', (code) => res({ code, out }));
  });
}

/** The upstream pattern: one list request, then one curl per file, sequentially. */
async function upstreamWay(root: string): Promise<number> {
  const t0 = performance.now();
  const list = await sh('curl', ['-sf', `${m.url}/WW/file?hwaddr=${HW}&timestamp=0`]);
  if (list.code !== 0) throw new Error('curl list failed');
  for (const line of list.out.split('\n').filter(Boolean)) {
    const f = line.trim().split(/\s+/);
    const path = join(root, f.slice(6).join(' '));
    mkdirSync(dirname(path), { recursive: true });
    const r = await sh('curl', ['-sf', '-o', `${path}.ww${f[5]}`, `${m.url}/WW/file?hwaddr=${HW}&fileid=${f[0]}`]);
    if (r.code !== 0) throw new Error(`curl fileid ${f[0]} failed`);
  }
  return performance.now() - t0;
}

// The floor's URL list: the same requests wwgetfiles makes.
const urls = [`${m.url}/WW/file?hwaddr=${HW}&timestamp=0`, ...fixture.files.map((f) => `${m.url}/WW/file?hwaddr=${HW}&fileid=${f.id}`)];
const curlConfig = join(scratch, 'floor.curl');
writeFileSync(curlConfig, urls.map((u) => `url = "${u}"\noutput = "/dev/null"\n`).join(''));

async function floor(): Promise<{ ms: number; requests: number; connections: number }> {
  const r0 = m.requests.length;
  const c0 = m.connections;
  const t0 = performance.now();
  const r = await sh('curl', ['-sf', '--no-progress-meter', '--parallel', '--parallel-max', '4', '--config', curlConfig]);
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`curl --parallel: exit ${r.code}`);
  return { ms, requests: m.requests.length - r0, connections: m.connections - c0 };
}

async function ours(root: string, args: string[] = [], exe = bin('wwgetfiles')) {
  const before = m.requests.length;
  const c0 = m.connections;
  const t0 = performance.now();
  const r = await run(exe, ['--sysroot', sysroot, '--no-delay', ...args], {
    env: { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root },
  });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`wwgetfiles failed: ${r.stderr}`);
  return { ms, requests: m.requests.length - before, connections: m.connections - c0, summary: r.stderr.trim().split('\n').pop() };
}

const forcedRoot = mkdtempSync(join(scratch, 'forced-'));
await ours(forcedRoot); // the complete tree -F runs over
const otherFull: number[] = [];
const otherForced: number[] = [];
const load0 = loadavg()[0];
const floors: number[] = [];
const fulls: number[] = [];
const forceds: number[] = [];
const steadies: number[] = [];
let last: Awaited<ReturnType<typeof ours>> | undefined;
let floorInfo: Awaited<ReturnType<typeof floor>> | undefined;
let fullInfo: Awaited<ReturnType<typeof ours>> | undefined;
for (let rep = 0; rep < REPS; rep++) {
  // Rotate which runs first in each round.
  const steps = ['floor', 'full', 'forced', ...(OTHER ? ['otherFull', 'otherForced'] : [])];
  for (let k = 0; k < steps.length; k++) {
    const step = steps[(k + rep) % steps.length];
    if (step === 'floor') {
      floorInfo = await floor();
      floors.push(floorInfo.ms);
    } else if (step === 'full') {
      const root = mkdtempSync(join(scratch, 'full-'));
      fullInfo = await ours(root);
      fulls.push(fullInfo.ms);
      const count = readdirSync(join(root, 'opt/bench')).reduce((n, d) => n + readdirSync(join(root, 'opt/bench', d)).length, 0);
      if (count !== FILES) throw new Error(`expected ${FILES} files, found ${count}`);
      steadies.push((await ours(root)).ms); // nothing new: one request (the mark)
    } else if (step === 'forced') {
      // -F over a complete tree: every object fetched again, nothing written.
      last = await ours(forcedRoot, ['-F']);
      forceds.push(last.ms);
    } else if (step === 'otherFull') {
      otherFull.push((await ours(mkdtempSync(join(scratch, 'other-')), [], OTHER)).ms);
    } else {
      otherForced.push((await ours(forcedRoot, ['-F'], OTHER)).ms);
    }
  }
}
const rootA = mkdtempSync(join(scratch, 'upstream-'));
const up = process.env.BENCH_UPSTREAM === '0' ? undefined : await upstreamWay(rootA);
const f = median(floors);
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const runs = (xs: number[]) => `runs: ${xs.map((x) => (x / 1000).toFixed(2)).join(', ')}`;
console.log(
  `${FILES} files of 200 bytes, master latency ${LATENCY} ms per request, loopback; ${REPS} alternating rounds, medians; load average ${load0.toFixed(2)} -> ${loadavg()[0].toFixed(2)}`,
);
console.log(
  `floor: curl --parallel-max 4, keep-alive: ${s(f)}  (${floorInfo!.requests} requests over ${floorInfo!.connections} connections; ${runs(floors)})`,
);
console.log(
  `wwgetfiles full sync:                  ${s(median(fulls))}  ${(median(fulls) / f).toFixed(2)}x the floor  (${fullInfo!.requests} requests over ${fullInfo!.connections} connection(s); ${runs(fulls)})`,
);
console.log(
  `wwgetfiles -F with nothing changed:    ${s(median(forceds))}  ${(median(forceds) / f).toFixed(2)}x the floor  (${last!.requests} requests, nothing written; ${runs(forceds)})`,
);
if (OTHER) {
  console.log(`${OTHER} full sync: ${s(median(otherFull))}  ${(median(otherFull) / f).toFixed(2)}x the floor  (${runs(otherFull)})`);
  console.log(`${OTHER} -F:        ${s(median(otherForced))}  ${(median(otherForced) / f).toFixed(2)}x the floor  (${runs(otherForced)})`);
}
console.log(`wwgetfiles steady state (mark):        ${s(median(steadies))}  (1 request; ${runs(steadies)})`);
if (up !== undefined)
  console.log(
    `upstream way (list + 1 curl per file): ${s(up)}  ${(up / f).toFixed(1)}x the floor; wwgetfiles full sync ${(up / median(fulls)).toFixed(1)}x faster (one run)`,
  );
console.log(`  last -F summary: ${last!.summary}`);
// Memory stays bounded for large files: one 512 MiB object, streamed to disk.
const BIG = 512 * 1024 * 1024;
m.fixture.files.push({
  id: 999999,
  name: 'big',
  type: 'file',
  mode: 0o600,
  uid: 0,
  gid: 0,
  timestamp: 1800000000,
  path: '/opt/big.img',
  content: Buffer.alloc(BIG, 7),
});
m.fixture.nodes[0].fileIds = [999999];
m.options.latencyMs = 0;
const rootC = mkdtempSync(join(tmpdir(), 'bench-big-'));
const big = await measureAsync([bin('wwgetfiles'), '--sysroot', sysroot, '--no-delay'], 1, {
  WWMASTER: m.address,
  WWINIT_HWADDR: HW,
  NEWROOT: rootC,
});
console.log(`wwgetfiles one 512 MiB file:           ${(big.ms[0] / 1000).toFixed(2)} s, peak RSS ${(big.rssKiB[0] / 1024).toFixed(0)} MiB`);
rmSync(rootC, { recursive: true, force: true });
await m.stop();
for (const d of [scratch, sysroot]) rmSync(d, { recursive: true, force: true });
