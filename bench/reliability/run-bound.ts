// Run bound (issue 12.3): how long a wwgetfiles run can last against a master that
// never finishes an answer, computed from the options and then measured with the
// BUILT executable. With T the bound of one request (--max-time for a trickled answer,
// --connect-timeout for a stalled TLS handshake), M masters and k rounds, one request that
// never succeeds lasts
//   R(k) = k * M * T + the sleeps between its rounds
// where the sleep after round n is 2 s * n, at most 60 s, spread 0.5x-1.5x (net/client.ts
// backoffMs; a trickle is not an answered overload, so no strike lengthens it; the window's
// shrinking adds pauses between requests). So each scenario has a least and a most
// (the jitter's ends, pauses of a shrunk window included in the most), and a run must end,
// exit 2, within them (+1 s start-up). With --max-run X, at most X. `--defaults` also
// measures the cron line's own defaults (~280 s).
//   node --import tsx bench/reliability/run-bound.ts [--quick] [--defaults]
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin } from '../../test/helpers/exec.ts';
import { makeCa } from '../../test/helpers/certs.ts';
import type { Fixture } from '../../test/helpers/master/fixtures.ts';
import { startMaster, type Fault, type RequestInfo } from '../../test/helpers/master/server.ts';
import { Figures, cliMain, start } from './common.ts';

const HW = '02:00:00:00:b0:01';
const STEP = 2;
const MAX_STEP = 60;
/** The nominal (unjittered) sleeps of `objects` requests of k rounds each (upstream's steps: a trickle is no answered overload). */
function sleeps(k: number, objects = 1): number[] {
  const out: number[] = [];
  for (let o = 0; o < objects; o++) for (let n = 1; n < k; n++) out.push(Math.min(STEP * n, MAX_STEP));
  return out;
}
/** [least, most] seconds of k rounds of `objects` requests each bounded by t s, one master. */
function bounds(k: number, t: number, objects = 1, pauses = 0): [number, number] {
  const z = sleeps(k, objects).reduce((a, b) => a + b, 0);
  return [k * objects * t + 0.5 * z, k * objects * t + 1.5 * z + pauses];
}

function fixture(n: number): Fixture {
  return {
    nodes: [{ hwaddr: HW, name: 'b1', fileIds: Array.from({ length: n }, (_, i) => i + 1) }],
    files: Array.from({ length: n }, (_, i) => ({
      id: i + 1,
      name: `f${i}`,
      type: 'file' as const,
      mode: 0o644,
      uid: 0,
      gid: 0,
      timestamp: 1000 + i,
      path: `/etc/f${i}`,
      content: `file ${i}\n`.repeat(50),
    })),
  };
}

interface Scenario {
  name: string;
  formula: string;
  /** The least and the most the run may last, s. */
  seconds: [number, number];
  args: string[];
  env?: Record<string, string>;
  objects?: number;
  fault: (r: RequestInfo) => Fault | undefined;
  tls?: boolean;
  expect: RegExp;
}

const isList = (r: RequestInfo) => r.path === '/WW/file' && !r.query.fileid;
const trickle: Fault = { kind: 'trickle', everyMs: 1000 };

export function scenarios(defaults: boolean): Scenario[] {
  const s: Scenario[] = [
    {
      name: 'list trickled (1 B/s), --attempts 3 --max-time 1',
      formula: 'R(3) = 3*1*1 + (2+4) x 0.5-1.5',
      seconds: bounds(3, 1),
      args: ['--no-delay', '--attempts', '3', '--max-time', '1'],
      fault: () => trickle,
      expect: /gave up after 3 attempt/,
    },
    {
      name: 'every content trickled, 2 objects, --max-time 1 (object-attempts 3)',
      formula: "2 * 3*1 + (2+4 + 2+4) x 0.5-1.5 (+ the shrunk window's pauses, at most 15 s each)",
      seconds: bounds(3, 1, 2, 6 * 15),
      objects: 2,
      args: ['--no-delay', '--max-time', '1'],
      fault: (r) => (isList(r) ? undefined : trickle),
      expect: /2 failed/,
    },
    {
      name: 'every content trickled, 4 objects, --concurrency 2 --max-time 1',
      formula: 'at most --max-run 120',
      seconds: [0, 120],
      objects: 4,
      args: ['--no-delay', '--max-time', '1', '--concurrency', '2', '--max-run', '120'],
      fault: (r) => (isList(r) ? undefined : trickle),
      expect: /4 failed|run time limit \(--max-run\)/,
    },
    {
      name: 'https, TLS handshake stalled, --attempts 3 --connect-timeout 1',
      formula: 'R(3) = 3*1*1 + (2+4) x 0.5-1.5',
      seconds: bounds(3, 1),
      tls: true,
      args: ['--no-delay', '--attempts', '3', '--connect-timeout', '1'],
      fault: () => undefined,
      expect: /TLS handshake .* timed out/,
    },
    {
      name: 'list trickled, start delay 2 s (SLEEPTIME), --max-run 6',
      formula: 'min(2 + R(30), 6)',
      seconds: [6, 6],
      env: { SLEEPTIME: '2' },
      args: ['--max-run', '6'],
      fault: () => trickle,
      expect: /run time limit \(--max-run\)/,
    },
  ];
  if (defaults) {
    s.push({
      name: 'the cron line as written (WWGETFILES_INTERVAL=180, --max-run 280), worst start delay 179 s, list trickled',
      formula: 'min(179 + R(30) with T = 120 s, 280)',
      seconds: [280, 280],
      env: { WWGETFILES_INTERVAL: '180', SLEEPTIME: '179' },
      args: ['--max-run', '280'],
      fault: () => trickle,
      expect: /run time limit \(--max-run\)/,
    });
  }
  return s;
}

export async function runBound(o: { defaults: boolean; log?: (l: string) => void }): Promise<Figures[]> {
  const log = o.log ?? (() => {});
  const work = fs.mkdtempSync(join(tmpdir(), 'ww-runbound-'));
  const sysroot = join(work, 'sysroot'); // no /init: a running node, as cron runs it
  fs.mkdirSync(sysroot);
  const ca = makeCa();
  const out: Figures[] = [];
  const f = new Figures('run bound: wwgetfiles against a master that never finishes an answer');
  let beyond = 0;
  let i = 0;
  try {
    // Sequential: the figures are times, so runs must not compete for the CPU.
    for (const sc of scenarios(o.defaults)) {
      const m = await startMaster(
        fixture(sc.objects ?? 2),
        sc.tls ? { tls: ca.leaf(`m${i}`, 'IP:127.0.0.1'), handshakeStall: () => true } : { fault: sc.fault },
      );
      const root = join(work, `root${i++}`);
      fs.mkdirSync(root);
      try {
        const tls = sc.tls ? ['--https', '--ca-file', ca.certPath] : [];
        const r = await start(
          bin('wwgetfiles'),
          ['--sysroot', sysroot, '--source-port', 'any', ...tls, ...sc.args],
          {
            WWMASTER: m.address,
            WWINIT_HWADDR: HW,
            NEWROOT: root,
            ...sc.env,
          },
          { timeoutMs: (sc.seconds[1] + 60) * 1000 },
        ).done;
        const measured = r.ms / 1000;
        const [least, most] = sc.seconds;
        const ok = r.code === 2 && sc.expect.test(r.stderr) && measured >= least && measured <= most + 1;
        if (!ok) {
          beyond++;
          log(`  ${sc.name}: exit ${r.code}, ${measured.toFixed(2)} s: ${r.stderr.trim().split('\n').slice(-2).join(' | ').slice(0, 300)}`);
        }
        f.add(sc.name, `formula ${sc.formula} = ${least}-${most} s; measured ${measured.toFixed(2)} s, exit ${r.code}`);
      } finally {
        await m.stop();
      }
    }
    f.add('runs not ending exit 2 within their least and most (+1 s start-up)', beyond, true);
    out.push(f);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(ca.dir, { recursive: true, force: true });
  }
  return out;
}

export async function main(_quick: boolean, argv: string[] = []): Promise<Figures[]> {
  return runBound({ defaults: argv.includes('--defaults'), log: (l) => console.log(l) });
}

cliMain(import.meta.url, main);
