// Scale (issue 6): N nodes on one cron tick against one test master on
// loopback, with wwgetfiles' random start delay (the splay) and without it.
//
// What is simulated, exactly:
// - The master runs in a child process (its own event loop and core): the test
//   master of test/helpers/master/ with N nodes sharing 20 file objects, one
//   of them changed since the nodes' last run. Its capacity is modelled as the
//   real one: W workers (Apache children) each busy S ms per request (PROTOCOL
//   2.7 measured ~4 ms per file request), so at most W/S requests per second;
//   a request waits for a free worker (a queue, as in Apache's backlog).
// - Each node is an in-process client running what wwgetfiles does on the
//   network at steady state: the file list since its mark (one object newer),
//   then that object's content, over one keep-alive connection, with the real
//   MasterClient (timeouts, retry rounds with the 2 s, 4 s, ... back-off).
//   Source ports are ephemeral ('any'): one host cannot bind 10,000 privileged
//   ports, whereas each real node has its own address.
// - Splay: node i starts at floor(random * 180) s, the default
//   WWGETFILES_INTERVAL, compressed in time by a factor K (start = that / K)
//   so the run takes 180/K s instead of 3 minutes. The master's per-request
//   cost is NOT compressed, so a compressed run loads the master K times harder
//   than the real window would: rates measured under it are an upper bound, and
//   for a master below capacity the real-window rate is the measured one / K.
// - No splay: every node starts at t = 0 (WWGETFILES_INTERVAL=0).
//   node --import tsx bench/reliability/scale.ts [--quick] [--nodes N] [--compress K]
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createLogger } from '../../src/core/log.ts';
import { readBody } from '../../src/core/net/body.ts';
import { MasterClient, UPSTREAM_RETRY } from '../../src/core/net/client.ts';
import { fetchFileList } from '../../src/core/files/fetch.ts';
import { bigFixture } from '../../test/helpers/master/fixtures.ts';
import { startMaster } from '../../test/helpers/master/server.ts';
import { Figures, Rng, cliMain, percentile } from './common.ts';

const FILES = 20;
const MARK = 1_700_000_000 + FILES - 1; // every node has seen all but the newest object

// ---------------------------------------------------------------------------
// The master process

interface MasterStats {
  arrivals: number[];
  started: number;
}

async function serve(nodes: number, workers: number, serviceMs: number): Promise<void> {
  const fixture = bigFixture(nodes, FILES, 2048);
  const arrivals: number[] = [];
  const free = new Array<number>(workers).fill(0);
  let t0 = 0;
  const m = await startMaster(fixture, {
    keepAliveTimeoutMs: 5000,
    fault: () => {
      const now = performance.now();
      arrivals.push(now - t0);
      let w = 0;
      for (let i = 1; i < workers; i++) if (free[i] < free[w]) w = i;
      const begin = Math.max(now, free[w]);
      free[w] = begin + serviceMs;
      return { kind: 'delay', ms: free[w] - now };
    },
  });
  // Keep the request log small: the master's own records are not needed here.
  const reqs = m.requests;
  setInterval(() => reqs.splice(0, reqs.length), 1000).unref();
  process.on('message', (msg: { cmd: string }) => {
    if (msg.cmd === 'start') {
      t0 = performance.now();
      arrivals.length = 0;
      free.fill(0);
      process.send!({ cmd: 'started' });
    } else if (msg.cmd === 'stats') {
      process.send!({ cmd: 'stats', stats: { arrivals, started: t0 } satisfies MasterStats });
    } else if (msg.cmd === 'stop') {
      m.stop().then(() => process.exit(0));
    }
  });
  process.send!({ cmd: 'ready', port: m.port });
}

class MasterProcess {
  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {}
  static start(nodes: number, workers: number, serviceMs: number): Promise<MasterProcess> {
    const child = fork(fileURLToPath(import.meta.url), ['--serve', String(nodes), String(workers), String(serviceMs)], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('message', (msg: { cmd: string; port: number }) => resolve(new MasterProcess(child, msg.port)));
    });
  }
  ask<T>(cmd: string, reply: string): Promise<T> {
    return new Promise((resolve) => {
      const on = (msg: { cmd: string } & Record<string, unknown>) => {
        if (msg.cmd !== reply) return;
        this.child.off('message', on);
        resolve(msg as T);
      };
      this.child.on('message', on);
      this.child.send({ cmd });
    });
  }
  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send({ cmd: 'stop' });
    });
  }
}

// ---------------------------------------------------------------------------
// The nodes

const hw = (i: number) => `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

async function oneNode(port: number, i: number): Promise<number> {
  const quiet = createLogger(() => {}, 0);
  const client = new MasterClient({
    masters: [{ host: '127.0.0.1', port, label: `127.0.0.1:${port}` }],
    scheme: 'http',
    connect: { sourcePort: 'any', connectTimeoutMs: 10_000 },
    idleTimeoutMs: 60_000,
    retry: UPSTREAM_RETRY,
    log: quiet,
    maxSockets: 1,
  });
  try {
    const entries = await fetchFileList(client, hw(i), MARK);
    if (entries.length !== 1) throw new Error(`node ${i}: expected 1 changed object, listed ${entries.length}`);
    for (const e of entries) {
      const body = await client.get('/WW/file', { hwaddr: hw(i), fileid: String(e.id) }, (res) => readBody(res));
      if (body.length !== 2048) throw new Error(`node ${i}: object ${e.id} is ${body.length} bytes`);
    }
    return client.requests;
  } finally {
    client.close();
  }
}

interface TickResult {
  failures: number;
  completion: number[];
  durations: number[];
  arrivals: number[];
  firstError?: string;
}

async function tick(
  master: MasterProcess,
  nodes: number,
  windowS: number,
  deadlineS: number,
  maxInFlight: number,
  rng: Rng,
): Promise<TickResult> {
  await master.ask('start', 'started');
  const t0 = performance.now();
  const starts = Array.from({ length: nodes }, () => (windowS > 0 ? (Math.floor(rng.float() * 180) / 180) * windowS * 1000 : 0));
  const completion: number[] = [];
  const durations: number[] = [];
  let failures = 0;
  let firstError: string | undefined;
  let inFlight = 0;
  const waiting: (() => void)[] = [];
  const slot = () =>
    inFlight < maxInFlight ? (inFlight++, Promise.resolve()) : new Promise<void>((r) => waiting.push(() => (inFlight++, r())));
  const release = () => {
    inFlight--;
    waiting.shift()?.();
  };
  const deadline = new Promise<'deadline'>((r) => setTimeout(() => r('deadline'), deadlineS * 1000).unref());
  const runs = starts.map(async (at, i) => {
    await new Promise((r) => setTimeout(r, at));
    await slot();
    const begun = performance.now();
    try {
      await oneNode(master.port, i);
      completion.push((performance.now() - t0) / 1000);
      durations.push((performance.now() - begun) / 1000);
    } catch (err) {
      failures++;
      firstError ??= (err as Error).message;
    } finally {
      release();
    }
  });
  const all = Promise.all(runs).then(() => 'done' as const);
  if ((await Promise.race([all, deadline])) === 'deadline') {
    failures += nodes - completion.length - failures;
    firstError ??= `deadline of ${deadlineS} s reached`;
  }
  const { stats } = await master.ask<{ stats: MasterStats }>('stats', 'stats');
  return { failures, completion, durations, arrivals: stats.arrivals, firstError };
}

function figuresFor(title: string, r: TickResult, nodes: number, compress: number | null): Figures {
  const f = new Figures(title);
  const buckets = new Map<number, number>();
  for (const a of r.arrivals) buckets.set(Math.floor(a / 1000), (buckets.get(Math.floor(a / 1000)) ?? 0) + 1);
  const peak = Math.max(0, ...buckets.values());
  const span = r.arrivals.length ? (Math.max(...r.arrivals) - Math.min(...r.arrivals)) / 1000 : 0;
  const mean = span > 0 ? r.arrivals.length / Math.max(1, Math.ceil(span)) : r.arrivals.length;
  const done = [...r.completion].sort((a, b) => a - b);
  const dur = [...r.durations].sort((a, b) => a - b);
  f.add('nodes', nodes);
  f.add('requests at the master', r.arrivals.length);
  f.add('peak requests/s at the master (busiest 1 s)', peak);
  f.add('mean requests/s at the master (first to last request)', mean);
  if (compress) {
    f.add(`peak requests/s scaled to the real 180 s window (measured / ${compress})`, peak / compress);
    f.add(`mean requests/s scaled to the real 180 s window (measured / ${compress})`, mean / compress);
  }
  f.add('slowest node completion, s after the tick', done[done.length - 1] ?? 0);
  f.add('node run time (own start to done), median s', percentile(dur, 50));
  f.add('node run time, p99 s', percentile(dur, 99));
  f.add('node run time, max s', dur[dur.length - 1] ?? 0);
  f.add('failures (nodes that gave up or missed the deadline)', r.failures, true);
  if (r.firstError) f.add('first failure', r.firstError);
  return f;
}

export async function scale(o: {
  nodes: number;
  compress: number;
  workers?: number;
  serviceMs?: number;
  deadlineS?: number;
  maxInFlight?: number;
  seed: number;
  log?: (l: string) => void;
}): Promise<Figures[]> {
  const workers = o.workers ?? 8;
  const serviceMs = o.serviceMs ?? 4;
  const maxInFlight = o.maxInFlight ?? 8000;
  const deadlineS = o.deadlineS ?? 240;
  const log = o.log ?? (() => {});
  const master = await MasterProcess.start(o.nodes, workers, serviceMs);
  const rng = new Rng(o.seed);
  const out: Figures[] = [];
  try {
    const windowS = 180 / o.compress;
    log(
      `scale: ${o.nodes} nodes, master capacity ${Math.round((workers * 1000) / serviceMs)} requests/s (${workers} workers x ${serviceMs} ms), at most ${maxInFlight} nodes in flight`,
    );
    const t1 = Date.now();
    const withSplay = await tick(master, o.nodes, windowS, deadlineS, maxInFlight, rng);
    log(`  with splay: ${((Date.now() - t1) / 1000).toFixed(1)} s`);
    out.push(
      figuresFor(
        `scale: ${o.nodes} nodes, default splay (random start in 0..180 s, time compressed x${o.compress}: 0..${windowS.toFixed(1)} s)`,
        withSplay,
        o.nodes,
        o.compress,
      ),
    );
    await new Promise((r) => setTimeout(r, 2000)); // let the keep-alive connections of the first tick close
    const t2 = Date.now();
    const noSplay = await tick(master, o.nodes, 0, deadlineS, maxInFlight, rng);
    log(`  without splay: ${((Date.now() - t2) / 1000).toFixed(1)} s`);
    out.push(figuresFor(`scale: ${o.nodes} nodes, splay disabled (WWGETFILES_INTERVAL=0: all start at the tick)`, noSplay, o.nodes, null));
  } finally {
    await master.stop();
  }
  return out;
}

export async function main(quick: boolean, argv: string[] = []): Promise<Figures[]> {
  const opt = (name: string, dflt: number) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? Number(argv[i + 1]) : dflt;
  };
  return scale({
    nodes: opt('nodes', quick ? 2000 : 10_000),
    compress: opt('compress', quick ? 30 : 6),
    seed: opt('seed', Date.now() % 1e9),
    log: (l) => console.log(l),
  });
}

if (process.argv[2] === '--serve') {
  void serve(Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5]));
} else {
  cliMain(import.meta.url, main);
}
