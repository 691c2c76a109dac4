// Smaller defects of issue 12 item 8, each through the BUILT executables under
// env -i against the test master: file-object id 0, nodeconfig bytes and
// multi-line values, link targets with a trailing newline, an unrequested
// Content-Encoding, the owner logged by a non-root run, and wwgetvnfs creating
// its --target before it has a master.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { RUN_RECORDS, walkTree, withoutRunRecords } from '../helpers/tree.ts';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sampleFixture } from '../helpers/master/fixtures.ts';
import { deadAddress, startMaster, type RunningMaster } from '../helpers/master/server.ts';
import { bin, run } from '../helpers/exec.ts';
import { HWADDR as HW, nodeEnv } from '../helpers/node.ts';

const HW_PLAIN = '00:11:22:33:44:66'; // a node with regular files, a directory and a link only (no devices)
const isRoot = process.getuid?.() === 0;
let m: RunningMaster;
const sysroot = mkdtempSync(join(tmpdir(), 'sysroot-'));
chmodSync(sysroot, 0o755); // readable by the unprivileged run too
const newRoot = () => mkdtempSync(join(tmpdir(), 'newroot-'));
const env = (extra: Record<string, string> = {}) => nodeEnv(m, extra);
const base = ['--sysroot', sysroot];
const wwgetfiles = (root: string, args: string[] = [], extra: Record<string, string> = {}, opts = {}) =>
  run(bin('wwgetfiles'), [...base, '--no-delay', ...args], { env: env({ NEWROOT: root, ...extra }), ...opts });

test.before(async () => {
  const fx = sampleFixture();
  fx.files.push(
    { id: 30, name: 'motd', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 1700002000, path: '/etc/motd', content: 'hello\n' },
    { id: 31, name: 'optdir', type: 'dir', mode: 0o755, uid: 0, gid: 0, timestamp: 1700002001, path: '/opt/ww' },
    // As an admin's editor leaves it: the target with a newline after it.
    {
      id: 32,
      name: 'nl-link',
      type: 'link',
      mode: 0o777,
      uid: 0,
      gid: 0,
      timestamp: 1700002002,
      path: '/opt/ww/current',
      content: 'release-1.2\n',
    },
    { id: 33, name: 'conf', type: 'file', mode: 0o600, uid: 0, gid: 0, timestamp: 1700002003, path: '/opt/ww/conf', content: 'x=1\n' },
  );
  fx.nodes.push({ hwaddr: HW_PLAIN, name: 'n0001', fileIds: [30, 31, 32, 33] });
  m = await startMaster(fx, { privilegedPorts: isRoot });
});
test.after(() => m.stop());

test('a file-object id 0 (the master answers fileid=0 with the list) makes the list malformed: nothing installed', async () => {
  const fx = m.fixture;
  fx.files.push({
    id: 0,
    name: 'zero',
    type: 'file',
    mode: 0o644,
    uid: 0,
    gid: 0,
    timestamp: 1700000150,
    path: '/etc/zero',
    content: 'never',
  });
  fx.nodes[0].fileIds!.push(0);
  try {
    const root = newRoot();
    const r = await wwgetfiles(root);
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /file list line 3 is malformed: file object id 0/);
    assert.not.ok(existsSync(join(root, 'etc/zero')), 'the list was not installed as a file');
    // Nothing at all from a malformed list: only the run's record, which says so.
    assert.equal(withoutRunRecords(walkTree(root)), [], 'nothing at all from a malformed list');
    assert.match(JSON.parse(readFileSync(join(root, RUN_RECORDS, 'wwgetfiles.json'), 'utf8')).error, /file object id 0/);
  } finally {
    fx.nodes[0].fileIds!.pop();
    fx.files.pop();
  }
});

test('wwgetnodeconfig prints the bytes as sent, not U+FFFD for non-UTF-8', async () => {
  const body = Buffer.concat([
    Buffer.from('WWNAME="n0000"\nexport WWNAME\nWWDESC="caf'),
    Buffer.from([0xe9, 0xff]),
    Buffer.from('"\nexport WWDESC\n'),
  ]);
  m.options.fault = (req) => (req.path === '/WW/nodeconfig' ? { kind: 'body', body } : undefined);
  try {
    const r = await run(bin('wwgetnodeconfig'), base, { env: env() });
    assert.is(r.code, 0, r.stderr);
    assert.ok(r.stdoutBytes.equals(body), `printed ${JSON.stringify(r.stdoutBytes.toString('latin1'))}`);
  } finally {
    m.options.fault = undefined;
  }
});

test('a multi-line double-quoted value is node configuration: no warning, and in --json', async () => {
  const body = 'WWNAME="n0000"\nexport WWNAME\nWWMOTD="line one\n  line two  \nline three"\nexport WWMOTD\nWWAFTER="x"\nexport WWAFTER\n';
  m.options.fault = (req) => (req.path === '/WW/nodeconfig' ? { kind: 'body', body } : undefined);
  try {
    const plain = await run(bin('wwgetnodeconfig'), base, { env: env() });
    assert.is(plain.code, 0, plain.stderr);
    assert.is(plain.stderr, '', 'no "not a shell assignment" warning');
    assert.is(plain.stdout, body);
    const j = await run(bin('wwgetnodeconfig'), [...base, '--json'], { env: env() });
    assert.is(j.code, 0, j.stderr);
    assert.is(j.stderr, '');
    assert.equal(JSON.parse(j.stdout), { WWNAME: 'n0000', WWMOTD: 'line one\n  line two  \nline three', WWAFTER: 'x' });
  } finally {
    m.options.fault = undefined;
  }
});

test('a link target with a trailing newline loses it (as upstream $(cat) does), and a re-run finds it unchanged', async () => {
  const root = newRoot();
  const r = await wwgetfiles(root, [], { WWINIT_HWADDR: HW_PLAIN });
  assert.is(r.code, 0, r.stderr);
  assert.is(readlinkSync(join(root, 'opt/ww/current')), 'release-1.2');
  const again = await wwgetfiles(root, ['-F'], { WWINIT_HWADDR: HW_PLAIN });
  assert.is(again.code, 0, again.stderr);
  assert.match(again.stderr, /4 listed, 0 installed, 4 unchanged/);
});

test('an unrequested Content-Encoding on a file body is refused, not installed', async () => {
  const content = gzipSync(Buffer.from('hello\n'));
  m.options.fault = (req) =>
    req.path === '/WW/file' && req.query.fileid === '30'
      ? { kind: 'body', body: content, contentType: 'application/octet-stream', headers: { 'Content-Encoding': 'gzip' } }
      : undefined;
  try {
    const root = newRoot();
    const r = await wwgetfiles(root, ['--attempts', '1'], { WWINIT_HWADDR: HW_PLAIN });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, /\/etc\/motd: .*Content-Encoding 'gzip'/);
    assert.not.ok(existsSync(join(root, 'etc/motd')), 'the compressed bytes were not installed');
    assert.is(readFileSync(join(root, 'opt/ww/conf'), 'utf8'), 'x=1\n', 'the other objects were');
  } finally {
    m.options.fault = undefined;
  }
});

test('an unrequested Content-Encoding on a script is refused: nothing printed', async () => {
  m.options.fault = (req) =>
    req.path === '/WW/script' ? { kind: 'body', body: gzipSync('echo hi\n'), headers: { 'Content-Encoding': 'gzip' } } : undefined;
  try {
    const r = await run(bin('wwgetscript'), [...base, '--attempts', '1', 'runtime'], { env: env() });
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, /Content-Encoding 'gzip'/);
  } finally {
    m.options.fault = undefined;
  }
});

test('a non-root run logs the owner its files really got, not the listed 0:0', async () => {
  if (!isRoot) return; // needs root to become another user
  const root = newRoot();
  chownSync(root, 65534, 65534);
  m.options.privilegedPorts = false; // an unprivileged process cannot bind ports below 1024
  const r = await wwgetfiles(root, ['-v'], { WWINIT_HWADDR: HW_PLAIN }, { uid: 65534, gid: 65534 }).finally(() => {
    m.options.privilegedPorts = isRoot;
  });
  assert.is(r.code, 0, r.stderr);
  assert.is(lstatSync(join(root, 'etc/motd')).uid, 65534);
  assert.match(r.stderr, /created \/etc\/motd \(file 0644 65534:65534\)/);
  assert.match(r.stderr, /created \/opt\/ww \(dir 0755 65534:65534\)/);
  assert.match(r.stderr, /created \/opt\/ww\/current \(link 0777 65534:65534\)/);
  assert.not.match(r.stderr, / 0:0\)/);
});

test('wwgetvnfs creates nothing before a master has answered', async () => {
  const parent = newRoot();
  const target = join(parent, 'a', 'new', 'target');
  // No master configured at all.
  const none = await run(bin('wwgetvnfs'), [...base, '--target', target], { env: { WWINIT_HWADDR: HW } });
  assert.is(none.code, 2);
  assert.match(none.stderr, /Could not identify master node!/);
  assert.equal(readdirSync(parent), [], 'no target made for lack of a master');
  // A master that never answers.
  const dead = await deadAddress();
  const gone = await run(bin('wwgetvnfs'), [...base, '--target', target, '--attempts', '1'], { env: env({ WWMASTER: dead }) });
  assert.is(gone.code, 2);
  assert.equal(readdirSync(parent), [], 'no target made without an answer');
  // A master that answers: the target is made then.
  const ok = await run(bin('wwgetvnfs'), [...base, '--target', target], { env: env() });
  assert.is(ok.code, 0, ok.stderr);
  assert.ok(existsSync(join(target, 'sbin/init')));
});

test.run();
