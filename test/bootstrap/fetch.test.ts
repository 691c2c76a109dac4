// Issue 20, variant (c): the lean capability carries only the manifest ARCH/RUNTIME, and the step
// (or the wwruntime transport's first tool) fetches the runtime blob from the master at
// http://MASTER/WW/bootstrap/wwruntime/MACHINE/BLOB (wwrt_fetch_runtime), from a real HTTP server
// here (the test master, in this process). Every master of WWMASTER in turn; each fetch bounded by
// a watchdog; the blob checked against the manifest's size and SHA256, unpacked into a temporary
// folder, every file checked against the blob's SHA256SUMS, renamed into place whole. A failure is
// status 2 and one line naming the URL(s) and the cause, with nothing half-installed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { TOOLS } from '../../build/targets.mjs';
import { ROOT, run } from '../helpers/exec.ts';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, type MasterOptions, startMaster } from '../helpers/master/server.ts';
import { HWADDR as HW } from '../helpers/node.ts';
import { sha256, treeLines as tree } from '../helpers/tree.ts';
import { makeCa } from '../helpers/certs.ts';
import { DIST, fakeRuntime, INSTALL, scratch, STEP, type Scratch } from './harness.ts';

interface Blob {
  file: string;
  sha256: string;
  size: number;
  unpacked: number;
}
interface Capability {
  runtimeBlob(from: string, arch: string, work: string): Blob;
  leanManifest(o: Blob & { blob: string; machine: string }): string;
}
const modPath: string = '../../build/capability.mjs';
const { runtimeBlob, leanManifest } = (await import(modPath)) as Capability;

const isRoot = process.getuid?.() === 0;
const ARCH = 'linux-x64';
const NAME = 'wwruntime-0.0.0-linux-x64-0123456789abcdef.tar.xz';
const URLPATH = `/WW/bootstrap/wwruntime/x86_64/${NAME}`;

interface Lean {
  s: Scratch;
  /** WWRUNTIME_SOURCE: holds ARCH/RUNTIME (and what the fetch puts beside it) */
  src: string;
  arch: string;
  blob: Buffer;
  /** the executable inside the blob */
  exe: Buffer;
  bb: string;
}

/**
 * A scratch with a stand-in runtime (harness fakeRuntime, bin/wwruntime made BIG bytes of noise)
 * packed by the build's own runtimeBlob, and a lean ARCH folder holding only its manifest.
 */
function lean(big = 1 << 20, base?: string): Lean {
  const s = scratch(base);
  const from = join(fakeRuntime(s.dir), ARCH);
  const noise = randomBytes(64 << 10);
  const exe = Buffer.alloc(big);
  for (let o = 0; o < big; o += noise.length) noise.copy(exe, o);
  readFileSync(join(from, 'bin/wwruntime')).copy(exe);
  writeFileSync(join(from, 'bin/wwruntime'), exe);
  const info = runtimeBlob(from, ARCH, join(s.dir, 'work'));
  const src = join(s.dir, 'lean');
  const arch = join(src, ARCH);
  mkdirSync(arch, { recursive: true });
  writeFileSync(join(arch, 'RUNTIME'), leanManifest({ blob: NAME, machine: 'x86_64', ...info }));
  const bb = join(s.dir, 'bb');
  mkdirSync(bb);
  for (const ap of execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
    symlinkSync('/bin/busybox', join(bb, ap));
  }
  return { s, src, arch, blob: readFileSync(info.file), exe, bb };
}

/** The step under busybox sh with only busybox's applets (wget) or under dash with this host's PATH (curl). */
async function step(l: Lean, masters: string, how: 'busybox' | 'dash', env: Record<string, string> = {}) {
  const sh = how === 'busybox' ? ['/bin/busybox', 'sh'] : ['/bin/dash'];
  const t0 = Date.now();
  const r = await run(sh[0], [...sh.slice(1), STEP], {
    env: {
      PATH: how === 'busybox' ? l.bb : (process.env.PATH ?? '/usr/bin:/bin'),
      NEWROOT: l.s.root,
      WWRUNTIME_HOSTROOT: l.s.host,
      WWRUNTIME_SOURCE: l.src,
      WWINIT_HWADDR: 'aa:bb:cc:dd:ee:ff',
      WWMASTER: masters,
      ...env,
    },
    timeoutMs: 120_000,
  });
  return { status: r.code, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - t0) / 1000 };
}

const serve = (files: Record<string, Buffer | string>, fault?: MasterOptions['fault']) => startMaster(sampleFixture(), { files, fault });

/** Status 2, exactly one line matching re, the ARCH folder exactly as before (no temporaries), NEWROOT untouched. */
function failsCleanly(r: { status: number | null; stderr: string }, re: RegExp, l: Lean, before: { arch: string[]; root: string[] }) {
  assert.is(r.status, 2, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.is(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0], re, lines[0]);
  assert.equal(tree(l.arch), before.arch, 'the lean ARCH folder as the capability brought it: nothing half-installed, no temporary');
  assert.equal(tree(l.s.root), before.root, 'NEWROOT untouched');
}
const snapshot = (l: Lean) => ({ arch: tree(l.arch), root: tree(l.s.root) });

test('fetched from the master (busybox sh + busybox wget; dash + curl), checked, installed; a second run fetches nothing', async () => {
  for (const how of ['busybox', 'dash'] as const) {
    const l = lean();
    const m = await serve({ [URLPATH]: l.blob });
    try {
      const r = await step(l, m.address, how);
      assert.is(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(`^wwruntime: fetched the runtime from http://${m.address}${URLPATH} \\(${l.blob.length} bytes in \\d+ s\\)$`, 'm'),
      );
      assert.is(sha256(readFileSync(join(l.s.root, 'warewulf/bin/wwruntime'))), sha256(l.exe), 'the fetched executable installed');
      assert.equal(readdirSync(l.arch).sort(), ['NOTICE', 'RUNTIME', 'SHA256SUMS', 'bin', 'lib'], 'in place whole, no temporaries');
      const ua = String(m.requests.find((q) => q.path === URLPATH)?.headers['user-agent'] ?? '');
      assert.match(ua, how === 'busybox' ? /Wget/ : /curl/, `fetched with ${how === 'busybox' ? 'busybox wget' : 'curl'} (${ua})`);
      const again = await step(l, m.address, how);
      assert.is(again.status, 0, again.stderr);
      assert.is(m.requests.filter((q) => q.path === URLPATH).length, 1, 'the second run uses the fetched runtime');
    } finally {
      await m.stop();
      l.s.cleanup();
    }
  }
});

test('WWHTTP=https with curl: fetched over https, verified against /etc/ca-bundle.crt; a master of another CA is refused', async () => {
  const ours = makeCa('cluster CA');
  const other = makeCa('some other CA');
  for (const [ca, ok] of [
    [ours, true],
    [other, false],
  ] as const) {
    const l = lean();
    const m = await startMaster(sampleFixture(), { files: { [URLPATH]: l.blob }, tls: ca.leaf('master', 'IP:127.0.0.1') });
    try {
      mkdirSync(join(l.s.host, 'etc'), { recursive: true });
      writeFileSync(join(l.s.host, 'etc/ca-bundle.crt'), ours.cert);
      const before = snapshot(l);
      const r = await step(l, m.address, 'dash', { WWHTTP: 'https' });
      if (ok) {
        assert.is(r.status, 0, r.stderr);
        assert.match(r.stderr, new RegExp(`^wwruntime: fetched the runtime from https://${m.address}${URLPATH} `, 'm'));
        assert.is(sha256(readFileSync(join(l.s.root, 'warewulf/bin/wwruntime'))), sha256(l.exe));
      } else {
        failsCleanly(
          r,
          new RegExp(
            `^wwruntime: ERROR: could not fetch the runtime: https://${m.address}${URLPATH}: .*(certificate|SSL).*: not installing$`,
          ),
          l,
          before,
        );
      }
    } finally {
      await m.stop();
      l.s.cleanup();
    }
  }
});

test('failover in list order: a master that refuses, one without the blob (404), then one that has it', async () => {
  for (const how of ['busybox', 'dash'] as const) {
    const l = lean();
    const dead = await deadAddress();
    const none = await serve({});
    const good = await serve({ [URLPATH]: l.blob });
    try {
      const r = await step(l, `${dead},${none.address},${good.address}`, how);
      assert.is(r.status, 0, r.stderr);
      assert.match(
        r.stderr,
        new RegExp(
          `fetched the runtime from http://${good.address}${URLPATH} .*before: http://${dead}${URLPATH}: .*; http://${none.address}${URLPATH}: .*404.*not installed on that master`,
        ),
      );
      assert.is(none.requests.filter((q) => q.path === URLPATH).length, 1, 'the second master was asked');
      assert.is(sha256(readFileSync(join(l.s.root, 'warewulf/bin/wwruntime'))), sha256(l.exe));
    } finally {
      await none.stop();
      await good.stop();
      l.s.cleanup();
    }
  }
});

test('no master has it (refused, 404): status 2, one line naming both URLs and causes, nothing installed', async () => {
  for (const how of ['busybox', 'dash'] as const) {
    const l = lean();
    const dead = await deadAddress();
    const none = await serve({});
    try {
      const before = snapshot(l);
      failsCleanly(
        await step(l, `${dead},${none.address}`, how),
        new RegExp(
          `^wwruntime: ERROR: could not fetch the runtime: http://${dead}${URLPATH}: .*([Cc]onnection refused|[Cc]ouldn't connect).*; http://${none.address}${URLPATH}: .*404.* \\(the blob is not installed on that master\\): not installing$`,
        ),
        l,
        before,
      );
    } finally {
      await none.stop();
      l.s.cleanup();
    }
  }
});

// One master that serves the blob wrongly: each case refused with its own cause, in both shells.
const WRONG_BLOBS: {
  name: string;
  served: (blob: Buffer) => Buffer;
  fault?: MasterOptions['fault'];
  cause: (blob: Buffer) => string;
}[] = [
  {
    name: 'truncated blob on the master (served whole, shorter than the manifest says): refused by its size',
    served: (b) => b.subarray(0, b.length - 1000),
    cause: (b) => `truncated or wrong blob \\(${b.length - 1000} bytes, the manifest says ${b.length}\\)`,
  },
  {
    name: 'connection cut mid-transfer: the tool says so, in the one line',
    served: (b) => b,
    fault: (q) => (q.path === URLPATH ? { kind: 'cut', afterBytes: 5000 } : undefined),
    cause: () => '.+',
  },
  {
    name: 'damaged blob (same size, one byte differs): refused by the SHA256 of the manifest',
    served: (b) => {
      const bad = Buffer.from(b);
      bad[bad.length >> 1] ^= 0xff;
      return bad;
    },
    cause: () => "damaged blob \\(SHA256 differs from the manifest's\\)",
  },
];

for (const c of WRONG_BLOBS) {
  test(c.name, async () => {
    for (const how of ['busybox', 'dash'] as const) {
      const l = lean();
      const m = await serve({ [URLPATH]: c.served(l.blob) }, c.fault);
      try {
        const before = snapshot(l);
        failsCleanly(
          await step(l, m.address, how),
          new RegExp(`^wwruntime: ERROR: could not fetch the runtime: http://${m.address}${URLPATH}: ${c.cause(l.blob)}: not installing$`),
          l,
          before,
        );
      } finally {
        await m.stop();
        l.s.cleanup();
      }
    }
  });
}

test('a blob whose files differ from its own SHA256SUMS (manifest made for it): refused file by file', async () => {
  const l = lean();
  // a blob of a runtime whose NOTICE was changed after its SHA256SUMS was written
  const from = join(l.s.dir, 'other');
  cpSync(join(l.s.dir, 'fake-src', ARCH), from, { recursive: true });
  const info = runtimeBlob(from, ARCH, join(l.s.dir, 'work2'));
  const tarball = execFileSync('xz', ['-dc', info.file], { maxBuffer: 1 << 30 });
  const at = tarball.indexOf('notice\n');
  assert.ok(at > 0);
  tarball.write('NOTICE\n', at, 'latin1');
  const blob = execFileSync('xz', ['-6', '-T1', '--check=crc32', '-c'], { input: tarball, maxBuffer: 1 << 30 });
  writeFileSync(join(l.arch, 'RUNTIME'), leanManifest({ blob: NAME, machine: 'x86_64', ...info, size: blob.length, sha256: sha256(blob) }));
  const m = await serve({ [URLPATH]: blob });
  try {
    const before = snapshot(l);
    failsCleanly(
      await step(l, m.address, 'busybox'),
      new RegExp(`^wwruntime: ERROR: http://${m.address}${URLPATH}: linux-x64/NOTICE differs from the blob's SHA256SUMS: not installing$`),
      l,
      before,
    );
  } finally {
    await m.stop();
    l.s.cleanup();
  }
});

test('a master that accepts and never answers: the watchdog ends the fetch at WWRUNTIME_FETCH_TIMEOUT', async () => {
  const held = new Set<net.Socket>();
  const srv = net.createServer((c) => held.add(c).size);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = `127.0.0.1:${(srv.address() as net.AddressInfo).port}`;
  try {
    for (const how of ['busybox', 'dash'] as const) {
      const l = lean();
      try {
        const before = snapshot(l);
        const r = await step(l, addr, how, { WWRUNTIME_FETCH_TIMEOUT: '3' });
        failsCleanly(
          r,
          new RegExp(
            `^wwruntime: ERROR: could not fetch the runtime: http://${addr}${URLPATH}: no complete answer within [23] s: not installing$`,
          ),
          l,
          before,
        );
        assert.ok(r.seconds >= 1.9 && r.seconds < 8, `bounded: ${r.seconds.toFixed(1)} s for a 3 s bound`);
      } finally {
        l.s.cleanup();
      }
    }
  } finally {
    for (const c of held) c.destroy();
    srv.close();
  }
});

test('no space in the initramfs (a 1 MiB tmpfs, 4 MiB runtime): refused before any fetch, one line, nothing left', async () => {
  if (!isRoot) return; // mounting a tmpfs needs root (CI runs as root)
  for (const how of ['busybox', 'dash'] as const) {
    const l = lean(4 << 20);
    const mnt = join(l.s.dir, 'initramfs');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    const m = await serve({ [URLPATH]: l.blob });
    try {
      cpSync(l.src, join(mnt, 'lean'), { recursive: true });
      l.src = join(mnt, 'lean');
      l.arch = join(l.src, ARCH);
      const before = snapshot(l);
      failsCleanly(
        await step(l, m.address, how),
        /^wwruntime: ERROR: no space for the runtime wwruntime-0\.0\.0-linux-x64-0123456789abcdef\.tar\.xz in .*\/initramfs\/lean\/linux-x64: \d+ KiB needed, \d+ KiB free there: not fetching it$/,
        l,
        before,
      );
      assert.is(m.requests.length, 0, 'nothing fetched');
    } finally {
      await m.stop();
      execFileSync('umount', [mnt]);
      l.s.cleanup();
    }
  }
});

test('wwruntime-install --from a lean folder: refused with one line (the runtime is on the master), no request, the image untouched', async () => {
  const l = lean();
  const m = await serve({ [URLPATH]: l.blob });
  try {
    const before = snapshot(l);
    const r = await run('/bin/dash', [INSTALL, '--into', l.s.root, '--from', l.src, '--arch', ARCH], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', WWMASTER: m.address },
      timeoutMs: 60_000,
    });
    failsCleanly(
      { status: r.code, stderr: r.stderr },
      /^wwruntime: ERROR: .*\/lean\/linux-x64 is a lean capability folder \(its runtime wwruntime-0\.0\.0-linux-x64-0123456789abcdef\.tar\.xz is fetched from the master at boot\): install into an image from the full capability, the release tarball or dist\/$/,
      l,
      before,
    );
    assert.is(m.requests.length, 0, 'nothing fetched from the master');
  } finally {
    await m.stop();
    l.s.cleanup();
  }
});

test('NORUNTIMESERVICES: the step fetches nothing (status 1, no request)', async () => {
  const l = lean();
  const m = await serve({ [URLPATH]: l.blob });
  try {
    const r = await step(l, m.address, 'busybox', { WWNORUNTIMESERVICES: '1' });
    assert.is(r.status, 1, r.stderr);
    assert.is(m.requests.length, 0);
    assert.equal(readdirSync(l.arch), ['RUNTIME']);
  } finally {
    await m.stop();
    l.s.cleanup();
  }
});

// ---- the transport's first tool, with the build's own lean capability and blob

/** The initramfs side of the transport: host/bin/TOOL copies of the transport, the lean capability's ARCH folder. */
function leanTransport(l: Lean) {
  const bin = join(l.s.host, 'bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(l.s.host, 'init'), '#!/bin/sh\n');
  for (const t of TOOLS) {
    writeFileSync(join(bin, t), readFileSync(join(ROOT, 'bootstrap/wwruntime-transport')));
    execFileSync('chmod', ['755', join(bin, t)]);
  }
  const home = join(l.s.dir, 'home');
  cpSync(join(DIST, 'capability/rootfs-lean/warewulf/wwruntime'), home, { recursive: true });
  return { bin, home };
}

const distBlob = () => {
  const dir = join(DIST, 'capability/bootstrap/wwruntime/x86_64');
  const [name] = readdirSync(dir).filter((n) => n.endsWith('.tar.xz'));
  return { name, file: join(dir, name) };
};

test('transport: the first tool (wwgetnodeconfig) fetches the real blob, then answers; a missing blob is exit 2 and one line', async () => {
  const b = distBlob();
  const path = `/WW/bootstrap/wwruntime/x86_64/${b.name}`;
  const files: Record<string, string> = { [path]: b.file };
  const m = await serve(files);
  const l = lean(64 << 10);
  try {
    const t = leanTransport(l);
    const env = {
      PATH: `${t.bin}:${l.bb}`,
      WWRUNTIME_HOME: t.home,
      WWRUNTIME_HOSTROOT: l.s.host,
      WWMASTER: m.address,
      WWINIT_HWADDR: HW,
      WWDEBUG: '0',
      NEWROOT: l.s.root,
      TMPDIR: l.s.dir,
    };
    const missing = { ...files };
    delete files[path];
    const before = tree(join(t.home, ARCH));
    const bad = await run('/bin/busybox', ['sh', join(t.bin, 'wwgetnodeconfig')], { env, timeoutMs: 120_000 });
    assert.is(bad.code, 2, bad.stderr);
    assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
    assert.match(
      bad.stderr.trim(),
      new RegExp(
        `^wwgetnodeconfig: wwruntime transport: ERROR: could not fetch the runtime: http://${m.address}${path}: .*404.*not installed on that master\\): not installing$`,
      ),
    );
    assert.equal(tree(join(t.home, ARCH)), before, 'nothing half-installed');
    Object.assign(files, missing);
    const r = await run('/bin/busybox', ['sh', join(t.bin, 'wwgetnodeconfig')], { env, timeoutMs: 300_000 });
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, /^wwgetnodeconfig: wwruntime transport: fetched the runtime from /m);
    assert.match(r.stdout, /WWNAME=/, 'the node configuration, from the fetched executable');
    assert.equal(readdirSync(join(t.home, ARCH)).sort(), ['NOTICE', 'RUNTIME', 'SHA256SUMS', 'bin', 'lib', 'wwruntime']);
  } finally {
    await m.stop();
    l.s.cleanup();
  }
});

test.run();
