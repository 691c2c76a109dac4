// An existing file LONGER than the new content, which matches its beginning
// (a strict prefix): the download already compared every byte, so the
// replacement is made from it and the matching prefix of the old file, with
// one content request, not a second download.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { memoryLogger } from '../../src/core/log.ts';
import { syncFiles } from '../../src/core/files/job.ts';
import { processIdentity } from '../../src/core/identity.ts';
import type { Fixture } from '../helpers/master/fixtures.ts';
import { testClient } from '../helpers/client.ts';
import { startMaster } from '../helpers/master/server.ts';

const HW = '02:00:00:00:00:07';

async function syncOver(existing: string, content: string, concurrency: number, dryRun = false) {
  const fixture: Fixture = {
    nodes: [{ hwaddr: HW, name: 'n7', fileIds: [1] }],
    files: [{ id: 1, name: 'a', type: 'file', mode: 0o640, uid: 0, gid: 0, timestamp: 100, path: '/etc/a', content }],
  };
  const master = await startMaster(fixture);
  const root = mkdtempSync(join(tmpdir(), 'ww-prefix-'));
  mkdirSync(join(root, 'etc'));
  writeFileSync(join(root, 'etc/a'), existing);
  chmodSync(join(root, 'etc/a'), 0o640);
  const c = testClient(master.address);
  try {
    const r = await syncFiles({
      client: c,
      hwaddr: HW,
      root,
      log: memoryLogger(),
      identity: processIdentity(),
      useMark: false,
      forceFull: false,
      dryRun,
      concurrency,
      chown: false,
    });
    return {
      r,
      contentRequests: master.requests.filter((q) => q.query.fileid === '1').length,
      now: readFileSync(join(root, 'etc/a'), 'utf8'),
      mode: statSync(join(root, 'etc/a')).mode & 0o7777,
    };
  } finally {
    c.close();
    await master.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

for (const concurrency of [1, 4]) {
  test(`existing file longer than the new content (a strict prefix): one content request (concurrency ${concurrency})`, async () => {
    const { r, contentRequests, now, mode } = await syncOver('line one\nline two\n', 'line one\n', concurrency);
    assert.is(r.installed, 1, r.errors.join('\n'));
    assert.is(now, 'line one\n');
    assert.is(mode, 0o640);
    assert.is(contentRequests, 1, 'the matching prefix is reused, not downloaded again');
  });
}

test('a prefix of several MiB (copied in parts) is reused whole', async () => {
  const big = 'a'.repeat(3 * 1024 * 1024 + 17);
  const { r, contentRequests, now } = await syncOver(`${big}and more`, big, 4);
  assert.is(r.installed, 1, r.errors.join('\n'));
  assert.ok(now === big, 'the new content exactly');
  assert.is(contentRequests, 1);
});

test('dry run over a longer file: would replace, nothing written, one content request', async () => {
  const { r, contentRequests, now } = await syncOver('line one\nline two\n', 'line one\n', 4, true);
  assert.is(r.installed, 1, r.errors.join('\n'));
  assert.match(r.changes[0], /^replace \/etc\/a .*, 9 bytes$/);
  assert.is(now, 'line one\nline two\n');
  assert.is(contentRequests, 1);
});

test('empty new content over a non-empty file: replaced by an empty file, one content request', async () => {
  const { r, contentRequests, now } = await syncOver('old\n', '', 4);
  assert.is(r.installed, 1, r.errors.join('\n'));
  assert.is(now, '');
  assert.is(contentRequests, 1);
});

test('identical content: unchanged, nothing written', async () => {
  const { r, contentRequests, now } = await syncOver('same\n', 'same\n', 4);
  assert.is(r.unchanged, 1, r.errors.join('\n'));
  assert.is(now, 'same\n');
  assert.is(contentRequests, 1);
});

test.run();
