// Issue 3's figures: sync 1,000 small files from the test master with the built
// wwgetfiles, against the upstream pattern measured in the same run (one list
// request, then one curl process per file), and a steady-state run.
// The master waits BENCH_LATENCY_MS (default 4 ms, the real master's measured
// cost per file request, PROTOCOL 2.7) before each answer.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bigFixture, startMaster } from '../test/helpers/master.ts';
import { bin, run } from '../test/helpers/exec.ts';
import { measureAsync } from './lib/measure.ts';

const FILES = Number(process.env.BENCH_FILES ?? 1000);
const LATENCY = Number(process.env.BENCH_LATENCY_MS ?? 4);
const fixture = bigFixture(1, FILES, 200);
const HW = fixture.nodes[0].hwaddr;
const m = await startMaster(fixture, { latencyMs: LATENCY, privilegedPorts: false });
const sysroot = mkdtempSync(join(tmpdir(), 'bench-sys-'));

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

async function ours(root: string, args: string[] = []) {
  const before = m.requests.length;
  const t0 = performance.now();
  const r = await run(bin('wwgetfiles'), ['--sysroot', sysroot, '--no-delay', ...args], {
    env: { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root },
  });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`wwgetfiles failed: ${r.stderr}`);
  return { ms, requests: m.requests.length - before, summary: r.stderr.trim().split('\n').pop() };
}

console.log(`${FILES} files of 200 bytes, master latency ${LATENCY} ms per request, loopback`);
const rootA = mkdtempSync(join(tmpdir(), 'bench-up-'));
const up = await upstreamWay(rootA);
const conBefore = m.connections;
const rootB = mkdtempSync(join(tmpdir(), 'bench-ours-'));
const full = await ours(rootB);
const conns = m.connections - conBefore;
const count = readdirSync(join(rootB, 'opt/bench')).reduce((n, d) => n + readdirSync(join(rootB, 'opt/bench', d)).length, 0);
if (count !== FILES) throw new Error(`expected ${FILES} files, found ${count}`);
const steady = await ours(rootB);
const forced = await ours(rootB, ['-F']);
console.log(`upstream way (list + 1 curl per file): ${(up / 1000).toFixed(2)} s`);
console.log(`wwgetfiles full sync:                  ${(full.ms / 1000).toFixed(2)} s  (${full.requests} requests over ${conns} connection(s))  ratio ${(up / full.ms).toFixed(1)}x faster`);
console.log(`wwgetfiles steady state (mark):        ${(steady.ms / 1000).toFixed(2)} s  (${steady.requests} request)`);
console.log(`wwgetfiles -F with nothing changed:    ${(forced.ms / 1000).toFixed(2)} s  (${forced.requests} requests, nothing written)`);
console.log(`  last summary: ${forced.summary}`);
// Memory stays bounded for large files: one 512 MiB object, streamed to disk.
const BIG = 512 * 1024 * 1024;
m.fixture.files.push({ id: 999999, name: 'big', type: 'file', mode: 0o600, uid: 0, gid: 0, timestamp: 1800000000, path: '/opt/big.img', content: Buffer.alloc(BIG, 7) });
m.fixture.nodes[0].fileIds = [999999];
m.options.latencyMs = 0;
const rootC = mkdtempSync(join(tmpdir(), 'bench-big-'));
const big = await measureAsync([bin('wwgetfiles'), '--sysroot', sysroot, '--no-delay'], 1, { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: rootC });
console.log(`wwgetfiles one 512 MiB file:           ${(big.ms[0] / 1000).toFixed(2)} s, peak RSS ${(big.rssKiB[0] / 1024).toFixed(0)} MiB`);
rmSync(rootC, { recursive: true, force: true });
await m.stop();
for (const d of [rootA, rootB, sysroot]) rmSync(d, { recursive: true, force: true });
