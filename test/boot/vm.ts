// The boot test's machine: assembles an initramfs the way wwbootstrap does (PROTOCOL 7) and
// boots it under QEMU (TCG) with user-mode networking only, reading the serial console.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TOOLS } from '../../build/targets.mjs';
import type { Kernel } from './cache.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const STANDIN = join(HERE, 'initramfs');

function sh(cmd: string, cwd?: string): string {
  return execFileSync('/bin/sh', ['-c', cmd], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
}

// virtio devices are not found by a PCI-id lookup in this initramfs: load them in dependency order
// (each module's depends= comes before it).
const MODULES = [
  'drivers/virtio/virtio_ring.ko',
  'drivers/virtio/virtio.ko',
  'drivers/virtio/virtio_pci_legacy_dev.ko',
  'drivers/virtio/virtio_pci_modern_dev.ko',
  'drivers/virtio/virtio_pci.ko',
  'net/core/failover.ko',
  'drivers/net/net_failover.ko',
  'drivers/net/virtio_net.ko',
];

export interface InitramfsOptions {
  work: string;
  kernel: Kernel;
  busybox: string;
  /** Our capability's cpio, dropped into the capabilities folder (omit: upstream capabilities only). */
  capability?: string;
}

/**
 * Assembles an initramfs like wwbootstrap: every file of the capabilities folder unpacked in name
 * order with `cpio -i -u` into one tree, then the base over it; gzip of a newc cpio.
 */
export function assembleInitramfs(o: InitramfsOptions): string {
  const caps = join(o.work, 'capabilities');
  const tree = join(o.work, 'tree');
  rmSync(o.work, { recursive: true, force: true });
  mkdirSync(caps, { recursive: true });
  mkdirSync(tree, { recursive: true });
  for (const c of readdirSync(join(STANDIN, 'capabilities')).sort()) {
    sh(`find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet > '${join(caps, c)}'`, join(STANDIN, 'capabilities', c));
  }
  if (o.capability) copyFileSync(o.capability, join(caps, 'provision-wwruntime'));
  for (const c of readdirSync(caps).sort()) sh(`cpio -i -u -d -m --quiet < '${join(caps, c)}'`, tree);

  // base: busybox and its applets, the stand-in init, handler and dispatcher, drivers
  for (const d of ['bin', 'sbin', 'etc', 'lib/modules', 'usr', 'tmp', 'var/log', 'proc', 'sys', 'dev', 'newroot']) {
    mkdirSync(join(tree, d), { recursive: true });
  }
  copyFileSync(o.busybox, join(tree, 'bin/busybox'));
  chmodSync(join(tree, 'bin/busybox'), 0o755);
  const applets = execFileSync(o.busybox, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  for (const a of applets) if (!existsSync(join(tree, 'bin', a))) symlinkSync('busybox', join(tree, 'bin', a));
  symlinkSync('../bin', join(tree, 'usr/bin'));
  symlinkSync('../sbin', join(tree, 'usr/sbin'));
  sh(`cp -a '${join(STANDIN, 'base')}/.' .`, tree);
  for (const t of TOOLS) symlinkSync('/sbin/transporthandler', join(tree, 'bin', t));
  const names: string[] = [];
  for (const m of MODULES) {
    const name = m.replace(/^.*\//, '').replace(/\.ko$/, '');
    copyFileSync(join(o.kernel.modules, m), join(tree, 'lib/modules', `${name}.ko`));
    names.push(name);
  }
  writeFileSync(join(tree, 'etc/wwmodules'), `${names.join('\n')}\n`);
  // No C library in this initramfs besides the one our capability brings for its executable
  // (upstream's has glibc but no libstdc++; busybox here is static).

  // gzip -9, as wwbootstrap compresses initfs.gz: its size is what each node fetches at boot.
  const out = join(o.work, 'initramfs.gz');
  sh(`find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9 > '${out}'`, tree);
  rmSync(tree, { recursive: true, force: true });
  return out;
}

export interface SerialLine {
  /** ms since QEMU was started (power-on) */
  at: number;
  text: string;
}

export interface Vm {
  lines: SerialLine[];
  startedAt: number;
  /** Resolves with the first line matching re (already seen or future); rejects on timeout or exit. */
  waitFor(re: RegExp, timeoutMs: number): Promise<SerialLine>;
  exited: Promise<number | null>;
  kill(): Promise<void>;
}

export interface VmOptions {
  kernel: Kernel;
  initramfs: string;
  append: string;
  mac: string;
  log?: string;
  memMiB?: number;
}

/** Boots under QEMU TCG; the only network is QEMU's user mode (the host is 10.0.2.2). */
export function bootVm(o: VmOptions): Vm {
  const args = [
    '-accel',
    'tcg,thread=multi',
    '-m',
    String(o.memMiB ?? 2048),
    '-smp',
    '2',
    '-nodefaults',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    'stdio',
    '-monitor',
    'none',
    '-kernel',
    o.kernel.vmlinuz,
    '-initrd',
    o.initramfs,
    '-append',
    o.append,
    '-netdev',
    'user,id=n0',
    '-device',
    `virtio-net-pci,netdev=n0,mac=${o.mac}`,
  ];
  const startedAt = Date.now();
  const child: ChildProcess = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: SerialLine[] = [];
  const waiters: { re: RegExp; resolve: (l: SerialLine) => void }[] = [];
  let partial = '';
  const logChunks: string[] = [];
  const onData = (d: Buffer) => {
    const s = partial + d.toString('latin1').replace(/\r/g, '');
    const parts = s.split('\n');
    partial = parts.pop() ?? '';
    for (const text of parts) {
      const line = { at: Date.now() - startedAt, text: text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '') };
      lines.push(line);
      logChunks.push(`[${(line.at / 1000).toFixed(1).padStart(6)}] ${line.text}\n`);
      for (let i = waiters.length - 1; i >= 0; i--) {
        if (waiters[i].re.test(line.text)) {
          waiters[i].resolve(line);
          waiters.splice(i, 1);
        }
      }
    }
    if (o.log && logChunks.length) writeFileSync(o.log, logChunks.join(''));
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', (d: Buffer) => logChunks.push(`[qemu] ${d}`));
  const exited = new Promise<number | null>((res) =>
    child.on('close', (code) => {
      if (o.log) writeFileSync(o.log, logChunks.join(''));
      res(code);
    }),
  );
  return {
    lines,
    startedAt,
    exited,
    waitFor(re, timeoutMs) {
      const seen = lines.find((l) => re.test(l.text));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const w = {
          re,
          resolve: (l: SerialLine) => {
            clearTimeout(t);
            res(l);
          },
        };
        const t = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          rej(new Error(`timeout after ${timeoutMs / 1000} s waiting for ${re} on the serial console`));
        }, timeoutMs);
        waiters.push(w);
        exited.then((c) => {
          if (waiters.includes(w)) {
            clearTimeout(t);
            waiters.splice(waiters.indexOf(w), 1);
            rej(new Error(`the VM exited (${c}) before ${re} appeared on the serial console`));
          }
        });
      });
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export const resolveWork = (name: string) => resolve(HERE, '../../dist/boot-test', name);
