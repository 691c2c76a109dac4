// The storm rig (issue 17): N simulated nodes fetch their ~203 file objects at once from a master
// built like the genuine one (PROTOCOL 2.8): Debian's Apache httpd with the prefork MPM, a mod_perl
// handler (bench/storm/perl/WWStorm.pm) and a MariaDB database, each Apache child with its own
// database connection. Two access patterns run one after the other against a fresh Apache and are
// printed side by side: upstream's wwgetfiles loop (a POSIX sh + curl stand-in,
// bench/storm/upstream-wwgetfiles.sh) and the built dist/linux-x64/wwgetfiles with its defaults.
//
//   npm run storm [-- OPTIONS]      (as root: Apache switches to www-data, MariaDB runs as mysql)
//   node --import tsx bench/storm/storm.ts --nodes 50 --pattern ours --workers 64 ...
//
// Every process the rig starts is in a process group of its own and is stopped at the end, on an
// error, on Ctrl-C, when a phase reaches --limit, and (through a guardian) when the rig is killed;
// its folders are removed likewise. Only 127.0.0.1 is used.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FileObject } from '../../test/helpers/master/fixtures.ts';
import { bin } from '../../test/helpers/exec.ts';
import { Figures, Rng, percentile } from '../reliability/common.ts';
import {
  StatusPoller,
  apacheCpu,
  cpuOf,
  machineCpu,
  readAccessLog,
  startApache,
  stopApache,
  type ApacheOptions,
  type LogEntry,
  type StatusSample,
} from './apache.ts';
import { OBJECTS, contentFor, stormObjects, totalBytes, type StormNode } from './data.ts';
import { DB_PASSWORD, DB_USER, loadData, startMariaDb, type MariaDb } from './mariadb.ts';
import { Procs } from './procs.ts';

export type Pattern = 'upstream' | 'ours';
export const UPSTREAM_SCRIPT = fileURLToPath(new URL('./upstream-wwgetfiles.sh', import.meta.url));

export interface StormOptions {
  nodes: number[];
  patterns: Pattern[];
  mode: 'boot' | 'cron';
  /** MaxRequestWorkers (Apache's default 256). */
  workers: number;
  /** MariaDB max_connections (its default 151). */
  maxConnections: number;
  /** ListenBacklog (Apache's default 511). */
  backlog: number;
  firstCpuMs: number;
  requestCpuMs: number;
  requestWaitMs: number;
  /** 503 (Retry-After: 30) for this fraction of requests. */
  busyFraction: number;
  /** 503 for every request from a to b seconds after the storm's start. */
  busyWindow?: [number, number];
  /** cron: WWGETFILES_INTERVAL, the upper bound of the random start delay (s). */
  interval: number;
  /** cron: the start delays are divided by this (time compression). */
  compress: number;
  /**
   * A tick of nodes already in step: every object is in place and the mark (ours and upstream's)
   * stands below the K newest, so each node asks for the list and fetches those K (undefined: a
   * full sync from an empty root).
   */
  synced?: number;
  /** Each phase (one pattern, one N) is ended after this many seconds. */
  limitS: number;
  seed: number;
  /** Keep the rig's folders (logs, node roots) and print where they are. */
  keep: boolean;
  /** Check the master once before the storm (nodeconfig, runtime script, embedded 404). */
  selfCheck: boolean;
  /** Instead of the storm: one node's full sync on an idle master, against one curl over 4 keep-alive connections, this many times each. */
  single: number;
  log: (l: string) => void;
}

export const DEFAULTS: StormOptions = {
  nodes: [50, 200, 500],
  patterns: ['upstream', 'ours'],
  mode: 'boot',
  workers: 256,
  maxConnections: 151,
  backlog: 511,
  firstCpuMs: 600,
  requestCpuMs: 4,
  requestWaitMs: 16,
  busyFraction: 0,
  interval: 180,
  compress: 1,
  synced: undefined,
  limitS: 1800,
  seed: 17,
  keep: false,
  selfCheck: true,
  single: 0,
  log: (l) => console.log(l),
};

export interface NodeOutcome {
  node: StormNode;
  /** Seconds after the storm's start: when the node was started, when it ended. */
  startedAt: number;
  doneAt?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  killedAtLimit: boolean;
  gaveUp: boolean;
  correct: boolean;
  wrong: string[];
  log: string;
}

export interface PhaseResult {
  pattern: Pattern;
  nodes: number;
  outcomes: NodeOutcome[];
  requests: LogEntry[];
  samples: StatusSample[];
  /** The phase's start, epoch seconds (the access log's clock). */
  startEpoch: number;
  cpu: { apache: number; db: number; machineBusy: number; machineTotal: number };
  db: { maxUsedConnections: number; refusedTooMany: number };
  wallS: number;
  figures: Figures;
  summary: Summary;
}

export interface Summary {
  pattern: Pattern;
  nodes: number;
  correct: number;
  gaveUp: number;
  killed: number;
  doneMedianS: number;
  doneMaxS: number;
  requests: number;
  connections: number;
  http5xx: number;
  http500: number;
  http503: number;
  busyPeak: number;
  busyMean: number;
  childrenPeak: number;
  queuePeak: number;
  cpuPerNode: number;
  dbRefused: number;
  timeline: string;
  /** 5xx per interval of the busy-worker timeline. */
  timeline5xx: string;
  /** 5xx answered on a connection's first request (a worker met anew). */
  http5xxNewConnection: number;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

// ---------------------------------------------------------------------------
// One node

interface Running {
  node: StormNode;
  root: string;
  log: string;
  startedAt: number;
  doneAt?: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  killedAtLimit: boolean;
  child?: import('node:child_process').ChildProcess;
  exited: Promise<void>;
}

function startNode(
  procs: Procs,
  o: StormOptions,
  pattern: Pattern,
  node: StormNode,
  port: number,
  dirs: { roots: string; logs: string; sysroot: string },
  t0: number,
  delayS: number,
  objects: FileObject[],
): Running {
  const root = join(dirs.roots, node.name);
  fs.mkdirSync(root, { recursive: true });
  if (o.synced !== undefined) installNode(root, node, objects, o.synced);
  const log = join(dirs.logs, `${node.name}.log`);
  const env: Record<string, string> = {
    PATH,
    WWMASTER: `127.0.0.1:${port}`,
    WWINIT_HWADDR: node.hwaddr,
    NEWROOT: root,
    // The rig applies the start delay itself (so that it can be compressed), for both patterns alike.
    WWGETFILES_INTERVAL: '0',
  };
  // The initramfs always sets WWDEBUG ("0" unless wwdebug=N): upstream's loop then never backs off.
  if (o.mode === 'boot') env.WWDEBUG = '0';
  let cmd: string;
  let args: string[];
  if (pattern === 'ours') {
    cmd = bin('wwgetfiles');
    // One host cannot give every node privileged source ports (PROTOCOL 2.7): --source-port any.
    args = ['--sysroot', dirs.sysroot, '--source-port', 'any'];
    // The scheduled job's bound: its tick + 280 s, the start delay included.
    if (o.mode === 'cron') args.push('--max-run', String(Math.max(1, Math.round(280 - delayS * o.compress))));
  } else {
    cmd = '/bin/sh';
    args = [UPSTREAM_SCRIPT];
    env.WWSTORM_SYSROOT = dirs.sysroot;
    if (o.mode === 'cron') env.WWSTORM_RUNNING_NODE = '1';
  }
  const fd = fs.openSync(log, 'w');
  const r: Running = {
    node,
    root,
    log,
    startedAt: (performance.now() - t0) / 1000,
    code: null,
    signal: null,
    killedAtLimit: false,
    exited: Promise.resolve(),
  };
  try {
    const child = procs.spawn(node.name, cmd, args, { env, cwd: '/', stdio: ['ignore', fd, fd] });
    r.child = child;
    r.exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        r.doneAt = (performance.now() - t0) / 1000;
        r.code = code;
        r.signal = signal;
        resolve();
      });
      child.once('error', () => resolve());
    });
  } finally {
    fs.closeSync(fd);
  }
  return r;
}

/** Every object of the node in place: type, content (templates expanded for this node), owner, group, mode. */
export function verifyNode(root: string, node: StormNode, objects: FileObject[]): string[] {
  const wrong: string[] = [];
  for (const o of objects) {
    const p = join(root, o.path);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(p);
    } catch {
      wrong.push(`${o.path}: missing`);
      continue;
    }
    const mode = st.mode & 0o7777;
    if (o.type === 'link') {
      if (!st.isSymbolicLink()) wrong.push(`${o.path}: not a link`);
      else if (fs.readlinkSync(p) !== String(o.content).replace(/\n+$/, '')) wrong.push(`${o.path}: link to ${fs.readlinkSync(p)}`);
      continue;
    }
    if (o.type === 'dir' ? !st.isDirectory() : !st.isFile()) {
      wrong.push(`${o.path}: wrong type`);
      continue;
    }
    if (mode !== (o.mode & 0o7777)) wrong.push(`${o.path}: mode ${mode.toString(8)}, not ${(o.mode & 0o7777).toString(8)}`);
    if (st.uid !== o.uid || st.gid !== o.gid) wrong.push(`${o.path}: owner ${st.uid}:${st.gid}, not ${o.uid}:${o.gid}`);
    if (o.type === 'file') {
      const want = contentFor(o, node);
      if (st.size !== want.length || !fs.readFileSync(p).equals(want))
        wrong.push(`${o.path}: content differs (${st.size} bytes, want ${want.length})`);
    }
  }
  return wrong;
}

/** Puts every object in place as a sync would have (verifyNode's inverse), and the marks below the `changed` newest. */
export function installNode(root: string, node: StormNode, objects: FileObject[], changed: number): void {
  for (const o of [...objects].sort((a, b) => a.path.split('/').length - b.path.split('/').length)) {
    const p = join(root, o.path);
    fs.mkdirSync(dirname(p), { recursive: true });
    if (o.type === 'link') fs.symlinkSync(String(o.content).replace(/\n+$/, ''), p);
    else if (o.type === 'dir') fs.mkdirSync(p, { recursive: true });
    else fs.writeFileSync(p, contentFor(o, node));
    if (o.type !== 'link') {
      fs.chownSync(p, o.uid, o.gid);
      fs.chmodSync(p, o.mode & 0o7777);
    }
  }
  const stamps = objects.map((o) => o.timestamp).sort((a, b) => a - b);
  const mark = String(changed >= stamps.length ? 0 : stamps[stamps.length - changed - 1]);
  for (const f of ['var/lib/wwruntime/wwgetfiles_timestamp', 'tmp/.wwgetfiles_timestamp']) {
    fs.mkdirSync(dirname(join(root, f)), { recursive: true });
    fs.writeFileSync(join(root, f), `${mark}\n`);
  }
}

/** The rig's master for a run: the run's workers, backlog and per-request costs, on its database. */
function masterOptions(o: StormOptions, db: MariaDb, port: number, busyFraction: number): ApacheOptions {
  return {
    port,
    workers: o.workers,
    backlog: o.backlog,
    dsn: db.dsn,
    dbUser: DB_USER,
    dbPassword: DB_PASSWORD,
    firstCpuMs: o.firstCpuMs,
    requestCpuMs: o.requestCpuMs,
    requestWaitMs: o.requestWaitMs,
    busyFraction,
  };
}

// ---------------------------------------------------------------------------
// One phase: one pattern, N nodes, a fresh Apache

async function phase(
  procs: Procs,
  o: StormOptions,
  ctx: { base: string; shm: string; db: MariaDb; nodes: StormNode[]; objects: FileObject[] },
  pattern: Pattern,
  n: number,
  rng: Rng,
): Promise<PhaseResult> {
  const port = await freePort();
  const tag = `${pattern}-${n}-${Date.now() % 100000}`;
  const apacheOpts = masterOptions(o, ctx.db, port, o.busyFraction);
  const apache = await startApache(procs, join(ctx.base, `apache-${tag}`), apacheOpts);
  const dirs = { roots: join(ctx.shm, `roots-${tag}`), logs: join(ctx.base, `logs-${tag}`), sysroot: join(ctx.base, `sysroot-${o.mode}`) };
  fs.mkdirSync(dirs.roots, { recursive: true });
  fs.mkdirSync(dirs.logs, { recursive: true });
  fs.mkdirSync(dirs.sysroot, { recursive: true });
  // The initramfs is detected by /init (our tool: no start delay, no mark, every object gets every round).
  if (o.mode === 'boot') fs.writeFileSync(join(dirs.sysroot, 'init'), '#!/bin/sh\n');
  const nodes = ctx.nodes.slice(0, n);
  const delays = nodes.map(() => (o.mode === 'cron' ? Math.floor(rng.float() * o.interval) / o.compress : 0));
  try {
    await sleep(1000); // StartServers settle
    ctx.db.sql('FLUSH STATUS');
    const cpu0 = { apache: apacheCpu(apache.pid), db: cpuOf(ctx.db.pid), machine: machineCpu() };
    const t0 = performance.now();
    const startEpoch = Date.now() / 1000;
    const poller = new StatusPoller(port, t0, apache.pid);
    const timers: NodeJS.Timeout[] = [];
    const busyFile = join(apache.controlDir, 'busy');
    if (o.busyWindow) {
      timers.push(setTimeout(() => fs.writeFileSync(busyFile, ''), o.busyWindow[0] * 1000));
      timers.push(setTimeout(() => fs.rmSync(busyFile, { force: true }), o.busyWindow[1] * 1000));
    }
    const running: Running[] = [];
    const started = nodes.map(
      (node, i) =>
        new Promise<void>((resolve) => {
          const go = () => {
            try {
              const r = startNode(procs, o, pattern, node, port, dirs, t0, delays[i], ctx.objects);
              running.push(r);
              r.exited.then(resolve);
            } catch (err) {
              o.log(`storm: node ${node.name} did not start: ${(err as Error).message}`);
              resolve();
            }
          };
          if (delays[i] > 0) timers.push(setTimeout(go, delays[i] * 1000));
          else go();
        }),
    );
    const spawnedIn = (performance.now() - t0) / 1000;
    o.log(
      `  ${pattern}, ${n} nodes: started${o.mode === 'boot' ? ` together (spawned within ${spawnedIn.toFixed(2)} s)` : ''}; limit ${o.limitS} s`,
    );
    let limitHit = false;
    const progress = setInterval(() => {
      const done = running.filter((r) => r.doneAt !== undefined).length;
      const last = poller.samples[poller.samples.length - 1];
      o.log(
        `    ${pattern} ${((performance.now() - t0) / 1000).toFixed(0)} s: ${done}/${n} nodes done; busy workers ${last ? `${last.busy}${last.unanswered ? '+' : ''}` : '?'}, children ${last?.processes ?? '?'}, listen queue ${last?.queued ?? '?'}`,
      );
    }, 15_000);
    let limitTimer: NodeJS.Timeout | undefined;
    const limit = new Promise<'limit'>((r) => (limitTimer = setTimeout(() => r('limit'), o.limitS * 1000)));
    const ended = await Promise.race([Promise.all(started).then(() => 'done' as const), limit]);
    clearTimeout(limitTimer);
    if (ended === 'limit') {
      limitHit = true;
      for (const t of timers) clearTimeout(t);
      o.log(`  ${pattern}, ${n} nodes: limit of ${o.limitS} s reached; stopping the nodes still running`);
      await Promise.all(
        running
          .filter((r) => r.doneAt === undefined)
          .map(async (r) => {
            r.killedAtLimit = true;
            if (r.child) await procs.stop(r.child, 2000);
          }),
      );
    }
    clearInterval(progress);
    for (const t of timers) clearTimeout(t);
    const wallS = (performance.now() - t0) / 1000;
    const samples = await poller.stop();
    const cpu1 = { apache: apacheCpu(apache.pid), db: cpuOf(ctx.db.pid), machine: machineCpu() };
    const db1 = ctx.db.status(['Max_used_connections']);
    fs.rmSync(busyFile, { force: true });
    await stopApache(procs, apache);
    const requests = readAccessLog(apache.accessLog).filter((e) => e.path !== '/server-status');
    const outcomes: NodeOutcome[] = nodes.map((node) => {
      const r = running.find((x) => x.node === node);
      if (!r)
        return {
          node,
          startedAt: 0,
          code: null,
          signal: null,
          killedAtLimit: limitHit,
          gaveUp: false,
          correct: false,
          wrong: ['not started'],
          log: '',
        };
      const log = fs.readFileSync(r.log, 'utf8');
      const wrong = verifyNode(r.root, node, ctx.objects);
      // Upstream's script exits 0 even when it gave up (the exit 2 is a pipeline subshell's): its ERROR line tells.
      const gaveUp = !r.killedAtLimit && (r.code !== 0 || /ERROR: Could not download/.test(log));
      return {
        node,
        startedAt: r.startedAt,
        doneAt: r.killedAtLimit ? undefined : r.doneAt,
        code: r.code,
        signal: r.signal,
        killedAtLimit: r.killedAtLimit,
        gaveUp,
        correct: wrong.length === 0,
        wrong,
        log,
      };
    });
    const result: PhaseResult = {
      pattern,
      nodes: n,
      outcomes,
      requests,
      samples,
      startEpoch,
      wallS,
      cpu: {
        apache: cpu1.apache - cpu0.apache,
        db: cpu1.db - cpu0.db,
        machineBusy: cpu1.machine.busy - cpu0.machine.busy,
        machineTotal: cpu1.machine.total - cpu0.machine.total,
      },
      // MariaDB's Connection_errors_max_connections misses the connections it refuses after the
      // handshake, so the refusals are counted where the children report them: Apache's error log.
      db: {
        maxUsedConnections: db1.Max_used_connections ?? 0,
        refusedTooMany: countLines(apache.errorLog, /DBI connect\(.*Too many connections/),
      },
      figures: new Figures(''),
      summary: undefined as unknown as Summary,
    };
    [result.figures, result.summary] = describe(o, result);
    return result;
  } finally {
    if (!o.keep) fs.rmSync(dirs.roots, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Figures

function countLines(path: string, re: RegExp): number {
  try {
    return fs
      .readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => re.test(l)).length;
  } catch {
    return 0;
  }
}

/** The timelines' interval: about 30 of them per phase. */
function timelineStep(wallS: number): number {
  const width = Math.max(1, Math.ceil(wallS / 30));
  return [1, 2, 5, 10, 15, 20, 30, 60, 120].find((s) => s >= width) ?? width;
}

/** 5xx answers per interval, by the access log's request start. */
function timeline5xx(req: LogEntry[], startEpoch: number, wallS: number): string {
  const step = timelineStep(wallS);
  const buckets = Array.from({ length: Math.ceil(wallS / step) }, () => 0);
  for (const e of req) if (e.status >= 500) buckets[Math.max(0, Math.min(buckets.length - 1, Math.floor((e.at - startEpoch) / step)))]++;
  return `every ${step} s: ${buckets.join(' ')}`;
}

function timeline(samples: StatusSample[], wallS: number): string {
  if (samples.length === 0) return '';
  const step = timelineStep(wallS);
  const buckets: number[] = [];
  for (const s of samples) {
    const b = Math.floor(s.t / step);
    buckets[b] = Math.max(buckets[b] ?? 0, s.busy);
  }
  const vals = Array.from({ length: buckets.length }, (_, i) => buckets[i] ?? 0);
  return `every ${step} s (max of 0.5 s samples): ${vals.join(' ')}`;
}

function describe(o: StormOptions, r: PhaseResult): [Figures, Summary] {
  const n = r.nodes;
  const done = r.outcomes
    .filter((x) => x.doneAt !== undefined)
    .map((x) => x.doneAt!)
    .sort((a, b) => a - b);
  const correct = r.outcomes.filter((x) => x.correct).length;
  const gaveUp = r.outcomes.filter((x) => x.gaveUp).length;
  const killed = r.outcomes.filter((x) => x.killedAtLimit).length;
  const wrongFinished = r.outcomes.filter((x) => !x.correct && !x.gaveUp && !x.killedAtLimit);
  const req = r.requests;
  const status = (p: (s: number) => boolean) => req.filter((e) => p(e.status)).length;
  const lists = req.filter((e) => e.path === '/WW/file' && !/(^|&)fileid=[1-9]/.test(e.query)).length;
  const answered = r.samples.filter((s) => !s.unanswered);
  const busy = r.samples.map((s) => s.busy);
  const busyPeak = Math.max(0, ...busy);
  const busyMean = busy.length ? busy.reduce((a, b) => a + b, 0) / busy.length : 0;
  const childrenPeak = Math.max(0, ...r.samples.map((s) => s.processes));
  const queuePeak = Math.max(0, ...r.samples.map((s) => s.queued));
  const cpuMaster = r.cpu.apache + r.cpu.db;
  const summary: Summary = {
    pattern: r.pattern,
    nodes: n,
    correct,
    gaveUp,
    killed,
    doneMedianS: percentile(done, 50),
    doneMaxS: done[done.length - 1] ?? 0,
    requests: req.length,
    connections: req.filter((e) => e.keepalive === 0).length,
    http5xx: status((s) => s >= 500),
    http500: status((s) => s === 500),
    http503: status((s) => s === 503),
    busyPeak,
    busyMean,
    childrenPeak,
    queuePeak,
    cpuPerNode: correct ? cpuMaster / correct : NaN,
    dbRefused: r.db.refusedTooMany,
    timeline: timeline(r.samples, r.wallS),
    timeline5xx: timeline5xx(req, r.startEpoch, r.wallS),
    http5xxNewConnection: req.filter((e) => e.status >= 500 && e.keepalive === 0).length,
  };
  const f = new Figures(
    `storm: ${r.pattern === 'ours' ? 'this project (dist/linux-x64/wwgetfiles)' : 'upstream (sh + curl stand-in)'}, ${n} nodes, ${o.mode}`,
  );
  f.add('nodes complete and correct', `${correct}/${n}`);
  f.add('nodes that gave up', gaveUp);
  f.add('nodes still running at the limit (killed)', killed);
  if (wrongFinished.length) f.add('nodes that ended without giving up but are not correct', wrongFinished.length);
  const firstWrong = r.outcomes.find((x) => !x.correct);
  if (firstWrong) {
    f.add(
      'first node not correct',
      `${firstWrong.node.name} (exit ${firstWrong.code ?? firstWrong.signal}): ${firstWrong.wrong.length} objects wrong, e.g. ${firstWrong.wrong[0]}`,
    );
    const tailLine = firstWrong.log.trim().split('\n').filter(Boolean).slice(-1)[0];
    if (tailLine) f.add('  its last log line', tailLine.slice(0, 300));
  }
  // What the nodes logged about retrying: our tool's "...; retrying in N s" lines (reasons with
  // addresses and numbers blanked), upstream's "." per failed list round.
  const reasons = new Map<string, number>();
  let retries = 0;
  for (const x of r.outcomes) {
    for (const line of x.log.split('\n')) {
      const m = /: (?:WARNING: )?(.*); retrying in /.exec(line);
      if (!m) continue;
      retries++;
      const why = m[1].replace(/https?:\/\/\S+/g, 'URL').replace(/\d+(\.\d+)?/g, 'N');
      reasons.set(why, (reasons.get(why) ?? 0) + 1);
    }
    if (r.pattern === 'upstream') retries += (x.log.match(/^\.+/gm) ?? []).join('').length;
  }
  f.add('retry rounds the nodes logged', retries);
  if (reasons.size)
    f.add(
      '  most common reasons',
      [...reasons]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 3)
        .map(([k, v]) => `${v}x ${k}`)
        .join(' | ')
        .slice(0, 400),
    );
  f.add('last node done, s after the start: median', summary.doneMedianS);
  f.add('last node done, s after the start: max', summary.doneMaxS);
  f.add('requests at the master (access log)', req.length);
  f.add(
    '  file lists / contents / other',
    `${lists} / ${req.filter((e) => e.path === '/WW/file').length - lists} / ${req.filter((e) => e.path !== '/WW/file').length}`,
  );
  f.add('  new connections (first request on a connection)', summary.connections);
  f.add('  per node synced', correct ? req.length / correct : 0);
  f.add('HTTP 5xx answers', summary.http5xx);
  f.add('HTTP 5xx answers: on a new connection (a worker met anew)', summary.http5xxNewConnection);
  f.add('HTTP 5xx answers: timeline', summary.timeline5xx);
  f.add('  of them 500 / 503', `${summary.http500} / ${summary.http503}`);
  const other = [...new Set(req.map((e) => e.status))].filter((s) => s !== 200 && s < 500).sort();
  if (other.length) f.add('other non-200 statuses', other.map((s) => `${s} x${status((x) => x === s)}`).join(', '));
  f.add('database connects refused: Too many connections (Apache error log)', r.db.refusedTooMany);
  f.add("MariaDB Max_used_connections (the rig's own status query included)", r.db.maxUsedConnections);
  f.add('busy workers: peak', busyPeak);
  f.add('busy workers: mean over the run', busyMean);
  if (o.mode === 'cron') {
    // A splay spreads the starts evenly over S s; each node then holds workers for its own sync
    // time d, so even a perfectly smooth tick rises for d s and falls for d s after the window:
    // its peak over its mean is (S + d) / S at best. The mean within the window says how even it was.
    const windowS = o.interval / o.compress;
    const inWindow = busy.filter((_, i) => r.samples[i].t <= windowS);
    const windowMean = inWindow.length ? inWindow.reduce((a, b) => a + b, 0) / inWindow.length : 0;
    const syncS = r.outcomes
      .filter((x) => x.doneAt !== undefined)
      .map((x) => x.doneAt! - x.startedAt)
      .sort((a, b) => a - b);
    const d = percentile(syncS, 50);
    f.add('per node: its start to done, s: median / max', `${d.toFixed(1)} / ${(syncS[syncS.length - 1] ?? 0).toFixed(1)}`);
    f.add(`busy workers: mean within the start window (0..${windowS.toFixed(0)} s)`, windowMean);
    const ratio = (m: number) => (m ? (busyPeak / m).toFixed(2) : 'n/a');
    f.add(
      'busy workers: peak over mean: the run / the start window / an even splay at best, (S + d) / S',
      `${ratio(busyMean)} / ${ratio(windowMean)} / ${((windowS + d) / windowS).toFixed(2)}`,
    );
  }
  f.add('busy workers: timeline', summary.timeline);
  f.add('status polls unanswered within 3 s (every child counted busy)', `${r.samples.length - answered.length} of ${r.samples.length}`);
  f.add('Apache children: peak', childrenPeak);
  f.add('listen queue: peak', queuePeak);
  f.add('master CPU s (Apache + MariaDB)', `${cpuMaster.toFixed(1)} (${r.cpu.apache.toFixed(1)} + ${r.cpu.db.toFixed(1)})`);
  f.add('master CPU s per node synced', correct ? cpuMaster / correct : 'n/a');
  f.add(
    'machine CPU busy during the run',
    `${((100 * r.cpu.machineBusy) / Math.max(1e-9, r.cpu.machineTotal)).toFixed(0)}% of ${(r.cpu.machineTotal / r.wallS).toFixed(1)} cores (everything: master, nodes, other work)`,
  );
  f.add('phase wall time, s', r.wallS);
  return [f, summary];
}

export function summaryTable(rows: Summary[]): string {
  const fmt = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
  const lines = [
    '| nodes | pattern | complete and correct | gave up | last done: median / max s | requests | connections | 5xx (500 / 503) | busy workers peak / mean | children peak | master CPU s per node |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of rows) {
    lines.push(
      `| ${s.nodes} | ${s.pattern} | ${s.correct}/${s.nodes}${s.killed ? ` (${s.killed} killed at the limit)` : ''} | ${s.gaveUp} | ${fmt(s.doneMedianS)} / ${fmt(s.doneMaxS)} | ${s.requests} | ${s.connections} | ${s.http5xx} (${s.http500} / ${s.http503}) | ${s.busyPeak} / ${fmt(s.busyMean, 0)} | ${s.childrenPeak} | ${fmt(s.cpuPerNode, 2)} |`,
    );
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// The run

/** Checks the master once before the storm: nodeconfig and the runtime script through our tools, the embedded 404. */
async function selfCheck(procs: Procs, o: StormOptions, base: string, db: MariaDb, node: StormNode): Promise<string[]> {
  const port = await freePort();
  // a small quick master: the check is of the rig's answers, not of its costs
  const quick = { ...o, workers: 8, backlog: 511, firstCpuMs: 0, requestCpuMs: 0, requestWaitMs: 0 };
  const apache = await startApache(procs, join(base, 'apache-selfcheck'), masterOptions(quick, db, port, 0));
  const problems: string[] = [];
  try {
    const env = { PATH, WWMASTER: `127.0.0.1:${port}`, WWINIT_HWADDR: node.hwaddr };
    const tool = (name: string, args: string[]) =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const c = spawn(bin(name), ['--source-port', 'any', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
        let out = '';
        let err = '';
        c.stdout.on('data', (d) => (out += d));
        c.stderr.on('data', (d) => (err += d));
        c.on('close', (code) => resolve({ code, out, err }));
      });
    const cfg = await tool('wwgetnodeconfig', []);
    if (cfg.code !== 0 || !cfg.out.includes(`WWNAME="${node.name}"\nexport WWNAME\n`))
      problems.push(`wwgetnodeconfig: exit ${cfg.code}: ${cfg.err.trim()} ${cfg.out.slice(0, 200)}`);
    const scr = await tool('wwgetscript', ['runtime']);
    if (scr.code !== 0 || scr.out !== `#!/bin/sh\necho "storm runtime on ${node.name}"\n`)
      problems.push(`wwgetscript runtime: exit ${scr.code}: ${scr.err.trim()} ${JSON.stringify(scr.out.slice(0, 200))}`);
    // Two requests for an unknown node on one keep-alive connection: the second is a warm child's embedded 404.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = () =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: '/WW/file?hwaddr=02:00:00:ff:ff:ff', agent }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on('error', reject);
      });
    await get();
    const second = await get();
    agent.destroy();
    if (second.status !== 200 || !/^Content-Type: [^\r\n]*\r\nStatus: 404\r\n/.test(second.body))
      problems.push(
        `unknown node: a warm child answered ${second.status} ${JSON.stringify(second.body.slice(0, 80))}, not the embedded 404`,
      );
  } finally {
    await stopApache(procs, apache);
  }
  o.log(
    `self-check of the master (wwgetnodeconfig, wwgetscript runtime, a warm child's embedded 404): ${problems.length ? `FAILED: ${problems.join('; ')}` : 'ok'}`,
  );
  return problems;
}

// ---------------------------------------------------------------------------
// One node alone on an idle master, against the baseline of issue 17: one curl process fetching
// the same URLs over 4 parallel keep-alive connections.

export interface SingleResult {
  oursS: number[];
  curlS: number[];
  /** ours' median / curl's median. */
  ratio: number;
  urls: number;
}

async function singleNode(
  procs: Procs,
  o: StormOptions,
  ctx: { base: string; shm: string; db: MariaDb; nodes: StormNode[]; objects: FileObject[] },
) {
  const port = await freePort();
  const apache = await startApache(procs, join(ctx.base, 'apache-single'), masterOptions(o, ctx.db, port, 0));
  const node = ctx.nodes[0];
  const dirs = { roots: join(ctx.shm, 'roots-single'), logs: join(ctx.base, 'logs-single'), sysroot: join(ctx.base, 'sysroot-boot') };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(join(dirs.sysroot, 'init'), '#!/bin/sh\n');
  let k = 0;
  const ours = async () => {
    const n = { ...node, name: `${node.name}-${k++}` };
    const t0 = performance.now();
    const r = startNode(
      procs,
      { ...o, mode: 'boot', synced: undefined },
      'ours',
      { ...node, name: n.name },
      port,
      dirs,
      t0,
      0,
      ctx.objects,
    );
    await r.exited;
    const s = (performance.now() - t0) / 1000;
    const wrong = verifyNode(r.root, node, ctx.objects);
    if (r.code !== 0 || wrong.length) throw new Error(`storm: single node: exit ${r.code}, ${wrong.slice(0, 3).join('; ')}`);
    fs.rmSync(r.root, { recursive: true, force: true });
    return s;
  };
  const curl = async (urls: string[]) => {
    const out = join(dirs.roots, `curl-${k++}`);
    fs.mkdirSync(out);
    const cfg = join(ctx.base, 'curl.cfg');
    fs.writeFileSync(cfg, urls.map((u, i) => `url = "${u}"\noutput = "${join(out, String(i))}"\n`).join(''));
    const t0 = performance.now();
    const child = procs.spawn(
      'curl',
      '/usr/bin/curl',
      ['-s', '-f', '--no-progress-meter', '--parallel', '--parallel-max', '4', '-K', cfg],
      {
        env: { PATH },
        cwd: '/',
        stdio: ['ignore', 'ignore', 'inherit'],
      },
    );
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    const s = (performance.now() - t0) / 1000;
    if (code !== 0) throw new Error(`storm: single node: curl exit ${code}`);
    fs.rmSync(out, { recursive: true, force: true });
    return s;
  };
  try {
    await sleep(1000);
    // A warm-up of each (children started and compiled: an idle master, not a cold one), and the URLs
    // ours asked for, from the access log: curl fetches exactly those.
    await ours();
    const urls = readAccessLog(apache.accessLog).map((e) => `http://127.0.0.1:${port}${e.path}${e.query ? `?${e.query}` : ''}`);
    await curl(urls);
    const oursS: number[] = [];
    const curlS: number[] = [];
    for (let i = 0; i < o.single; i++) {
      curlS.push(await curl(urls));
      oursS.push(await ours());
    }
    const med = (v: number[]) =>
      percentile(
        [...v].sort((a, b) => a - b),
        50,
      );
    const r: SingleResult = { oursS, curlS, ratio: med(oursS) / med(curlS), urls: urls.length };
    const f = (v: number[]) => v.map((x) => x.toFixed(2)).join(', ');
    o.log(
      `single node, idle master (${urls.length} requests, alternating, ${o.single} each): ours ${f(oursS)} s (median ${med(oursS).toFixed(2)}); ` +
        `curl, 4 parallel keep-alive connections: ${f(curlS)} s (median ${med(curlS).toFixed(2)}); ratio ${r.ratio.toFixed(2)} (goal <= 1.3)`,
    );
    return r;
  } finally {
    await stopApache(procs, apache);
  }
}

export interface StormRun {
  single?: SingleResult;
  phases: PhaseResult[];
  selfCheck: string[];
  table: string;
}

export async function storm(opts: Partial<StormOptions> = {}): Promise<StormRun> {
  const o: StormOptions = { ...DEFAULTS, ...opts };
  if (process.getuid?.() !== 0)
    throw new Error('storm: run as root (Apache switches to www-data, MariaDB runs as mysql, nodes chown their files)');
  for (const p of [
    '/usr/sbin/apache2',
    '/usr/lib/apache2/modules/mod_perl.so',
    '/usr/sbin/mariadbd',
    '/usr/bin/mariadb-install-db',
    '/usr/bin/curl',
  ]) {
    if (!fs.existsSync(p))
      throw new Error(`storm: ${p} is missing: install the packages of test/prerequisites.txt (bash .ci/install-deps)`);
  }
  if (o.patterns.includes('ours') && !fs.existsSync(bin('wwgetfiles')))
    throw new Error(`storm: ${bin('wwgetfiles')} is missing: build first (node build/build.mjs)`);
  const base = fs.mkdtempSync(join(tmpdir(), 'wwstorm-'));
  fs.chmodSync(base, 0o755);
  const procs = new Procs(base, o.keep);
  const shm = fs.mkdtempSync(join(fs.existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'wwstorm-'));
  if (o.keep) o.log(`storm: keeping ${base} and ${shm}`);
  else procs.addDir(shm);
  const phases: PhaseResult[] = [];
  let problems: string[] = [];
  try {
    const objects = stormObjects(o.seed);
    const maxN = Math.max(...o.nodes);
    o.log(
      `storm: ${o.mode} mode, nodes ${o.nodes.join(', ')}, patterns ${o.patterns.join(', ')}; ${OBJECTS} objects per node (${(totalBytes(objects) / 1e6).toFixed(2)} MB); ` +
        `prefork MaxRequestWorkers ${o.workers}, ListenBacklog ${o.backlog}, MariaDB max_connections ${o.maxConnections}; per request ${o.requestCpuMs} ms CPU + ${o.requestWaitMs} ms wait, a child's first request ${o.firstCpuMs} ms CPU` +
        (o.busyFraction ? `; 503 for ${(o.busyFraction * 100).toFixed(0)}% of requests` : '') +
        (o.busyWindow ? `; 503 from ${o.busyWindow[0]} s to ${o.busyWindow[1]} s` : '') +
        (o.mode === 'cron'
          ? `; start delay random 0..${o.interval - 1} s${o.compress !== 1 ? `, compressed x${o.compress} (0..${((o.interval - 1) / o.compress).toFixed(1)} s)` : ''}`
          : '') +
        (o.synced !== undefined ? `; nodes in step, ${o.synced} object(s) changed since their mark` : ''),
    );
    const t = Date.now();
    const db = await startMariaDb(procs, join(base, 'mariadb'), await freePort(), o.maxConnections);
    const nodes = loadData(db, maxN, objects);
    o.log(`storm: MariaDB up with ${maxN} nodes in ${((Date.now() - t) / 1000).toFixed(1)} s`);
    const ctx = { base, shm, db, nodes, objects: objects as FileObject[] };
    if (o.single > 0) return { single: await singleNode(procs, o, ctx), phases, selfCheck: [], table: '' };
    if (o.selfCheck) problems = await selfCheck(procs, o, base, db, nodes[0]);
    const rng = new Rng(o.seed);
    for (const n of o.nodes) {
      for (const pattern of o.patterns) {
        const r = await phase(procs, o, ctx, pattern, n, rng);
        r.figures.print((l) => o.log(l));
        phases.push(r);
      }
    }
  } finally {
    procs.killAllSync();
  }
  const table = summaryTable(phases.map((p) => p.summary));
  o.log(`\nstorm summary (${o.mode} mode):\n${table}`);
  for (const p of phases) o.log(`busy workers, ${p.pattern}, ${p.nodes} nodes: ${p.summary.timeline}`);
  for (const p of phases) o.log(`HTTP 5xx, ${p.pattern}, ${p.nodes} nodes: ${p.summary.timeline5xx}`);
  return { phases, selfCheck: problems, table };
}

// ---------------------------------------------------------------------------
// CLI

export function parseArgs(argv: string[]): Partial<StormOptions> {
  const o: Partial<StormOptions> = {};
  const quick = argv.includes('--quick');
  if (quick) Object.assign(o, { nodes: [10], limitS: 300 });
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`storm: ${a} needs a value`);
      return x;
    };
    const num = () => {
      const x = Number(v());
      if (!Number.isFinite(x) || x < 0) throw new Error(`storm: ${a} takes a number`);
      return x;
    };
    switch (a) {
      case '--quick':
        break;
      case '--nodes':
        o.nodes = v().split(',').map(Number);
        if (o.nodes.some((x) => !Number.isInteger(x) || x < 1)) throw new Error('storm: --nodes N[,N...]');
        break;
      case '--pattern': {
        const p = v();
        o.patterns = p === 'both' ? ['upstream', 'ours'] : (p.split(',') as Pattern[]);
        if (o.patterns.some((x) => x !== 'upstream' && x !== 'ours')) throw new Error('storm: --pattern upstream|ours|both');
        break;
      }
      case '--mode': {
        const m = v();
        if (m !== 'boot' && m !== 'cron') throw new Error('storm: --mode boot|cron');
        o.mode = m;
        break;
      }
      case '--workers':
        o.workers = num();
        break;
      case '--max-connections':
        o.maxConnections = num();
        break;
      case '--backlog':
        o.backlog = num();
        break;
      case '--first-cpu-ms':
        o.firstCpuMs = num();
        break;
      case '--request-cpu-ms':
        o.requestCpuMs = num();
        break;
      case '--request-wait-ms':
        o.requestWaitMs = num();
        break;
      case '--busy-fraction':
        o.busyFraction = num();
        break;
      case '--busy-window': {
        const [x, y] = v().split('-').map(Number);
        if (!(x >= 0 && y > x)) throw new Error('storm: --busy-window FROM-TO (seconds)');
        o.busyWindow = [x, y];
        break;
      }
      case '--interval':
        o.interval = Math.max(1, num());
        break;
      case '--compress':
        o.compress = Math.max(1, num());
        break;
      case '--synced':
        o.synced = Math.max(0, Math.floor(num()));
        break;
      case '--limit':
        o.limitS = num();
        break;
      case '--seed':
        o.seed = num();
        break;
      case '--keep':
        o.keep = true;
        break;
      case '--single':
        o.single = Math.max(1, Math.round(num()));
        o.nodes = [1];
        break;
      case '-h':
      case '--help':
        console.log(HELP);
        process.exit(0);
        break;
      default:
        throw new Error(`storm: unknown option ${a} (see --help)`);
    }
  }
  return o;
}

const HELP = `Usage: npm run storm -- [options]     (as root; needs apache2, libapache2-mod-perl2, mariadb-server, curl)
  --nodes N[,N...]        simulated nodes per phase (default 50,200,500; --quick: 10)
  --pattern upstream|ours|both   (default both: upstream's sh + curl loop, then dist/linux-x64/wwgetfiles)
  --mode boot|cron        boot: all start at once, as in the initramfs (default); cron: random start delay
  --interval S            cron: WWGETFILES_INTERVAL, delay random 0..S-1 s (default 180)
  --compress K            cron: divide the start delays by K (the master's costs are not compressed)
  --synced K              nodes already in step, the K newest objects changed since their mark (a
                          realistic tick: the list and K downloads per node); default: full syncs
  --workers N             Apache MaxRequestWorkers (default 256)
  --max-connections N     MariaDB max_connections (default 151)
  --backlog N             Apache ListenBacklog (default 511; small + few workers: a full listen queue)
  --first-cpu-ms MS       a new Apache child's first request: CPU burnt "compiling" (default 600)
  --request-cpu-ms MS     every request: CPU (default 4)
  --request-wait-ms MS    every request: waiting, e.g. on the database (default 16)
  --busy-fraction F       answer 503 (Retry-After: 30) to this fraction of requests
  --busy-window A-B       answer 503 to every request from A s to B s after the start
  --limit S               end each phase after S s (default 1800; --quick: 300)
  --single K              instead: one node's full sync on an idle master, K times, against one curl
                          fetching the same URLs over 4 parallel keep-alive connections (issue 17's baseline)
  --seed N, --keep, --quick`;

if (process.argv[1] && fileURLToPath(import.meta.url) === fs.realpathSync(process.argv[1])) {
  let opts: Partial<StormOptions>;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error((err as Error).message);
    process.exit(2);
  }
  storm(opts).then(
    (r) => {
      const bad = r.selfCheck.length > 0;
      process.exitCode = bad ? 1 : 0;
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 2;
    },
  );
}
