import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseFileList, parseFileListLine } from '../../src/core/protocol/filelist.ts';
import { nextMark } from '../../src/core/files/mark.ts';
import { startDelaySeconds } from '../../src/core/files/delay.ts';

test('regular file line has two spaces before the mode', () => {
  const e = parseFileListLine('12 hosts 0 0  0644 1700000000 /etc/hosts', 1);
  assert.equal(
    { id: e.id, name: e.name, uid: e.uid, gid: e.gid, type: e.type, mode: e.mode, ts: e.timestamp, path: e.path },
    { id: 12, name: 'hosts', uid: 0, gid: 0, type: 'file', mode: 0o644, ts: 1700000000, path: '/etc/hosts' },
  );
});

test('every type character, setuid bits, paths with spaces', () => {
  const list = parseFileList(
    [
      '1 d 0 0 d0755 1 /opt/dir',
      '2 l 0 0 l0777 2 /etc/link',
      '3 b 0 6 b0660 3 /dev/sdz',
      '4 c 0 5 c0620 4 /dev/ttyX',
      '5 p 0 0 p0600 5 /run/fifo',
      '6 s 0 0 s0755 6 /run/sock',
      '7 su 0 0  4755 7 /usr/bin/with space here  ',
      '',
    ].join('\r\n'),
  );
  assert.equal(
    list.map((e) => e.type),
    ['dir', 'link', 'block', 'char', 'fifo', 'socket', 'file'],
  );
  assert.is(list[6].mode, 0o4755);
  assert.is(list[6].path, '/usr/bin/with space here');
});

test('malformed lists are refused whole', () => {
  const bad = [
    '<html><body>Not Found</body></html>',
    '1 name 0 0 x0644 1 /etc/x',
    '1 name 0 0  0999 1 /etc/x',
    '-1 name 0 0  0644 1 /etc/x',
    '1 name 0 0  0644 1',
    '1 name 99999999999 0  0644 1 /etc/x',
    '1 name 4294967295 0  0644 1 /etc/x',
    '99999999999999999999 name 0 0  0644 1 /etc/x',
    '1 name 0 0  0644 1 /etc/x\0y',
  ];
  for (const b of bad) assert.throws(() => parseFileList(`1 ok 0 0  0644 1 /etc/ok\n${b}\n`), /malformed|out-of-range|NUL/, b);
});

test('file-object id 0 (what the master answers fileid=0 with: the list) is refused, whole list', () => {
  for (const id of ['0', '00', '000000']) {
    assert.throws(() => parseFileList(`1 ok 0 0  0644 1 /etc/ok\n${id} list 0 0  0644 2 /etc/x\n`), /line 2 .*id 0/, id);
  }
  assert.is(parseFileList('1 ok 0 0  0644 1 /etc/ok\n').length, 1);
});

test('mark advances only past handled objects', () => {
  const r = (ts: number, outcome: 'installed' | 'failed' | 'unchanged') => ({ entry: { timestamp: ts } as never, outcome });
  assert.is(nextMark(5, []), 5);
  assert.is(nextMark(5, [r(10, 'installed'), r(20, 'unchanged')]), 20);
  assert.is(nextMark(5, [r(10, 'installed'), r(15, 'failed'), r(20, 'installed')]), 14);
  assert.is(nextMark(5, [r(6, 'failed'), r(20, 'installed')]), 5);
});

test('start delay: SLEEPTIME, interval, initramfs, zero', () => {
  assert.is(startDelaySeconds({ inInitramfs: true, sleeptime: 50 }), 0);
  assert.is(startDelaySeconds({ inInitramfs: false, sleeptime: 7, interval: 100 }), 7);
  assert.is(startDelaySeconds({ inInitramfs: false, interval: 0 }), 0);
  assert.is(startDelaySeconds({ inInitramfs: false, random: () => 0.999 }), 179);
  assert.is(startDelaySeconds({ inInitramfs: false, interval: 10, random: () => 0.5 }), 5);
});

test.run();
