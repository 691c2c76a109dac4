// The runtime-services step run under busybox sh and dash against scratch roots.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { parseShellVars } from '../../src/core/settings/shellvars.ts';
import { TOOLS } from '../../build/targets.mjs';
import { sh } from '../helpers/exec.ts';
import { RUN_RECORDS, treeLines as tree } from '../helpers/tree.ts';
import { DIST, distLibs, INSTALL, read, runIn, runStep, scratch, SHELLS } from './harness.ts';

const mode = (p: string) => (lstatSync(p).mode & 0o7777).toString(8);

for (const shell of SHELLS) {
  const name = shell.join(' ');

  test(`${name}: default install: one wwruntime, four symlinks, its C runtime, config, cron files, log folder`, () => {
    const s = scratch();
    try {
      const r = runStep(shell, s);
      assert.is(r.status, 0, r.stderr);
      const bin = join(s.root, 'warewulf/bin');
      assert.is(mode(join(bin, 'wwruntime')), '755');
      assert.ok(readFileSync(join(bin, 'wwruntime')).equals(readFileSync(join(DIST, 'linux-x64/bin/wwruntime'))));
      // the runtime: exactly the libraries of the build, byte for byte, and the notice
      const lib = join(s.root, 'warewulf/lib');
      assert.equal(readdirSync(lib).sort(), [...distLibs(), 'NOTICE'].sort());
      for (const l of distLibs()) assert.ok(readFileSync(join(lib, l)).equals(readFileSync(join(DIST, 'linux-x64/lib', l))), l);
      assert.is(read(join(lib, 'NOTICE')), read(join(DIST, 'linux-x64/NOTICE')));
      for (const t of TOOLS) assert.is(readlinkSync(join(bin, t)), 'wwruntime');
      assert.is(mode(join(s.root, 'etc/cron.d/wwupdatefiles')), '644');
      assert.is(mode(join(s.root, 'etc/cron.d/wwrunscript')), '644');
      assert.ok(lstatSync(join(s.root, 'var/log/warewulf')).isDirectory());
      const files = read(join(s.root, 'etc/cron.d/wwupdatefiles'));
      assert.match(
        files,
        /^\*\/5 \* \* \* \* root .*WWGETFILES_INTERVAL=180 \/warewulf\/bin\/wwgetfiles --max-run 280 >\/var\/log\/warewulf\/wwgetfiles\.log 2>&1\n$/m,
      );
      const script = read(join(s.root, 'etc/cron.d/wwrunscript'));
      assert.match(
        script,
        /root .*\. \/warewulf\/config; \/warewulf\/bin\/wwgetscript runtime --max-run 280 2>\/var\/log\/warewulf\/wwrunscript\.log \| \/bin\/sh\n$/m,
      );
      assert.not.match(script, /wwgetfiles\.log/); // upstream sent the runtime script's errors there
      const cfg = parseShellVars(read(join(s.root, 'warewulf/config')));
      assert.is(cfg.vars.get('WWMASTER'), '10.0.0.1'); // from wwmaster= on the kernel command line
      assert.is(cfg.vars.get('WWINIT_HWADDR'), 'aa:bb:cc:dd:ee:ff');
      assert.is(cfg.vars.get('WWTRANSPORT'), 'http');
      assert.not.ok(cfg.vars.has('WWHTTP'));
      assert.ok(!existsSync(join(s.root, 'etc/systemd')));
    } finally {
      s.cleanup();
    }
  });

  test(`${name}: the installed symlinks run the right tool (chroot of the root: no libc but ours)`, () => {
    const s = scratch();
    try {
      assert.is(runStep(shell, s).status, 0);
      for (const t of TOOLS) {
        const r = runIn(s.root, `/warewulf/bin/${t}`, ['--version']);
        assert.is(r.status, 0, r.stderr);
        assert.ok(r.stdout.startsWith(`${t} `) || r.stdout.startsWith(`${t}\n`), r.stdout);
      }
    } finally {
      s.cleanup();
    }
  });

  test(`${name}: standalone install: four executables, no wwruntime`, () => {
    const s = scratch();
    try {
      const r = runStep(shell, s, { WWRUNTIME_STANDALONE: '1' });
      assert.is(r.status, 0, r.stderr);
      const bin = join(s.root, 'warewulf/bin');
      assert.not.ok(existsSync(join(bin, 'wwruntime')));
      for (const t of TOOLS) {
        assert.ok(lstatSync(join(bin, t)).isFile());
        assert.is(mode(join(bin, t)), '755');
        assert.ok(readFileSync(join(bin, t)).equals(readFileSync(join(DIST, 'linux-x64/bin', t))), t);
        const v = runIn(s.root, `/warewulf/bin/${t}`, ['--version']);
        assert.ok(v.stdout.startsWith(t), v.stdout);
      }
    } finally {
      s.cleanup();
    }
  });

  test(`${name}: re-run gives an identical tree; switching modes leaves no stale files`, () => {
    const s = scratch();
    const t = scratch();
    try {
      assert.is(runStep(shell, s).status, 0);
      const first = tree(s.root);
      assert.is(runStep(shell, s).status, 0);
      assert.equal(tree(s.root), first);
      assert.is(runStep(shell, s, { WWRUNTIME_STANDALONE: '1' }).status, 0);
      assert.is(runStep(shell, t, { WWRUNTIME_STANDALONE: '1' }).status, 0);
      assert.equal(tree(s.root), tree(t.root));
      assert.is(runStep(shell, s).status, 0);
      assert.equal(tree(s.root), first);
      const cfg = read(join(s.root, 'warewulf/config'));
      assert.is(cfg.split('\n').filter((l) => l.startsWith('WWMASTER=')).length, 1);
    } finally {
      s.cleanup();
      t.cleanup();
    }
  });

  test(`${name}: WWNORUNTIMESERVICES: nothing installed; an earlier install removed, admin lines kept`, () => {
    const s = scratch();
    try {
      mkdirSync(join(s.root, 'etc/cron.d'), { recursive: true });
      writeFileSync(join(s.root, 'etc/cron.d/other'), '* * * * * root true\n');
      const before = tree(s.root);
      const skip = runStep(shell, s, { WWNORUNTIMESERVICES: '1' });
      assert.is(skip.status, 1, skip.stderr); // 1: the provision handler shows "skipped"
      assert.equal(tree(s.root), before);
      // not even a run record: such a node pays nothing beyond the step itself
      assert.not.ok(existsSync(join(s.root, RUN_RECORDS)), 'a NORUNTIMESERVICES node got a run record');

      assert.is(runStep(shell, s).status, 0);
      assert.ok(existsSync(join(s.root, 'warewulf/bin/wwruntime')));
      const r = runStep(shell, s, { WWNORUNTIMESERVICES: 'yes' });
      assert.is(r.status, 0, r.stderr);
      assert.equal(tree(s.root), before);

      // an admin's line in the config survives install and removal; our keys go
      mkdirSync(join(s.root, 'warewulf'));
      writeFileSync(join(s.root, 'warewulf/config'), 'MYSITE=1\nexport MYSITE\n');
      assert.is(runStep(shell, s).status, 0);
      assert.is(runStep(shell, s, { WWNORUNTIMESERVICES: '1' }).status, 0);
      assert.is(read(join(s.root, 'warewulf/config')), 'MYSITE=1\nexport MYSITE\n');
      assert.not.ok(existsSync(join(s.root, 'warewulf/bin')));
    } finally {
      s.cleanup();
    }
  });

  test(`${name}: removal leaves files that are not ours`, () => {
    const s = scratch();
    try {
      assert.is(runStep(shell, s).status, 0);
      // an admin replaced our cron file with their own (no mark): it is theirs now
      writeFileSync(join(s.root, 'etc/cron.d/wwrunscript'), '*/10 * * * * root /usr/local/bin/mine\n');
      writeFileSync(join(s.root, 'warewulf/bin/mytool'), '#!/bin/sh\n');
      assert.is(runStep(shell, s, { WWNORUNTIMESERVICES: '1' }).status, 0);
      assert.ok(existsSync(join(s.root, 'etc/cron.d/wwrunscript')));
      assert.not.ok(existsSync(join(s.root, 'etc/cron.d/wwupdatefiles')));
      assert.ok(existsSync(join(s.root, 'warewulf/bin/mytool')));
      assert.not.ok(existsSync(join(s.root, 'warewulf/bin/wwruntime')));
    } finally {
      s.cleanup();
    }
  });

  test(`${name}: systemd-only image gets timers, enabled through wants symlinks`, () => {
    const s = scratch();
    const c = scratch();
    try {
      mkdirSync(join(s.root, 'usr/lib/systemd'), { recursive: true });
      writeFileSync(join(s.root, 'usr/lib/systemd/systemd'), '');
      assert.is(runStep(shell, s).status, 0);
      const u = join(s.root, 'etc/systemd/system');
      for (const f of ['wwupdatefiles.service', 'wwupdatefiles.timer', 'wwrunscript.service', 'wwrunscript.timer']) {
        assert.is(mode(join(u, f)), '644');
      }
      assert.is(readlinkSync(join(u, 'timers.target.wants/wwupdatefiles.timer')), '/etc/systemd/system/wwupdatefiles.timer');
      assert.is(readlinkSync(join(u, 'timers.target.wants/wwrunscript.timer')), '/etc/systemd/system/wwrunscript.timer');
      assert.match(read(join(u, 'wwupdatefiles.timer')), /^RandomizedDelaySec=180$/m);
      assert.match(read(join(u, 'wwupdatefiles.service')), /^Environment=WWGETFILES_INTERVAL=0$/m);
      // The timer's random delay (180 s) precedes the start: the run gets what is left of 280 s.
      assert.match(read(join(u, 'wwupdatefiles.service')), /wwgetfiles --max-run 100 /);
      assert.match(read(join(u, 'wwrunscript.service')), /wwgetscript runtime --max-run 280 /);
      assert.not.ok(existsSync(join(s.root, 'etc/cron.d')));
      // re-run is identical; removal restores the image
      const first = tree(s.root);
      assert.is(runStep(shell, s).status, 0);
      assert.equal(tree(s.root), first);
      assert.is(runStep(shell, s, { WWNORUNTIMESERVICES: '1' }).status, 0);
      assert.equal(tree(s.root), [
        'd 0755 usr',
        'd 0755 usr/lib',
        'd 0755 usr/lib/systemd',
        `f 0644 usr/lib/systemd/systemd e3b0c44298fc1c14`,
      ]);

      // systemd plus a cron daemon (here a busybox-style symlink): cron
      mkdirSync(join(c.root, 'lib/systemd'), { recursive: true });
      mkdirSync(join(c.root, 'usr/sbin'), { recursive: true });
      writeFileSync(join(c.root, 'lib/systemd/systemd'), '');
      symlinkSync('/bin/busybox', join(c.root, 'usr/sbin/crond'));
      assert.is(runStep(shell, c).status, 0);
      assert.ok(existsSync(join(c.root, 'etc/cron.d/wwupdatefiles')));
      assert.not.ok(existsSync(join(c.root, 'etc/systemd')));
    } finally {
      s.cleanup();
      c.cleanup();
    }
  });

  test(`${name}: values with spaces and quotes survive the config (sourced by a real shell)`, () => {
    const s = scratch();
    try {
      const values: Record<string, string> = {
        WWNODENAME: "n0001 'the first' node",
        WWCLUSTER: 'c"l$HOME`x`\\y',
        WWDOMAIN: "it's",
        WWGROUPS: "a,b c,  '' ,d",
        WWFQDN: "''",
        WWMASTER: '10.0.0.5:8080,10.0.0.6',
        WWHTTP: 'https',
      };
      assert.is(runStep(shell, s, values).status, 0);
      const cfg = join(s.root, 'warewulf/config');
      for (const sh2 of SHELLS) {
        const out = sh(`. "$CFG"; env`, { shell: sh2, env: { CFG: cfg } });
        const env = new Map(
          out
            .split('\n')
            .filter((l) => l.includes('='))
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        for (const [k, v] of Object.entries(values)) assert.is(env.get(k), v, `${sh2.join(' ')} ${k}`);
      }
      const parsed = parseShellVars(read(cfg)); // the tools' own reader agrees
      for (const [k, v] of Object.entries(values)) assert.is(parsed.vars.get(k), v, k);
    } finally {
      s.cleanup();
    }
  });
}

test('config: an upstream-style config is rewritten without duplicates, other lines kept', () => {
  const s = scratch();
  try {
    mkdirSync(join(s.root, 'warewulf'));
    writeFileSync(
      join(s.root, 'warewulf/config'),
      'WWMASTER=10.9.9.9\nexport WWMASTER\n# site\nSITE="x y"\nexport SITE\nWWNODENAME=old\nexport WWNODENAME',
    );
    assert.is(runStep(SHELLS[0], s, { WWNODENAME: 'new' }).status, 0);
    const text = read(join(s.root, 'warewulf/config'));
    assert.ok(text.startsWith('# site\nSITE="x y"\nexport SITE\n# wwruntime-managed'), text);
    assert.is(text.match(/^WWNODENAME=/gm)?.length, 1);
    assert.is(text.match(/^export WWNODENAME$/gm)?.length, 1);
    assert.is(parseShellVars(text).vars.get('WWNODENAME'), 'new');
    assert.is(parseShellVars(text).vars.get('WWMASTER'), '10.0.0.1');
  } finally {
    s.cleanup();
  }
});

test('master: environment, then the DHCP server of network.conf; none is the upstream error', () => {
  const s = scratch();
  try {
    writeFileSync(join(s.host, 'proc/cmdline'), 'quiet\n');
    mkdirSync(join(s.host, 'etc'));
    writeFileSync(join(s.host, 'etc/network.conf'), "DHCP_SERVER='10.7.7.7'\n");
    assert.is(runStep(SHELLS[1], s).status, 0);
    assert.is(parseShellVars(read(join(s.root, 'warewulf/config'))).vars.get('WWMASTER'), '10.7.7.7');
    assert.is(runStep(SHELLS[1], s, { WWMASTER: 'm1' }).status, 0);
    assert.is(parseShellVars(read(join(s.root, 'warewulf/config'))).vars.get('WWMASTER'), 'm1');
    writeFileSync(join(s.host, 'etc/network.conf'), '');
    const r = runStep(SHELLS[1], s);
    assert.is(r.status, 2);
    assert.match(r.stderr, /ERROR: Could not identify master node!/);
    const u = runStep(SHELLS[1], s, { NEWROOT: undefined, WWMASTER: 'm' });
    assert.is(u.status, 2);
    assert.match(u.stderr, /NEWROOT is not set/);
  } finally {
    s.cleanup();
  }
});

test('https transport: WWHTTP=https written (upstream tested a misspelt variable with ==)', () => {
  const s = scratch();
  try {
    assert.is(runStep(SHELLS[0], s, { WWTRANSPORT: 'https' }).status, 0);
    const v = parseShellVars(read(join(s.root, 'warewulf/config'))).vars;
    assert.is(v.get('WWHTTP'), 'https');
    assert.is(v.get('WWTRANSPORT'), 'https');
  } finally {
    s.cleanup();
  }
});

test('architecture: picks the folder for uname -m / WWRUNTIME_ARCH; installs the real arm64 files; unknown one fails with 2', () => {
  const s = scratch();
  try {
    // an aarch64 node at boot: uname -m says so (a shim first in PATH)
    const shim = join(s.dir, 'shim');
    mkdirSync(shim);
    writeFileSync(join(shim, 'uname'), '#!/bin/sh\necho aarch64\n');
    chmodSync(join(shim, 'uname'), 0o755);
    const arm = runStep(SHELLS[0], s, { PATH: `${shim}:${process.env.PATH}` });
    assert.is(arm.status, 0, arm.stderr);
    assert.match(arm.stderr, /linux-arm64/);
    assert.ok(readFileSync(join(s.root, 'warewulf/bin/wwruntime')).equals(readFileSync(join(DIST, 'linux-arm64/bin/wwruntime'))));
    assert.ok(existsSync(join(s.root, 'warewulf/lib/ld-linux-aarch64.so.1')));
    assert.equal(readdirSync(join(s.root, 'warewulf/lib')).sort(), [...distLibs('linux-arm64'), 'NOTICE'].sort());
    // the x86-64 host: its own folder again, the arm64 runtime replaced, not mixed
    assert.is(runStep(SHELLS[0], s).status, 0);
    assert.ok(readFileSync(join(s.root, 'warewulf/bin/wwruntime')).equals(readFileSync(join(DIST, 'linux-x64/bin/wwruntime'))));
    assert.equal(readdirSync(join(s.root, 'warewulf/lib')).sort(), [...distLibs(), 'NOTICE'].sort());
    const r = runStep(SHELLS[0], s, { WWRUNTIME_ARCH: 'ppc64le' });
    assert.is(r.status, 2);
    assert.match(r.stderr, /unknown architecture linux-ppc64le/);
  } finally {
    s.cleanup();
  }
});

test('wwruntime-install --arch linux-arm64: the real arm64 executable and runtime, which run (qemu-user, chroot)', () => {
  const s = scratch();
  try {
    const env = { NEWROOT: undefined, WWRUNTIME_HOSTROOT: undefined, WWINIT_HWADDR: undefined, WWRUNTIME_SOURCE: undefined };
    const r = runStep(['dash'], s, env, INSTALL, ['--into', s.root, '--from', DIST, '--arch', 'linux-arm64']);
    assert.is(r.status, 0, r.stderr);
    assert.ok(readFileSync(join(s.root, 'warewulf/bin/wwruntime')).equals(readFileSync(join(DIST, 'linux-arm64/bin/wwruntime'))));
    for (const l of distLibs('linux-arm64'))
      assert.ok(readFileSync(join(s.root, 'warewulf/lib', l)).equals(readFileSync(join(DIST, 'linux-arm64/lib', l))), l);
    const v = runIn(s.root, '/warewulf/bin/wwgetvnfs', ['--version'], {}, 'linux-arm64');
    assert.is(v.status, 0, v.stderr);
    assert.ok(v.stdout.startsWith('wwgetvnfs '), v.stdout);
  } finally {
    s.cleanup();
  }
});

/** A linux-x64 folder like dist's: bin/wwruntime linked, lib/ NOTICE SHA256SUMS copied (so a test can spoil them). */
function runtimeCopy(dir: string, arch = 'linux-x64'): string {
  const to = join(dir, 'src', arch);
  mkdirSync(join(to, 'bin'), { recursive: true });
  symlinkSync(join(DIST, arch, 'bin/wwruntime'), join(to, 'bin/wwruntime'));
  cpSync(join(DIST, arch, 'lib'), join(to, 'lib'), { recursive: true });
  for (const f of ['NOTICE', 'SHA256SUMS']) cpSync(join(DIST, arch, f), join(to, f));
  return to;
}

test('bad runtime folders: missing or changed library, wrong architecture, no runtime: one line, exit 2, nothing installed', () => {
  const s = scratch();
  try {
    const oneLine = (r: { status: number | null; stderr: string }, re: RegExp) => {
      assert.is(r.status, 2, r.stderr);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(tree(s.root), [], 'nothing installed');
    };
    let dir = runtimeCopy(join(s.dir, 'a'));
    rmSync(join(dir, 'lib/libm.so.6'));
    oneLine(
      runStep(SHELLS[0], s, { WWRUNTIME_SOURCE: dirname(dir) }),
      /^wwruntime: ERROR: .*\/lib\/libm\.so\.6 is missing: the C runtime there is incomplete$/m,
    );
    dir = runtimeCopy(join(s.dir, 'b'));
    writeFileSync(join(dir, 'lib/libc.so.6'), Buffer.concat([readFileSync(join(dir, 'lib/libc.so.6')), Buffer.from('x')]));
    oneLine(
      runStep(SHELLS[1], s, { WWRUNTIME_SOURCE: dirname(dir) }),
      /lib\/libc\.so\.6 is not the library the executables were built with/,
    );
    // an arm64 folder handed to an x86-64 node
    oneLine(
      runStep(SHELLS[0], s, { WWRUNTIME_SOURCE: join(DIST, 'linux-arm64') }),
      /is not a linux-x64 runtime folder: no lib\/ld-linux-x86-64\.so\.2 \(it has ld-linux-aarch64\.so\.1\)/,
    );
    oneLine(runStep(SHELLS[1], s, { WWRUNTIME_ARCH: 'linux-arm64' }), /linux-arm64 executables cannot run on this linux-x64 node/);
    // an x64 folder whose executable is the arm64 one
    dir = runtimeCopy(join(s.dir, 'c'));
    rmSync(join(dir, 'bin/wwruntime'));
    symlinkSync(join(DIST, 'linux-arm64/bin/wwruntime'), join(dir, 'bin/wwruntime'));
    oneLine(runStep(SHELLS[0], s, { WWRUNTIME_SOURCE: dirname(dir) }), /bin\/wwruntime is not a linux-x64 executable \(ELF machine 0xb7\)/);
    // executables without their runtime (the layout before issue 9)
    const old = join(s.dir, 'old/linux-x64');
    mkdirSync(old, { recursive: true });
    symlinkSync(join(DIST, 'linux-x64/bin/wwruntime'), join(old, 'wwruntime'));
    oneLine(runStep(SHELLS[1], s, { WWRUNTIME_SOURCE: dirname(old) }), /has executables without their C runtime/);
    // after a good install a bad source changes nothing
    assert.is(runStep(SHELLS[0], s).status, 0);
    const good = tree(s.root);
    const r = runStep(SHELLS[0], s, { WWRUNTIME_SOURCE: join(DIST, 'linux-arm64') });
    assert.is(r.status, 2);
    assert.equal(tree(s.root), good);
  } finally {
    s.cleanup();
  }
});

test("initramfs: the log folder is left to init's move (busybox mv fails onto an existing folder across file systems)", () => {
  const base = existsSync('/dev/shm') ? '/dev/shm' : undefined;
  const s = scratch();
  const hostDir = scratch(base); // a different file system from the root when /dev/shm is there
  try {
    const host = hostDir.host;
    writeFileSync(join(host, 'init'), '');
    mkdirSync(join(host, 'var/log/warewulf/provision'), { recursive: true });
    writeFileSync(join(host, 'var/log/warewulf/provision/vnfs.log'), 'ok\n');
    mkdirSync(join(s.root, 'var/log'), { recursive: true });
    const r = runStep(SHELLS[0], s, { WWRUNTIME_HOSTROOT: host });
    assert.is(r.status, 0, r.stderr);
    assert.not.ok(existsSync(join(s.root, 'var/log/warewulf')));
    // what the upstream init does before switch_root
    const mv = spawnSync('/bin/busybox', ['mv', join(host, 'var/log/warewulf'), `${join(s.root, 'var/log')}/`], { encoding: 'utf8' });
    assert.is(mv.status, 0, mv.stderr);
    assert.is(read(join(s.root, 'var/log/warewulf/provision/vnfs.log')), 'ok\n');
    // the jobs create the folder themselves anyway
    assert.match(read(join(s.root, 'etc/cron.d/wwupdatefiles')), /root mkdir -p \/var\/log\/warewulf; /);
  } finally {
    s.cleanup();
    hostDir.cleanup();
  }
});

test('image builder: wwruntime-install --into CHROOT, --standalone, --remove', () => {
  const s = scratch();
  try {
    const env = { NEWROOT: undefined, WWRUNTIME_HOSTROOT: undefined, WWINIT_HWADDR: undefined, WWRUNTIME_SOURCE: undefined };
    const help = runStep(['dash'], s, env, INSTALL, ['--help']);
    assert.is(help.status, 0);
    assert.match(help.stdout, /--into CHROOT/);
    assert.is(runStep(['dash'], s, env, INSTALL, []).status, 2);
    const r = runStep(['/bin/busybox', 'sh'], s, env, INSTALL, ['--into', s.root, '--from', DIST]);
    assert.is(r.status, 0, r.stderr);
    for (const t of TOOLS) assert.is(readlinkSync(join(s.root, 'warewulf/bin', t)), 'wwruntime');
    assert.not.ok(existsSync(join(s.root, 'warewulf/config'))); // no node values known at image-build time
    const one = tree(s.root);
    // the boot step on top of an image install: only the config is added
    assert.is(runStep(['dash'], s).status, 0);
    assert.equal(
      tree(s.root).filter((l) => !/ warewulf\/(config|\.wwruntime-manifest) /.test(l)),
      one.filter((l) => !/ warewulf\/\.wwruntime-manifest /.test(l)),
    );
    assert.is(runStep(['dash'], s, { ...env, WWMASTER: 'mm' }, INSTALL, ['--into', s.root, '--standalone']).status, 0);
    assert.ok(lstatSync(join(s.root, 'warewulf/bin/wwgetvnfs')).isFile());
    assert.is(runStep(['dash'], s, env, INSTALL, ['--into', s.root, '--remove']).status, 0);
    assert.equal(tree(s.root), []);
    assert.is(runStep(['dash'], s, env, INSTALL, ['--into', s.root, '--remove']).status, 1);
  } finally {
    s.cleanup();
  }
});

test("after upstream's 60-runtimesupport: its symlinks, cron files and config lines are replaced", () => {
  const s = scratch();
  try {
    mkdirSync(join(s.root, 'warewulf/bin'), { recursive: true });
    mkdirSync(join(s.root, 'etc/cron.d'), { recursive: true });
    for (const t of TOOLS) symlinkSync(`../transports/http/${t}`, join(s.root, 'warewulf/bin', t));
    writeFileSync(
      join(s.root, 'warewulf/config'),
      'WWINIT_HWADDR=aa:bb:cc:dd:ee:ff\nexport WWINIT_HWADDR\nWWMASTER=10.0.0.1\nexport WWMASTER\n',
    );
    writeFileSync(
      join(s.root, 'etc/cron.d/wwrunscript'),
      '0,5,10,15,20,25,30,35,40,45,50,55 * * * * root . /warewulf/config; /warewulf/bin/wwgetscript runtime 2>/var/log/warewulf/provision/wwgetfiles.log | /bin/sh\n',
    );
    assert.is(runStep(SHELLS[1], s).status, 0);
    for (const t of TOOLS) assert.is(readlinkSync(join(s.root, 'warewulf/bin', t)), 'wwruntime');
    assert.match(read(join(s.root, 'etc/cron.d/wwrunscript')), /wwruntime-managed[\s\S]*wwrunscript\.log/);
    const cfg = read(join(s.root, 'warewulf/config'));
    assert.is(cfg.match(/^WWMASTER=/gm)?.length, 1);
    assert.ok(cfg.startsWith('# wwruntime-managed'), cfg);
  } finally {
    s.cleanup();
  }
});

test.run();
