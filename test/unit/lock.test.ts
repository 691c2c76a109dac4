import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDir, tryLock } from '../../src/core/fs/lock.ts';
import { WwError } from '../../src/core/errors.ts';

const uid = process.getuid?.() ?? 0;
const base = mkdtempSync(join(tmpdir(), 'locks-'));
const dir = join(base, 'locks');
const opts = { dir, uid };
const tree = () => mkdtempSync(join(base, 'root-'));

test('lock places: root in /run, another user in a /tmp directory of its own', () => {
  assert.is(lockDir(0), '/run/wwruntime');
  assert.is(lockDir(1000), '/tmp/wwruntime-1000');
});

test('second taker is refused while held, succeeds after release; the directory is made 0700', async () => {
  const root = tree();
  const a = await tryLock('t', root, opts);
  assert.ok(a);
  assert.is(await tryLock('t', root, { ...opts, retries: 0 }), null);
  assert.ok(await tryLock('t', tree(), opts), 'other roots are independent');
  assert.ok(await tryLock('u', root, opts), 'other purposes are independent');
  await a!.release();
  const b = await tryLock('t', root, opts);
  assert.ok(b);
  await b!.release();
  const { statSync } = await import('node:fs');
  assert.is(statSync(dir).mode & 0o777, 0o700);
});

test('the same tree by another name (a symbolic link) is the same lock', async () => {
  const root = tree();
  const alias = join(base, `alias-${process.pid}`);
  symlinkSync(root, alias);
  const a = await tryLock('t', root, opts);
  assert.is(await tryLock('t', alias, { ...opts, retries: 0 }), null);
  await a!.release();
});

test('a SIGKILLed holder leaves no lock: its socket file refuses and is removed', async () => {
  const root = tree();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '-e',
      `
    import('${new URL('../../src/core/fs/lock.ts', import.meta.url).pathname}').then(async (m) => {
      const l = await m.tryLock('k', ${JSON.stringify(root)}, ${JSON.stringify(opts)});
      process.stdout.write(l ? 'held\\n' : 'busy\\n');
      setInterval(() => {}, 1000);
    });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const said = await new Promise<string>((r) => child.stdout.once('data', (d) => r(String(d))));
  assert.is(said.trim(), 'held');
  assert.is(await tryLock('k', root, { ...opts, retries: 0 }), null);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const before = readdirSync(dir).filter((n) => n.startsWith('k-'));
  assert.is(before.length, 1, 'the dead holder left its socket file');
  const l = await tryLock('k', root, opts);
  assert.ok(l, 'lock free after the holder died');
  assert.not.ok(readdirSync(dir).includes(before[0]), 'and the stale file is gone');
  await l!.release();
  assert.equal(
    readdirSync(dir).filter((n) => n.startsWith('k-')),
    [],
    'release removes the socket file',
  );
});

test('two takers at once: never both', async () => {
  const root = tree();
  for (let i = 0; i < 20; i++) {
    const got = await Promise.all([tryLock('r', root, opts), tryLock('r', root, opts), tryLock('r', root, opts)]);
    assert.ok(got.filter(Boolean).length <= 1, `round ${i}: ${got.filter(Boolean).length} holders`);
    for (const l of got) await l?.release();
  }
});

test('a lock directory others could enter or own is refused', async () => {
  const root = tree();
  const open = join(base, 'open');
  mkdirSync(open, { mode: 0o755 });
  chmodSync(open, 0o755);
  try {
    await tryLock('t', root, { dir: open, uid });
    assert.unreachable('a 0755 directory was accepted');
  } catch (err) {
    assert.instance(err, WwError);
    assert.match((err as Error).message, /refusing the lock directory .*open: mode 755/);
  }
  const link = join(base, 'link');
  symlinkSync(dir, link);
  await tryLock('t', root, { dir: link, uid }).then(
    () => assert.unreachable('a symbolic link was accepted'),
    (err) => assert.match(err.message, /not a directory/),
  );
  if (uid === 0) {
    const theirs = join(base, 'theirs');
    mkdirSync(theirs, { mode: 0o700 });
    chownSync(theirs, 65534, 65534);
    await tryLock('t', root, { dir: theirs, uid }).then(
      () => assert.unreachable('a directory of uid 65534 was accepted'),
      (err) => assert.match(err.message, /owned by uid 65534/),
    );
  }
});

test.run();
