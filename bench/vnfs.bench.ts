// wwgetvnfs against the upstream pipeline (curl -s URL | gunzip | bsdtar -xpf -),
// both fetching the same >= 1 GiB image from the test master in the same run.
// The image (many small files, a few large ones; text/code-like content, about
// 3:1 as real images; cpio newc, gzip -1) is made
// once into dist/bench-cache/. Peak RSS of the tool: /proc/PID/status VmHWM
// (a high-water mark, so polling it every 20 ms until exit misses nothing but the
// last 20 ms), since /usr/bin/time is not installed and Node cannot read a
// child's rusage.
//   node bench/run.mjs vnfs        (WW_BENCH_REPS=N runs of each, best kept, default 2;
//                                   WW_BENCH_DIR=/dev/shm to unpack on tmpfs and take the disk out;
//                                   needs room for 3 x REPS unpacked trees, removed at the end)
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { bin } from '../test/helpers/exec.ts';
import { startMaster } from '../test/helpers/master.ts';

const ROOT = join(import.meta.dirname, '..');
const CACHE = join(ROOT, 'dist', 'bench-cache');
const IMAGE = join(CACHE, 'vnfs-v2.cpio.gz'); // v2: realistic ~3:1 content (v1 was nearly incompressible)
const META = `${IMAGE}.json`;
const HW = '00:00:00:00:be:ef';
const REPS = Number(process.env.WW_BENCH_REPS ?? 2);
const MiB = 1 << 20;

interface ImageMeta {
  bytes: number;
  entries: number;
}

function sh(cmd: string, cwd?: string): void {
  const r = spawnSync('/bin/sh', ['-c', cmd], { cwd, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}`);
}

/** Deterministic PRNG (mulberry32), so the image is the same on every machine. */
function prng(seed: number): (n: number) => number {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/**
 * Content that compresses like a real VNFS (text, ELF code; about 3.7:1 with gzip -1): short
 * literal runs from a skewed alphabet alternating with back-references of 3..42 bytes within 4 KiB,
 * the shape inflate meets in real files. (Random data would make the bench measure gzip's
 * stored-block path only, which no real image exercises.)
 */
function compressible(n: number, alphabet: Buffer, rnd: (n: number) => number): Buffer {
  const b = Buffer.alloc(n);
  let o = 0;
  while (o < n) {
    const lit = 1 + rnd(4);
    for (let i = 0; i < lit && o < n; i++) b[o++] = alphabet[Math.floor(alphabet.length * Math.pow(rnd(65536) / 65536, 1.7))];
    const len = 3 + rnd(40);
    const dist = 1 + rnd(Math.min(4096, o));
    for (let i = 0; i < len && o < n; i++, o++) b[o] = b[o - dist];
  }
  return b;
}

/**
 * Many small files (0..12 KiB, ~360 MiB) in 300 directories, four 192 MiB files, links, sbin/init.
 * Text-like and code-like content, with 1 in 12 files/MiB-chunks random (already-compressed data),
 * so the image compresses about 3:1 with gzip -1, as real VNFS images do.
 */
function makeImage(): ImageMeta {
  const t0 = Date.now();
  const src = join(CACHE, 'vnfs-src');
  fs.rmSync(src, { recursive: true, force: true });
  fs.mkdirSync(join(src, 'sbin'), { recursive: true });
  const rnd = prng(1);
  const random = randomBytes(4 * MiB);
  const text = compressible(4 * MiB, Buffer.from(' etaoinshrdlcumwfgypbvkjxqz\nETAOINSHRDLC.,;:=_/-(){}0123456789"\''), rnd);
  const codeBytes = Buffer.alloc(256);
  for (let i = 1; i < 256; i++) codeBytes[i] = rnd(256);
  codeBytes.sort();
  const code = compressible(4 * MiB, Buffer.concat([Buffer.alloc(40), Buffer.from([0xff, 0xff, 0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x85, 0x84, 0x24]), codeBytes]), rnd);
  const pools = (i: number) => (i % 12 === 0 ? random : i % 2 === 0 ? text : code);
  let bytes = 0;
  let entries = 2;
  fs.writeFileSync(join(src, 'sbin/init'), '#!/bin/sh\nexec /bin/sh\n', { mode: 0o755 });
  bytes += 24;
  for (let d = 0; d < 300; d++) {
    const dir = join(src, 'usr', `d${d % 20}`, `s${d}`);
    fs.mkdirSync(dir, { recursive: true });
    entries++;
    for (let f = 0; f < 200; f++) {
      const size = rnd(12 * 1024);
      const pool = pools(f);
      const off = rnd(pool.length - size);
      fs.writeFileSync(join(dir, `f${f}.dat`), pool.subarray(off, off + size), { mode: f % 7 === 0 ? 0o755 : 0o644 });
      bytes += size;
      entries++;
    }
    fs.symlinkSync(`f0.dat`, join(dir, 'link'));
    fs.linkSync(join(dir, 'f1.dat'), join(dir, 'hard'));
    entries += 2;
  }
  fs.mkdirSync(join(src, 'large'));
  for (let i = 0; i < 4; i++) {
    const fd = fs.openSync(join(src, 'large', `blob${i}`), 'w');
    for (let c = 0; c < 192; c++) {
      const pool = pools(c + i);
      const off = rnd(pool.length - MiB);
      fs.writeSync(fd, pool.subarray(off, off + MiB));
    }
    fs.closeSync(fd);
    bytes += 192 * MiB;
    entries++;
  }
  entries += 3; // ., usr/dN dirs approximated below
  sh(`find . | cpio --quiet -o -H newc | gzip -1 > '${IMAGE}.tmp'`, src);
  fs.renameSync(`${IMAGE}.tmp`, IMAGE);
  fs.rmSync(src, { recursive: true, force: true });
  const meta = { bytes, entries };
  fs.writeFileSync(META, JSON.stringify(meta));
  console.log(`generated ${IMAGE} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return meta;
}

interface Run {
  seconds: number;
  peakKiB?: number;
  stderr: string;
}

function timed(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; rss?: boolean }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env: opts.env ?? {}, cwd: opts.cwd ?? '/', stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    let peak = 0;
    const poll = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {
        /* exited */
      }
    };
    const timer = opts.rss ? setInterval(poll, 20) : undefined;
    child.on('error', reject);
    child.on('exit', () => poll());
    child.on('close', (code) => {
      if (timer) clearInterval(timer);
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${stderr}`));
      resolve({ seconds, peakKiB: opts.rss ? peak : undefined, stderr });
    });
  });
}

const fmt = (s: number) => `${s.toFixed(2)} s`;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;

async function main(): Promise<void> {
  fs.mkdirSync(CACHE, { recursive: true });
  const meta: ImageMeta = fs.existsSync(IMAGE) && fs.existsSync(META) ? JSON.parse(fs.readFileSync(META, 'utf8')) : makeImage();
  const compressed = fs.statSync(IMAGE).size;
  const m = await startMaster({ nodes: [{ hwaddr: HW, name: 'bench', vnfs: 'bench' }], files: [], vnfs: { bench: { image: IMAGE } } });
  const md5 = await m.vnfsChecksum('bench'); // also warms the page cache with the image
  const work = fs.mkdtempSync(join(process.env.WW_BENCH_DIR ?? '/tmp', 'ww-vnfs-bench-'));
  const url = `${m.url}/WW/vnfs?hwaddr=${HW}`;
  const results: Record<string, Run[]> = { upstream: [], ours: [], verify: [] };
  try {
    for (let rep = 0; rep < REPS; rep++) {
      // The order rotates so no tool always runs first; every run gets a fresh directory and nothing
      // is deleted until the end: ext4 allocates inodes slowly right after tens of thousands were
      // deleted (it skips recently deleted ones), which would penalise whichever run follows a removal.
      const kinds = ['upstream', 'ours', 'verify'] as const;
      for (let k = 0; k < kinds.length; k++) {
        const kind = kinds[(k + rep) % kinds.length];
        const target = join(work, `${kind}-${rep}`);
        fs.mkdirSync(target);
        sh('sync');
        let r: Run;
        if (kind === 'upstream') {
          r = await timed('/bin/sh', ['-c', `curl -sfL '${url}' | gunzip | bsdtar -xpf -`], { cwd: target, env: { PATH: '/usr/bin:/bin' } });
        } else {
          const env: Record<string, string> = { WWMASTER: m.address, WWINIT_HWADDR: HW };
          if (kind === 'verify') Object.assign(env, { WWVALIDATE_VNFS: '1', WWVNFS_CHECKSUM: md5 });
          r = await timed(bin('wwgetvnfs'), ['--target', target, '--sysroot', work], { env, rss: true });
          if (kind === 'verify' && !/verified/.test(r.stderr)) throw new Error(`not verified: ${r.stderr}`);
        }
        results[kind].push(r);
        if (!fs.existsSync(join(target, 'sbin/init'))) throw new Error(`${kind}: no sbin/init`);
      }
    }
  } finally {
    await m.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
  const best = (k: string) => results[k].reduce((a, b) => (b.seconds < a.seconds ? b : a));
  const up = best('upstream');
  const ours = best('ours');
  const ver = best('verify');
  const summary = /unpacked (\d+) entries/.exec(ours.stderr);
  console.log(`image: ${gib(meta.bytes)} of file data, ${summary?.[1] ?? meta.entries} entries, ${gib(compressed)} compressed (${(meta.bytes / compressed).toFixed(1)}:1; cpio newc, gzip -1); unpacked under ${work}; best of ${REPS}`);
  const all = (k: string) => `  (runs: ${results[k].map((r) => r.seconds.toFixed(2)).join(', ')})`;
  console.log(`upstream  curl -s URL | gunzip | bsdtar -xpf -   ${fmt(up.seconds)}${all('upstream')}`);
  const line = (name: string, r: Run) =>
    `${name}${fmt(r.seconds)}  ratio ${(r.seconds / up.seconds).toFixed(2)} x upstream  ` +
    `${(meta.bytes / MiB / r.seconds).toFixed(0)} MiB/s unpacked  peak RSS ${((r.peakKiB ?? 0) / 1024).toFixed(0)} MiB`;
  console.log(line('wwgetvnfs                                      ', ours) + all('ours'));
  console.log(line('wwgetvnfs --verify (MD5)                       ', ver) + all('verify'));
}

await main();
