// Shared helpers of the bootstrap tests: scratch roots, running the step under a shell, tree listings.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHS, TOOLS } from '../../build/targets.mjs';
import { CHROOT, QEMU_ARM64 } from '../helpers/chroot.ts';
import { ROOT } from '../helpers/exec.ts';
import { sha256, treeLines } from '../helpers/tree.ts';

export const STEP = join(ROOT, 'bootstrap/wwruntime-step');
export const INSTALL = join(ROOT, 'bootstrap/wwruntime-install');
export const DIST = join(ROOT, 'dist');
/** The shells the step must run under: Debian's busybox ash and dash. */
export const SHELLS: string[][] = [['/bin/busybox', 'sh'], ['dash']];

export interface Scratch {
  dir: string;
  root: string;
  host: string;
  cleanup(): void;
}

/** A scratch root (NEWROOT) plus a "host" (WWRUNTIME_HOSTROOT) whose kernel command line names a master. */
export function scratch(base = tmpdir()): Scratch {
  const dir = mkdtempSync(join(base, 'wwrt-'));
  const root = join(dir, 'root');
  const host = join(dir, 'host');
  mkdirSync(root);
  mkdirSync(join(host, 'proc'), { recursive: true });
  writeFileSync(join(host, 'proc/cmdline'), 'BOOT_IMAGE=vmlinuz quiet wwmaster=10.0.0.1 wwinit_hwaddr=x\n');
  return { dir, root, host, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function runStep(
  shell: string[],
  s: Scratch,
  env: Record<string, string | undefined> = {},
  script = STEP,
  args: string[] = [],
): Run {
  const full: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NEWROOT: s.root,
    WWRUNTIME_HOSTROOT: s.host,
    WWRUNTIME_SOURCE: DIST,
    WWINIT_HWADDR: 'aa:bb:cc:dd:ee:ff',
  };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete full[k];
    else full[k] = v;
  }
  const r = spawnSync(shell[0], [...shell.slice(1), script, ...args], { env: full, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export const read = (p: string) => readFileSync(p, 'utf8');
export const exists = (p: string) =>
  existsSync(p) ||
  (() => {
    try {
      lstatSync(p);
      return true;
    } catch {
      return false;
    }
  })();

/**
 * Runs an executable of an installed tree the way the node runs it: inside a chroot of `root`
 * (so /warewulf/lib is the tree's own), under `env -i` plus `env`. linux-arm64 runs under
 * qemu-user: a static qemu-aarch64-static copied into the root (no binfmt_misc needed).
 */
export function runIn(root: string, path: string, args: string[] = [], env: Record<string, string> = {}, arch = 'linux-x64'): Run {
  const pre: string[] = [];
  if (arch === 'linux-arm64') {
    const q = join(root, '.qemu-aarch64-static');
    if (!existsSync(q)) {
      writeFileSync(q, readFileSync(QEMU_ARM64));
      chmodSync(q, 0o755);
    }
    pre.push('/.qemu-aarch64-static');
  }
  const r = spawnSync(CHROOT, [root, ...pre, path, ...args], { env, encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The files of dist/ARCH/lib: exactly what the step must install as NEWROOT/warewulf/lib. */
export function distLibs(arch = 'linux-x64'): string[] {
  return readdirSync(join(DIST, arch, 'lib')).sort();
}

/**
 * A small stand-in runtime folder SRC/ARCH (bin/wwruntime with the ELF machine byte of ARCH, the
 * loader, a library, NOTICE, standalone tools, SHA256SUMS of them all): fast to install where a
 * test checks where files land, not that they run. Returns SRC (the WWRUNTIME_SOURCE / --from).
 */
export function fakeRuntime(dir: string, arch = 'linux-x64'): string {
  const src = join(dir, 'fake-src');
  const a = join(src, arch);
  mkdirSync(join(a, 'bin'), { recursive: true });
  mkdirSync(join(a, 'lib'), { recursive: true });
  const elf = (what: string) => {
    const b = Buffer.alloc(64);
    b.write('\x7fELF', 0, 'latin1');
    b[18] = ARCHS[arch as keyof typeof ARCHS].elfMachine;
    return Buffer.concat([b, Buffer.from(`${what}\n`)]);
  };
  const { loader } = ARCHS[arch as keyof typeof ARCHS];
  const files: Record<string, Buffer> = {
    'bin/wwruntime': elf('wwruntime'),
    [`lib/${loader}`]: elf('loader'),
    'lib/libc.so.6': elf('libc'),
    NOTICE: Buffer.from('notice\n'),
  };
  for (const t of TOOLS) files[`bin/${t}`] = elf(t);
  for (const [rel, data] of Object.entries(files)) writeFileSync(join(a, rel), data);
  chmodSync(join(a, 'bin/wwruntime'), 0o755);
  writeFileSync(
    join(a, 'SHA256SUMS'),
    Object.keys(files)
      .sort()
      .map((rel) => `${sha256(files[rel])}  ${rel}\n`)
      .join(''),
  );
  return src;
}

/** treeLines() of a scratch folder without its root/ (what must never change when the step runs). */
export function outsideRoot(s: Scratch): string[] {
  return treeLines(s.dir).filter((l) => !/^[a-z] \d{4} root(\/| |$)/.test(l));
}

/** runStep's env for wwruntime-install: no step settings (the installer sets NEWROOT itself). */
export const IMAGE_ENV = { NEWROOT: undefined, WWRUNTIME_HOSTROOT: undefined, WWINIT_HWADDR: undefined, WWRUNTIME_SOURCE: undefined };

/** The lines of stderr but the closing "installed ..." one. */
export const warnings = (stderr: string) => stderr.split('\n').filter((l) => l && !/^wwruntime: installed /.test(l));
