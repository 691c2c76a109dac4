// Bounds on time (issue 12.3): --max-time for one request's whole answer, a rate
// bound for the VNFS image, a deadline for the whole run, and a per-object bound
// on retries in wwgetfiles. Every test is bounded itself: a hang fails fast.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryLogger } from '../../src/core/log.ts';
import { readBody } from '../../src/core/net/body.ts';
import { MasterClient, type MasterClientOptions, type RequestLimits } from '../../src/core/net/client.ts';
import { parseMasterList } from '../../src/core/settings/masters.ts';
import { syncFiles } from '../../src/core/files/job.ts';
import { processIdentity } from '../../src/core/identity.ts';
import { bounded } from '../helpers/bounded.ts';
import type { Fixture } from '../helpers/master/fixtures.ts';
import { startMaster } from '../helpers/master/server.ts';

/**
 * A master that answers every request with `answer`, written `step` bytes every
 * `everyMs` (headers included): never silent, never done in time.
 */
async function trickler(answer: string | ((n: number) => string), everyMs = 100, step = 1) {
  const socks = new Set<net.Socket>();
  let n = 0;
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
    s.once('data', () => {
      const text = Buffer.from(typeof answer === 'string' ? answer : answer(++n));
      let off = 0;
      const t = setInterval(() => {
        if (s.destroyed || off >= text.length) return clearInterval(t);
        s.write(text.subarray(off, off + step));
        off += step;
      }, everyMs);
      s.on('close', () => clearInterval(t));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}

const ok = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

function client(masters: string, extra: Partial<MasterClientOptions> & { attempts?: number; stepMs?: number } = {}) {
  const sleeps: number[] = [];
  const { attempts, stepMs, ...rest } = extra;
  const c = new MasterClient({
    masters: parseMasterList(masters),
    scheme: 'http',
    connect: { sourcePort: 'any', connectTimeoutMs: 1000 },
    idleTimeoutMs: 5000,
    retry: { attempts: attempts ?? 1, stepMs: stepMs ?? 1000 },
    log: memoryLogger(),
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5, // the jitter's middle: upstream's steps exactly
    ...rest,
  });
  return { c, sleeps };
}

const text = (c: MasterClient, limits?: RequestLimits) =>
  c.get('/WW/script', { hwaddr: 'aa', type: 'runtime' }, async (r) => (await readBody(r)).toString(), undefined, limits);

test('--max-time: a master trickling one byte at a time (never silent) is abandoned at the deadline', async () => {
  const m = await trickler(ok('echo never finished\n'.repeat(50)));
  const { c } = client(m.address, { maxTimeMs: 800 });
  const t0 = Date.now();
  try {
    await bounded(text(c), 5000, 'a trickled answer under --max-time 0.8').then(
      () => assert.unreachable(),
      (e) => {
        assert.not.match(e.message, /HUNG/, e.message);
        assert.is(e.code, 'WW_GAVE_UP');
        assert.is(e.retry, true, 'the deadline is a transient failure of that request');
        assert.match(e.message, /no complete answer within 0\.8 s \(--max-time\)/);
      },
    );
    const took = Date.now() - t0;
    assert.ok(took >= 750 && took < 2500, `took ${took} ms`);
  } finally {
    c.close();
    await m.close();
  }
});

test('--max-time: hitting it fails over to the next master', async () => {
  const slow = await trickler(ok('echo slow\n'));
  const fast = await trickler(ok('echo fast\n'), 1, 4096);
  const { c } = client(`${slow.address},${fast.address}`, { maxTimeMs: 500 });
  try {
    assert.is(await bounded(text(c), 5000, 'failover after --max-time'), 'echo fast\n');
  } finally {
    c.close();
    await slow.close();
    await fast.close();
  }
});

test('the VNFS image: no --max-time by default, but a rate bound (bytes per second over a window)', async () => {
  // 10 bytes/s against a bound of 1000 bytes/s over 0.6 s: dead, not slow.
  const dead = await trickler(ok('x'.repeat(100_000)));
  const { c } = client(dead.address, { maxTimeMs: 200, speedLimit: { bytesPerSec: 1000, windowMs: 600 } });
  const t0 = Date.now();
  try {
    await bounded(text(c, { image: true }), 5000, 'a trickled image').then(
      () => assert.unreachable(),
      (e) => {
        assert.not.match(e.message, /HUNG/, e.message);
        assert.equal([e.code, e.retry], ['WW_GAVE_UP', true]);
        assert.match(e.message, /slower than 1000 bytes\/s over 0\.6 s/);
      },
    );
    assert.ok(Date.now() - t0 >= 550, 'not before a whole window has passed');
  } finally {
    c.close();
    await dead.close();
  }
  // 40,000 bytes/s for 1.5 s: slow but alive, and longer than the 0.2 s --max-time of the small answers.
  const body = 'y'.repeat(60_000);
  const slow = await trickler(ok(body), 50, 2000);
  const s = client(slow.address, { maxTimeMs: 200, speedLimit: { bytesPerSec: 1000, windowMs: 600 } });
  try {
    assert.is((await bounded(text(s.c, { image: true }), 8000, 'a slow image')).length, body.length);
  } finally {
    s.c.close();
    await slow.close();
  }
});

test('the run deadline (--max-run) ends a request in flight and the back-off', async () => {
  const m = await trickler(ok('echo never finished\n'.repeat(50)));
  const { c } = client(m.address, { maxTimeMs: 60_000, deadline: Date.now() + 700, attempts: 30, stepMs: 0 });
  const t0 = Date.now();
  try {
    await bounded(text(c), 5000, 'a request past the run deadline').then(
      () => assert.unreachable(),
      (e) => assert.match(e.message, /run time limit \(--max-run\) reached/),
    );
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    c.close();
    await m.close();
  }
  // A back-off sleep that would end past the deadline is not slept: the run gives up at once.
  const dead = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => r(port));
    });
  });
  const d = client(`127.0.0.1:${dead}`, { deadline: Date.now() + 3000, attempts: 30, stepMs: 2000 });
  await bounded(text(d.c), 5000, 'back-off past the deadline').then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /run time limit \(--max-run\).*connection refused/),
  );
  assert.equal(d.sleeps, [2000], 'the 2 s sleep ends before the deadline; the 4 s one would not, so it is not slept');
});

test('a per-request bound on rounds overrides the client policy', async () => {
  const dead = await new Promise<number>((r) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => r(port));
    });
  });
  const { c, sleeps } = client(`127.0.0.1:${dead}`, { attempts: 30, stepMs: 2000 });
  await bounded(text(c, { attempts: 3 }), 5000, 'three rounds').then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /gave up after 3 attempt\(s\)/),
  );
  assert.equal(sleeps, [2000, 4000]);
});

test('wwgetfiles: an object whose download keeps getting cut fails after a few rounds; the others install; the mark stays below it', async () => {
  const fixture: Fixture = {
    nodes: [{ hwaddr: '02:00:00:00:00:01', name: 'n1', fileIds: [1, 2, 3] }],
    files: [
      { id: 1, name: 'a', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 100, path: '/etc/a', content: 'A\n' },
      { id: 2, name: 'b', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 200, path: '/etc/b', content: 'B'.repeat(5000) },
      { id: 3, name: 'c', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 300, path: '/etc/c', content: 'C\n' },
    ],
  };
  const master = await startMaster(fixture, { fault: (r) => (r.query.fileid === '2' ? { kind: 'cut', afterBytes: 100 } : undefined) });
  const root = mkdtempSync(join(tmpdir(), 'ww-objretry-'));
  const { c, sleeps } = client(master.address, { attempts: 30, stepMs: 2000 });
  const log = memoryLogger();
  try {
    const r = await bounded(
      syncFiles({
        client: c,
        hwaddr: '02:00:00:00:00:01',
        root,
        log,
        identity: processIdentity(),
        useMark: true,
        forceFull: false,
        dryRun: false,
        concurrency: 4,
        chown: false,
        objectAttempts: 3,
      }),
      10_000,
      'wwgetfiles with one object always cut',
    );
    assert.is(r.failed, 1);
    assert.is(r.installed, 2);
    assert.is(master.requests.filter((q) => q.query.fileid === '2').length, 3, 'three rounds for that object, not 30');
    assert.equal(sleeps, [2000, 4000]);
    assert.match(r.errors[0], /\/etc\/b: gave up after 3 attempt\(s\)/);
    assert.is(r.markAfter, 199, 'the mark stays below the failed object');
    assert.is(readFileSync(join(root, 'var/lib/wwruntime/wwgetfiles_timestamp'), 'utf8'), '199\n');
    assert.ok(existsSync(join(root, 'etc/c')) && !existsSync(join(root, 'etc/b')));
  } finally {
    c.close();
    await master.stop();
    rmSync(root, { recursive: true, force: true });
  }
});

test.run();
