import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isInside, realRoot, resolveParent, safeComponents } from '../../src/core/fs/confine.ts';

test('safeComponents refuses .., NUL, relative, root', () => {
  assert.equal(safeComponents('/etc//./hosts', { requireAbsolute: true }), ['etc', 'hosts']);
  for (const p of ['/etc/../../x', '/..', 'etc/hosts', '/', '/a\0b', `/${'x'.repeat(256)}`]) {
    assert.throws(() => safeComponents(p, { requireAbsolute: true }), /refusing/, p);
  }
  assert.throws(() => safeComponents('/abs', { refuseAbsolute: true }), /absolute/);
  assert.equal(safeComponents('./etc/x'), ['etc', 'x']);
});

test('isInside', () => {
  assert.ok(isInside('/r', '/r/a'));
  assert.ok(isInside('/r', '/r'));
  assert.not.ok(isInside('/r', '/rx/a'));
  assert.ok(isInside('/', '/anything'));
});

test('resolveParent creates dirs, follows in-root links, refuses escaping links', async () => {
  const base = mkdtempSync(join(tmpdir(), 'confine-'));
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(join(root, 'usr/lib'), { recursive: true });
  mkdirSync(outside);
  symlinkSync('usr/lib', join(root, 'lib')); // relative, inside
  symlinkSync(outside, join(root, 'escape')); // absolute, outside
  symlinkSync('../../outside', join(root, 'usr/up')); // relative, outside
  symlinkSync('/nonexistent-target', join(root, 'dangling'));
  writeFileSync(join(root, 'file'), 'x');
  const r = await realRoot(root);
  const p = await resolveParent(r, ['lib', 'modules', 'x.ko']);
  assert.is(p!.dir, join(r, 'usr/lib/modules'));
  assert.ok(statSync(p!.dir).isDirectory());
  for (const parts of [
    ['escape', 'x'],
    ['usr', 'up', 'x'],
    ['escape', 'sub', 'x'],
    ['dangling', 'x'],
  ]) {
    try {
      await resolveParent(r, parts);
      assert.unreachable(parts.join('/'));
    } catch (e) {
      assert.match(String(e), /refusing/);
    }
  }
  assert.not.ok(existsSync(join(outside, 'sub')), 'nothing created outside');
  await resolveParent(r, ['file', 'x']).then(
    () => assert.unreachable(),
    (e) => assert.match(String(e), /not a directory/),
  );
  assert.is(await resolveParent(r, ['new', 'dir', 'x'], false), null);
  assert.not.ok(existsSync(join(r, 'new')));
});

test.run();
