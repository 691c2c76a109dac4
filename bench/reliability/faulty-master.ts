// Faulty master (issue 6): the BUILT wwgetfiles and `wwgetscript runtime | /bin/sh`
// against a test master that injects one kind of fault per request. Three
// scenarios per fault:
//   persistent   the only master answers every request with the fault: exit 2, nothing wrong installed;
//   failover     WWMASTER=faulty,good: the second master is used, exit as if nothing happened;
//   intermittent each request faulted with probability 0.3 (3 rounds, no back-off: WWDEBUG=1):
//                exit 0 with a complete tree, or exit 2 with nothing wrong installed.
// After each wwgetfiles run every entry of the root is checked against the
// master's objects; after each script run, the marker file shows whether the
// script ran whole, not at all, or half-way.
//   node --import tsx bench/reliability/faulty-master.ts [--quick] [--seed N]
import { parseRecord } from '../../src/core/status/record.ts';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin } from '../../test/helpers/exec.ts';
import { listLine, type Fixture, type FileObject } from '../../test/helpers/master/fixtures.ts';
import { deadAddress, startMaster, type Fault, type RequestInfo, type RunningMaster } from '../../test/helpers/master/server.ts';
import { makedev } from '../../src/core/fs/device.ts';
import { makeCa } from '../../test/helpers/certs.ts';
import { Figures, Rng, cliMain, sha1, start, walk } from './common.ts';

const HW = '02:00:00:00:fa:17';

export type FaultName =
  | 'connection refused'
  | 'reset mid-body'
  | 'body shorter than Content-Length'
  | 'body longer than Content-Length'
  | 'stall beyond the timeout'
  | '500'
  | '503'
  | 'redirect loop'
  | 'garbage file list'
  | 'enormous file list line'
  | 'enormous PATH in a file list line'
  | 'TLS handshake stalled'
  | 'trickle (one byte per second)';

export const FAULTS: FaultName[] = [
  'connection refused',
  'reset mid-body',
  'body shorter than Content-Length',
  'body longer than Content-Length',
  'stall beyond the timeout',
  '500',
  '503',
  'redirect loop',
  'garbage file list',
  'enormous file list line',
  'enormous PATH in a file list line',
  'TLS handshake stalled',
  'trickle (one byte per second)',
];

/**
 * The hang faults (issue 12): a master that never finishes. They run with bounds that
 * show which one ends them: --timeout 5 is never reached (the trickle is never silent);
 * --max-time 3 ends a trickled request, --connect-timeout 2 a stalled handshake.
 */
const HANG_TUNE: Partial<Record<FaultName, string[]>> = {
  'TLS handshake stalled': ['--connect-timeout', '2', '--timeout', '5'],
  'trickle (one byte per second)': ['--max-time', '3', '--timeout', '5'],
};

const isList = (r: RequestInfo) => r.path === '/WW/file' && !r.query.fileid;

/** The fault for one request, or undefined to answer it normally. */
function faultFor(name: FaultName, r: RequestInfo, rng: Rng, huge: { line: Buffer; path: Buffer }): Fault | undefined {
  switch (name) {
    case 'connection refused':
      return undefined; // a dead address, not a fault function
    case 'reset mid-body':
      return { kind: 'cut', afterBytes: 1 + rng.int(isList(r) ? 200 : 4000) };
    case 'body shorter than Content-Length':
      return { kind: 'length', declared: 50_000_000 };
    case 'body longer than Content-Length':
      return { kind: 'length', declared: 1 + rng.int(8) };
    case 'stall beyond the timeout':
      return { kind: 'stall' };
    case '500':
      return { kind: 'status', status: 500 };
    case '503':
      return { kind: 'status', status: 503 };
    case 'redirect loop': {
      const qs = new URLSearchParams(r.query).toString();
      return { kind: 'redirect', location: `${r.path}?${qs}` };
    }
    case 'garbage file list':
      return isList(r) ? { kind: 'body', body: rng.bytes(1 + rng.int(4096)), contentType: 'text/plain' } : undefined;
    case 'enormous file list line':
      return isList(r) ? { kind: 'body', body: huge.line, contentType: 'text/plain' } : undefined;
    case 'enormous PATH in a file list line':
      return isList(r) ? { kind: 'body', body: huge.path, contentType: 'text/plain' } : undefined;
    case 'TLS handshake stalled':
      return undefined; // a master that stalls connections, not a fault function
    case 'trickle (one byte per second)':
      return { kind: 'trickle', everyMs: 1000 };
  }
}

/** Faults that make sense for /WW/script (the list-only ones do not). */
const LIST_ONLY = new Set<FaultName>(['garbage file list', 'enormous file list line', 'enormous PATH in a file list line']);
const SCRIPT_FAULTS = new Set<FaultName>(FAULTS.filter((f) => !LIST_ONLY.has(f)));

function objects(): FileObject[] {
  const big = randomBytes(512 * 1024);
  const o = (x: Omit<FileObject, 'uid' | 'gid' | 'name'> & Partial<FileObject>): FileObject => ({ uid: 0, gid: 0, name: `o${x.id}`, ...x });
  return [
    o({ id: 1, type: 'file', mode: 0o644, timestamp: 1700000100, path: '/etc/hosts', content: '127.0.0.1 localhost\n' }),
    o({ id: 2, type: 'file', mode: 0o600, timestamp: 1700000200, path: '/etc/shadow', content: 'root:*:19000:0:99999:7:::\n' }),
    o({ id: 3, type: 'dir', mode: 0o750, timestamp: 1700000050, path: '/etc/ww.d' }),
    o({ id: 4, type: 'link', mode: 0o777, timestamp: 1700000300, path: '/etc/localtime', content: '/usr/share/zoneinfo/UTC' }),
    o({ id: 5, type: 'char', mode: 0o666, timestamp: 1700000400, path: '/dev/wwnull', major: 1, minor: 3 }),
    o({ id: 6, type: 'fifo', mode: 0o620, timestamp: 1700000500, path: '/var/run/ww.fifo' }),
    o({ id: 7, type: 'file', mode: 0o644, timestamp: 1700000600, path: '/etc/ww.d/empty', content: '' }),
    o({ id: 8, type: 'file', mode: 0o4755, timestamp: 1700000700, path: '/usr/local/bin/big', content: big }),
    o({
      id: 9,
      type: 'file',
      mode: 0o640,
      uid: 1000,
      gid: 100,
      timestamp: 1700000800,
      path: '/home/user/.profile',
      content: 'PATH=$HOME/bin:$PATH\n',
    }),
    o({ id: 10, type: 'block', mode: 0o660, gid: 6, timestamp: 1700000900, path: '/dev/wwblk', major: 8, minor: 1 }),
  ];
}

/** A runtime script that records its start and its end: anything but both or neither is a half-run. */
function script(): FileObject {
  const filler = Array.from({ length: 3000 }, (_, i) => `: filler line ${i} ${'#'.repeat(60)}`).join('\n');
  return {
    id: 20,
    name: 'runtime.sh',
    type: 'file',
    mode: 0o755,
    uid: 0,
    gid: 0,
    timestamp: 1700001000,
    path: '/tmp/runtime.sh',
    format: 'shell',
    content: `echo begin >> "$WWTEST_OUT"\n${filler}\necho end >> "$WWTEST_OUT"\n`,
  };
}

function sigOf(o: FileObject): string {
  const m = (o.mode & 0o7777).toString(8);
  switch (o.type) {
    case 'file':
      return `f ${sha1(o.content as Buffer | string)} ${m} ${o.uid}:${o.gid}`;
    case 'dir':
      return `d ${m} ${o.uid}:${o.gid}`;
    case 'link':
      return `l ${o.content} ${o.uid}:${o.gid}`;
    case 'char':
    case 'block':
      return `${o.type[0]} ${makedev(o.major ?? 0, o.minor ?? 0)} ${m} ${o.uid}:${o.gid}`;
    default:
      return `p ${m} ${o.uid}:${o.gid}`;
  }
}

function sigOnDisk(full: string, st: fs.Stats): string {
  const m = (st.mode & 0o7777).toString(8);
  if (st.isFile()) return `f ${sha1(fs.readFileSync(full))} ${m} ${st.uid}:${st.gid}`;
  if (st.isDirectory()) return `d ${m} ${st.uid}:${st.gid}`;
  if (st.isSymbolicLink()) return `l ${fs.readlinkSync(full)} ${st.uid}:${st.gid}`;
  if (st.isCharacterDevice() || st.isBlockDevice()) return `${st.isCharacterDevice() ? 'c' : 'b'} ${st.rdev} ${m} ${st.uid}:${st.gid}`;
  return `p ${m} ${st.uid}:${st.gid}`;
}

/** Wrong entries (not the master's version, or junk) and how many objects are correctly in place. */
function inspect(root: string, objs: FileObject[]): { wrong: string[]; correct: number } {
  const byPath = new Map(objs.map((o) => [o.path.slice(1), o]));
  const parents = new Set<string>(['var', 'var/lib', 'var/lib/wwruntime']);
  for (const o of objs) {
    const parts = o.path.slice(1).split('/');
    for (let i = 1; i < parts.length; i++) parents.add(parts.slice(0, i).join('/'));
  }
  const wrong: string[] = [];
  let correct = 0;
  for (const { rel, st } of walk(root)) {
    const o = byPath.get(rel);
    if (o) {
      if (sigOnDisk(join(root, rel), st) === sigOf(o)) correct++;
      else wrong.push(`${rel}: ${sigOnDisk(join(root, rel), st)}`);
    } else if (parents.has(rel) && st.isDirectory()) {
      // a parent made by mkdir -p
    } else if (rel === 'var/lib/wwruntime/wwgetfiles_timestamp' && /^\d+\n$/.test(fs.readFileSync(join(root, rel), 'utf8'))) {
      // the mark
    } else if (rel === 'var/lib/wwruntime/status' && st.isDirectory()) {
      // the run records' folder (issue 18)
    } else if (
      rel === 'var/lib/wwruntime/status/wwgetfiles.json' &&
      typeof parseRecord(fs.readFileSync(join(root, rel), 'utf8'), 'wwgetfiles') !== 'string'
    ) {
      // the run record, whole
    } else {
      wrong.push(`unexpected ${rel}`);
    }
  }
  return { wrong, correct };
}

export interface FaultOptions {
  /** Runs per fault: wwgetfiles persistent, failover, intermittent; scripts likewise. */
  files: [number, number, number];
  scripts: [number, number, number];
  faults?: FaultName[];
  /** The faults to run scripts under (default: every fault that applies to /WW/script). */
  scriptFaults?: FaultName[];
  /** --attempts for every run (default: WWDEBUG's 3 rounds, no back-off). */
  attempts?: number;
  /** --timeout in seconds (default 1). */
  timeout?: string;
  seed: number;
  log?: (l: string) => void;
}

export async function faultyMaster(o: FaultOptions): Promise<Figures[]> {
  const log = o.log ?? (() => {});
  const rng = new Rng(o.seed);
  const work = fs.mkdtempSync(join(tmpdir(), 'ww-faults-'));
  const sysroot = join(work, 'sysroot');
  fs.mkdirSync(sysroot);
  const objs = objects();
  const fixture = (): Fixture => ({
    nodes: [{ hwaddr: HW, name: 'n0001', fileIds: objs.map((x) => x.id), scripts: { runtime: [20] } }],
    files: [...objs, script()],
  });
  const huge = {
    // 16 MiB of text with no newline: one line that is no list line.
    line: Buffer.alloc(16 << 20, 'garbage '),
    // The normal list, then a well-formed line whose PATH is 16 MiB of '/x' components.
    path: Buffer.concat([
      Buffer.from(objs.map(listLine).join('')),
      Buffer.from('99 huge 0 0  0644 1700000999 '),
      Buffer.alloc(16 << 20, '/x'),
      Buffer.from('\n'),
    ]),
  };
  let current: FaultName = FAULTS[0];
  // Each run has its own node (hwaddr), so runs can overlap and the good master's log tells whose failover it was.
  const probability = new Map<string, number>();
  const faulty = await startMaster(fixture(), {
    fault: (r) => (rng.float() < (probability.get(r.query.hwaddr ?? '') ?? 1) ? faultFor(current, r, rng, huge) : undefined),
  });
  const good: RunningMaster = await startMaster(fixture());
  const dead = await deadAddress();
  // https, for the TLS stall: a good master, and two that accept TCP but stall the handshake of every
  // connection (persistent, failover) or of 30% of them (intermittent: the hwaddr is not known yet).
  const ca = makeCa();
  const tlsGood = await startMaster(fixture(), { tls: ca.leaf('good', 'IP:127.0.0.1') });
  const tlsStall = await startMaster(fixture(), { tls: ca.leaf('stall', 'IP:127.0.0.1'), handshakeStall: () => true });
  const tlsSome = await startMaster(fixture(), { tls: ca.leaf('some', 'IP:127.0.0.1'), handshakeStall: () => rng.float() < 0.3 });
  const tuneFor = (fault: FaultName) => [
    ...(HANG_TUNE[fault] ?? ['--timeout', o.timeout ?? '1']),
    ...(o.attempts ? ['--attempts', String(o.attempts)] : []),
    ...(fault === 'TLS handshake stalled' ? ['--https', '--ca-file', ca.certPath] : []),
  ];
  const out: Figures[] = [];
  const t0 = Date.now();
  let n = 0;
  try {
    for (const fault of o.faults ?? FAULTS) {
      current = fault;
      const f = new Figures(`faulty master: ${fault}`);
      const tune = tuneFor(fault);
      const tlsFault = fault === 'TLS handshake stalled';
      const goodAddress = tlsFault ? tlsGood.address : good.address;
      const badFor = (scenario: string) => (tlsFault ? (scenario === 'intermittent' ? tlsSome : tlsStall).address : faultyAddress(fault));
      const c = {
        runs: 0,
        wrong: 0,
        halfRun: 0,
        exitMismatch: 0,
        failoverRuns: 0,
        failoverUsed: 0,
        codes: new Map<string, number>(),
        complete: 0,
        scriptRuns: 0,
        scriptWhole: 0,
        scriptNone: 0,
      };
      const details: string[] = [];
      const count = (k: string) => c.codes.set(k, (c.codes.get(k) ?? 0) + 1);
      const jobs: (() => Promise<void>)[] = [];
      const node = (scenario: string) => {
        const k = ++n;
        const hw = `02:00:00:01:${((k >> 8) & 255).toString(16).padStart(2, '0')}:${(k & 255).toString(16).padStart(2, '0')}`;
        const nf = { hwaddr: hw, name: `r${k}`, fileIds: objs.map((x) => x.id), scripts: { runtime: [20] } };
        for (const mm of [faulty, good, tlsGood, tlsStall, tlsSome]) mm.fixture.nodes.push({ ...nf });
        probability.set(hw, scenario === 'intermittent' ? 0.3 : 1);
        return { hw, k };
      };
      const usedGood = (hw: string) => (tlsFault ? tlsGood : good).requests.some((q) => q.query.hwaddr === hw);
      // --- wwgetfiles
      for (const [scenario, runs] of [
        ['persistent', o.files[0]],
        ['failover', o.files[1]],
        ['intermittent', o.files[2]],
      ] as const) {
        for (let i = 0; i < runs; i++)
          jobs.push(async () => {
            const { hw, k } = node(scenario);
            const root = join(work, `root${k}`);
            fs.mkdirSync(root);
            const bad = badFor(scenario);
            const masters = scenario === 'failover' ? `${bad},${goodAddress}` : bad;
            const r = await start(
              bin('wwgetfiles'),
              ['--sysroot', sysroot, '--no-delay', '--source-port', 'any', ...tune],
              {
                WWMASTER: masters,
                WWINIT_HWADDR: hw,
                NEWROOT: root,
                WWDEBUG: '1',
              },
              { timeoutMs: 60_000 },
            ).done;
            c.runs++;
            count(`wwgetfiles ${scenario} exit ${r.code}`);
            const { wrong, correct } = inspect(root, objs);
            c.wrong += wrong.length;
            if (wrong.length) details.push(`${scenario} run: wrong ${wrong.slice(0, 3).join('; ')}`);
            const complete = correct === objs.length;
            if (complete) c.complete++;
            // Documented: 0 when every object is in place, 2 otherwise (and an object that failed, like the enormous line, is a 2).
            // A well-formed list with one hostile line is an answer: that object fails (exit 2), the others install,
            // and there is no failover (the master did answer).
            const hugePath = fault === 'enormous PATH in a file list line';
            const refusedLine = /longer than 4095 bytes/.test(r.stderr);
            const expect = hugePath
              ? scenario === 'intermittent'
                ? refusedLine
                  ? 2
                  : 0
                : 2
              : scenario === 'persistent'
                ? 2
                : scenario === 'failover'
                  ? 0
                  : complete
                    ? 0
                    : 2;
            if (r.code !== expect || (r.code === 0 && !complete)) {
              c.exitMismatch++;
              details.push(
                `${scenario} run: exit ${r.code}, expected ${expect}, ${correct}/${objs.length} objects: ${r.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`,
              );
            }
            if (hugePath && scenario !== 'intermittent' && !refusedLine) {
              c.exitMismatch++;
              details.push(`${scenario} run: the enormous PATH was not refused by name: ${r.stderr.slice(-200)}`);
            }
            if (scenario === 'failover' && !hugePath) {
              c.failoverRuns++;
              if (usedGood(hw)) c.failoverUsed++;
            }
            spawnSync('rm', ['-rf', root]); // rm(1): a junk tree may be deeper than fs.rmSync recurses
          });
      }
      // --- wwgetscript runtime | /bin/sh
      if (SCRIPT_FAULTS.has(fault) && (o.scriptFaults ?? FAULTS).includes(fault)) {
        for (const [scenario, runs] of [
          ['persistent', o.scripts[0]],
          ['failover', o.scripts[1]],
          ['intermittent', o.scripts[2]],
        ] as const) {
          for (let i = 0; i < runs; i++)
            jobs.push(async () => {
              const { hw, k } = node(scenario);
              const outFile = join(work, `script${k}.out`);
              const codeFile = join(work, `script${k}.code`);
              const bad = badFor(scenario);
              const masters = scenario === 'failover' ? `${bad},${goodAddress}` : bad;
              const r = await start(
                '/bin/sh',
                ['-c', `{ "$EXE" runtime --sysroot "$SYSROOT" --source-port any ${tune.join(' ')}; echo $? > "$CODE"; } | /bin/sh`],
                {
                  EXE: bin('wwgetscript'),
                  SYSROOT: sysroot,
                  CODE: codeFile,
                  WWTEST_OUT: outFile,
                  WWMASTER: masters,
                  WWINIT_HWADDR: hw,
                  WWDEBUG: '1',
                },
                { timeoutMs: 60_000 },
              ).done;
              c.runs++;
              c.scriptRuns++;
              const code = Number(fs.readFileSync(codeFile, 'utf8').trim());
              count(`wwgetscript ${scenario} exit ${code}`);
              const ran = fs.existsSync(outFile) ? fs.readFileSync(outFile, 'utf8') : '';
              if (ran === 'begin\nend\n') c.scriptWhole++;
              else if (ran === '') c.scriptNone++;
              else {
                c.halfRun++;
                details.push(`${scenario} script: ran ${JSON.stringify(ran)}`);
              }
              const expect = scenario === 'persistent' ? 2 : scenario === 'failover' ? 0 : ran === '' ? 2 : 0;
              if (code !== expect || (code === 0) !== (ran === 'begin\nend\n')) {
                c.exitMismatch++;
                details.push(`${scenario} script: exit ${code}, expected ${expect}, ran ${JSON.stringify(ran)}`);
              }
              if (scenario === 'failover') {
                c.failoverRuns++;
                if (usedGood(hw)) c.failoverUsed++;
              }
              void r;
            });
        }
      }
      // Three runs at a time (each an executable of its own; the master serves them all).
      const queue = [...jobs];
      await Promise.all(
        Array.from({ length: 3 }, async () => {
          for (let j = queue.shift(); j; j = queue.shift()) await j();
        }),
      );
      f.add('runs (wwgetfiles + wwgetscript|sh)', c.runs);
      f.add('exit codes', [...c.codes].map(([k, v]) => `${k} x${v}`).join(', '));
      f.add('wwgetfiles runs that ended with every object in place', c.complete);
      f.add('wrong files installed (or junk created)', c.wrong, true);
      if (c.scriptRuns) {
        f.add('script runs: whole / not at all', `${c.scriptWhole} / ${c.scriptNone}`);
        f.add('half-run scripts', c.halfRun, true);
      }
      f.add('exit codes not as documented (0 = all in place, 2 = failed)', c.exitMismatch, true);
      if (c.failoverRuns) f.add('failover runs where the second master in WWMASTER was not used', c.failoverRuns - c.failoverUsed, true);
      else f.add('failover', 'n/a: the first master answered a well-formed list (the hostile line fails alone)');
      out.push(f);
      for (const d of details.slice(0, 6)) log(`  ${fault}: ${d}`);
    }
  } finally {
    await faulty.stop();
    await good.stop();
    for (const mm of [tlsGood, tlsStall, tlsSome]) await mm.stop();
    fs.rmSync(ca.dir, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
  log(`faulty master: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return out;

  function faultyAddress(fault: FaultName): string {
    return fault === 'connection refused' ? dead : faulty.address;
  }
}

export async function main(quick: boolean, argv: string[] = []): Promise<Figures[]> {
  const i = argv.indexOf('--seed');
  const seed = i >= 0 ? Number(argv[i + 1]) : Date.now() % 1e9;
  // --fault TEXT: only the faults whose name contains TEXT (e.g. --fault trickle).
  const k = argv.indexOf('--fault');
  const faults = k >= 0 ? FAULTS.filter((f) => f.includes(argv[k + 1] ?? '')) : undefined;
  console.log(`faulty master: seed ${seed}`);
  return faultyMaster(
    quick
      ? { files: [1, 1, 4], scripts: [1, 1, 2], seed, faults, log: (l) => console.log(l) }
      : { files: [3, 3, 14], scripts: [2, 2, 8], seed, faults, log: (l) => console.log(l) },
  );
}

cliMain(import.meta.url, main);
