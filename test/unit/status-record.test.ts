// The run record (core/status/record.ts): written whole, never through a planted link, read back
// only as a tool writes it; a killed run leaves `started` with the run before it; bounded size.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  chmodSync,
  chownSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RECORD_MAX_BYTES, RunRecorder, STATUS_DIR, parseRecord, readRecord, recordFile } from '../../src/core/status/record.ts';

const identity = { uid: process.getuid!(), root: process.getuid!() === 0 };
const me = [identity.uid];
const newRoot = () => mkdtempSync(join(tmpdir(), 'status-record-'));
let clock = 1_800_000_000;
const recorder = (rootReal: string, tool: 'wwgetfiles' | 'boot' = 'wwgetfiles') =>
  new RunRecorder({ tool, rootReal, identity, version: '9.9.9', pid: 42, now: () => clock });

async function ok(root: string) {
  const r = await readRecord(root, 'wwgetfiles', me);
  if (r.kind !== 'ok') throw new Error(`record ${r.kind}: ${r.kind === 'bad' ? r.why : ''}`);
  return r.record;
}

test('started, then finished: counts, master, marks, last success; mode 0644, the writer owns it, no temporary left', async () => {
  const root = newRoot();
  const rec = recorder(root);
  rec.note({ master: '10.0.0.1:80' });
  assert.is(await rec.begin(), null);
  const s = await ok(root);
  assert.is(s.state, 'started');
  assert.is(s.end, null);
  assert.is(s.previous, null);
  clock += 5;
  rec.note({ counts: { listed: 3, installed: 1, unchanged: 2, failed: 0 }, markBefore: 10, markAfter: 20 });
  assert.is(await rec.finish(0, null), null);
  const f = await ok(root);
  assert.equal(
    {
      state: f.state,
      start: f.start,
      end: f.end,
      exit: f.exit,
      master: f.master,
      markAfter: f.markAfter,
      lastSuccess: f.lastSuccess,
      version: f.version,
    },
    {
      state: 'finished',
      start: clock - 5,
      end: clock,
      exit: 0,
      master: '10.0.0.1:80',
      markAfter: 20,
      lastSuccess: clock,
      version: '9.9.9',
    },
  );
  assert.equal(f.counts, { listed: 3, installed: 1, unchanged: 2, failed: 0 });
  const st = lstatSync(join(root, recordFile('wwgetfiles')));
  assert.is(st.mode & 0o7777, 0o644);
  assert.is(st.uid, identity.uid);
  assert.equal(readdirSync(join(root, STATUS_DIR)), ['wwgetfiles.json']);
});

test('a killed run leaves `started` with the last finished run and the last success; a failure keeps the older success', async () => {
  const root = newRoot();
  const a = recorder(root);
  await a.begin();
  clock += 1;
  await a.finish(0, null);
  const success = clock;
  clock += 300;
  const b = recorder(root);
  await b.begin();
  clock += 1;
  await b.finish(2, 'gave up after 3 attempt(s): connection refused');
  clock += 300;
  await recorder(root).begin(); // ... and is killed: nothing more
  const killed = await ok(root);
  assert.is(killed.state, 'started');
  assert.is(killed.lastSuccess, success);
  assert.is(killed.previous?.exit, 2);
  assert.is(killed.previous?.error, 'gave up after 3 attempt(s): connection refused');
  // The next run: its previous is the last finished one, the killed run is not nested.
  clock += 300;
  const d = recorder(root);
  await d.begin();
  assert.is((await ok(root)).previous?.exit, 2);
  clock += 1;
  await d.finish(0, null);
  const f = await ok(root);
  assert.is(f.previous?.exit, 2);
  assert.is(f.lastSuccess, clock);
  assert.ok(JSON.stringify(f.previous).indexOf('previous') < 0, 'previous carries no previous of its own');
});

test('bounded: a long error line, master or version is cut; the record stays far below the cap', async () => {
  const root = newRoot();
  const rec = new RunRecorder({ tool: 'wwgetfiles', rootReal: root, identity, version: 'v'.repeat(5000), pid: 1, now: () => clock });
  rec.note({ master: 'm'.repeat(5000) });
  await rec.begin();
  for (let i = 0; i < 5; i++) {
    const r = new RunRecorder({ tool: 'wwgetfiles', rootReal: root, identity, version: 'v'.repeat(5000), pid: 1, now: () => clock });
    r.note({ master: 'm'.repeat(5000) });
    await r.begin();
    await r.finish(2, 'e'.repeat(100_000));
  }
  const size = lstatSync(join(root, recordFile('wwgetfiles'))).size;
  assert.ok(size < 4096, `record of ${size} bytes`);
  assert.ok(size < RECORD_MAX_BYTES);
  assert.is((await ok(root)).error?.length, 503);
});

test('a planted symbolic link at the record or its folder is never followed', async () => {
  const root = newRoot();
  const outside = mkdtempSync(join(tmpdir(), 'status-outside-'));
  writeFileSync(join(outside, 'victim'), 'keep\n');
  mkdirSync(join(root, STATUS_DIR), { recursive: true });
  symlinkSync(join(outside, 'victim'), join(root, recordFile('wwgetfiles')));
  assert.equal(await readRecord(root, 'wwgetfiles', me), { kind: 'bad', why: 'a symbolic link' });
  const rec = recorder(root);
  assert.is(await rec.begin(), null);
  assert.is(readFileSync(join(outside, 'victim'), 'utf8'), 'keep\n');
  assert.ok(lstatSync(join(root, recordFile('wwgetfiles'))).isFile(), 'the link was replaced by the record');
  // The folder itself a link leading outside: refused, one line back, nothing written outside.
  const root2 = newRoot();
  mkdirSync(join(root2, 'var/lib/wwruntime'), { recursive: true });
  symlinkSync(outside, join(root2, STATUS_DIR));
  const w = await recorder(root2).begin();
  assert.match(w ?? '', /cannot write the run record .*symbolic link leading outside/);
  assert.equal(readdirSync(outside), ['victim']);
});

test('not trusted: foreign owner, writable by others, hard links, corrupt, truncated, too large, wrong tool', async () => {
  const cases: [string, (p: string) => void, RegExp][] = [
    ['foreign', (p) => chownSync(p, 4242, 4242), /owned by uid 4242/],
    ['writable by others', (p) => chmodSync(p, 0o666), /writable by group or others \(mode 0666\)/],
    ['hard link', (p) => linkSync(p, `${p}.second`), /2 names/],
    ['corrupt', (p) => writeFileSync(p, '{"format":1,"tool":"wwgetfiles",'), /not JSON/],
    ['truncated', (p) => writeFileSync(p, readFileSync(p, 'utf8').slice(0, 100)), /not JSON/],
    ['empty', (p) => writeFileSync(p, ''), /empty/],
    ['too large', (p) => writeFileSync(p, ' '.repeat(RECORD_MAX_BYTES + 1)), /larger than/],
    ['other tool', (p) => writeFileSync(p, readFileSync(p, 'utf8').replace('"wwgetfiles"', '"wwgetvnfs"')), /a record of "wwgetvnfs"/],
    ['bad field', (p) => writeFileSync(p, readFileSync(p, 'utf8').replace(/"exit": 0/, '"exit": "0"')), /bad end or exit/],
  ];
  for (const [what, spoil, why] of cases) {
    if (what === 'foreign' && !identity.root) continue;
    const root = newRoot();
    const rec = recorder(root);
    await rec.begin();
    await rec.finish(0, null);
    spoil(join(root, recordFile('wwgetfiles')));
    const r = await readRecord(root, 'wwgetfiles', me);
    assert.is(r.kind, 'bad', what);
    assert.match((r as { why: string }).why, why, what);
    // The next run does not carry anything of an untrusted record forward.
    const next = recorder(root);
    await next.begin();
    const s = await ok(root);
    assert.is(s.previous, null, what);
    assert.is(s.lastSuccess, null, what);
  }
});

test('parseRecord: the state and its fields must agree', () => {
  const base = { format: 1, tool: 'boot', state: 'finished', start: 1, end: 2, exit: 0, error: null, master: null, counts: null };
  const more = { markBefore: null, markAfter: null, version: 'x', pid: 1, lastSuccess: 2, previous: null };
  assert.type(parseRecord(JSON.stringify({ ...base, ...more }), 'boot'), 'object');
  assert.match(parseRecord(JSON.stringify({ ...base, ...more, end: null }), 'boot') as string, /do not match the state/);
  assert.match(parseRecord(JSON.stringify({ ...base, ...more, format: 2 }), 'boot') as string, /format 2/);
  assert.match(parseRecord('[1]', 'boot') as string, /not a JSON object/);
});

test.run();
