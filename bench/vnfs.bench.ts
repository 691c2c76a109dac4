// wwgetvnfs against the upstream pipeline, both fetching the same image from the
// test master in the same run, unpacking into tmpfs and into a disk directory:
//   curl -sfL URL | tee >(md5sum) | gunzip | bsdtar -xpf -   vs   wwgetvnfs --verify (and without --verify)
// Two images:
//   real       a Debian 12 root (debootstrap --variant=minbase --include=systemd,cron from the configured
//              apt source), packed as the master packs a VNFS (cpio newc, gzip -6); built once and cached
//              under /var/cache/wwruntime-bench/ (bench/lib/debian-image.ts);
//   synthetic  >= 1 GiB of many small files and a few large ones, text/code-like content, cpio newc,
//              gzip -1; made once into dist/bench-cache/.
// Runs alternate (the order rotates each round), every run gets a fresh directory; best and median
// of each. Peak RSS from wait4() (ru_maxrss; for the pipeline that is its largest process, as
// /usr/bin/time reports it).
//   node bench/run.mjs vnfs   WW_BENCH_REPS=N rounds (default 5), WW_BENCH_IMAGES=real,synthetic,
//                             WW_BENCH_OTHER=PATH another wwgetvnfs build to compare (--verify),
//                             WW_BENCH_PLACES=tmpfs,disk (tmpfs: /dev/shm; disk: WW_BENCH_DISK or /var/tmp)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { bin } from '../test/helpers/exec.ts';
import { startMaster } from '../test/helpers/master/server.ts';
import { debianImage } from './lib/debian-image.ts';
import { measureOnce, median, type Measured } from './lib/measure.ts';

const ROOT = join(import.meta.dirname, '..');
const CACHE = join(ROOT, 'dist', 'bench-cache');
const IMAGE = join(CACHE, 'vnfs-v2.cpio.gz'); // v2: realistic ~3:1 content (v1 was nearly incompressible)
const META = `${IMAGE}.json`;
const REPS = Number(process.env.WW_BENCH_REPS ?? 5);
const IMAGES = (process.env.WW_BENCH_IMAGES ?? 'real,synthetic').split(',');
const PLACES = (process.env.WW_BENCH_PLACES ?? 'tmpfs,disk').split(',');
const PLACE_DIR: Record<string, string> = { tmpfs: '/dev/shm', disk: process.env.WW_BENCH_DISK ?? '/var/tmp' };
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
    for (let i = 0; i < lit && o < n; i++) b[o++] = alphabet[Math.floor(alphabet.length * (rnd(65536) / 65536) ** 1.7)];
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
  const code = compressible(
    4 * MiB,
    Buffer.concat([Buffer.alloc(40), Buffer.from([0xff, 0xff, 0x48, 0x89, 0x8b, 0xe8, 0x0f, 0x85, 0x84, 0x24]), codeBytes]),
    rnd,
  );
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

const fmt = (s: number) => `${s.toFixed(2)} s`;
const gib = (n: number) => `${(n / 2 ** 30).toFixed(2)} GiB`;
const mb = (n: number) => `${(n / 1e6).toFixed(0)} MB`;
type Kind = 'pipeline' | 'verify' | 'plain' | 'other';
/** WW_BENCH_OTHER=PATH: another wwgetvnfs build (say, the previous commit's) run --verify alongside, for before/after. */
const OTHER = process.env.WW_BENCH_OTHER;
const KINDS: Kind[] = ['pipeline', 'verify', 'plain', ...(OTHER ? (['other'] as const) : [])];
const LABEL: Record<Kind, string> = {
  pipeline: 'curl | tee >(md5sum) | gunzip | bsdtar -xpf -',
  verify: 'wwgetvnfs --verify (MD5)',
  plain: 'wwgetvnfs',
  other: `${OTHER} --verify`,
};

interface Subject {
  name: string;
  hwaddr: string;
  image: string;
  describe: string;
  bytes: number;
  /** A path every complete unpack has; and whether TARGET/sbin/init is one (systemd-sysv is not in the real image). */
  check: string;
  hasInit: boolean;
}

async function runKind(
  kind: Kind,
  s: Subject,
  url: string,
  address: string,
  md5: string,
  target: string,
  sysroot: string,
): Promise<Measured> {
  if (kind === 'pipeline') {
    const sum = `${target}.md5`;
    const r = await measureOnce(
      [
        '/bin/bash',
        '-c',
        `set -o pipefail; curl -sfL '${url}' | tee >(md5sum > '${sum}') | gunzip | bsdtar -xpf -; st=$?; wait $!; exit $st`,
      ],
      { cwd: target, env: { PATH: '/usr/bin:/bin' } },
    );
    if (r.code !== 0) throw new Error(`pipeline: exit ${r.code}: ${r.stderr}`);
    const got = fs.readFileSync(sum, 'utf8').split(' ')[0];
    if (got !== md5) throw new Error(`pipeline: md5 ${got}, expected ${md5}`);
    return r;
  }
  const env: Record<string, string> = { WWMASTER: address, WWINIT_HWADDR: s.hwaddr };
  if (kind !== 'plain') Object.assign(env, { WWVALIDATE_VNFS: '1', WWVNFS_CHECKSUM: md5 });
  const args = ['--target', target, '--sysroot', sysroot, ...(s.hasInit ? [] : ['--no-init-check'])];
  const r = await measureOnce([kind === 'other' ? OTHER! : bin('wwgetvnfs'), ...args], { env });
  if (r.code !== 0) throw new Error(`${kind}: exit ${r.code}: ${r.stderr}`);
  if (kind !== 'plain' && !/verified/.test(r.stderr)) throw new Error(`not verified: ${r.stderr}`);
  return r;
}

async function benchSubject(s: Subject, place: string, m: Awaited<ReturnType<typeof startMaster>>): Promise<void> {
  const md5 = await m.vnfsChecksum(s.name); // also warms the page cache with the image
  const url = `${m.url}/WW/vnfs?hwaddr=${s.hwaddr}`;
  const work = fs.mkdtempSync(join(PLACE_DIR[place], 'ww-vnfs-bench-'));
  const results: Record<Kind, Measured[]> = { pipeline: [], verify: [], plain: [], other: [] };
  const load0 = loadavg()[0];
  try {
    for (let rep = 0; rep < REPS; rep++) {
      // The order rotates so no tool always runs first. Every run gets a fresh directory; on disk nothing
      // is deleted until the end: ext4 allocates inodes slowly right after tens of thousands were deleted,
      // which would penalise whichever run follows a removal. On tmpfs (RAM) each tree goes at once.
      for (let k = 0; k < KINDS.length; k++) {
        const kind = KINDS[(k + rep) % KINDS.length];
        const target = join(work, `${kind}-${rep}`);
        fs.mkdirSync(target);
        spawnSync('sync');
        const r = await runKind(kind, s, url, m.address, md5, target, work);
        if (!fs.existsSync(join(target, s.check))) throw new Error(`${kind}: no ${s.check} in ${target}`);
        results[kind].push(r);
        if (place === 'tmpfs') fs.rmSync(target, { recursive: true, force: true });
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  const load1 = loadavg()[0];
  const secs = (k: Kind) => results[k].map((r) => r.ms / 1000);
  const best = (k: Kind) => Math.min(...secs(k));
  const med = (k: Kind) => median(secs(k));
  const rss = (k: Kind) => median(results[k].map((r) => r.rssKiB)) / 1024;
  const rssMax = (k: Kind) => Math.max(...results[k].map((r) => r.rssKiB)) / 1024;
  console.log(
    `\n${s.describe}; into ${place} (${work}); ${REPS} alternating rounds; load average ${load0.toFixed(2)} -> ${load1.toFixed(2)}`,
  );
  console.log(
    `  ${''.padEnd(48)} ${'best'.padStart(7)} ${'median'.padStart(7)}  ${'ratio (median)'.padStart(14)}  ${'peak RSS median (max)'}`,
  );
  for (const k of KINDS) {
    const ratio = k === 'pipeline' ? 'baseline' : `${(med(k) / med('pipeline')).toFixed(2)}x`;
    console.log(
      `  ${LABEL[k].padEnd(48)} ${fmt(best(k)).padStart(7)} ${fmt(med(k)).padStart(7)}  ${ratio.padStart(14)}  ` +
        `${rss(k).toFixed(0).padStart(4)} MiB (${rssMax(k).toFixed(0)})` +
        (k === 'pipeline' ? '' : `  ${(rss(k) / rss('pipeline')).toFixed(1)}x`) +
        `   ${(s.bytes / MiB / med(k)).toFixed(0)} MiB/s unpacked   runs: ${secs(k)
          .map((x) => x.toFixed(2))
          .join(', ')}`,
    );
  }
}

async function main(): Promise<void> {
  const subjects: Subject[] = [];
  if (IMAGES.includes('real')) {
    const d = debianImage();
    console.log(
      d.cached
        ? `real image: from the cache ${d.image} (it took ${d.buildSeconds.toFixed(0)} s to build from ${d.mirror})`
        : `real image: built just now in ${d.buildSeconds.toFixed(0)} s from ${d.mirror}`,
    );
    subjects.push({
      name: 'real',
      hwaddr: '00:00:00:00:be:01',
      image: d.image,
      bytes: d.bytes,
      check: 'usr/lib/systemd/systemd',
      hasInit: false,
      describe: `real image (Debian 12 minbase + systemd + cron): ${mb(d.bytes)} of file data, ${d.entries} entries, ${mb(d.compressed)} compressed (${(d.bytes / d.compressed).toFixed(1)}:1; cpio newc, gzip -6)`,
    });
  }
  if (IMAGES.includes('synthetic')) {
    fs.mkdirSync(CACHE, { recursive: true });
    const cached = fs.existsSync(IMAGE) && fs.existsSync(META);
    const meta: ImageMeta = cached ? JSON.parse(fs.readFileSync(META, 'utf8')) : makeImage();
    if (cached) console.log(`synthetic image: from the cache ${IMAGE}`);
    const compressed = fs.statSync(IMAGE).size;
    subjects.push({
      name: 'synthetic',
      hwaddr: '00:00:00:00:be:02',
      image: IMAGE,
      bytes: meta.bytes,
      check: 'sbin/init',
      hasInit: true,
      describe: `synthetic image: ${gib(meta.bytes)} of file data, ~${meta.entries} entries, ${gib(compressed)} compressed (${(meta.bytes / compressed).toFixed(1)}:1; cpio newc, gzip -1)`,
    });
  }
  if (subjects.length === 0) throw new Error(`WW_BENCH_IMAGES=${IMAGES.join(',')}: expected real and/or synthetic`);
  const m = await startMaster({
    nodes: subjects.map((s) => ({ hwaddr: s.hwaddr, name: `bench-${s.name}`, vnfs: s.name })),
    files: [],
    vnfs: Object.fromEntries(subjects.map((s) => [s.name, { image: s.image }])),
  });
  try {
    for (const s of subjects) for (const place of PLACES) await benchSubject(s, place, m);
  } finally {
    await m.stop();
  }
}

await main();
