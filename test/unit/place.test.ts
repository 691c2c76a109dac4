import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findMknod, makedev } from '../../src/core/fs/device.ts';
import { asideName, placeDirectory, placeSpecial, placeSymlink } from '../../src/core/fs/place.ts';
import { commitFile, createTemp, writeTemp } from '../../src/core/fs/temp.ts';

const fresh = () => mkdtempSync(join(tmpdir(), 'place-'));
const isRoot = process.getuid?.() === 0;

test('temp file is created 0600, exclusive, and committed with owner then mode', async () => {
  const d = fresh();
  const t = await createTemp(d, 'shadow');
  assert.is(lstatSync(t.path).mode & 0o777, 0o600);
  assert.match(t.path, /\/\.shadow\.ww[0-9a-f]{16}$/);
  writeTemp(t, Buffer.from('secret'));
  await commitFile(t, d, 'shadow', { uid: 0, gid: 0, mode: 0o4750 }, isRoot);
  const st = lstatSync(join(d, 'shadow'));
  assert.is(st.mode & 0o7777, 0o4750, 'setuid kept: chown came before chmod');
  assert.is(readFileSync(join(d, 'shadow'), 'utf8'), 'secret');
  assert.equal(readdirSync(d), ['shadow'], 'no temp left');
});

test('a planted symlink at the target is replaced, not followed', async () => {
  const d = fresh();
  const victim = join(d, 'victim');
  writeFileSync(victim, 'keep');
  symlinkSync(victim, join(d, 'hosts'));
  const t = await createTemp(d, 'hosts');
  writeTemp(t, Buffer.from('new'));
  await commitFile(t, d, 'hosts', { uid: 0, gid: 0, mode: 0o644 }, false);
  assert.is(readFileSync(victim, 'utf8'), 'keep');
  assert.ok(lstatSync(join(d, 'hosts')).isFile());
});

test('symlink placement replaces a file or link atomically', async () => {
  const d = fresh();
  writeFileSync(join(d, 'l'), 'was a file');
  await placeSymlink({ dir: d, name: 'l', own: { uid: 0, gid: 0, mode: 0o777 }, chown: isRoot }, '/usr/share/zoneinfo/UTC');
  assert.is(readlinkSync(join(d, 'l')), '/usr/share/zoneinfo/UTC');
  await placeSymlink({ dir: d, name: 'l', own: { uid: 0, gid: 0, mode: 0o777 }, chown: isRoot }, 'other');
  assert.is(readlinkSync(join(d, 'l')), 'other');
  assert.equal(readdirSync(d), ['l']);
});

test('directory placement moves a non-directory aside, sets mode', async () => {
  const d = fresh();
  writeFileSync(join(d, 'conf.d'), 'file in the way');
  const now = new Date(2024, 0, 2, 3, 4, 5);
  const moved = await placeDirectory({ dir: d, name: 'conf.d', own: { uid: 0, gid: 0, mode: 0o1777 }, chown: isRoot }, now);
  assert.is(moved, join(d, 'conf.d.ww20240102030405'));
  assert.is(readFileSync(moved!, 'utf8'), 'file in the way');
  assert.is(lstatSync(join(d, 'conf.d')).mode & 0o7777, 0o1777);
  assert.is(asideName('x', now), 'x.ww20240102030405');
  mkdirSync(join(d, 'existing'), { mode: 0o700 });
  assert.is(await placeDirectory({ dir: d, name: 'existing', own: { uid: 0, gid: 0, mode: 0o755 }, chown: isRoot }, now), null);
  assert.is(lstatSync(join(d, 'existing')).mode & 0o7777, 0o755);
});

test('devices and FIFOs via the system mknod', async () => {
  if (!isRoot) return; // mknod of devices needs root; CI runs as root
  const d = fresh();
  const mknod = findMknod();
  await placeSpecial(
    { dir: d, name: 'null2', own: { uid: 0, gid: 5, mode: 0o620 }, chown: true },
    { kind: 'char', major: 1, minor: 3 },
    mknod,
  );
  const st = lstatSync(join(d, 'null2'));
  assert.ok(st.isCharacterDevice());
  assert.is(st.rdev, makedev(1, 3));
  assert.is(st.gid, 5);
  assert.is(st.mode & 0o7777, 0o620);
  await placeSpecial(
    { dir: d, name: 'fifo', own: { uid: 0, gid: 0, mode: 0o640 }, chown: true },
    { kind: 'fifo', major: 0, minor: 0 },
    mknod,
  );
  assert.ok(lstatSync(join(d, 'fifo')).isFIFO());
  assert.equal(readdirSync(d).sort(), ['fifo', 'null2']);
});

test('makedev matches the kernel encoding', () => {
  assert.is(makedev(8, 1), 0x801);
  assert.is(makedev(259, 0), 0x10300);
  assert.is(makedev(4096, 256), 2 ** 44 + 2 ** 20);
});

test.run();
