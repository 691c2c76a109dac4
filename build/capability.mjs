// Assembles the Warewulf 3 bootstrap capability that installs the runtime services:
//   dist/capability/
//     rootfs/warewulf/provision/65-wwruntime          the provision step (bootstrap/wwruntime-step)
//     rootfs/warewulf/wwruntime/wwruntime-lib.sh      its library (outside provision/: the
//                                                     provision handler runs every file there)
//     rootfs/warewulf/wwruntime/wwruntime-install     the image builder's installer
//     rootfs/warewulf/wwruntime/ARCH/bin/wwruntime.xz the multi-call executable, per arch, xz-packed
//                                                     (the transport or the step unpacks it at boot)
//     rootfs/warewulf/wwruntime/ARCH/lib/*            its C runtime (loader, libc, libstdc++, ...)
//     rootfs/warewulf/wwruntime/ARCH/wwruntime        the launcher: runs bin/wwruntime in the initramfs
//                                                     itself (bin/ names /warewulf/lib/LOADER, which is
//                                                     only there in NEWROOT after the step)
//     rootfs/warewulf/wwruntime/ARCH/NOTICE           bundled components and licences
//     rootfs/warewulf/wwruntime/ARCH/SHA256SUMS       of the files above and of bin/wwruntime unpacked
//                                                     (the step checks every file it unpacks or copies)
//     rootfs/warewulf/transports/wwruntime/           the "wwruntime" transport: register + the four
//                                                     tool names (bootstrap/wwruntime-transport)
//     provision-wwruntime.ARCH.cpio                   rootfs as a newc archive, one per arch: the
//                                                     file wwbootstrap takes as a capability
// Only the multi-call executable goes in, packed: every byte of the capability is in every node's
// initfs.gz (gzip -9 makes 40 MB of the 109 MB executable, xz 27 MB; README "Footprint"). A node
// asked for standalone tools gets four copies of it (it picks its tool from its own name).
// Every file is written to a temporary name and renamed (concurrent builds).
import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeSync,
  writeFileSync,
} from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join, relative } from 'node:path';
import { fileHash, put, ROOT, sha256, sumsText } from './lib.mjs';
import { CAPABILITY_NAME, MULTICALL, STEP_NAME, TOOLS, TRANSPORT_DIR } from './targets.mjs';

/** Writes a newc cpio archive of the tree under `dir` but the paths in `skip` (owner root, mtime 0: reproducible). */
export function writeCpio(dir, outFile, skip = []) {
  const entries = [];
  const walk = (d) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (skip.includes(p)) continue;
      const st = lstatSync(p);
      entries.push({ p, st });
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  put(outFile, (tmp) => {
    const fd = openSync(tmp, 'w');
    let ino = 1;
    let offset = 0;
    const out = (buf) => {
      writeSync(fd, buf);
      offset += buf.length;
    };
    const pad = () => {
      const n = (4 - (offset % 4)) % 4;
      if (n) out(Buffer.alloc(n));
    };
    const hex = (v) => v.toString(16).padStart(8, '0');
    const entry = (name, mode, data) => {
      const fields = [ino++, mode, 0, 0, mode & 0o040000 ? 2 : 1, 0, data.length, 0, 0, 0, 0, Buffer.byteLength(name) + 1, 0];
      out(Buffer.from(`070701${fields.map(hex).join('')}`, 'ascii'));
      out(Buffer.from(`${name}\0`));
      pad();
      if (data.length) out(data);
      pad();
    };
    for (const { p, st } of entries) {
      const name = relative(dir, p);
      if (st.isDirectory()) entry(name, 0o040000 | (st.mode & 0o7777), Buffer.alloc(0));
      else if (st.isSymbolicLink()) throw new Error(`capability: unexpected symlink ${p}`);
      else entry(name, 0o100000 | (st.mode & 0o7777), readFileSync(p));
    }
    entry('TRAILER!!!', 0, Buffer.alloc(0));
    closeSync(fd);
  });
}

// Plain LZMA2: busybox's unxz (the initramfs's decompressor) knows no BCJ filter. One thread:
// the same bytes on every build machine. CRC32: what every unxz checks; SHA256SUMS does the rest.
const XZ_ARGS = ['-9', '-T1', '--check=crc32', '-c'];

/** EXE xz-compressed, cached in WORK under its own digest (xz takes a minute per architecture). */
function packed(exe, work) {
  const key = sha256(`${fileHash('sha256', exe)} ${XZ_ARGS.join(' ')}`).slice(0, 16);
  const file = join(work, `${MULTICALL}.${key}.xz`);
  if (!existsSync(file)) {
    for (const old of existsSync(work) ? readdirSync(work) : []) {
      if (old.startsWith(`${MULTICALL}.`) && old.endsWith('.xz')) rmSync(join(work, old), { force: true });
    }
    put(file, (tmp) => writeFileSync(tmp, execFileSync('xz', XZ_ARGS, { input: readFileSync(exe), maxBuffer: 1 << 30 })));
  }
  return file;
}

/**
 * Assembles the capability folder from bootstrap/ and the built executables.
 * @param {{ root?: string, dist?: string, out?: string }} [opts]
 * @returns {{ out: string, archs: string[], cpio: string[] }}
 */
export function assembleCapability(opts = {}) {
  const root = opts.root ?? ROOT;
  const dist = opts.dist ?? join(root, 'dist');
  const out = opts.out ?? join(dist, 'capability');
  const rootfs = join(out, 'rootfs');
  const archs = readdirSync(dist)
    .filter((a) => /^linux-/.test(a) && existsSync(join(dist, a, 'bin', MULTICALL)))
    .sort();
  if (archs.length === 0) throw new Error(`capability: no ${dist}/linux-*/bin/wwruntime`);
  const copy = (from, to, mode) =>
    put(to, (tmp) => {
      copyFileSync(from, tmp);
      chmodSync(tmp, mode);
    });
  copy(join(root, 'bootstrap/wwruntime-step'), join(rootfs, 'warewulf/provision', STEP_NAME), 0o755);
  copy(join(root, 'bootstrap/wwruntime-lib.sh'), join(rootfs, 'warewulf/wwruntime/wwruntime-lib.sh'), 0o644);
  copy(join(root, 'bootstrap/wwruntime-install'), join(rootfs, 'warewulf/wwruntime/wwruntime-install'), 0o755);
  for (const a of archs) {
    const to = join(rootfs, 'warewulf/wwruntime', a);
    rmSync(to, { recursive: true, force: true }); // nothing left from an older build or layout
    const files = [
      ...readdirSync(join(dist, a, 'lib'))
        .sort()
        .map((l) => `lib/${l}`),
      MULTICALL,
      'NOTICE',
    ];
    for (const f of files) copy(join(dist, a, f), join(to, f), f === 'NOTICE' ? 0o644 : 0o755);
    const exe = join(dist, a, 'bin', MULTICALL);
    copy(packed(exe, join(dist, 'work', a)), join(to, 'bin', `${MULTICALL}.xz`), 0o644);
    // bin/wwruntime is listed with the sum of the unpacked executable: the step checks what it unpacked.
    const sums = `${fileHash('sha256', exe)}  bin/${MULTICALL}\n${sumsText(to, [`bin/${MULTICALL}.xz`, ...files])}`;
    put(join(to, 'SHA256SUMS'), (tmp) => writeFileSync(tmp, sums));
  }
  // The transport: the dispatcher execs /warewulf/transports/$WWTRANSPORT/TOOL when `register` exists.
  put(join(rootfs, TRANSPORT_DIR, 'register'), (tmp) => writeFileSync(tmp, ''));
  chmodSync(join(rootfs, TRANSPORT_DIR, 'register'), 0o644);
  for (const t of TOOLS) copy(join(root, 'bootstrap/wwruntime-transport'), join(rootfs, TRANSPORT_DIR, t), 0o755);
  for (const d of [
    'warewulf',
    'warewulf/provision',
    'warewulf/wwruntime',
    'warewulf/transports',
    TRANSPORT_DIR,
    ...archs.flatMap((a) => [`warewulf/wwruntime/${a}`, `warewulf/wwruntime/${a}/bin`, `warewulf/wwruntime/${a}/lib`]),
  ]) {
    chmodSync(join(rootfs, d), 0o755);
  }
  // One archive per architecture: Warewulf keeps capabilities per machine (initramfs/MACHINE/capabilities).
  const cpio = [];
  for (const a of archs) {
    const file = join(out, `${CAPABILITY_NAME}.${a}.cpio`);
    writeCpio(
      rootfs,
      file,
      archs.filter((o) => o !== a).map((o) => join(rootfs, 'warewulf/wwruntime', o)),
    );
    cpio.push(file);
  }
  put(join(out, 'README'), (tmp) => writeFileSync(tmp, README(archs)));
  return { out, archs, cpio };
}

const README = (archs) => `Warewulf 3 capability: runtime services (wwruntime)

Drop provision-wwruntime.ARCH.cpio on the master as
  /var/lib/warewulf/initramfs/MACHINE/capabilities/provision-wwruntime
(MACHINE as uname -m: x86_64 for linux-x64, aarch64 for linux-arm64; the folder is
WAREWULF_STATEDIR/warewulf/initramfs/MACHINE/capabilities of your installation) and rebuild
the bootstrap: wwbootstrap KERNELVERSION. wwbootstrap unpacks every file of that folder;
there is no list of capabilities in bootstrap.conf.

It also adds the transport "wwruntime" (/warewulf/transports/wwruntime/): a node booted with
wwtransport=wwruntime on its kernel command line fetches its VNFS, file objects and scripts
with these tools inside the initramfs. Master-wide: "default transport = wwruntime" in
/etc/warewulf/provision.conf; per node: wwsh provision set NODE --kargs "... wwtransport=wwruntime"
(the last wwtransport= wins). https: set the node attribute HTTP=https (WWHTTP).

It adds /warewulf/provision/${STEP_NAME} to the bootstrap's initramfs: the provision handler
runs it after the VNFS is unpacked (30-getvnfs, 50-config) and after upstream's
60-runtimesupport, whose work it replaces.

Architectures in this build: ${archs.join(', ')}. The executable is packed with xz
(rootfs/warewulf/wwruntime/ARCH/bin/wwruntime.xz): the transport or the step unpacks it in the
initramfs with busybox's unxz and checks it against SHA256SUMS. Each carries its own C runtime
(rootfs/warewulf/wwruntime/ARCH/lib: loader, glibc, libstdc++, libgcc_s from Debian 12), so the
tools run whatever C library the node's image has; the step installs it as /warewulf/lib.
Bundled components and their licences: rootfs/warewulf/wwruntime/ARCH/NOTICE.
rootfs/ is the same content as a folder; rootfs/warewulf/wwruntime/wwruntime-install
installs the runtime services into a VNFS chroot at image-build time:
  wwruntime-install --into /var/chroots/IMAGE [--standalone]
`;
