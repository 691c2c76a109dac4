// Issue 16: a damaged runtime is never installed. Every file the install copies is checked
// against the source's SHA256SUMS before anything is placed: one line, exit 2, nothing installed.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  chmodSync,
  closeSync,
  copyFileSync,
  cpSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { treeLines as tree } from '../helpers/tree.ts';
import { DIST, fakeRuntime, IMAGE_ENV, INSTALL, read, runStep, scratch, SHELLS } from './harness.ts';

const oneLine = (r: { status: number | null; stderr: string }, re: RegExp, root: string, before: string[] = []) => {
  assert.is(r.status, 2, r.stderr);
  assert.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr.trim(), re);
  assert.equal(tree(root), before, 'nothing installed, nothing changed');
};

/** A copy of dist's linux-x64 folder (the big executable linked unless `cut` is given). */
function realCopy(dir: string, cutTo?: number): string {
  const to = join(dir, 'src', 'linux-x64');
  mkdirSync(join(to, 'bin'), { recursive: true });
  const exe = join(DIST, 'linux-x64/bin/wwruntime');
  if (cutTo === undefined) symlinkSync(exe, join(to, 'bin/wwruntime'));
  else {
    const buf = Buffer.alloc(cutTo);
    const fd = openSync(exe, 'r');
    readSync(fd, buf, 0, cutTo, 0);
    closeSync(fd);
    writeFileSync(join(to, 'bin/wwruntime'), buf);
    chmodSync(join(to, 'bin/wwruntime'), 0o755);
  }
  cpSync(join(DIST, 'linux-x64/lib'), join(to, 'lib'), { recursive: true });
  for (const f of ['NOTICE', 'SHA256SUMS']) copyFileSync(join(DIST, 'linux-x64', f), join(to, f));
  return join(dir, 'src');
}

test('bin/wwruntime cut to 40 MB: refused (exit 2, one line), nothing installed, at boot and by the installer', () => {
  const s = scratch();
  try {
    const src = realCopy(s.dir, 40_000_000);
    oneLine(
      runStep(SHELLS[0], s, { WWRUNTIME_SOURCE: src }),
      /^wwruntime: ERROR: .*\/linux-x64\/bin\/wwruntime is not the executable of this build \(SHA256SUMS differs\): damaged or truncated, not installing$/,
      s.root,
    );
    oneLine(
      runStep(['dash'], s, IMAGE_ENV, INSTALL, ['--into', s.root, '--from', src]),
      /bin\/wwruntime is not the executable of this build/,
      s.root,
    );
  } finally {
    s.cleanup();
  }
});

for (const shell of SHELLS) {
  test(`${shell.join(' ')}: every copied file is checked: unlisted, changed NOTICE, changed standalone tool; a good install stays as it was`, () => {
    const s = scratch();
    try {
      const src = fakeRuntime(s.dir);
      const a = join(src, 'linux-x64');
      const sums = read(join(a, 'SHA256SUMS'));
      const env = { WWRUNTIME_SOURCE: src };
      // not listed
      writeFileSync(
        join(a, 'SHA256SUMS'),
        sums
          .split('\n')
          .filter((l) => !l.endsWith('  bin/wwruntime'))
          .join('\n'),
      );
      oneLine(
        runStep(shell, s, env),
        /^wwruntime: ERROR: .*\/bin\/wwruntime is not listed in .*\/SHA256SUMS: cannot check it, not installing$/,
        s.root,
      );
      writeFileSync(
        join(a, 'SHA256SUMS'),
        sums
          .split('\n')
          .filter((l) => !l.endsWith('  NOTICE'))
          .join('\n'),
      );
      oneLine(runStep(shell, s, env), /\/NOTICE is not listed in/, s.root);
      writeFileSync(join(a, 'SHA256SUMS'), sums);
      // changed
      writeFileSync(join(a, 'NOTICE'), 'notice, edited\n');
      oneLine(runStep(shell, s, env), /\/NOTICE is not the notice of this build \(SHA256SUMS differs\)/, s.root);
      rmSync(join(a, 'NOTICE'));
      oneLine(runStep(shell, s, env), /\/NOTICE is missing \(SHA256SUMS lists it\)/, s.root);
      writeFileSync(join(a, 'NOTICE'), 'notice\n');
      writeFileSync(join(a, 'bin/wwgetvnfs'), 'cut');
      // the multi-call install does not copy bin/wwgetvnfs; the standalone one does
      const ok = runStep(shell, s, env);
      assert.is(ok.status, 0, ok.stderr);
      const good = tree(s.root);
      oneLine(
        runStep(shell, s, { ...env, WWRUNTIME_STANDALONE: '1' }),
        /\/bin\/wwgetvnfs is not the executable of this build/,
        s.root,
        good,
      );
      // a sum line in binary mode ("HASH *NAME") is read too
      writeFileSync(join(a, 'bin/wwgetvnfs'), readFileSync(join(a, 'bin/wwgetfiles')));
      writeFileSync(
        join(a, 'SHA256SUMS'),
        sums
          .replace(/ {2}(bin\/wwgetvnfs)$/m, ' *$1')
          .replace(/^\w+( \*bin\/wwgetvnfs)$/m, (_m, rest) => `${sums.match(/^(\w+) {2}bin\/wwgetfiles$/m)?.[1]}${rest}`),
      );
      const st = runStep(shell, s, { ...env, WWRUNTIME_STANDALONE: '1' });
      assert.is(st.status, 0, st.stderr);
    } finally {
      s.cleanup();
    }
  });
}

test('no sha256sum (nor busybox): refused with one line, nothing installed (README: what is done instead)', () => {
  const s = scratch();
  try {
    const src = fakeRuntime(s.dir);
    // a PATH with everything the step uses but sha256sum and busybox itself
    const bin = join(s.dir, 'bin');
    mkdirSync(bin);
    for (const c of ['cat', 'cp', 'ln', 'mv', 'rm', 'rmdir', 'mkdir', 'chmod', 'sort', 'uname', 'cmp', 'readlink', 'grep', 'tr', 'od'])
      symlinkSync('/bin/busybox', join(bin, c));
    oneLine(
      runStep(['/bin/busybox', 'sh'], s, { WWRUNTIME_SOURCE: src, PATH: bin }),
      /^wwruntime: ERROR: no sha256sum here \(nor busybox with its sha256sum applet\): cannot check .* against its SHA256SUMS, not installing$/,
      s.root,
    );
    // busybox alone is enough: its applet is used
    symlinkSync('/bin/busybox', join(bin, 'busybox'));
    const r = runStep(['/bin/busybox', 'sh'], s, { WWRUNTIME_SOURCE: src, PATH: bin });
    assert.is(r.status, 0, r.stderr);
  } finally {
    s.cleanup();
  }
});

test.run();
