// build/capability.mjs: the capability folder and its cpio; the step run from the unpacked capability.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { TOOLS } from '../../build/targets.mjs';
import { ROOT } from '../helpers/exec.ts';
import { RUN_RECORDS, walkTree, withoutRunRecords } from '../helpers/tree.ts';
import { DIST, distLibs, runIn, runStep, scratch, SHELLS } from './harness.ts';

interface Capability {
  assembleCapability(o: { root?: string; dist?: string; out?: string }): { out: string; archs: string[]; cpio: string[] };
}
const modPath: string = '../../build/capability.mjs';
const { assembleCapability } = (await import(modPath)) as Capability;

test('assembles rootfs and one newc cpio per arch; the step runs from the unpacked capability', () => {
  const s = scratch();
  try {
    const out = join(s.dir, 'cap');
    const cap = assembleCapability({ root: ROOT, dist: DIST, out });
    assert.equal(cap.archs, ['linux-arm64', 'linux-x64']);
    const x64 = cap.cpio.find((c) => c.endsWith('.linux-x64.cpio')) as string;
    for (const [arch, cpio] of [
      ['linux-x64', x64],
      ['linux-arm64', cap.cpio.find((c) => c.endsWith('.linux-arm64.cpio')) as string],
    ]) {
      const list = spawnSync('cpio', ['-it', '--quiet'], { input: readFileSync(cpio), encoding: 'utf8', maxBuffer: 1 << 20 });
      assert.is(list.status, 0, list.stderr);
      // one architecture per archive: the executable, exactly its C runtime, the notice, the sums
      const a = `warewulf/wwruntime/${arch}`;
      assert.equal(
        list.stdout.trim().split('\n').sort(),
        [
          'warewulf',
          'warewulf/provision',
          'warewulf/provision/65-wwruntime',
          'warewulf/wwruntime',
          a,
          `${a}/NOTICE`,
          `${a}/SHA256SUMS`,
          `${a}/wwruntime`,
          `${a}/bin`,
          `${a}/bin/wwruntime.xz`,
          `${a}/lib`,
          ...distLibs(arch).map((l) => `${a}/lib/${l}`),
          'warewulf/wwruntime/wwruntime-install',
          'warewulf/wwruntime/wwruntime-lib.sh',
          // the wwruntime transport: register + the four tool names
          'warewulf/transports',
          'warewulf/transports/wwruntime',
          'warewulf/transports/wwruntime/register',
          ...['wwgetfiles', 'wwgetnodeconfig', 'wwgetscript', 'wwgetvnfs'].map((t) => `warewulf/transports/wwruntime/${t}`),
        ].sort(),
      );
    }
    // only the step is executable under provision/ (the provision handler runs every such file)
    assert.is(statSync(join(out, 'rootfs/warewulf/wwruntime/wwruntime-lib.sh')).mode & 0o111, 0);
    const initramfs = join(s.dir, 'initramfs');
    mkdirSync(initramfs);
    const x = spawnSync('cpio', ['-idm', '--quiet'], { cwd: initramfs, input: readFileSync(x64) });
    assert.is(x.status, 0, String(x.stderr));
    const home = join(initramfs, 'warewulf/wwruntime');
    // packed: 27 MB of xz instead of the 109 MB executable (README "What the capability costs")
    const blob = statSync(join(home, 'linux-x64/bin/wwruntime.xz')).size;
    assert.ok(blob < 0.3 * statSync(join(DIST, 'linux-x64/bin/wwruntime')).size, `blob ${blob} bytes`);
    const r = runStep(
      SHELLS[0],
      s,
      { WWRUNTIME_HOME: home, WWRUNTIME_SOURCE: undefined },
      join(initramfs, 'warewulf/provision/65-wwruntime'),
    );
    assert.is(r.status, 0, r.stderr);
    for (const t of TOOLS) assert.is(readlinkSync(join(s.root, 'warewulf/bin', t)), 'wwruntime');
    const v = runIn(s.root, '/warewulf/bin/wwgetscript', ['--version']);
    assert.ok(v.stdout.startsWith('wwgetscript'), v.stdout);
    // inside the initramfs itself, before switch_root, through the capability's launcher
    const l = spawnSync(join(home, 'linux-x64/wwruntime'), ['wwgetvnfs', '--version'], { encoding: 'utf8', env: {} });
    assert.ok(l.stdout.startsWith('wwgetvnfs '), l.stderr);
  } finally {
    s.cleanup();
  }
});

/** The x64 capability unpacked as the initramfs has it: its wwruntime home. */
function unpackedCapability(dir: string): string {
  const cap = assembleCapability({ root: ROOT, dist: DIST, out: join(dir, 'cap') });
  const initramfs = join(dir, 'initramfs');
  mkdirSync(initramfs);
  const x = spawnSync('cpio', ['-idm', '--quiet'], {
    cwd: initramfs,
    input: readFileSync(cap.cpio.find((c) => c.endsWith('.linux-x64.cpio')) as string),
  });
  assert.is(x.status, 0, String(x.stderr));
  return initramfs;
}

test('the transport unpacks the executable at its first tool (before the step), once; the step then copies it', () => {
  const s = scratch();
  try {
    const initramfs = unpackedCapability(s.dir);
    const home = join(initramfs, 'warewulf/wwruntime');
    const tool = join(initramfs, 'warewulf/transports/wwruntime/wwgetscript');
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', WWRUNTIME_HOME: home };
    assert.not.ok(existsSync(join(home, 'linux-x64/bin/wwruntime')));
    const v = spawnSync('/bin/busybox', ['sh', tool, '--version'], { encoding: 'utf8', env });
    assert.is(v.status, 0, v.stderr);
    assert.ok(v.stdout.startsWith('wwgetscript '), v.stdout);
    assert.is(v.stderr, '');
    const unpacked = statSync(join(home, 'linux-x64/bin/wwruntime'));
    assert.is(unpacked.size, statSync(join(DIST, 'linux-x64/bin/wwruntime')).size);
    assert.equal(readdirSync(join(home, 'linux-x64/bin')).sort(), ['wwruntime', 'wwruntime.xz']);
    // the second tool runs the unpacked file as it is
    const again = spawnSync('/bin/busybox', ['sh', tool, '--version'], { encoding: 'utf8', env });
    assert.is(again.status, 0, again.stderr);
    assert.is(statSync(join(home, 'linux-x64/bin/wwruntime')).mtimeMs, unpacked.mtimeMs);
    const r = runStep(
      SHELLS[0],
      s,
      { WWRUNTIME_HOME: home, WWRUNTIME_SOURCE: undefined },
      join(initramfs, 'warewulf/provision/65-wwruntime'),
    );
    assert.is(r.status, 0, r.stderr);
    assert.is(statSync(join(s.root, 'warewulf/bin/wwruntime')).size, unpacked.size);
  } finally {
    s.cleanup();
  }
});

test('a truncated blob in the capability: the transport exits 2 with one line, nothing unpacked; so does the step', () => {
  const s = scratch();
  try {
    const initramfs = unpackedCapability(s.dir);
    const home = join(initramfs, 'warewulf/wwruntime');
    truncateSync(join(home, 'linux-x64/bin/wwruntime.xz'), 10_000_000);
    const tool = join(initramfs, 'warewulf/transports/wwruntime/wwgetnodeconfig');
    const v = spawnSync('/bin/busybox', ['sh', tool], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', WWRUNTIME_HOME: home } });
    assert.is(v.status, 2, v.stderr);
    assert.is(v.stdout, '');
    assert.is(v.stderr.trim().split('\n').length, 1, v.stderr);
    assert.match(
      v.stderr,
      /^wwgetnodeconfig: wwruntime transport: ERROR: .*\/linux-x64\/bin\/wwruntime\.xz is not the packed executable of this build \(SHA256SUMS differs\): damaged or truncated, not installing\n$/,
    );
    assert.equal(readdirSync(join(home, 'linux-x64/bin')), ['wwruntime.xz']);
    const r = runStep(
      SHELLS[0],
      s,
      { WWRUNTIME_HOME: home, WWRUNTIME_SOURCE: undefined },
      join(initramfs, 'warewulf/provision/65-wwruntime'),
    );
    assert.is(r.status, 2, r.stderr);
    assert.match(r.stderr, /wwruntime\.xz is not the packed executable of this build/);
    // Nothing placed but the step's run record, which names the failure (issue 18).
    assert.equal(withoutRunRecords(walkTree(s.root)), [], 'NEWROOT untouched');
    assert.match(readFileSync(join(s.root, RUN_RECORDS, 'boot.json'), 'utf8'), /"exit":2,.*wwruntime\.xz is not the packed executable/);
  } finally {
    s.cleanup();
  }
});

test.run();
