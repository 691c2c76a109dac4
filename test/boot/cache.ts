// Boot test inputs, cached between runs under WW_BOOT_CACHE (default /var/cache/wwruntime-boot-test):
//   debs/                     packages fetched with `apt-get download` (never installed)
//   kernel-VERSION/           Debian's linux-image package unpacked (vmlinuz + modules)
//   busybox-VERSION/          Debian's busybox-static unpacked
//   images/KEY/image.cpio.gz  a Debian root made with debootstrap from the configured apt source,
//                             as the master's VNFS format (gzip cpio newc); KEY hashes suite,
//                             mirror, variant and package list, so a changed list makes a new image
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const CACHE = process.env.WW_BOOT_CACHE ?? '/var/cache/wwruntime-boot-test';

function sh(cmd: string, opts: { cwd?: string } = {}): string {
  return execFileSync('/bin/sh', ['-c', cmd], {
    cwd: opts.cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
  });
}

/** The first Debian mirror and suite of the host's apt configuration (deb822 or one-line format). */
export function aptSource(): { mirror: string; suite: string } {
  const codename = /^VERSION_CODENAME=(.*)$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1]?.trim() ?? 'bookworm';
  const texts: string[] = [];
  for (const f of ['/etc/apt/sources.list']) if (existsSync(f)) texts.push(readFileSync(f, 'utf8'));
  const dir = '/etc/apt/sources.list.d';
  if (existsSync(dir)) for (const f of readdirSync(dir).sort()) texts.push(readFileSync(join(dir, f), 'utf8'));
  for (const t of texts) {
    for (const stanza of t.split(/\n\s*\n/)) {
      const uris = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.*)$/m.exec(stanza)?.[1]?.split(/\s+/) ?? [];
      if (uris && suites.includes(codename) && /debian\/?$/.test(uris)) return { mirror: uris, suite: codename };
    }
    for (const line of t.split('\n')) {
      const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
      if (m && m[2] === codename && /debian\/?$/.test(m[1])) return { mirror: m[1], suite: codename };
    }
  }
  throw new Error(`boot test: no Debian mirror for ${codename} in the apt configuration`);
}

/** Downloads PACKAGE's .deb into CACHE/debs (once) and returns its path. */
function download(pkg: string): string {
  const debs = join(CACHE, 'debs');
  mkdirSync(debs, { recursive: true });
  const version = sh(`apt-cache policy ${pkg} | sed -n 's/^ *Candidate: //p'`).trim();
  if (!version || version === '(none)') throw new Error(`boot test: apt knows no candidate for ${pkg} (run apt-get update)`);
  const want = (f: string) => f.startsWith(`${pkg}_`) && f.includes(version.replace(/^\d+:/, '')) && f.endsWith('.deb');
  let file = readdirSync(debs).find(want);
  if (!file) {
    sh(`apt-get download ${pkg}=${version} 2>&1 | grep -v unsandboxed >&2 || true`, { cwd: debs });
    file = readdirSync(debs).find(want);
    if (!file) throw new Error(`boot test: apt-get download ${pkg}=${version} left no .deb in ${debs}`);
  }
  return join(debs, file);
}

function unpack(deb: string, dir: string): void {
  if (existsSync(join(dir, '.done'))) return;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  sh(`dpkg-deb -x '${deb}' '${dir}'`);
  writeFileSync(join(dir, '.done'), '');
}

export interface Kernel {
  version: string;
  vmlinuz: string;
  /** Folder of the kernel's modules (lib/modules/VERSION/kernel). */
  modules: string;
}

/** Debian's current kernel image (linux-image-amd64 points at it), unpacked, not installed. */
export function kernel(): Kernel {
  const meta = download('linux-image-amd64');
  const dep = sh(`dpkg-deb -f '${meta}' Depends`).trim();
  const pkg = /^(linux-image-[^\s,(]+)/.exec(dep)?.[1];
  if (!pkg) throw new Error(`boot test: cannot read the kernel package from '${dep}'`);
  const version = pkg.replace(/^linux-image-/, '');
  const dir = join(CACHE, `kernel-${version}`);
  unpack(download(pkg), dir);
  return { version, vmlinuz: join(dir, 'boot', `vmlinuz-${version}`), modules: join(dir, 'lib/modules', version, 'kernel') };
}

/** Debian's busybox-static binary. */
export function busyboxStatic(): string {
  const deb = download('busybox-static');
  const dir = join(CACHE, `busybox-${deb.split('_')[1]}`);
  unpack(deb, dir);
  return join(dir, 'bin/busybox');
}

export interface Image {
  name: string;
  /** gzip cpio newc of the root. */
  file: string;
  /** the unpacked root (kept, for images derived from it) */
  root: string;
  seconds: number;
  cached: boolean;
}

/** A Debian minbase root with `include` packages, debootstrapped once and cached. */
export function debianImage(name: string, include: string[]): Image {
  const { mirror, suite } = aptSource();
  const key = createHash('sha256')
    .update(JSON.stringify({ suite, mirror, variant: 'minbase', include, v: 1 }))
    .digest('hex')
    .slice(0, 12);
  const dir = join(CACHE, 'images', `${name}-${key}`);
  const file = join(dir, 'image.cpio.gz');
  const root = join(dir, 'root');
  if (existsSync(file)) return { name, file, root, seconds: 0, cached: true };
  const t0 = Date.now();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, 'root.tmp');
  process.stdout.write(`# debootstrap ${suite} minbase +${include.join(',')} from ${mirror} (first run only)\n`);
  const r = spawnSync('debootstrap', ['--variant=minbase', `--include=${include.join(',')}`, suite, tmp, mirror], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (r.status !== 0) throw new Error(`boot test: debootstrap of ${name} failed (${r.status})`);
  // Smaller image, same system: documentation, manuals, locales and apt caches out.
  sh(`rm -rf usr/share/doc/* usr/share/man/* usr/share/info/* usr/share/locale/* var/cache/apt/* var/lib/apt/lists/* var/log/*.log`, {
    cwd: tmp,
  });
  renameSync(tmp, root);
  packImage(root, file);
  return { name, file, root, seconds: (Date.now() - t0) / 1000, cached: false };
}

/** Writes ROOT as a gzip cpio newc image (the master's default VNFS format) to FILE, atomically. */
export function packImage(root: string, file: string): void {
  sh(`find . | LC_ALL=C sort | cpio -o -H newc --quiet | gzip -1 > '${file}.tmp' && mv '${file}.tmp' '${file}'`, { cwd: root });
}
