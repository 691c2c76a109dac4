// A real VNFS image for the benches: a Debian 12 root made with debootstrap from
// this machine's configured apt source, packed as the Warewulf 3 master packs a
// VNFS (`find . | cpio -o -H newc | gzip -6`). Built once and cached under
// /var/cache/wwruntime-bench/, keyed by suite, variant and the include list;
// the root tree itself is not kept, only the packed image and what it contains.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';

export const CACHE_DIR = process.env.WW_BENCH_CACHE ?? '/var/cache/wwruntime-bench';
const SUITE = 'bookworm';
const VARIANT = 'minbase';
export const INCLUDE = ['systemd', 'cron'];

export interface DebianImage {
  image: string;
  /** Bytes of regular-file data and entries in the archive (cpio -t). */
  bytes: number;
  entries: number;
  compressed: number;
  mirror: string;
  /** Seconds debootstrap and packing took when the image was made. */
  buildSeconds: number;
  /** True when this call found the image in the cache. */
  cached: boolean;
}

/**
 * The Debian mirror apt is configured with: the first `deb` source serving the suite,
 * from /etc/apt/sources.list (one-line format) or sources.list.d/*.sources (deb822).
 */
export function aptMirror(etc = '/etc/apt'): string {
  const found: string[] = [];
  const read = (p: string) => {
    try {
      return fs.readFileSync(p, 'utf8');
    } catch {
      return '';
    }
  };
  for (const line of read(join(etc, 'sources.list')).split('\n')) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m && m[2] === SUITE) found.push(m[1]);
  }
  let parts: string[] = [];
  try {
    parts = fs.readdirSync(join(etc, 'sources.list.d')).sort();
  } catch {
    /* none */
  }
  for (const f of parts) {
    const text = read(join(etc, 'sources.list.d', f));
    if (f.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
        if (m && m[2] === SUITE) found.push(m[1]);
      }
    } else if (f.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.*)$`, 'mi').exec(stanza)?.[1].trim().split(/\s+/) ?? [];
        if (!field('Types').includes('deb') || !field('Suites').includes(SUITE)) continue;
        if (/^Enabled:\s*no/im.test(stanza)) continue;
        found.push(...field('URIs'));
      }
    }
  }
  if (found.length === 0) throw new Error(`no apt source for ${SUITE} in ${etc}/sources.list or sources.list.d`);
  return found[0];
}

function sh(cmd: string, cwd?: string): void {
  const r = spawnSync('/bin/sh', ['-c', cmd], { cwd, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}`);
}

/** The cached image, or a fresh one (debootstrap, several minutes; says so on stdout). */
export function debianImage(say: (m: string) => void = console.log): DebianImage {
  const key = `${SUITE}-${VARIANT}-${INCLUDE.join(',')}`;
  const image = join(CACHE_DIR, `${key}.cpio.gz`);
  const meta = `${image}.json`;
  if (fs.existsSync(image) && fs.existsSync(meta)) {
    return { ...(JSON.parse(fs.readFileSync(meta, 'utf8')) as DebianImage), image, cached: true };
  }
  for (const tool of ['/usr/sbin/debootstrap', '/usr/bin/cpio']) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing: apt-get install debootstrap cpio`);
  }
  const mirror = aptMirror();
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const root = join(CACHE_DIR, `${key}.root.tmp`);
  fs.rmSync(root, { recursive: true, force: true });
  const cmd = `debootstrap --variant=${VARIANT} --include=${INCLUDE.join(',')} ${SUITE} '${root}' '${mirror}'`;
  say(`real image: not cached; running ${cmd}`);
  const t0 = Date.now();
  const r = spawnSync('/bin/sh', ['-c', `${cmd} > '${root}.log' 2>&1`], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`debootstrap failed (exit ${r.status}); see ${root}.log`);
  // As the master: the whole tree, newc, gzip -6. Device nodes and all.
  sh(`find . | cpio -o --quiet -H newc | gzip -6 > '${image}.tmp'`, root);
  const buildSeconds = (Date.now() - t0) / 1000;
  // File data counted once per inode (hard links share it), entries as the archive lists them.
  const list = spawnSync('find', ['.', '-printf', '%y %i %s\\n'], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 28 });
  if (list.status !== 0) throw new Error('cannot list the root');
  let bytes = 0;
  let entries = 0;
  const seen = new Set<string>();
  for (const line of list.stdout.split('\n')) {
    if (!line) continue;
    entries++;
    const [type, ino, size] = line.split(' ');
    if (type === 'f' && !seen.has(ino)) {
      seen.add(ino);
      bytes += Number(size);
    }
  }
  fs.renameSync(`${image}.tmp`, image);
  fs.rmSync(root, { recursive: true, force: true });
  fs.rmSync(`${root}.log`, { force: true });
  const out: DebianImage = { image, bytes, entries, compressed: fs.statSync(image).size, mirror, buildSeconds, cached: false };
  fs.writeFileSync(meta, JSON.stringify(out));
  say(`real image: built in ${buildSeconds.toFixed(0)} s (debootstrap + cpio | gzip -6) into ${image}`);
  return out;
}
