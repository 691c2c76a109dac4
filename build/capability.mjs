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
// and the opt-in "lean" variant (issue 20, variant c), the same tree without the runtime:
//     rootfs-lean/warewulf/wwruntime/ARCH/RUNTIME     the manifest: the blob's name, machine, size,
//                                                     SHA256 and unpacked size (ARCH keeps only its
//                                                     launcher; no bin/, lib/, NOTICE, SHA256SUMS)
//     provision-wwruntime-lean.ARCH.cpio              rootfs-lean as a newc archive, one per arch
//     bootstrap/wwruntime/MACHINE/wwruntime-VERSION-ARCH-SHA16.tar.xz
//                                                     the runtime blob: ARCH/{bin/wwruntime, lib/*,
//                                                     NOTICE, SHA256SUMS} as a ustar archive (sorted,
//                                                     0:0, mtime 0), xz -9 plain LZMA2 like
//                                                     wwruntime.xz; laid out as the master's
//                                                     /var/lib/warewulf/bootstrap/, which Apache serves
//                                                     as http://MASTER/WW/bootstrap/ (the step or the
//                                                     transport fetches it: wwrt_fetch_runtime)
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
import { ARCHS, CAPABILITY_NAME, LEAN_CAPABILITY_NAME, LEAN_MANIFEST, MULTICALL, STEP_NAME, TOOLS, TRANSPORT_DIR } from './targets.mjs';

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

/**
 * The bytes of a ustar archive of `files` (paths relative to `dir`, written under `prefix/`), with
 * a folder entry before the first file in each folder: sorted, owner 0:0, mtime 0, the files'
 * own modes (reproducible, like writeCpio). Names must fit ustar's 100 bytes.
 */
export function ustar(dir, files, prefix) {
  const parts = [];
  const header = (name, mode, size, type) => {
    const h = Buffer.alloc(512);
    if (Buffer.byteLength(name) > 99) throw new Error(`capability: tar name too long: ${name}`);
    const oct = (v, len, off) => h.write(`${v.toString(8).padStart(len - 1, '0')}\0`, off, 'ascii');
    h.write(name, 0, 'utf8');
    oct(mode, 8, 100);
    oct(0, 8, 108);
    oct(0, 8, 116);
    oct(size, 12, 124);
    oct(0, 12, 136);
    h.fill(0x20, 148, 156);
    h.write(type, 156, 'ascii');
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    h.write('root', 265, 'ascii');
    h.write('root', 297, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
    parts.push(h);
  };
  const seen = new Set();
  const folder = (d) => {
    if (seen.has(d)) return;
    const up = d.includes('/') ? d.slice(0, d.lastIndexOf('/')) : '';
    if (up) folder(up);
    seen.add(d);
    header(`${d}/`, 0o755, 0, '5');
  };
  for (const f of [...files].sort()) {
    const name = `${prefix}/${f}`;
    folder(name.slice(0, name.lastIndexOf('/')));
    const p = join(dir, f);
    const st = lstatSync(p);
    if (!st.isFile()) throw new Error(`capability: not a regular file: ${p}`);
    const data = readFileSync(p);
    header(name, st.mode & 0o7777, data.length, '0');
    parts.push(data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
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

/** DATA xz-compressed like wwruntime.xz, cached in WORK as NAME.KEY.xz under its own digest. */
function packedBytes(data, work, name) {
  const key = sha256(`${sha256(data)} ${XZ_ARGS.join(' ')}`).slice(0, 16);
  const file = join(work, `${name}.${key}.xz`);
  if (!existsSync(file)) {
    for (const old of existsSync(work) ? readdirSync(work) : []) {
      if (old.startsWith(`${name}.`) && old.endsWith('.xz')) rmSync(join(work, old), { force: true });
    }
    put(file, (tmp) => writeFileSync(tmp, execFileSync('xz', XZ_ARGS, { input: data, maxBuffer: 1 << 30 })));
  }
  return file;
}

/**
 * The lean variant's runtime blob of one architecture: ARCH/{bin/wwruntime, lib/*, NOTICE,
 * SHA256SUMS} (SHA256SUMS of the others, sha256sum's format, relative to ARCH) as a ustar archive,
 * xz-packed (cached in WORK). `from` is a runtime folder (dist/ARCH) whose bin/wwruntime, lib/ and
 * NOTICE go in. Returns the blob's file, its bytes' SHA256, its size and the unpacked bytes.
 * @param {string} from @param {string} arch @param {string} work
 */
export function runtimeBlob(from, arch, work) {
  const stage = join(work, 'lean-stage');
  rmSync(stage, { recursive: true, force: true });
  const files = [
    `bin/${MULTICALL}`,
    ...readdirSync(join(from, 'lib'))
      .sort()
      .map((l) => `lib/${l}`),
    ...(existsSync(join(from, 'NOTICE')) ? ['NOTICE'] : []),
  ];
  for (const f of files) {
    put(join(stage, f), (tmp) => {
      copyFileSync(join(from, f), tmp);
      chmodSync(tmp, f === 'NOTICE' ? 0o644 : 0o755);
    });
  }
  put(join(stage, 'SHA256SUMS'), (tmp) => {
    writeFileSync(tmp, sumsText(stage, files));
    chmodSync(tmp, 0o644);
  });
  const all = [...files, 'SHA256SUMS'];
  const unpacked = all.reduce((n, f) => n + lstatSync(join(stage, f)).size, 0);
  const tar = ustar(stage, all, arch);
  rmSync(stage, { recursive: true, force: true });
  const file = packedBytes(tar, work, 'runtime-blob');
  return { file, sha256: fileHash('sha256', file), size: lstatSync(file).size, unpacked };
}

/** The text of the lean capability's manifest ARCH/RUNTIME (read by wwrt_fetch_runtime). */
export function leanManifest({ blob, machine, size, sha256: sum, unpacked }) {
  return (
    '# wwruntime lean capability: the runtime this node fetches from the master at\n' +
    "# http://MASTER/WW/bootstrap/wwruntime/MACHINE/BLOB (the master's /var/lib/warewulf/bootstrap/)\n" +
    `blob ${blob}\nmachine ${machine}\nsize ${size}\nsha256 ${sum}\nunpacked ${unpacked}\n`
  );
}

/**
 * Sets the folders of a capability tree to 0755 (the common ones and `dirs`) and writes one newc
 * archive per architecture, OUT/NAME.ARCH.cpio, leaving out the other architectures' folders:
 * Warewulf keeps capabilities per machine (initramfs/MACHINE/capabilities).
 */
function archivePerArch({ tree, name, out, archs, dirs }) {
  for (const d of ['warewulf', 'warewulf/provision', 'warewulf/wwruntime', 'warewulf/transports', TRANSPORT_DIR, ...dirs]) {
    chmodSync(join(tree, d), 0o755);
  }
  return archs.map((a) => {
    const file = join(out, `${name}.${a}.cpio`);
    writeCpio(
      tree,
      file,
      archs.filter((o) => o !== a).map((o) => join(tree, 'warewulf/wwruntime', o)),
    );
    return file;
  });
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
  const cpio = archivePerArch({
    tree: rootfs,
    name: CAPABILITY_NAME,
    out,
    archs,
    dirs: archs.flatMap((a) => [`warewulf/wwruntime/${a}`, `warewulf/wwruntime/${a}/bin`, `warewulf/wwruntime/${a}/lib`]),
  });
  // The lean variant (opt-in): the same tree without the runtime, plus a manifest of the blob.
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  const lean = join(out, 'rootfs-lean');
  rmSync(lean, { recursive: true, force: true });
  const blobs = [];
  for (const a of archs) {
    const info = runtimeBlob(join(dist, a), a, join(dist, 'work', a));
    const machine = ARCHS[a]?.uname ?? a.replace(/^linux-/, '');
    const blob = `${MULTICALL}-${version}-${a}-${info.sha256.slice(0, 16)}.tar.xz`;
    const bdir = join(out, 'bootstrap', MULTICALL, machine);
    for (const old of existsSync(bdir) ? readdirSync(bdir) : []) {
      if (old.startsWith(`${MULTICALL}-`) && old.includes(`-${a}-`) && old !== blob) rmSync(join(bdir, old), { force: true });
    }
    copy(info.file, join(bdir, blob), 0o644);
    blobs.push(join(bdir, blob));
    for (const f of ['warewulf/provision', 'warewulf/wwruntime', TRANSPORT_DIR]) {
      for (const n of readdirSync(join(rootfs, f))) {
        const p = join(rootfs, f, n);
        if (lstatSync(p).isFile()) copy(p, join(lean, f, n), lstatSync(p).mode & 0o7777);
      }
    }
    copy(join(rootfs, 'warewulf/wwruntime', a, MULTICALL), join(lean, 'warewulf/wwruntime', a, MULTICALL), 0o755);
    put(join(lean, 'warewulf/wwruntime', a, LEAN_MANIFEST), (tmp) => {
      writeFileSync(tmp, leanManifest({ blob, machine, ...info }));
      chmodSync(tmp, 0o644);
    });
  }
  const leanCpio = archivePerArch({
    tree: lean,
    name: LEAN_CAPABILITY_NAME,
    out,
    archs,
    dirs: archs.map((a) => `warewulf/wwruntime/${a}`),
  });
  put(join(out, 'README'), (tmp) => writeFileSync(tmp, README(archs)));
  return { out, archs, cpio, leanCpio, blobs };
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
The lean capability (opt-in; README "Lean capability (opt-in)"): provision-wwruntime-lean.ARCH.cpio
carries no runtime, only the manifest warewulf/wwruntime/ARCH/RUNTIME of the blob
bootstrap/wwruntime/MACHINE/wwruntime-VERSION-ARCH-SHA16.tar.xz, which must lie on the master as
/var/lib/warewulf/bootstrap/wwruntime/MACHINE/ (served as http://MASTER/WW/bootstrap/): the
transport's first tool or the step fetches it at boot. Install one of the two capabilities, not both.
rootfs/ is the same content as a folder; rootfs/warewulf/wwruntime/wwruntime-install
installs the runtime services into a VNFS chroot at image-build time:
  wwruntime-install --into /var/chroots/IMAGE [--standalone]
`;
