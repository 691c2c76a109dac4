// build/capability.mjs: the capability folder and its cpio; the step run from the unpacked capability.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TOOLS } from '../../build/targets.mjs';
import { ROOT } from '../helpers/exec.ts';
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
          `${a}/bin/wwruntime`,
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

test.run();
