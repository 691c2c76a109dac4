// The "wwruntime" transport and the provision steps that call it, in scratch roots (the boot test
// does the same inside a VM, slowly): the stand-in steps 30-getvnfs and 80-files of test/boot run
// under busybox sh with the tool names on PATH pointing at bootstrap/wwruntime-transport, and the
// status they exit with is what the provision handler acts on (255: reboot).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeVnfsImage } from '../helpers/master/cpio.ts';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { TOOLS } from '../../build/targets.mjs';
import { ROOT, run } from '../helpers/exec.ts';
import { RUN_RECORDS, treeLines as tree, walkTree, withoutRunRecords } from '../helpers/tree.ts';
import { DIST, SHELLS, runStep, scratch } from './harness.ts';
import { HWADDR as HW } from '../helpers/node.ts';

const TRANSPORT = join(ROOT, 'bootstrap/wwruntime-transport');
const STEPS = join(ROOT, 'test/boot/initramfs/capabilities');
let m: RunningMaster;
let broken = new Set<string>();

test.before(async () => {
  const fx = sampleFixture();
  fx.vnfs = {
    ...fx.vnfs,
    good: {
      image: makeVnfsImage([
        { path: 'sbin', type: 'dir' },
        { path: 'sbin/init', mode: 0o755, content: '#!/bin/sh\n' },
        { path: 'etc', type: 'dir' },
        { path: 'etc/os-release', content: 'x\n' },
      ]),
    },
  };
  fx.nodes[0].vnfs = 'good';
  // The master cannot serve the file objects whose ids are in `broken` (its embedded 404, PROTOCOL 2.7).
  m = await startMaster(fx, {
    fault: (r) => (r.query.fileid && broken.has(r.query.fileid) ? { kind: 'embedded', status: 404 } : undefined),
  });
});
test.after(() => m.stop());

/** An initramfs-like scratch: host/init, host/bin/TOOL (the transport file), the executable, NEWROOT. */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'wwtransport-'));
  const host = join(dir, 'host');
  const bin = join(host, 'bin');
  const home = join(dir, 'wwruntime');
  const newroot = join(dir, 'newroot');
  for (const d of [bin, join(home, 'linux-x64'), newroot]) mkdirSync(d, { recursive: true });
  writeFileSync(join(host, 'init'), '#!/bin/sh\n');
  symlinkSync(join(DIST, 'linux-x64/wwruntime'), join(home, 'linux-x64/wwruntime'));
  for (const t of TOOLS) copyFileSync(TRANSPORT, join(bin, t));
  spawnSync('chmod', ['755', ...TOOLS.map((t) => join(bin, t))]);
  return { dir, host, bin, newroot, home, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

type S = ReturnType<typeof setup>;
// Asynchronous: the test master runs in this process.
async function step(s: S, file: string, env: Record<string, string> = {}, shArgs: string[] = ['-x'], args: string[] = []) {
  const r = await run('/bin/busybox', ['sh', ...shArgs, file.startsWith('/') ? file : join(STEPS, file), ...args], {
    cwd: s.dir,
    env: {
      PATH: `${s.bin}:/usr/bin:/bin`,
      NEWROOT: s.newroot,
      WWRUNTIME_HOME: s.home,
      WWRUNTIME_HOSTROOT: s.host,
      WWMASTER: m.address,
      WWINIT_HWADDR: HW,
      WWDEBUG: '0',
      TMPDIR: s.dir,
      ...env,
    },
    timeoutMs: 120_000,
  });
  return { status: r.code, stdout: r.stdout, stderr: r.stderr };
}

test('80-files: one object the master cannot serve -> status 0 (no reboot loop), WARNING on console and in the log, others installed', async () => {
  const s = setup();
  broken = new Set(['2']);
  try {
    const r = await step(s, 'provision-files/warewulf/provision/80-files');
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /wwgetfiles: WARNING: 1 file object\(s\) failed/);
    assert.match(r.stderr, /wwgetfiles: WARNING: 1 file object\(s\) failed/);
    assert.match(r.stderr, /404/, 'the failed object is named with its status in the provision log');
    assert.match(r.stderr, /\d+ listed, \d+ installed, \d+ unchanged, 1 failed/);
    assert.ok(existsSync(join(s.newroot, 'etc/hosts')), 'the other objects are installed');
    assert.not.ok(existsSync(join(s.newroot, 'etc/shadow')), 'the broken one is not');
    assert.equal(
      readdirSync(join(s.newroot, 'etc')).filter((n) => n.startsWith('.')),
      [],
      'no temporaries',
    );
  } finally {
    broken = new Set();
    s.cleanup();
  }
});

test('80-files: every object installed -> status 0, no WARNING', async () => {
  const s = setup();
  try {
    const r = await step(s, 'provision-files/warewulf/provision/80-files');
    assert.is(r.status, 0, r.stderr);
    assert.not.match(r.stdout + r.stderr, /WARNING/);
    assert.is(readFileSync(join(s.newroot, 'etc/shadow'), 'utf8').startsWith('root:'), true);
  } finally {
    s.cleanup();
  }
});

test("80-files: unknown node -> the tool's exit 2, the step exits 255 (reboot), a clear line, nothing installed", async () => {
  const s = setup();
  try {
    const r = await step(s, 'provision-files/warewulf/provision/80-files', { WWINIT_HWADDR: '00:00:00:00:00:99' });
    assert.is(r.status, 255);
    assert.match(r.stderr, /wwgetfiles: ERROR: .*404/);
    assert.not.match(r.stdout, /WARNING/);
    // Nothing but the run's record, which says how it ended.
    assert.equal(withoutRunRecords(walkTree(s.newroot)), []);
    assert.is(JSON.parse(readFileSync(join(s.newroot, RUN_RECORDS, 'wwgetfiles.json'), 'utf8')).exit, 2);
  } finally {
    s.cleanup();
  }
});

test('master down: WWDEBUG=0 backs off (2 s, ...) and the transport does not turn the failure into 0', async () => {
  const s = setup();
  try {
    const dead = await deadAddress();
    const r = await step(s, join(s.bin, 'wwgetfiles'), { WWMASTER: dead }, [], ['--attempts', '2']);
    assert.is(r.status, 2, r.stderr);
    // upstream's 2 s step, jittered 0.5x-1.5x (net/client.ts) so that a thousand nodes do not retry in lockstep
    assert.match(r.stderr, /retrying in (1(\.\d)?|2(\.\d)?|3) s \((attempt 2 of 2|1 unanswered round\(s\) left)\)/, r.stderr);
    assert.match(r.stderr, /wwgetfiles: ERROR: gave up after 2 attempt\(s\)/);
    assert.not.match(r.stdout, /WARNING/);
  } finally {
    s.cleanup();
  }
});

test('30-getvnfs: unpacks into NEWROOT with the checksum verified when the node configuration has one', async () => {
  const s = setup();
  try {
    const r = await step(s, 'provision-vnfs/warewulf/provision/30-getvnfs', { WWVNFS_CHECKSUM: '' });
    assert.is(r.status, 0, r.stderr);
    assert.ok(existsSync(join(s.newroot, 'sbin/init')));
  } finally {
    s.cleanup();
  }
});

test('30-getvnfs: VNFS checksum mismatch -> exit 2 naming both sums, the step exits 255 (reboot: the root is never booted)', async () => {
  const s = setup();
  try {
    const good = await m.vnfsChecksum('good');
    const r = await step(s, 'provision-vnfs/warewulf/provision/30-getvnfs', { WWVNFS_CHECKSUM: '0123456789abcdef0123456789abcdef' });
    assert.is(r.status, 255, r.stderr);
    assert.match(r.stderr, /wwgetvnfs: ERROR: .*0123456789abcdef0123456789abcdef/);
    assert.match(r.stderr, new RegExp(good));
    // with the right sum it goes through
    const ok = await step(s, 'provision-vnfs/warewulf/provision/30-getvnfs', { WWVNFS_CHECKSUM: good });
    assert.is(ok.status, 0, ok.stderr);
  } finally {
    s.cleanup();
  }
});

// ---- the step after upstream's 60-runtimesupport: one owner of NEWROOT/warewulf

function upstream60(root: string, host: string, transport: string) {
  // what 60-runtimesupport leaves (PROTOCOL 7): transport copy, links into it, config lines, cron files
  mkdirSync(join(root, 'warewulf/transports'), { recursive: true });
  mkdirSync(join(root, 'warewulf/bin'), { recursive: true });
  mkdirSync(join(root, 'etc/cron.d'), { recursive: true });
  spawnSync('cp', ['-a', join(host, 'warewulf/transports', transport), join(root, 'warewulf/transports/')]);
  for (const t of TOOLS) symlinkSync(`../transports/${transport}/${t}`, join(root, 'warewulf/bin', t));
  writeFileSync(
    join(root, 'warewulf/config'),
    `WWINIT_HWADDR=aa:bb:cc:dd:ee:ff\nexport WWINIT_HWADDR\nWWMASTER=10.0.0.1\nexport WWMASTER\nWWTRANSPORT=${transport}\nexport WWTRANSPORT\n`,
  );
  writeFileSync(
    join(root, 'etc/cron.d/wwupdatefiles'),
    '0,5,10,15,20,25,30,35,40,45,50,55 * * * * root WWGETFILES_INTERVAL=180 /warewulf/bin/wwgetfiles >/var/log/warewulf/provision/wwgetfiles.log 2>&1\n',
  );
  writeFileSync(
    join(root, 'etc/cron.d/wwrunscript'),
    '0,5,10,15,20,25,30,35,40,45,50,55 * * * * root . /warewulf/config; /warewulf/bin/wwgetscript runtime 2>/var/log/warewulf/provision/wwgetfiles.log | /bin/sh\n',
  );
}

for (const shell of SHELLS) {
  for (const transport of ['http', 'wwruntime']) {
    for (const sched of ['cron', 'systemd']) {
      test(`${shell.join(' ')}: after 60-runtimesupport (${transport}, ${sched}) the node has exactly what the step installs`, () => {
        const a = scratch();
        const b = scratch();
        try {
          for (const x of [a, b]) {
            mkdirSync(join(x.host, 'warewulf/transports', transport), { recursive: true });
            writeFileSync(join(x.host, 'warewulf/transports', transport, 'register'), '');
            for (const t of TOOLS) writeFileSync(join(x.host, 'warewulf/transports', transport, t), `#!/bin/sh\n# ${transport} ${t}\n`);
          }
          upstream60(a.root, a.host, transport);
          mkdirSync(join(b.root, 'etc/cron.d'), { recursive: true }); // the image's own folder
          const env = { WWTRANSPORT: transport, WWRUNTIME_SCHEDULER: sched };
          const ra = runStep(shell, a, env);
          const rb = runStep(shell, b, env);
          assert.is(ra.status, 0, ra.stderr);
          assert.is(rb.status, 0, rb.stderr);
          // (the manifest differs: it records only the folders the step created itself)
          const t = (d: string) => tree(d).filter((l) => !l.includes('.wwruntime-manifest'));
          assert.equal(t(a.root), t(b.root), 'same tree as a step on a root 60-runtimesupport never touched');
          assert.not.ok(existsSync(join(a.root, 'warewulf/transports')));
          if (sched === 'systemd') assert.not.ok(existsSync(join(a.root, 'etc/cron.d/wwupdatefiles')));
        } finally {
          a.cleanup();
          b.cleanup();
        }
      });
    }
  }
}

test("an admin's cron file of the same name and a transport file the VNFS brought are kept", () => {
  const a = scratch();
  try {
    mkdirSync(join(a.host, 'warewulf/transports/http'), { recursive: true });
    writeFileSync(join(a.host, 'warewulf/transports/http/wwgetfiles'), 'initramfs copy\n');
    upstream60(a.root, a.host, 'http');
    writeFileSync(join(a.root, 'warewulf/transports/http/site-hook'), 'from the VNFS\n');
    writeFileSync(join(a.root, 'etc/cron.d/wwrunscript'), '*/7 * * * * root /usr/local/bin/site-job\n');
    const r = runStep(SHELLS[0], a, { WWTRANSPORT: 'http', WWRUNTIME_SCHEDULER: 'systemd' });
    assert.is(r.status, 0, r.stderr);
    assert.ok(existsSync(join(a.root, 'warewulf/transports/http/site-hook')));
    assert.not.ok(existsSync(join(a.root, 'warewulf/transports/http/wwgetfiles')));
    assert.is(readFileSync(join(a.root, 'etc/cron.d/wwrunscript'), 'utf8'), '*/7 * * * * root /usr/local/bin/site-job\n');
    assert.not.ok(existsSync(join(a.root, 'etc/cron.d/wwupdatefiles')));
  } finally {
    a.cleanup();
  }
});

test.run();
