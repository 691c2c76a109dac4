// wwgetfiles applies objects as if one by one in list order (upstream does),
// while downloads overlap: the BUILT executable against the test master.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileObject, Fixture } from '../helpers/master/fixtures.ts';
import { startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { isRunRecord, walkTree } from '../helpers/tree.ts';

const HW = '00:11:22:33:44:66';
let m: RunningMaster;
const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-'));
const newRoot = () => mkdtempSync(join(tmpdir(), 'order-root-'));
const wwgetfiles = (root: string, args: string[] = []) =>
  run(bin('wwgetfiles'), ['--sysroot', sysroot, '--no-delay', ...args], { env: { WWMASTER: m.address, WWINIT_HWADDR: HW, NEWROOT: root } });

const obj = (o: Omit<FileObject, 'uid' | 'gid' | 'name'>): FileObject => ({ uid: 0, gid: 0, name: `o${o.id}`, ...o });

/** Gives the node exactly these objects. */
function publish(files: FileObject[]): void {
  m.fixture.files = files;
  m.fixture.nodes[0].fileIds = files.map((f) => f.id);
}

/** Every entry under dir (type, mode, content or target), for comparing whole trees. */
function tree(dir: string): Record<string, string> {
  return Object.fromEntries(
    walkTree(dir, { skip: isRunRecord }).map(({ rel, path, type, mode, link }) => [
      `/${rel}`,
      type === 'link' ? `l>${link}` : type === 'dir' ? `d${mode.toString(8)}` : `f${mode.toString(8)}:${readFileSync(path, 'utf8')}`,
    ]),
  );
}

const LIB: FileObject[] = [
  obj({ id: 1, type: 'dir', mode: 0o755, timestamp: 99, path: '/usr/lib' }),
  obj({ id: 2, type: 'link', mode: 0o777, timestamp: 100, path: '/lib', content: 'usr/lib' }),
  obj({ id: 3, type: 'file', mode: 0o755, timestamp: 101, path: '/lib/foo.so', content: 'FOO' }),
  obj({ id: 4, type: 'file', mode: 0o755, timestamp: 102, path: '/lib/bar.so', content: 'BAR' }),
];

test.before(async () => {
  const fixture: Fixture = { nodes: [{ hwaddr: HW, name: 'n0001', fileIds: [] }], files: [] };
  m = await startMaster(fixture, { privilegedPorts: process.getuid?.() === 0 });
});
test.after(() => m.stop());

test('/lib -> usr/lib before files under /lib: the link exists first, on the first run and on -F runs', async () => {
  publish(LIB);
  // The link's target arrives slowly, so the later files are ready first: they must still wait for it.
  m.options.fault = (req) => (req.query.fileid === '2' ? { kind: 'delay', ms: 400 } : undefined);
  try {
    const root = newRoot();
    const r = await wwgetfiles(root);
    assert.is(r.code, 0, r.stderr);
    assert.is(readlinkSync(join(root, 'lib')), 'usr/lib');
    assert.is(readFileSync(join(root, 'usr/lib/foo.so'), 'utf8'), 'FOO');
    assert.is(readFileSync(join(root, 'usr/lib/bar.so'), 'utf8'), 'BAR');
    for (let i = 0; i < 2; i++) {
      const f = await wwgetfiles(root, ['-F']);
      assert.is(f.code, 0, f.stderr);
      assert.match(f.stderr, /4 listed, 0 installed, 4 unchanged, 0 failed/);
    }
  } finally {
    m.options.fault = undefined;
  }
});

test('the same tree whatever the concurrency, and downloads still overlap', async () => {
  // Link, directory and files interleaved; a file at a path a later object replaces by a link.
  const files: FileObject[] = [
    ...LIB,
    obj({ id: 5, type: 'dir', mode: 0o750, timestamp: 103, path: '/opt/a' }),
    obj({ id: 6, type: 'link', mode: 0o777, timestamp: 104, path: '/opt/b', content: 'a' }),
    obj({ id: 7, type: 'dir', mode: 0o700, timestamp: 105, path: '/opt/b/sub' }),
    obj({ id: 8, type: 'file', mode: 0o644, timestamp: 106, path: '/opt/b/sub/x', content: 'X' }),
    obj({ id: 9, type: 'file', mode: 0o644, timestamp: 107, path: '/opt/c', content: 'was a file' }),
    obj({ id: 10, type: 'link', mode: 0o777, timestamp: 108, path: '/opt/c', content: 'a/sub' }),
    obj({ id: 11, type: 'file', mode: 0o600, timestamp: 109, path: '/opt/c/y', content: 'Y' }),
    ...Array.from({ length: 8 }, (_, i) =>
      obj({ id: 20 + i, type: 'file', mode: 0o644, timestamp: 110 + i, path: `/opt/a/f${i}`, content: `f${i}` }),
    ),
  ];
  publish(files);
  const trees: Record<string, string>[] = [];
  for (const c of ['1', '2', '4', '16']) {
    const root = newRoot();
    const r = await wwgetfiles(root, ['--concurrency', c]);
    assert.is(r.code, 0, `--concurrency ${c}: ${r.stderr}`);
    trees.push(tree(root));
    const again = await wwgetfiles(root, ['-F', '--concurrency', c]);
    assert.is(again.code, 0, again.stderr);
    assert.match(again.stderr, /0 installed/);
  }
  for (const t of trees.slice(1)) assert.equal(t, trees[0]);
  assert.is(trees[0]['/opt/b'], 'l>a');
  assert.is(trees[0]['/opt/c'], 'l>a/sub');
  assert.is(trees[0]['/opt/a/sub/y'], 'f600:Y');

  // Overlap: every content request waits 600 ms at the master; in list order one at a time, the second
  // request would arrive only after the first was answered.
  const arrivals: number[] = [];
  m.options.fault = (req) => {
    if (!req.query.fileid || Number(req.query.fileid) < 20) return undefined;
    arrivals.push(Date.now());
    return { kind: 'delay', ms: 600 };
  };
  try {
    const r = await wwgetfiles(newRoot(), ['--concurrency', '4']);
    assert.is(r.code, 0, r.stderr);
  } finally {
    m.options.fault = undefined;
  }
  assert.is(arrivals.length, 8);
  const early = arrivals.filter((t) => t < arrivals[0] + 600).length;
  assert.ok(early >= 2, `downloads overlap (${early} requests in flight together)`);
});

test('the same path twice: the later line wins, and -F runs converge', async () => {
  const files: FileObject[] = [
    obj({ id: 1, type: 'file', mode: 0o644, timestamp: 200, path: '/srv/x', content: 'old file' }),
    obj({ id: 2, type: 'dir', mode: 0o755, timestamp: 201, path: '/srv/x' }),
    obj({ id: 3, type: 'dir', mode: 0o755, timestamp: 202, path: '/srv/y' }),
    obj({ id: 4, type: 'link', mode: 0o777, timestamp: 203, path: '/srv/y', content: 'x' }),
    obj({ id: 5, type: 'link', mode: 0o777, timestamp: 204, path: '/srv/z', content: 'x' }),
    obj({ id: 6, type: 'file', mode: 0o640, timestamp: 205, path: '//srv/./z', content: 'Z' }),
    obj({ id: 7, type: 'file', mode: 0o644, timestamp: 206, path: '/srv/w', content: 'first' }),
    obj({ id: 8, type: 'file', mode: 0o600, timestamp: 207, path: '/srv/w', content: 'second' }),
  ];
  publish(files);
  const root = newRoot();
  const r = await wwgetfiles(root);
  assert.is(r.code, 0, r.stderr);
  const want = { '/w': 'f600:second', '/x': 'd755', '/y': 'l>x', '/z': 'f640:Z' };
  assert.equal(tree(join(root, 'srv')), want);
  for (let i = 0; i < 2; i++) {
    const f = await wwgetfiles(root, ['-F']);
    assert.is(f.code, 0, f.stderr);
    assert.match(f.stderr, /0 installed/);
    assert.equal(tree(join(root, 'srv')), want, 'nothing moved aside, nothing added');
  }
});

test('a directory listed after a file inside it is made with its own mode, never 0755 meanwhile', async () => {
  publish([
    obj({ id: 1, type: 'file', mode: 0o600, timestamp: 500, path: '/p/q/secret', content: 'S' }),
    obj({ id: 2, type: 'dir', mode: 0o700, timestamp: 501, path: '/p/q' }),
  ]);
  m.options.fault = (req) => (req.query.fileid === '1' ? { kind: 'delay', ms: 800 } : undefined);
  const root = newRoot();
  const seen = new Set<string>();
  const poll = setInterval(() => {
    try {
      seen.add((lstatSync(join(root, 'p/q')).mode & 0o777).toString(8));
    } catch {
      /* not there yet */
    }
  }, 5);
  try {
    const r = await wwgetfiles(root);
    assert.is(r.code, 0, r.stderr);
  } finally {
    clearInterval(poll);
    m.options.fault = undefined;
  }
  assert.equal([...seen], ['700'], 'the directory only ever had its own mode');
  assert.is(readFileSync(join(root, 'p/q/secret'), 'utf8'), 'S');
});

test('a slow first object does not stall or reorder a long list (no deadlock at any concurrency)', async () => {
  const files: FileObject[] = [
    obj({ id: 1, type: 'file', mode: 0o644, timestamp: 300, path: '/big/first', content: 'first' }),
    ...Array.from({ length: 60 }, (_, i) =>
      obj({ id: 10 + i, type: 'file', mode: 0o644, timestamp: 301 + i, path: `/big/d${i % 3}/f${i}`, content: `${i}` }),
    ),
    obj({ id: 2, type: 'link', mode: 0o777, timestamp: 400, path: '/big/last', content: 'first' }),
  ];
  publish(files);
  m.options.fault = (req) => (req.query.fileid === '1' ? { kind: 'delay', ms: 500 } : undefined);
  try {
    for (const c of ['1', '3', '64']) {
      const root = newRoot();
      const r = await wwgetfiles(root, ['--concurrency', c]);
      assert.is(r.code, 0, r.stderr);
      assert.match(r.stderr, /62 listed, 62 installed/);
      assert.is(readFileSync(join(root, 'big/d2/f59'), 'utf8'), '59');
      assert.equal(
        readdirSync(join(root, 'big/d0')).filter((n) => n.includes('.ww')),
        [],
        'no temporaries left',
      );
    }
  } finally {
    m.options.fault = undefined;
  }
});

test.run();
