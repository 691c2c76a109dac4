import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEGACY_MARK_FILE, MARK_FILE, readMark } from '../../src/core/files/mark.ts';

const uid = process.getuid?.() ?? 0;
const rootWith = (file: string | null, plant?: (p: string) => void) => {
  const root = mkdtempSync(join(tmpdir(), 'mark-'));
  if (file) {
    mkdirSync(join(root, file, '..'), { recursive: true });
    (plant ?? ((p) => writeFileSync(p, '1700000123\n')))(join(root, file));
  }
  return root;
};

test('the mark as this tool writes it is trusted; none is 0', async () => {
  assert.equal(await readMark(rootWith(MARK_FILE), uid), { value: 1700000123, file: MARK_FILE });
  assert.equal(await readMark(rootWith(null), uid), { value: 0, file: null });
});

test("upstream's mark is read when the new one is missing, and only then", async () => {
  assert.equal(await readMark(rootWith(LEGACY_MARK_FILE), uid), { value: 1700000123, file: LEGACY_MARK_FILE });
  const both = rootWith(MARK_FILE, (p) => writeFileSync(p, '5\n'));
  mkdirSync(join(both, 'tmp'));
  writeFileSync(join(both, LEGACY_MARK_FILE), '9\n');
  assert.is((await readMark(both, uid)).value, 5);
});

test('anything else at the mark is not trusted, and says why', async () => {
  const cases: [string, (p: string) => void, RegExp][] = [
    ['another user', () => {}, new RegExp(`owned by uid ${uid}, not ${uid + 1}`)],
    [
      'writable by others',
      (p) => {
        writeFileSync(p, '9999999999\n');
        chmodSync(p, 0o646);
      },
      /writable by group or others \(mode 0646\)/,
    ],
    ['a symbolic link', (p) => symlinkSync('/etc/hostname', p), /a symbolic link/],
    ['a FIFO (never blocks)', (p) => execFileSync('/usr/bin/mknod', [p, 'p']), /not a regular file/],
    ['a directory', (p) => mkdirSync(p), /not a regular file/],
    ['not a number', (p) => writeFileSync(p, 'soon\n'), /not a number/],
  ];
  for (const [what, plant, why] of cases) {
    const root = rootWith(MARK_FILE, what === 'another user' ? undefined : plant);
    const m = await readMark(root, what === 'another user' ? uid + 1 : uid);
    assert.is(m.value, 0, what);
    assert.match(m.distrust ?? '', why, what);
  }
});

test.run();
