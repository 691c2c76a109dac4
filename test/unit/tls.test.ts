// https against a master: the connect timeout covers the TLS handshake (issue 12.1),
// and the certificate is checked against the master's own address (issue 12.2).
// Certificates come from a private CA made with openssl at test time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import tlsModule from 'node:tls';
import type tls from 'node:tls';
import * as tlsTrust from '../../src/core/net/tls.ts';
import { readBody } from '../../src/core/net/body.ts';
import { MasterClient } from '../../src/core/net/client.ts';
import { memoryLogger } from '../../src/core/log.ts';
import { parseMasterList } from '../../src/core/settings/masters.ts';
import { WwError } from '../../src/core/errors.ts';
import { bounded } from '../helpers/bounded.ts';
import { makeCa } from '../helpers/certs.ts';

const ca = makeCa();
const other = makeCa('some other CA');
test.after(() => {
  for (const d of [ca.dir, other.dir]) rmSync(d, { recursive: true, force: true });
});

/** Accepts TCP connections and never says a word: a master whose TLS never answers the ClientHello. */
async function silentServer() {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => socks.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of socks) s.destroy();
        server.close(() => r());
      }),
  };
}

/** An https master with the given certificate; records the SNI name each handshake carried. */
async function tlsServer(leaf: { key: Buffer; cert: Buffer }, host = '127.0.0.1') {
  const sni: (string | false)[] = [];
  const server = https.createServer({ key: leaf.key, cert: leaf.cert }, (_req, res) => res.end('WWNAME="tls"\n'));
  server.on('secureConnection', (s: tls.TLSSocket) => sni.push(s.servername ?? false));
  await new Promise<void>((r) => server.listen(0, host, r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sni,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

function client(masters: string, o: { ca?: Buffer; scheme?: 'http' | 'https'; connectTimeoutMs?: number; attempts?: number } = {}) {
  const sleeps: number[] = [];
  const c = new MasterClient({
    masters: parseMasterList(masters),
    scheme: o.scheme ?? 'https',
    connect: { sourcePort: 'any', connectTimeoutMs: o.connectTimeoutMs ?? 2000, ca: o.ca },
    idleTimeoutMs: 30_000,
    retry: { attempts: o.attempts ?? 1, stepMs: 1000 },
    log: memoryLogger(),
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 0.5, // the jitter's middle: upstream's steps exactly
  });
  return { c, sleeps };
}

const get = (c: MasterClient) => c.get('/WW/nodeconfig', { hwaddr: 'aa' }, async (r) => (await readBody(r)).toString());

test('a master that accepts TCP but never answers the ClientHello: the connect timeout covers the handshake', async () => {
  const stall = await silentServer();
  const { c, sleeps } = client(`127.0.0.1:${stall.port}`, { ca: ca.cert, connectTimeoutMs: 300, attempts: 2 });
  const t0 = Date.now();
  try {
    await bounded(get(c), 5000, 'https request to a TLS-stalling master').then(
      () => assert.unreachable('no answer expected'),
      (e) => {
        assert.not.match(e.message, /HUNG/, e.message);
        assert.instance(e, WwError);
        assert.is(e.code, 'WW_GAVE_UP');
        assert.is(e.retry, true, 'a stalled handshake is worth another round');
        assert.match(e.message, /gave up after 2 attempt\(s\).*TLS handshake.*timed out after 0\.3 s/);
      },
    );
    assert.ok(Date.now() - t0 < 3000, `two rounds of 0.3 s took ${Date.now() - t0} ms`);
    assert.equal(sleeps, [1000], 'the normal back-off applies between rounds');
    assert.is(stall.accepted(), 2);
  } finally {
    c.close();
    await stall.close();
  }
});

test('an http master redirecting to https:// on a TLS-stalling port: bounded, then failover to the next master', async () => {
  const stall = await silentServer();
  const answer = (body: string) => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const plain = (reply: () => string) => {
    const s = net.createServer((sock) => {
      sock.on('error', () => {});
      sock.once('data', () => sock.end(reply()));
    });
    return new Promise<{ server: net.Server; port: number }>((r) =>
      s.listen(0, '127.0.0.1', () => r({ server: s, port: (s.address() as net.AddressInfo).port })),
    );
  };
  const redirector = await plain(
    () => `HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:${stall.port}/WW/nodeconfig?hwaddr=aa\r\nContent-Length: 0\r\n\r\n`,
  );
  const good = await plain(() => answer('WWNAME="plain"\n'));
  const one = client(`127.0.0.1:${redirector.port}`, { scheme: 'http', ca: ca.cert, connectTimeoutMs: 300 });
  const two = client(`127.0.0.1:${redirector.port},127.0.0.1:${good.port}`, { scheme: 'http', ca: ca.cert, connectTimeoutMs: 300 });
  try {
    await bounded(get(one.c), 5000, 'redirect to a TLS-stalling https master').then(
      () => assert.unreachable(),
      (e) => {
        assert.not.match(e.message, /HUNG/, e.message);
        assert.is(e.retry, true);
        assert.match(e.message, /TLS handshake.*timed out/);
      },
    );
    assert.is(await bounded(get(two.c), 5000, 'failover after a stalled redirect'), 'WWNAME="plain"\n');
  } finally {
    one.c.close();
    two.c.close();
    redirector.server.close();
    good.server.close();
    await stall.close();
  }
});

test('failover: a TLS-stalling first master, a good second one', async () => {
  const stall = await silentServer();
  const good = await tlsServer(ca.leaf('ip-good2', 'IP:127.0.0.1'));
  const { c } = client(`127.0.0.1:${stall.port},127.0.0.1:${good.port}`, { ca: ca.cert, connectTimeoutMs: 300 });
  try {
    assert.is(await bounded(get(c), 5000, 'failover past a TLS-stalling master'), 'WWNAME="tls"\n');
  } finally {
    c.close();
    await stall.close();
    await good.close();
  }
});

test('IP master: a certificate for IP:127.0.0.1 only is accepted', async () => {
  const srv = await tlsServer(ca.leaf('ip-only', 'IP:127.0.0.1'));
  const { c } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert });
  try {
    assert.is(await bounded(get(c), 5000, 'https to an IP master'), 'WWNAME="tls"\n');
    assert.equal(srv.sni, [false], 'no SNI for an IP address');
  } finally {
    c.close();
    await srv.close();
  }
});

test('IPv6 master: a certificate for IP:::1 only is accepted for [::1]', async () => {
  const srv = await tlsServer(ca.leaf('ip6-only', 'IP:::1'), '::1');
  const { c } = client(`[::1]:${srv.port}`, { ca: ca.cert });
  try {
    assert.is(await bounded(get(c), 5000, 'https to an IPv6 master'), 'WWNAME="tls"\n');
    assert.equal(srv.sni, [false]);
  } finally {
    c.close();
    await srv.close();
  }
});

test('IP master: a certificate for DNS:localhost only is refused (definitive, names the address)', async () => {
  const srv = await tlsServer(ca.leaf('localhost-only', 'DNS:localhost'));
  const { c, sleeps } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert, attempts: 3 });
  try {
    await bounded(get(c), 5000, 'https to an IP master with a localhost certificate').then(
      () => assert.unreachable('a certificate for localhost must not do for 127.0.0.1'),
      (e) => {
        assert.not.match(e.message, /HUNG/, e.message);
        assert.is(e.code, 'WW_TLS');
        assert.is(e.retry, false, 'a certificate problem will not fix itself');
        assert.match(e.message, /127\.0\.0\.1/);
      },
    );
    assert.equal(sleeps, [], 'a certificate that does not match will not match later');
    assert.is(c.requests, 1);
  } finally {
    c.close();
    await srv.close();
  }
});

test('IP master: a certificate with only a CN of 127.0.0.1 (no SAN) is refused', async () => {
  const srv = await tlsServer(ca.leaf('cn-only', undefined, '127.0.0.1'));
  const { c } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert });
  try {
    await bounded(get(c), 5000, 'https with a CN-only certificate').then(
      () => assert.unreachable('an IP is matched against IP subjectAltNames only'),
      (e) => assert.equal([e.code, e.retry], ['WW_TLS', false]),
    );
  } finally {
    c.close();
    await srv.close();
  }
});

test('DNS master: a certificate for DNS:localhost is accepted for master "localhost", with SNI', async () => {
  const srv = await tlsServer(ca.leaf('localhost-dns', 'DNS:localhost'));
  const { c } = client(`localhost:${srv.port}`, { ca: ca.cert });
  try {
    assert.is(await bounded(get(c), 5000, 'https to a DNS-named master'), 'WWNAME="tls"\n');
    assert.equal(srv.sni, ['localhost']);
  } finally {
    c.close();
    await srv.close();
  }
});

test('DNS master: a certificate for IP:127.0.0.1 only is refused for master "localhost"', async () => {
  const srv = await tlsServer(ca.leaf('ip-only-2', 'IP:127.0.0.1'));
  const { c } = client(`localhost:${srv.port}`, { ca: ca.cert });
  try {
    await bounded(get(c), 5000, 'https to a DNS-named master with an IP certificate').then(
      () => assert.unreachable(),
      (e) => assert.equal([e.code, e.retry], ['WW_TLS', false]),
    );
  } finally {
    c.close();
    await srv.close();
  }
});

test('a certificate from another CA is refused; the message names --ca-file, not a Node.js flag', async () => {
  const srv = await tlsServer(other.leaf('other-ip', 'IP:127.0.0.1'));
  const { c } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert });
  try {
    await bounded(get(c), 5000, 'https with an untrusted certificate').then(
      () => assert.unreachable(),
      (e) => {
        assert.is(e.code, 'WW_TLS');
        assert.is(e.retry, false, 'a certificate problem will not fix itself');
        assert.match(e.message, /--ca-file/);
        assert.not.match(e.message, /--use-system-ca|Node\.js/);
      },
    );
  } finally {
    c.close();
    await srv.close();
  }
});

test('--ca-file replaces the trust store; without it exactly the bundled Mozilla roots; the check is always on', () => {
  const withCa = tlsTrust.tlsOptions('127.0.0.1', ca.cert);
  assert.equal(tlsTrust.trustedCas(ca.cert), [ca.cert.toString()], 'exactly the CA file, no system roots added');
  assert.is(withCa.host, '127.0.0.1', 'identity checked against the master address');
  assert.is(withCa.servername, undefined, 'no SNI for an IP');
  assert.is(withCa.rejectUnauthorized, true, 'never left to NODE_TLS_REJECT_UNAUTHORIZED');
  assert.ok(withCa.secureContext, 'a context made from exactly those CAs');
  const dns = tlsTrust.tlsOptions('master.cluster', undefined);
  // given explicitly: NODE_EXTRA_CA_CERTS, NODE_USE_SYSTEM_CA and SSL_CERT_FILE/DIR add nothing
  assert.equal(
    tlsTrust.trustedCas(undefined),
    [...tlsModule.rootCertificates],
    'no CA file: the bundled roots, nothing from the environment',
  );
  assert.is(dns.servername, 'master.cluster');
  assert.is(dns.host, 'master.cluster');
  assert.is(dns.rejectUnauthorized, true);
  assert.is(tlsTrust.tlsOptions('master.cluster', undefined).secureContext, dns.secureContext, 'one context per trust store, made once');
});

test('NODE_TLS_REJECT_UNAUTHORIZED=0 in the environment does not turn the certificate check off', async () => {
  const srv = await tlsServer(other.leaf('other-ip-2', 'IP:127.0.0.1'));
  const { c } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert });
  const before = process.env.NODE_TLS_REJECT_UNAUTHORIZED;
  process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
  try {
    await bounded(get(c), 5000, 'https with an untrusted certificate and NODE_TLS_REJECT_UNAUTHORIZED=0').then(
      (body) => assert.unreachable(`accepted a certificate from another CA: ${body}`),
      (e) => {
        assert.is(e.code, 'WW_TLS', e.message);
        assert.is(e.retry, false, 'a certificate problem will not fix itself');
        assert.match(e.message, /TLS handshake with 127\.0\.0\.1:\d+ failed/);
      },
    );
  } finally {
    if (before === undefined) delete process.env.NODE_TLS_REJECT_UNAUTHORIZED;
    else process.env.NODE_TLS_REJECT_UNAUTHORIZED = before;
    c.close();
    await srv.close();
  }
});

test('a certificate that lists no IP addresses, for an IP master: the message says so (not an empty list)', async () => {
  for (const [name, san, cn] of [
    ['dns-only-msg', 'DNS:localhost', undefined],
    ['cn-only-msg', undefined, '127.0.0.1'],
  ] as const) {
    const srv = await tlsServer(ca.leaf(name, san, cn));
    const { c } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert });
    try {
      await bounded(get(c), 5000, `https with a ${name} certificate`).then(
        () => assert.unreachable(),
        (e) => {
          assert.is(e.code, 'WW_TLS');
          assert.is(e.retry, false, 'a certificate problem will not fix itself');
          assert.match(e.message, /IP: 127\.0\.0\.1 is not in the cert's list: the certificate lists no IP addresses \(/, e.message);
          assert.not.match(e.message, /list:\s*\(|list:\s*$/, e.message);
        },
      );
    } finally {
      c.close();
      await srv.close();
    }
  }
  // a certificate that does list IP addresses, just not this one: they are named
  const srv = await tlsServer(ca.leaf('other-ip-msg', 'IP:10.9.8.7'));
  const { c } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert });
  try {
    await get(c).then(
      () => assert.unreachable(),
      (e) => assert.match(e.message, /IP: 127\.0\.0\.1 is not in the cert's list: 10\.9\.8\.7 \(/, e.message),
    );
  } finally {
    c.close();
    await srv.close();
  }
});

/** A leaf signed by another leaf (CA:FALSE) of `ca`: the chain is refused as INVALID_PURPOSE or INVALID_CA. */
function leafOfLeaf(name: string): { key: Buffer; cert: Buffer } {
  const mid = ca.leaf(`${name}-mid`, 'DNS:not-a-ca');
  const d = ca.dir;
  writeFileSync(join(d, `${name}-mid.key`), mid.key);
  writeFileSync(join(d, `${name}-mid.pem`), mid.cert);
  writeFileSync(join(d, `${name}.ext`), 'basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n');
  const o = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  o([
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=leaf of a leaf',
    '-keyout',
    join(d, `${name}.key`),
    '-out',
    join(d, `${name}.csr`),
  ]);
  o([
    'x509',
    '-req',
    '-in',
    join(d, `${name}.csr`),
    '-CA',
    join(d, `${name}-mid.pem`),
    '-CAkey',
    join(d, `${name}-mid.key`),
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    join(d, `${name}.ext`),
    '-out',
    join(d, `${name}.pem`),
  ]);
  return { key: readFileSync(join(d, `${name}.key`)), cert: Buffer.concat([readFileSync(join(d, `${name}.pem`)), mid.cert]) };
}

test('a chain whose issuer is no CA (INVALID_PURPOSE / INVALID_CA): definitive like every certificate error, no back-off', async () => {
  const srv = await tlsServer(leafOfLeaf('leaf-of-leaf'));
  const { c, sleeps } = client(`127.0.0.1:${srv.port}`, { ca: ca.cert, attempts: 3 });
  try {
    await bounded(get(c), 5000, 'https with a leaf-signed certificate').then(
      () => assert.unreachable(),
      (e) => {
        assert.is(e.code, 'WW_TLS', e.message);
        assert.is(e.retry, false, 'a certificate problem will not fix itself');
        assert.match(e.message, /--ca-file/);
      },
    );
    assert.equal(sleeps, [], 'a certificate that does not verify will not verify later');
    assert.is(c.requests, 1);
  } finally {
    c.close();
    await srv.close();
  }
});

test('one classification of certificate errors (the handshake in net/tls.ts and an exchange in net/exchange.ts share it)', () => {
  for (const code of [
    'ERR_TLS_CERT_ALTNAME_INVALID',
    'DEPTH_ZERO_SELF_SIGNED_CERT',
    'SELF_SIGNED_CERT_IN_CHAIN',
    'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
    'UNABLE_TO_GET_ISSUER_CERT',
    'CERT_HAS_EXPIRED',
    'CERT_NOT_YET_VALID',
    'CERT_SIGNATURE_FAILURE',
    'CERT_REVOKED',
    'CERT_UNTRUSTED',
    'CERT_REJECTED',
    'INVALID_CA',
    'INVALID_PURPOSE',
    'PATH_LENGTH_EXCEEDED',
    'HOSTNAME_MISMATCH',
    'ERR_TLS_CERT_ALTNAME_FORMAT',
    'CERT_CHAIN_TOO_LONG',
  ])
    assert.ok(tlsTrust.isCertificateError(code), code);
  for (const code of ['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EPIPE', 'ERR_SSL_WRONG_VERSION_NUMBER', '', undefined]) {
    assert.not.ok(tlsTrust.isCertificateError(code), String(code));
  }
});

test.run();
