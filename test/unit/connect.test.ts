import { test } from 'uvu';
import * as assert from 'uvu/assert';
import https from 'node:https';
import net from 'node:net';
import { openSocket, usesPrivilegedPort } from '../../src/core/net/socket.ts';
import { readBody } from '../../src/core/net/body.ts';
import { MasterClient } from '../../src/core/net/client.ts';
import { memoryLogger } from '../../src/core/log.ts';
import { parseMasterList } from '../../src/core/settings/masters.ts';
import { makeCa } from '../helpers/certs.ts';

const isRoot = process.getuid?.() === 0;

async function listen(): Promise<{ server: net.Server; port: number; peers: number[] }> {
  const peers: number[] = [];
  const server = net.createServer((s) => {
    peers.push(s.remotePort!);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as net.AddressInfo).port, peers };
}

test('source port mode', () => {
  assert.ok(usesPrivilegedPort({ sourcePort: 'privileged', connectTimeoutMs: 1 }));
  assert.not.ok(usesPrivilegedPort({ sourcePort: 'any', connectTimeoutMs: 1 }));
  assert.ok(usesPrivilegedPort({ sourcePort: 'auto', connectTimeoutMs: 1, identity: { uid: 0, root: true } }));
  assert.not.ok(usesPrivilegedPort({ sourcePort: 'auto', connectTimeoutMs: 1, identity: { uid: 1000, root: false } }));
});

test('a taken privileged port is skipped for the next one', async () => {
  if (!isRoot) return;
  const { server, port } = await listen();
  const opts = { sourcePort: 'privileged' as const, connectTimeoutMs: 2000, random: () => 0.5 };
  const a = await openSocket('127.0.0.1', port, opts);
  const b = await openSocket('127.0.0.1', port, opts); // same random start: its first port is a's
  assert.ok(a.localPort! >= 100 && a.localPort! <= 1023);
  assert.is.not(b.localPort, a.localPort);
  assert.is(b.localPort, a.localPort! + 1);
  a.destroy();
  b.destroy();
  server.close();
});

test('a refused connection is reported as such', async () => {
  const { server, port } = await listen();
  server.close();
  await openSocket('127.0.0.1', port, { sourcePort: 'any', connectTimeoutMs: 1000 }).then(
    () => assert.unreachable(),
    (e) => assert.match(String(e.code ?? e.message), /ECONNREFUSED/),
  );
});

test('https with a private CA file; without it the certificate is refused', async () => {
  const ca = makeCa();
  const { key, cert } = ca.leaf('master', 'IP:127.0.0.1,DNS:localhost', 'localhost');
  const server = https.createServer({ key, cert }, (_req, res) => res.end('WWNAME="tls"\n'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const mk = (ca?: Buffer) =>
    new MasterClient({
      masters: parseMasterList(`127.0.0.1:${port}`),
      scheme: 'https',
      connect: { sourcePort: 'any', connectTimeoutMs: 2000, ca },
      idleTimeoutMs: 2000,
      retry: { attempts: 3, stepMs: 0 },
      log: memoryLogger(),
    });
  try {
    const good = mk(ca.cert);
    assert.is(await good.get('/WW/nodeconfig', { hwaddr: 'aa' }, async (r) => (await readBody(r)).toString()), 'WWNAME="tls"\n');
    good.close();
    const bad = mk();
    await bad
      .get('/WW/nodeconfig', { hwaddr: 'aa' }, async (r) => readBody(r))
      .then(
        () => assert.unreachable(),
        (e) => assert.match(e.message, /TLS|certificate/i),
      );
    assert.is(bad.requests, 1, 'a certificate failure is definitive: no retry rounds');
    bad.close();
  } finally {
    server.close();
  }
});

test.run();
