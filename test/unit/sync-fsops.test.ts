// Issue 13: wwgetfiles' per-file overhead. Every asynchronous fs call is a
// round trip through libuv's thread pool (futex wakes, an eventfd write), which
// for a small file costs more than the call itself: 205 small files made 13,088
// futex calls. This counts the thread-pool fs requests a sync makes, through
// async_hooks (one resource per request), so the bound holds whatever the
// machine's speed: not a timing test.
import { createHook } from 'node:async_hooks';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { memoryLogger } from '../../src/core/log.ts';
import { syncFiles } from '../../src/core/files/job.ts';
import { processIdentity } from '../../src/core/identity.ts';
import { bigFixture } from '../helpers/master/fixtures.ts';
import { testClient } from '../helpers/client.ts';
import { startMaster } from '../helpers/master/server.ts';

const FS_REQUESTS = new Set(['FSREQCALLBACK', 'FSREQPROMISE', 'FILEHANDLECLOSEREQ']);

async function countFsRequests(run: () => Promise<unknown>): Promise<number> {
  let n = 0;
  const hook = createHook({
    init(_id, type) {
      if (FS_REQUESTS.has(type)) n++;
    },
  });
  hook.enable();
  try {
    await run();
  } finally {
    hook.disable();
  }
  return n;
}

test('a full sync of 200 small files makes at most 2 thread-pool fs requests per file (the fsync, and not much else)', async () => {
  const FILES = 200;
  const fixture = bigFixture(1, FILES, 200); // 32 directories under /opt/bench
  const master = await startMaster(fixture, { privilegedPorts: false });
  const root = mkdtempSync(join(tmpdir(), 'ww-fsops-'));
  const c = testClient(master.address);
  try {
    const sync = () =>
      syncFiles({
        client: c,
        hwaddr: fixture.nodes[0].hwaddr,
        root,
        log: memoryLogger(),
        identity: processIdentity(),
        useMark: true,
        forceFull: false,
        dryRun: false,
        concurrency: 4,
        chown: false,
      });
    let report: Awaited<ReturnType<typeof sync>> | undefined;
    const n = await countFsRequests(async () => (report = await sync()));
    assert.is(report!.installed, FILES, report!.errors.join('\n'));
    assert.is(readdirSync(join(root, 'opt/bench')).length, 32);
    const perFile = n / FILES;
    assert.ok(perFile <= 2, `${n} thread-pool fs requests for ${FILES} files: ${perFile.toFixed(1)} per file`);
  } finally {
    c.close();
    await master.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
