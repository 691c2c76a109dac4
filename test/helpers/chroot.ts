// Chroots that hold nothing but what a test puts there: the bundle (dist/ARCH/bin + lib as
// /warewulf), /tmp, and /proc when asked. The executables run there under `env -i`, through
// /usr/sbin/chroot; linux-arm64 ones under qemu-user (a static qemu-aarch64-static copied into
// the root: this machine has no binfmt_misc). Tests run as root.
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { TOOLS } from '../../build/targets.mjs';
import { ROOT, run, type RunOptions, type RunResult } from './exec.ts';
import { walkTree } from './tree.ts';

export const CHROOT = '/usr/sbin/chroot';
export const QEMU_ARM64 = '/usr/bin/qemu-aarch64-static';
export const distArch = (arch: string) => join(ROOT, 'dist', arch);

export interface Chroot {
  root: string;
  arch: string;
  /** Runs /warewulf/bin/NAME (or any absolute path inside) in the chroot under env -i plus opts.env. */
  run(path: string, args?: string[], opts?: RunOptions): Promise<RunResult>;
  mountProc(): void;
  cleanup(): void;
}

function mounted(dir: string): boolean {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[1] === dir);
}

/**
 * A root with the bundle installed as a node has it: /warewulf/bin/wwruntime plus the four tool
 * symlinks, /warewulf/lib (the C runtime), an empty /tmp and an empty /proc mount point.
 */
export function bundleChroot(arch = 'linux-x64', withBundle = true): Chroot {
  const root = mkdtempSync(join(tmpdir(), `chroot-${arch}-`));
  for (const d of ['tmp', 'proc']) mkdirSync(join(root, d));
  chmodSync(join(root, 'tmp'), 0o1777);
  if (withBundle) {
    mkdirSync(join(root, 'warewulf/bin'), { recursive: true });
    mkdirSync(join(root, 'warewulf/lib'));
    copyFileSync(join(distArch(arch), 'bin/wwruntime'), join(root, 'warewulf/bin/wwruntime'));
    chmodSync(join(root, 'warewulf/bin/wwruntime'), 0o755);
    for (const t of TOOLS) symlinkSync('wwruntime', join(root, 'warewulf/bin', t));
    for (const l of readdirSync(join(distArch(arch), 'lib'))) copyFileSync(join(distArch(arch), 'lib', l), join(root, 'warewulf/lib', l));
  }
  const pre: string[] = [];
  if (arch === 'linux-arm64') {
    copyFileSync(QEMU_ARM64, join(root, '.qemu-aarch64-static'));
    chmodSync(join(root, '.qemu-aarch64-static'), 0o755);
    pre.push('/.qemu-aarch64-static');
  }
  const proc = join(root, 'proc');
  return {
    root,
    arch,
    run: (path, args = [], opts = {}) => run(CHROOT, [root, ...pre, path, ...args], { timeoutMs: 120_000, ...opts }),
    mountProc: () => execFileSync('mount', ['-t', 'proc', 'proc', proc]),
    cleanup: () => {
      if (mounted(proc)) execFileSync('umount', [proc]);
      // never delete through a mount
      if (mounted(proc)) throw new Error(`${proc} is still mounted`);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Every regular file under dir whose name looks like a C library (libc.so*, ld-*.so*, ld-musl*). */
export function cLibraries(dir: string): string[] {
  return walkTree(dir, { skip: (e) => e.rel === 'proc' })
    .filter((e) => e.type !== 'dir' && /^(libc\.so|libc-|ld-linux|ld-musl|ld-2\.)/.test(basename(e.rel)))
    .map((e) => `/${e.rel}`)
    .sort();
}
