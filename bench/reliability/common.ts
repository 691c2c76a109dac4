// Shared by the reliability harnesses (issue 6): a seeded PRNG, figure lines
// with must-be-0 checks, process spawning with a kill switch, and a tree walk.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** xorshift128+: reproducible inputs from a printed seed. */
export class Rng {
  private s0: bigint;
  private s1: bigint;
  readonly seed: number;
  constructor(seed: number) {
    this.seed = seed >>> 0;
    this.s0 = BigInt(this.seed) * 0x9e3779b97f4a7c15n + 1n;
    this.s1 = (BigInt(this.seed) ^ 0xdeadbeefn) * 0xbf58476d1ce4e5b9n + 7n;
    for (let i = 0; i < 8; i++) this.next32();
  }
  private next32(): number {
    const M = (1n << 64n) - 1n;
    let x = this.s0;
    const y = this.s1;
    this.s0 = y;
    x = (x ^ (x << 23n)) & M;
    this.s1 = x ^ y ^ (x >> 17n) ^ (y >> 26n);
    return Number(((this.s1 + y) & M) >> 32n);
  }
  /** [0, 1) */
  float(): number {
    return this.next32() / 0x100000000;
  }
  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)];
  }
  chance(p: number): boolean {
    return this.float() < p;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.next32() & 255;
    return b;
  }
}

export interface Figure {
  name: string;
  value: number | string;
  /** A figure that must be 0 for the harness to pass. */
  mustBeZero?: boolean;
}

export class Figures {
  readonly list: Figure[] = [];
  constructor(readonly title: string) {}
  add(name: string, value: number | string, mustBeZero = false): void {
    this.list.push({ name, value, mustBeZero });
  }
  get(name: string): number | string | undefined {
    return this.list.find((f) => f.name === name)?.value;
  }
  /** The must-be-0 figures that are not 0. */
  failures(): Figure[] {
    return this.list.filter((f) => f.mustBeZero && f.value !== 0);
  }
  print(out: (l: string) => void = (l) => process.stdout.write(`${l}\n`)): void {
    out(`${this.title}`);
    for (const f of this.list) {
      const check = f.mustBeZero ? (f.value === 0 ? '  (must be 0: ok)' : '  (must be 0: FAIL)') : '';
      out(`  ${f.name}: ${typeof f.value === 'number' ? fmt(f.value) : f.value}${check}`);
    }
  }
}

function fmt(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n.toFixed(Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2);
}

/** Runs a harness's main when its file is the script node was started with; exits 1 on a failed figure. */
export function cliMain(metaUrl: string, main: (quick: boolean, argv: string[]) => Promise<Figures[]>): void {
  const entry = process.argv[1];
  if (!entry || pathToFileURL(entry).href !== metaUrl) return;
  const argv = process.argv.slice(2);
  main(argv.includes('--quick'), argv).then(
    (all) => {
      for (const f of all) f.print();
      const bad = all.flatMap((f) => f.failures().map((x) => `${f.title}: ${x.name} = ${x.value}`));
      if (bad.length) {
        console.log(`FAILED must-be-0 figures:\n  ${bad.join('\n  ')}`);
        process.exitCode = 1;
      }
    },
    (err) => {
      console.error(err);
      process.exitCode = 2;
    },
  );
}

export interface Spawned {
  pid: number;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }>;
  kill(): boolean;
}

/** Spawns an executable under an empty environment plus `env` (env -i), like a cron job. */
export function start(exe: string, args: string[], env: Record<string, string>, opts: { timeoutMs?: number } = {}): Spawned {
  const t0 = performance.now();
  const child = spawn(exe, args, { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d) => out.push(d));
  child.stderr.on('data', (d) => err.push(d));
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
  const done = new Promise<Awaited<Spawned['done']>>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms: performance.now() - t0 });
    });
  });
  return {
    pid: child.pid ?? -1,
    done,
    kill: () => (child.exitCode === null && child.signalCode === null ? child.kill('SIGKILL') : false),
  };
}

/** Every entry under root, relative ('a/b'), depth first, sorted. */
export function walk(root: string): { rel: string; st: fs.Stats }[] {
  const out: { rel: string; st: fs.Stats }[] = [];
  const visit = (rel: string) => {
    const full = rel === '' ? root : join(root, rel);
    for (const n of fs.readdirSync(full).sort()) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = fs.lstatSync(join(root, r));
      out.push({ rel: r, st });
      if (st.isDirectory()) visit(r);
    }
  };
  visit('');
  return out;
}

const hashCache = new Map<string, string>();

/** sha1 of a file, cached by inode, size and mtime (a dead writer cannot change it unseen). */
export function fileSha(path: string, st: fs.Stats): string {
  const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  let h = hashCache.get(key);
  if (h === undefined) {
    h = createHash('sha1').update(fs.readFileSync(path)).digest('hex');
    if (hashCache.size > 100_000) hashCache.clear();
    hashCache.set(key, h);
  }
  return h;
}

export const sha1 = (b: Buffer | string) => createHash('sha1').update(b).digest('hex');

/** `.NAME.ww` + 16 hex digits: the tools' temporary names (src/core/fs/temp.ts tempPath). */
export const TEMP_RE = /^\.(.+)\.ww[0-9a-f]{16}$/s;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
