// Issue 16: the installer and the boot step stay inside the root they are given. A symbolic link
// inside the image is resolved the way the node will see it (relative to the root, as chroot
// does): an absolute target is re-rooted, '..' stops at the root. Nothing outside the root, the
// host's files included, is created, changed or removed, for install, re-install and removal.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, lstatSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { treeLines as tree } from '../helpers/tree.ts';
import { exists, fakeRuntime, IMAGE_ENV, INSTALL, outsideRoot, runStep, scratch, SHELLS, STEP, type Scratch } from './harness.ts';

/** The four places the step writes to; `expect` are paths under the place that must exist afterwards. */
const PLACES: { at: string; systemd?: boolean; expect: string[] }[] = [
  { at: 'warewulf', expect: ['bin/wwruntime', 'bin/wwgetfiles', 'lib/NOTICE', 'lib/libc.so.6', 'config', '.wwruntime-manifest'] },
  { at: 'etc/cron.d', expect: ['wwupdatefiles', 'wwrunscript'] },
  { at: 'var/log', expect: ['warewulf'] },
  {
    at: 'etc/systemd/system',
    systemd: true,
    expect: ['wwupdatefiles.timer', 'wwrunscript.service', 'timers.target.wants/wwupdatefiles.timer'],
  },
  { at: 'etc/systemd/system/timers.target.wants', systemd: true, expect: ['wwupdatefiles.timer', 'wwrunscript.timer'] },
];

/** How the place is a link: its target, and where (on the host) the node sees it. */
type Kind = (s: Scratch, depth: number, tag: string) => { link: string; lands: string; outside?: boolean; precreate?: boolean };
const KINDS: Record<string, Kind> = {
  // an absolute link to a folder that exists on the host: the node sees ROOT/that/folder
  absolute: (s, _d, tag) => ({ link: join(s.dir, 'outside', tag), lands: join(s.root, s.dir, 'outside', tag), outside: true }),
  // just enough '..' to leave the root on the host (ROOT/../outside): the node's '..' stops at /
  climbing: (s, d, tag) => ({ link: `${'../'.repeat(d + 1)}outside/${tag}`, lands: join(s.root, 'outside', tag), outside: true }),
  // far more '..' than needed, then the host path of the outside folder
  'deep climbing': (s, d, tag) => ({
    link: `${'../'.repeat(d + 12)}${s.dir.slice(1)}/outside/${tag}`,
    lands: join(s.root, s.dir, 'outside', tag),
    outside: true,
  }),
  // links that stay inside: these must simply work
  'inside, relative': (s, d, tag) => ({ link: `${'../'.repeat(d)}srv/${tag}`, lands: join(s.root, 'srv', tag), precreate: true }),
  'inside, absolute': (s, _d, tag) => ({ link: `/srv/${tag}`, lands: join(s.root, 'srv', tag) }),
};

function prepare(s: Scratch, place: (typeof PLACES)[number], kind: Kind) {
  const depth = place.at.split('/').length - 1;
  const tag = place.at.replaceAll('/', '_');
  const k = kind(s, depth, tag);
  if (place.systemd) {
    mkdirSync(join(s.root, 'usr/lib/systemd'), { recursive: true });
    writeFileSync(join(s.root, 'usr/lib/systemd/systemd'), '');
  }
  // the host's folder the link points at, with a file of its own
  mkdirSync(join(s.dir, 'outside', tag), { recursive: true });
  writeFileSync(join(s.dir, 'outside', tag, 'hosts-own-file'), 'keep\n');
  if (k.precreate) mkdirSync(k.lands, { recursive: true });
  mkdirSync(dirname(join(s.root, place.at)), { recursive: true });
  symlinkSync(k.link, join(s.root, place.at));
  return k;
}

for (const shell of SHELLS) {
  const name = shell.join(' ');
  for (const place of PLACES) {
    for (const [kname, kind] of Object.entries(KINDS)) {
      test(`${name}: ${place.at} -> ${kname} link: install, re-install, boot step, --remove stay inside the root`, () => {
        const s = scratch();
        try {
          const src = fakeRuntime(s.dir);
          const k = prepare(s, place, kind);
          const host = outsideRoot(s);
          const image = tree(s.root);
          const install = (args: string[] = []) => runStep(shell, s, IMAGE_ENV, INSTALL, ['--into', s.root, '--from', src, ...args]);

          const r1 = install();
          assert.equal(outsideRoot(s), host, `install wrote outside the root:\n${r1.stderr}`);
          assert.is(r1.status, 0, r1.stderr);
          const once = tree(s.root);
          const r2 = install();
          assert.is(r2.status, 0, r2.stderr);
          assert.equal(outsideRoot(s), host, 're-install wrote outside the root');
          assert.equal(tree(s.root), once, 're-install is idempotent');

          const b = runStep(shell, s, { WWRUNTIME_SOURCE: src }, STEP);
          assert.is(b.status, 0, b.stderr);
          assert.equal(outsideRoot(s), host, 'the boot step wrote outside the root');
          for (const e of place.expect) assert.ok(exists(join(k.lands, e)), `${e} where the node sees ${place.at}: ${join(k.lands, e)}`);
          assert.ok(lstatSync(join(s.root, place.at)).isSymbolicLink(), "the image's link is kept");

          const rm = install(['--remove']);
          assert.is(rm.status, 0, rm.stderr);
          assert.equal(outsideRoot(s), host, '--remove changed something outside the root');
          assert.equal(tree(s.root), image, '--remove leaves the image as it was');
          if (k.outside) assert.is(readFileSync(join(s.dir, 'outside', place.at.replaceAll('/', '_'), 'hosts-own-file'), 'utf8'), 'keep\n');
        } finally {
          s.cleanup();
        }
      });
    }

    test(`${name}: --remove through ${place.at} -> (host folder holding our files) deletes nothing there`, () => {
      // An earlier install, then the place replaced by a link to a host folder that holds the same
      // files (a master that runs the tools itself; an image whose etc/cron.d -> /etc/cron.d).
      const s = scratch();
      try {
        const src = fakeRuntime(s.dir);
        if (place.systemd) {
          mkdirSync(join(s.root, 'usr/lib/systemd'), { recursive: true });
          writeFileSync(join(s.root, 'usr/lib/systemd/systemd'), '');
        }
        assert.is(runStep(shell, s, { WWRUNTIME_SOURCE: src }, STEP).status, 0);
        const moved = join(s.dir, 'outside', place.at.replaceAll('/', '_'));
        mkdirSync(dirname(moved), { recursive: true });
        renameSync(join(s.root, place.at), moved);
        symlinkSync(moved, join(s.root, place.at));
        const host = outsideRoot(s);
        const rm = runStep(shell, s, IMAGE_ENV, INSTALL, ['--into', s.root, '--remove']);
        assert.ok(rm.status === 0 || rm.status === 1, rm.stderr);
        assert.equal(outsideRoot(s), host, `--remove deleted files outside the root:\n${rm.stderr}`);
        const w = runStep(shell, s, { WWRUNTIME_SOURCE: src, WWNORUNTIMESERVICES: '1' }, STEP);
        assert.ok(w.status === 0 || w.status === 1, w.stderr);
        assert.equal(outsideRoot(s), host, 'WWNORUNTIMESERVICES deleted files outside the root');
      } finally {
        s.cleanup();
      }
    });
  }

  test(`${name}: a symbolic link at the very name we write is replaced, never written through`, () => {
    const s = scratch();
    try {
      const src = fakeRuntime(s.dir);
      const out = join(s.dir, 'outside');
      mkdirSync(join(out, 'dir'), { recursive: true });
      writeFileSync(join(out, 'file'), 'host\n');
      const names = [
        'etc/cron.d/wwupdatefiles',
        'etc/cron.d/wwrunscript',
        'warewulf/config',
        'warewulf/bin/wwruntime',
        'warewulf/bin/wwgetfiles',
        'warewulf/lib/NOTICE',
        'warewulf/lib/libc.so.6',
        'warewulf/.wwruntime-manifest',
      ];
      names.forEach((n, i) => {
        mkdirSync(dirname(join(s.root, n)), { recursive: true });
        symlinkSync(i % 2 ? join(out, 'dir') : join(out, 'file'), join(s.root, n));
      });
      const host = outsideRoot(s);
      const r = runStep(shell, s, { WWRUNTIME_SOURCE: src }, STEP);
      assert.equal(outsideRoot(s), host, `wrote through a link:\n${r.stderr}`);
      assert.is(r.status, 0, r.stderr);
      for (const n of names) {
        const st = lstatSync(join(s.root, n));
        assert.ok(n === 'warewulf/bin/wwgetfiles' ? st.isSymbolicLink() : st.isFile(), n);
      }
    } finally {
      s.cleanup();
    }
  });

  test(`${name}: a link cycle or a file in the way: one line, exit 2, nothing installed`, () => {
    const s = scratch();
    try {
      const src = fakeRuntime(s.dir);
      mkdirSync(join(s.root, 'etc'), { recursive: true });
      symlinkSync('cron.e', join(s.root, 'etc/cron.d'));
      symlinkSync('./cron.d', join(s.root, 'etc/cron.e'));
      const image = tree(s.root);
      const host = outsideRoot(s);
      const r = runStep(shell, s, { WWRUNTIME_SOURCE: src }, STEP);
      assert.is(r.status, 2, r.stderr);
      assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, /^wwruntime: ERROR: .*etc\/cron\.d.*symbolic links/);
      assert.equal(tree(s.root), image, 'nothing installed');
      assert.equal(outsideRoot(s), host);
      // a regular file where a folder must be
      const t = scratch();
      try {
        writeFileSync(join(t.root, 'var'), '');
        const f = runStep(shell, t, { WWRUNTIME_SOURCE: src }, STEP);
        assert.is(f.status, 2, f.stderr);
        assert.is(f.stderr.trim().split('\n').length, 1, f.stderr);
        assert.match(f.stderr, /var.* is not a directory/);
        assert.equal(tree(t.root), ['f 0644 var e3b0c44298fc1c14']);
      } finally {
        t.cleanup();
      }
    } finally {
      s.cleanup();
    }
  });
}

// An image whose own folder our C runtime would land in: /warewulf/lib -> /lib, or /warewulf -> /
// (inside the root, so confinement allows it). Writing there replaced the image's own glibc with
// ours (and a later removal deleted it): the node would not boot. Refused before anything is
// placed; an earlier install of ours there (its manifest lists the files) is still replaced.
for (const [name, at, link] of [
  ['/warewulf/lib -> /lib', 'warewulf/lib', '/lib'],
  ['/warewulf -> / (absolute)', 'warewulf', '/'],
  ['/warewulf/lib -> ../lib (relative)', 'warewulf/lib', '../lib'],
] as const) {
  test(`an image whose ${name}: its own libc.so.6 not overwritten, one line, exit 2, nothing placed`, () => {
    for (const shell of SHELLS) {
      const s = scratch();
      try {
        const src = fakeRuntime(s.dir);
        mkdirSync(join(s.root, 'lib'), { recursive: true });
        writeFileSync(join(s.root, 'lib/libc.so.6'), "the image's own glibc\n");
        mkdirSync(dirname(join(s.root, at)), { recursive: true });
        symlinkSync(link, join(s.root, at));
        const image = tree(s.root);
        const r = runStep(shell, s, { WWRUNTIME_SOURCE: src }, STEP);
        assert.is(r.status, 2, r.stderr);
        assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
        assert.match(
          r.stderr.trim(),
          /^wwruntime: ERROR: .*\/root\/lib\/libc\.so\.6 belongs to the image \(warewulf\/lib leads to \/lib, and no earlier install of ours put this file there\): not overwriting it, not installing$/,
        );
        assert.equal(tree(s.root), image, 'nothing placed: the image as it was');
      } finally {
        s.cleanup();
      }
    }
  });
}

test('/warewulf/lib -> /opt/wwlib holding only what our earlier install put there: installed again', () => {
  const s = scratch();
  try {
    const src = fakeRuntime(s.dir);
    mkdirSync(join(s.root, 'opt/wwlib'), { recursive: true });
    mkdirSync(join(s.root, 'warewulf'), { recursive: true });
    symlinkSync('/opt/wwlib', join(s.root, 'warewulf/lib'));
    for (const shell of SHELLS) {
      const r = runStep(shell, s, { WWRUNTIME_SOURCE: src }, STEP);
      assert.is(r.status, 0, r.stderr);
      assert.ok(existsSync(join(s.root, 'opt/wwlib/libc.so.6')), 'our runtime where the link leads');
      // a different build of ours over it: the manifest says these files are ours
      writeFileSync(join(s.root, 'opt/wwlib/libc.so.6'), 'an older build of ours\n');
    }
  } finally {
    s.cleanup();
  }
});

test('scheduler detection looks into the image as the node sees it, not at the host', () => {
  // A systemd image without a cron daemon whose sbin is an absolute link: on the host that link
  // leads to a folder with a cron daemon (as the master's own /usr/sbin/cron would be).
  const s = scratch();
  try {
    const src = fakeRuntime(s.dir);
    mkdirSync(join(s.root, 'usr/lib/systemd'), { recursive: true });
    writeFileSync(join(s.root, 'usr/lib/systemd/systemd'), '');
    mkdirSync(join(s.dir, 'hostsbin'));
    writeFileSync(join(s.dir, 'hostsbin/crond'), '');
    symlinkSync(join(s.dir, 'hostsbin'), join(s.root, 'sbin'));
    const r = runStep(SHELLS[1], s, { WWRUNTIME_SOURCE: src }, STEP);
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /, systemd, /, 'the image has systemd and no cron daemon');
    assert.ok(existsSync(join(s.root, 'etc/systemd/system/wwupdatefiles.timer')));
  } finally {
    s.cleanup();
  }
});

test.run();
