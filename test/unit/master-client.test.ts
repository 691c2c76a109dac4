import { test } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { memoryLogger } from '../../src/core/log.ts';
import { forEachChunk, readBody } from '../../src/core/net/body.ts';
import { MasterClient, type RetryPolicy } from '../../src/core/net/client.ts';
import { embeddedStatus } from '../../src/core/protocol/embedded-status.ts';
import { parseMasterList } from '../../src/core/settings/masters.ts';
import { WwError } from '../../src/core/errors.ts';
import { processIdentity } from '../../src/core/identity.ts';

const isRoot = process.getuid?.() === 0;

/** A raw TCP server answering each request with handler(requestText, socket): full control of the bytes. */
async function rawServer(handler: (req: string, sock: net.Socket) => void) {
  const ports: number[] = [];
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    ports.push(sock.remotePort!);
    let buf = '';
    sock.on('data', (d) => {
      buf += d;
      let end;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const req = buf.slice(0, end);
        buf = buf.slice(end + 4);
        handler(req, sock);
      }
    });
    sock.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    ports,
    conns: () => connections,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.unref();
      }),
  };
}

async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function client(masters: string, retry: Partial<RetryPolicy> = {}, extra: { sourcePort?: 'any' | 'privileged' | 'auto' } = {}) {
  const sleeps: number[] = [];
  const log = memoryLogger();
  const c = new MasterClient({
    masters: parseMasterList(masters),
    scheme: 'http',
    connect: { sourcePort: extra.sourcePort ?? 'any', connectTimeoutMs: 2000, identity: processIdentity() },
    idleTimeoutMs: 2000,
    retry: { attempts: 1, stepMs: 2000, ...retry },
    log,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5, // the jitter's middle: upstream's steps exactly
  });
  return { c, sleeps, log };
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n${extra}\r\n${body}`;
const text = (c: MasterClient, path = '/WW/nodeconfig') => c.get(path, { hwaddr: 'aa' }, async (r) => (await readBody(r)).toString());

test('fails over from a dead master to a live one, and stays there', async () => {
  const srv = await rawServer((_req, s) => s.write(ok('WWNAME="n1"\n')));
  const dead = await deadPort();
  const { c } = client(`127.0.0.1:${dead},127.0.0.1:${srv.port}`);
  assert.is(await text(c), 'WWNAME="n1"\n');
  assert.is(await text(c), 'WWNAME="n1"\n');
  assert.is(c.requests, 3, 'second request went straight to the live master');
  c.close();
  await srv.close();
});

test('keep-alive: many requests, one connection', async () => {
  const srv = await rawServer((_req, s) => s.write(ok('x')));
  const { c } = client(`127.0.0.1:${srv.port}`);
  for (let i = 0; i < 20; i++) await text(c);
  assert.is(srv.conns(), 1);
  c.close();
  await srv.close();
});

test('a body shorter than Content-Length is an error, never a result', async () => {
  const srv = await rawServer((_req, s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n' + 'x'.repeat(50));
    setTimeout(() => s.destroy(), 20);
  });
  const { c } = client(`127.0.0.1:${srv.port}`);
  await text(c).then(
    () => assert.unreachable(),
    (e) => {
      assert.instance(e, WwError);
      assert.match(e.message, /truncated|connection lost/);
      assert.match(e.message, new RegExp(`127.0.0.1:${srv.port}`));
    },
  );
  c.close();
  await srv.close();
});

test('a chunked answer without its final chunk is truncation', async () => {
  const srv = await rawServer((_req, s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    setTimeout(() => s.destroy(), 20);
  });
  const { c } = client(`127.0.0.1:${srv.port}`);
  await text(c, '/WW/script').then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /truncated|connection lost/),
  );
  c.close();
  await srv.close();
});

test('a complete chunked answer is accepted', async () => {
  const srv = await rawServer((_req, s) =>
    s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'),
  );
  const { c } = client(`127.0.0.1:${srv.port}`);
  assert.is(await text(c), 'hello world');
  c.close();
  await srv.close();
});

test('relative redirect is followed', async () => {
  const srv = await rawServer((req, s) => {
    if (req.startsWith('GET /WW/vnfs?'))
      s.write('HTTP/1.1 302 Found\r\nLocation: /WW/vnfs_cache/img/image.abc\r\nContent-Length: 0\r\n\r\n');
    else if (req.startsWith('GET /WW/vnfs_cache/img/image.abc ')) s.write(ok('IMAGE'));
    else s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  });
  const { c } = client(`127.0.0.1:${srv.port}`);
  assert.is(await text(c, '/WW/vnfs'), 'IMAGE');
  c.close();
  await srv.close();
});

test('a redirect loop is refused', async () => {
  const srv = await rawServer((_req, s) => s.write('HTTP/1.1 302 Found\r\nLocation: /WW/vnfs\r\nContent-Length: 0\r\n\r\n'));
  const { c, sleeps } = client(`127.0.0.1:${srv.port}`, { attempts: 5 });
  await text(c, '/WW/vnfs').then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /redirects/),
  );
  assert.equal(sleeps, [], 'no back-off for a definitive failure');
  c.close();
  await srv.close();
});

test('upstream back-off 2 s, 4 s, ... and the max-wait bound', async () => {
  const dead = await deadPort();
  const a = client(`127.0.0.1:${dead}`, { attempts: 4 });
  await text(a.c).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /gave up after 4 attempt\(s\).*connection refused/),
  );
  assert.equal(a.sleeps, [2000, 4000, 6000]);
  const b = client(`127.0.0.1:${dead}`, { attempts: 30, maxWaitMs: 7000 });
  await text(b.c).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /gave up after 3/),
  );
  assert.equal(b.sleeps, [2000, 4000]);
});

test('404 is definitive: other masters asked once, no back-off', async () => {
  const srv = await rawServer((_req, s) => s.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'));
  const { c, sleeps } = client(`127.0.0.1:${srv.port}`, { attempts: 30 });
  await text(c).then(
    () => assert.unreachable(),
    (e) => {
      assert.is(e.status, 404);
      assert.match(e.message, /404/);
    },
  );
  assert.equal(sleeps, []);
  c.close();
  await srv.close();
});

test('503 and 500 are retried', async () => {
  let n = 0;
  const srv = await rawServer((_req, s) => {
    n++;
    s.write(n < 3 ? `HTTP/1.1 ${n === 1 ? '503 Busy' : '500 Oops'}\r\nContent-Length: 0\r\n\r\n` : ok('fine'));
  });
  const { c, sleeps } = client(`127.0.0.1:${srv.port}`, { attempts: 5 });
  assert.is(await text(c), 'fine');
  assert.equal(sleeps, [2000, 4000]);
  c.close();
  await srv.close();
});

test('privileged source port as root; 403 on an unprivileged one explains root is needed', async () => {
  const srv = await rawServer((_req, s) =>
    s.write(s.remotePort! < 1024 ? ok('welcome') : 'HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'),
  );
  const any = client(`127.0.0.1:${srv.port}`, {}, { sourcePort: 'any' });
  await text(any.c).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /403 Forbidden.*privileged source ports.*root/),
  );
  any.c.close();
  if (isRoot) {
    const priv = client(`127.0.0.1:${srv.port}`, {}, { sourcePort: 'auto' });
    assert.is(await text(priv.c), 'welcome');
    assert.ok(srv.ports[srv.ports.length - 1] >= 100 && srv.ports[srv.ports.length - 1] <= 1023);
    priv.c.close();
  }
  await srv.close();
});

test('a keep-alive connection the master closed while idle is retried at once, not backed off', async () => {
  let n = 0;
  const srv = await rawServer((_req, s) => {
    n++;
    if (n === 2) return void s.resetAndDestroy(); // the reused connection is gone
    s.write(ok('x'));
  });
  const { c, sleeps } = client(`127.0.0.1:${srv.port}`, { attempts: 3 });
  assert.is(await text(c), 'x');
  assert.is(await text(c), 'x');
  assert.equal(sleeps, [], 'no back-off');
  assert.is(srv.conns(), 2);
  c.close();
  await srv.close();
});

test('an idle master is abandoned after the timeout', async () => {
  const srv = await rawServer(() => {});
  const c = new MasterClient({
    masters: parseMasterList(`127.0.0.1:${srv.port}`),
    scheme: 'http',
    connect: { sourcePort: 'any', connectTimeoutMs: 1000 },
    idleTimeoutMs: 200,
    retry: { attempts: 1, stepMs: 0 },
    log: memoryLogger(),
  });
  const t0 = Date.now();
  await text(c).then(
    () => assert.unreachable(),
    (e) => assert.match(e.message, /no data for 0.2 s/),
  );
  assert.ok(Date.now() - t0 < 1500);
  c.close();
  await srv.close();
});

test('a local failure in consume (full disk, I/O error) ends the request: the next master is not asked', async () => {
  const asked = [0, 0];
  const a = await rawServer((_req, s) => {
    asked[0]++;
    s.write(ok('IMAGE'));
  });
  const b = await rawServer((_req, s) => {
    asked[1]++;
    s.write(ok('IMAGE'));
  });
  const { c, sleeps } = client(`127.0.0.1:${a.port},127.0.0.1:${b.port}`, { attempts: 3 });
  try {
    const full = () =>
      c.get('/WW/vnfs', { hwaddr: 'aa' }, async () => {
        throw new WwError('WW_NO_SPACE', 'no space left on device writing /x');
      });
    await full().then(
      () => assert.unreachable(),
      (e) => assert.is(e.code, 'WW_NO_SPACE'),
    );
    // forEachChunk turns the consumer's own raw failure into WW_IO: local too.
    const broken = () =>
      c.get('/WW/vnfs', { hwaddr: 'aa' }, (r) =>
        forEachChunk(r, () => {
          throw Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' });
        }),
      );
    await broken().then(
      () => assert.unreachable(),
      (e) => assert.is(e.code, 'WW_IO'),
    );
    assert.equal(asked, [2, 0], 'the first master asked once per request, the second never');
    assert.equal(sleeps, []);
  } finally {
    c.close();
    await a.close();
    await b.close();
  }
});

test('embedded CGI status in a 200 body', () => {
  const page = 'Content-Type: application/octet-stream\r\nStatus: 404\r\n\r\n<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">';
  assert.is(embeddedStatus(Buffer.from(page)), 404);
  assert.is(embeddedStatus(Buffer.from('Content-Type: text/plain\nStatus: 403\n\n')), 403);
  assert.is(embeddedStatus(Buffer.from('root:x:0:0:root:/root:/bin/bash\n')), null);
  assert.is(embeddedStatus(Buffer.from('Content-Type: text/plain\r\n\r\nStatus: 404 appears only in the body')), null);
  assert.is(embeddedStatus(Buffer.alloc(0)), null);
  assert.is(embeddedStatus(Buffer.from('Status: 500 Internal Server Error\r\nContent-Type: text/html\r\n\r\n<html>')), 500);
  assert.is(embeddedStatus(Buffer.from('Content-Type: text/plain\nthis is prose, not headers\nStatus: 404\n\n')), null);
});

test.run();
