// Tests of the test master itself (test/helpers/master/): real HTTP requests
// against it, checking it answers like the real master (PROTOCOL section 2).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { makeCa } from '../helpers/certs.ts';
import { makeCpio } from '../helpers/master/cpio.ts';
import { bigFixture, sampleFixture, type Fixture } from '../helpers/master/fixtures.ts';
import { deadAddress, embeddedErrorBody, startMaster, type MasterOptions, type RunningMaster } from '../helpers/master/server.ts';
import { HWADDR as HW } from '../helpers/node.ts';

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  complete: boolean;
  error?: NodeJS.ErrnoException;
  ms: number;
}

function get(
  url: string,
  opts: { agent?: http.Agent | false; localPort?: number; timeoutMs?: number; headers?: Record<string, string> } = {},
): Promise<Got> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let res: http.IncomingMessage | undefined;
    let reqError: NodeJS.ErrnoException | undefined;
    let resError: NodeJS.ErrnoException | undefined;
    const req = http.get(url, { agent: opts.agent ?? false, localPort: opts.localPort, headers: opts.headers }, (r) => {
      res = r;
      r.on('data', (d: Buffer) => chunks.push(d));
      r.on('error', (e) => (resError = e));
      r.on('close', () =>
        resolve({
          status: r.statusCode ?? 0,
          headers: r.headers,
          body: Buffer.concat(chunks),
          complete: r.complete,
          error: reqError ?? resError,
          ms: Date.now() - t0,
        }),
      );
    });
    req.setTimeout(opts.timeoutMs ?? 5000, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })));
    req.on('error', (e) => {
      reqError ??= e;
      // Once a response has begun, its 'close' reports (an error after it, e.g. trailing garbage, is kept).
      if (!res) resolve({ status: 0, headers: {}, body: Buffer.concat(chunks), complete: false, error: e, ms: Date.now() - t0 });
    });
  });
}

/** The exact bytes a server sends for one request (connection: close). */
function raw(m: RunningMaster, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(m.port, m.host, () => s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`));
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    s.on('error', reject);
  });
}

async function withMaster(fx: Fixture, opts: MasterOptions, fn: (m: RunningMaster) => Promise<void>): Promise<void> {
  const m = await startMaster(fx, opts);
  try {
    await fn(m);
  } finally {
    await m.stop();
  }
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');
const text = (g: Got) => g.body.toString();

test('file list: format, two spaces before a regular file mode, sort by timestamp, Content-Length', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    const g = await get(`${m.url}/WW/file?hwaddr=${HW}`);
    assert.is(g.status, 200);
    assert.is(Number(g.headers['content-length']), g.body.length);
    assert.is(g.headers['transfer-encoding'], undefined);
    const lines = text(g).split('\n');
    assert.is(lines.pop(), '');
    assert.is(lines.length, 10);
    assert.is(lines[0], '3 wwdir 0 0 d0750 1700000050 /etc/ww.d');
    assert.is(lines[1], '1 hosts 0 0  0644 1700000100 /etc/hosts');
    assert.ok(lines.includes('2 shadow 0 0  0600 1700000200 /etc/shadow'));
    assert.ok(lines.includes('4 localtime 0 0 l0777 1700000300 /etc/localtime'));
    assert.ok(lines.includes('5 wwnull 0 0 c0666 1700000400 /dev/wwnull'));
    assert.ok(lines.includes('6 wwfifo 0 0 p0620 1700000500 /var/run/ww.fifo'));
    assert.ok(lines.includes('8 wwsuid 0 0  4755 1700000700 /usr/local/bin/wwsuid'));
    assert.ok(lines.includes('9 profile 1000 100  0640 1700000800 /home/user/.profile'));
    assert.ok(lines.includes('10 wwblk 0 6 b0660 1700000900 /dev/wwblk'));
    const ts = lines.map((l) => Number(l.split(/\s+/)[5]));
    assert.equal(
      ts,
      [...ts].sort((a, b) => a - b),
    );
  });
});

test('file list: timestamp filter (newer than T; 0 or absent means all), empty when nothing new', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    const ids = async (q: string) =>
      text(await get(`${m.url}/WW/file?hwaddr=${HW}${q}`))
        .split('\n')
        .filter(Boolean)
        .map((l) => Number(l.split(' ')[0]));
    assert.equal(await ids('&timestamp=1700000400'), [6, 7, 8, 9, 10]);
    assert.equal(await ids('&timestamp=1700000300'), [5, 6, 7, 8, 9, 10]);
    assert.is((await ids('&timestamp=0')).length, 10);
    assert.is((await ids('')).length, 10);
    const none = await get(`${m.url}/WW/file?hwaddr=${HW}&timestamp=1800000000`);
    assert.is(none.status, 200);
    assert.is(none.headers['content-length'], '0');
    assert.is(none.body.length, 0);
    // The fixture is live: a newer object shows up.
    m.fixture.files.push({
      id: 99,
      name: 'new',
      type: 'file',
      mode: 0o644,
      uid: 0,
      gid: 0,
      timestamp: 1800000001,
      path: '/new',
      content: 'x',
    });
    m.fixture.nodes[0].fileIds!.push(99);
    assert.equal(await ids('&timestamp=1800000000'), [99]);
  });
});

test('file content for every type; fileid 0 or empty is the list; fileid not checked against the node', async () => {
  const fx = sampleFixture();
  await withMaster(fx, {}, async (m) => {
    const c = (id: number | string) => get(`${m.url}/WW/file?hwaddr=${HW}&fileid=${id}`);
    const hosts = await c(1);
    assert.is(hosts.status, 200);
    assert.is(hosts.headers['content-type'], 'application/octet-stream');
    assert.is(text(hosts), fx.files[0].content);
    assert.is(Number(hosts.headers['content-length']), hosts.body.length);
    assert.ok(text(await c(2)).startsWith('root:$6$'));
    assert.is(text(await c(3)), '/etc/ww.d');
    assert.is(text(await c(4)), '/usr/share/zoneinfo/UTC');
    assert.is(text(await c(5)), String(1 * 256 + 3));
    assert.is(text(await c(10)), String(8 * 256 + 1));
    const fifo = await c(6);
    assert.is(fifo.status, 200);
    assert.is(fifo.headers['content-length'], '0');
    const empty = await c(7);
    assert.is(empty.status, 200);
    assert.is(empty.headers['content-length'], '0');
    assert.is(text(await c(20)), '#!/bin/sh\necho runtime one\n'); // not in the node's FILEIDS
    const list = text(await get(`${m.url}/WW/file?hwaddr=${HW}`));
    assert.is(text(await c(0)), list);
    assert.is(text(await c('')), list);
    const bin = Buffer.from([0, 255, 10, 13, 0x80]);
    fx.files.push({ id: 50, name: 'bin', type: 'file', mode: 0o644, uid: 0, gid: 0, timestamp: 1, path: '/bin.dat', content: bin });
    assert.equal((await c(50)).body, bin);
  });
});

test('/WW/file errors: embedded CGI status in a 200 text/html body (development default)', async () => {
  const fx = sampleFixture();
  fx.nodes.push({ hwaddr: 'AA:bb:cc:00:00:01', name: 'n0001', fileIds: [1] }); // stored lower case
  await withMaster(fx, {}, async (m) => {
    assert.is(text(await get(`${m.url}/WW/file?hwaddr=aa:bb:cc:00:00:01`)), '1 hosts 0 0  0644 1700000100 /etc/hosts\n');
    const cases: [string, number][] = [
      ['hwaddr=aa:bb:cc:dd:ee:ff', 404],
      ['hwaddr=00:11:22:33:44:55&fileid=777', 404],
      ['hwaddr=00:11:22:33:44:55&fileid=abc', 400],
      ['hwaddr=bad%20addr', 400],
      ['', 400],
      ['hwaddr=AA:BB:CC:00:00:01', 404], // case-sensitive, stored lower case
    ];
    for (const [q, status] of cases) {
      const g = await get(`${m.url}/WW/file?${q}`);
      assert.is(g.status, 200, q);
      assert.match(String(g.headers['content-type']), /^text\/html/, q);
      assert.ok(text(g).startsWith(`Content-Type: application/octet-stream\r\nStatus: ${status}\r\n\r\n<!DOCTYPE`), q);
      assert.is(text(g), embeddedErrorBody(status));
    }
    m.options.checkSourceIp = true;
    m.fixture.nodes[0].ips = ['10.9.9.9'];
    assert.ok(text(await get(`${m.url}/WW/file?hwaddr=${HW}`)).includes('Status: 403\r\n'));
  });
});

test('/WW/file errors: real statuses with embeddedErrors false; master dialect', async () => {
  await withMaster(sampleFixture(), { embeddedErrors: false }, async (m) => {
    assert.is((await get(`${m.url}/WW/file?hwaddr=aa:bb`)).status, 404);
    assert.is((await get(`${m.url}/WW/file?hwaddr=a%3Bb`)).status, 400);
    assert.is((await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=9999`)).status, 404);
  });
  await withMaster(sampleFixture(), { dialect: 'master' }, async (m) => {
    assert.is(m.options.embeddedErrors, false);
    assert.is((await get(`${m.url}/WW/file?hwaddr=aa:bb`)).status, 404);
    assert.is((await get(`${m.url}/WW/file?hwaddr=a%3Bb`)).status, 404);
    const nc = await get(`${m.url}/WW/nodeconfig?hwaddr=aa:bb`);
    assert.is(nc.status, 200);
    assert.is(nc.body.length, 0);
    const sc = await get(`${m.url}/WW/script?hwaddr=aa:bb&type=runtime`);
    assert.is(sc.status, 200);
    assert.is(sc.body.length, 0);
    assert.ok(text(await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`)).includes('WWNAME="n0000"'));
  });
});

test('nodeconfig: chunked text/html pairs, VNFS keys last with the image MD5, order varies', async () => {
  const fx = sampleFixture();
  fx.nodes[0].config!.NORUNTIMESERVICES = '1';
  await withMaster(fx, {}, async (m) => {
    const g = await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`);
    assert.is(g.status, 200);
    assert.is(g.headers['transfer-encoding'], 'chunked');
    assert.is(g.headers['content-length'], undefined);
    assert.match(String(g.headers['content-type']), /^text\/html/);
    const lines = text(g).split('\n');
    assert.is(lines.pop(), '');
    assert.is(lines.length % 2, 0);
    const keys: string[] = [];
    const vals: Record<string, string> = {};
    for (let i = 0; i < lines.length; i += 2) {
      const mm = /^([A-Z_]+)="(.*)"$/.exec(lines[i]);
      assert.ok(mm, lines[i]);
      assert.is(lines[i + 1], `export ${mm![1]}`);
      keys.push(mm![1]);
      vals[mm![1]] = mm![2];
    }
    assert.equal(keys.slice(-2), ['WWVNFS_NAME', 'WWVNFS_CHECKSUM']);
    assert.is(vals.WWVNFS_NAME, 'sample');
    assert.is(vals.WWVNFS_CHECKSUM, md5(fx.vnfs!.sample.image as Buffer));
    assert.is(vals.WWVNFS_CHECKSUM, await m.vnfsChecksum('sample'));
    assert.is(vals.WWNAME, 'n0000');
    assert.is(vals.WWHOSTNAME, 'n0000');
    assert.is(vals.WWCLUSTER, 'cluster');
    assert.is(vals.WWNORUNTIMESERVICES, '1');
    assert.is(vals.WW__NETDEVLIST, 'eth0=127.0.0.1');
    const orders = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const t = text(await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`));
      orders.add(
        t
          .split('\n')
          .filter((l) => !l.startsWith('export'))
          .join(','),
      );
      assert.ok(t.endsWith(`WWVNFS_CHECKSUM="${vals.WWVNFS_CHECKSUM}"\nexport WWVNFS_CHECKSUM\n`));
    }
    assert.ok(orders.size > 1, 'key order should vary between requests');
    // On the wire: chunk framing ending with the zero-length chunk.
    const r = await raw(m, `/WW/nodeconfig?hwaddr=${HW}`);
    assert.match(r, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r, /\r\nTransfer-Encoding: chunked\r\n/i);
    assert.ok(r.endsWith('\r\n0\r\n\r\n'));
  });
});

test('nodeconfig: 404 unknown or disabled, 400 missing/invalid hwaddr, 403 wrong IP, Content-Length when not chunked', async () => {
  const fx = sampleFixture();
  fx.nodes.push({ hwaddr: 'aa:aa:aa:aa:aa:aa', name: 'off', disabled: true });
  await withMaster(fx, { chunked: false }, async (m) => {
    const s = async (q: string) => (await get(`${m.url}/WW/nodeconfig?${q}`)).status;
    assert.is(await s('hwaddr=bb:bb'), 404);
    assert.is(await s('hwaddr=aa:aa:aa:aa:aa:aa'), 404);
    assert.is(await s('hwaddr=AA:AA:AA:AA:AA:AA'), 404);
    assert.is(await s(''), 400);
    assert.is(await s('hwaddr='), 400);
    assert.is(await s('hwaddr=00-11'), 400);
    const g = await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`);
    assert.is(g.status, 200);
    assert.is(Number(g.headers['content-length']), g.body.length);
    m.options.checkSourceIp = true;
    assert.is(await s(`hwaddr=${HW}`), 200); // ips: 127.0.0.1
    m.fixture.nodes[0].ips = ['10.0.0.5'];
    assert.is(await s(`hwaddr=${HW}`), 403);
    delete m.fixture.nodes[0].ips;
    assert.is(await s(`hwaddr=${HW}`), 200);
  });
});

test('script: concatenates only shell-format objects; unknown type empty; invalid type 400; unknown node 404', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    const sc = (q: string) => get(`${m.url}/WW/script?${q}`);
    const rt = await sc(`hwaddr=${HW}&type=runtime`);
    assert.is(rt.status, 200);
    assert.is(text(rt), '#!/bin/sh\necho runtime one\necho runtime two\n');
    assert.is(rt.headers['transfer-encoding'], 'chunked');
    assert.match(String(rt.headers['content-type']), /^text\/html/);
    assert.is(text(await sc(`hwaddr=${HW}&type=pre`)), 'echo pre\n');
    assert.is(text(await sc(`hwaddr=${HW}&type=post`)), 'echo post\n');
    const none = await sc(`hwaddr=${HW}&type=weird.type-1`);
    assert.is(none.status, 200);
    assert.is(none.body.length, 0);
    assert.ok(none.complete);
    assert.is((await sc(`hwaddr=${HW}&type=a%20b`)).status, 400);
    assert.is((await sc(`hwaddr=${HW}&type=..%2Fx`)).status, 400);
    assert.is((await sc(`hwaddr=${HW}`)).status, 400);
    assert.is((await sc('hwaddr=de:ad&type=runtime')).status, 404);
    assert.is((await sc('hwaddr=d%20e&type=runtime')).status, 400);
  });
});

test('vnfs: relative 302 to the cache file; cache file is static with ETag/Accept-Ranges and no Content-Type', async () => {
  const fx = sampleFixture();
  const image = fx.vnfs!.sample.image as Buffer;
  await withMaster(fx, {}, async (m) => {
    const r = await get(`${m.url}/WW/vnfs?hwaddr=${HW}`);
    assert.is(r.status, 302);
    const sum = md5(image);
    assert.is(r.headers.location, `/WW/vnfs_cache/sample/image.${sum}`);
    const c = await get(`${m.url}${r.headers.location}`);
    assert.is(c.status, 200);
    assert.equal(c.body, image);
    assert.is(c.headers['content-type'], undefined);
    assert.is(Number(c.headers['content-length']), image.length);
    assert.ok(c.headers.etag);
    assert.is(c.headers['accept-ranges'], 'bytes');
    // A real gzip'd cpio newc image with sbin/init.
    const cpio = gunzipSync(c.body).toString('latin1');
    assert.ok(cpio.startsWith('070701'));
    assert.ok(cpio.includes('sbin/init\0'));
    assert.ok(cpio.includes('TRAILER!!!'));
    const part = await get(`${m.url}${r.headers.location}`, { headers: { Range: 'bytes=0-9' } });
    assert.is(part.status, 206);
    assert.equal(part.body, image.subarray(0, 10));
    assert.is((await get(`${m.url}/WW/vnfs_cache/sample/image.${'0'.repeat(32)}`)).status, 404);
    assert.is((await get(`${m.url}/WW/vnfs?hwaddr=de:ad`)).status, 404);
    delete m.fixture.nodes[0].vnfs;
    assert.is((await get(`${m.url}/WW/vnfs?hwaddr=${HW}`)).status, 404);
  });
});

test('vnfs: the first vnfsBusy requests answer 503; vnfsRedirect false streams directly', async () => {
  const fx = sampleFixture();
  const image = fx.vnfs!.sample.image as Buffer;
  await withMaster(fx, { vnfsBusy: 2 }, async (m) => {
    const u = `${m.url}/WW/vnfs?hwaddr=${HW}`;
    assert.is((await get(u)).status, 503);
    assert.is((await get(u)).status, 503);
    assert.is((await get(u)).status, 302);
    m.options.vnfsBusy = 1; // re-arm
    assert.is((await get(u)).status, 503);
    m.options.vnfsRedirect = false;
    const d = await get(u);
    assert.is(d.status, 200);
    assert.is(d.headers['content-type'], 'application/octet-stream');
    assert.is(Number(d.headers['content-length']), image.length);
    assert.equal(d.body, image);
  });
});

test('vnfs: an image given as a file path is streamed from disk (redirected and direct)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wwtm-'));
  try {
    const path = join(dir, 'image.gz');
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 255;
    writeFileSync(path, data);
    const fx = sampleFixture();
    fx.vnfs!.big = { image: path };
    fx.nodes[0].vnfs = 'big';
    await withMaster(fx, {}, async (m) => {
      assert.is(await m.vnfsChecksum('big'), md5(data));
      const nc = text(await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`));
      assert.ok(nc.includes(`WWVNFS_CHECKSUM="${md5(data)}"`));
      const r = await get(`${m.url}/WW/vnfs?hwaddr=${HW}`);
      const c = await get(`${m.url}${r.headers.location}`);
      assert.is(c.status, 200);
      assert.is(md5(c.body), md5(data));
      const tail = await get(`${m.url}${r.headers.location}`, { headers: { Range: 'bytes=-5' } });
      assert.equal(tail.body, data.subarray(data.length - 5));
      m.options.vnfsRedirect = false;
      const d = await get(`${m.url}/WW/vnfs?hwaddr=${HW}`);
      assert.is(Number(d.headers['content-length']), data.length);
      assert.is(md5(d.body), md5(data));
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const isRoot = process.getuid?.() === 0;

/**
 * Status of one request from an exact source port. The server closes first
 * (Connection: close; we only answer its FIN), so the client port is not left
 * in TIME_WAIT and the test can run again at once.
 */
function statusFrom(m: RunningMaster, path: string, localPort: number): Promise<{ status: number; headers: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port: m.port, host: m.host, localPort }, () =>
      s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`),
    );
    const chunks: Buffer[] = [];
    s.on('data', (d) => chunks.push(d));
    s.on('close', () => {
      const t = Buffer.concat(chunks).toString('latin1');
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(t)?.[1] ?? 0), headers: t.slice(0, t.indexOf('\r\n\r\n')) });
    });
    s.on('error', reject);
  });
}

test('privileged ports: 1023 accepted, 1024 refused, also for the vnfs_cache request (Node sockets)', async () => {
  if (!isRoot) return console.log('  (skipped: not root)');
  await withMaster(sampleFixture(), { privilegedPorts: true }, async (m) => {
    assert.is((await statusFrom(m, `/WW/nodeconfig?hwaddr=${HW}`, 1023)).status, 200);
    assert.is((await statusFrom(m, `/WW/nodeconfig?hwaddr=${HW}`, 1024)).status, 403);
    assert.is((await get(`${m.url}/WW/file?hwaddr=${HW}`)).status, 403); // ephemeral port
    const r = await statusFrom(m, `/WW/vnfs?hwaddr=${HW}`, 1023);
    assert.is(r.status, 302);
    const location = /\r\nLocation: (\S+)/i.exec(r.headers)![1];
    assert.is((await statusFrom(m, location, 1023)).status, 200);
    assert.is((await statusFrom(m, location, 1024)).status, 403);
    assert.equal(
      m.requests.map((q) => [q.remotePort, q.status]),
      [
        [1023, 200],
        [1024, 403],
        [m.requests[2].remotePort, 403],
        [1023, 302],
        [1023, 200],
        [1024, 403],
      ],
    );
  });
});

test('privileged ports with curl --local-port (redirect followed on a privileged port too)', async () => {
  if (!isRoot) return console.log('  (skipped: not root)');
  await withMaster(sampleFixture(), { privilegedPorts: true }, async (m) => {
    // Asynchronous: the master runs in this process. Port ranges: curl skips ports still in TIME_WAIT.
    const curl = (...args: string[]) =>
      new Promise<{ stdout: string; stderr: string }>((resolve) =>
        execFile(
          'curl',
          ['-sS', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Connection: close', ...args],
          (_e, stdout, stderr) => resolve({ stdout, stderr }),
        ),
      );
    // A random window of privileged ports: earlier runs (and other tests) leave ports in TIME_WAIT.
    const base = 200 + Math.floor(Math.random() * 700);
    const priv = `${base}-${base + 80}`;
    const a = await curl('--local-port', priv, `${m.url}/WW/nodeconfig?hwaddr=${HW}`);
    assert.is(a.stdout, '200', a.stderr);
    const high = 1100 + Math.floor(Math.random() * 5000); // never exactly 1024: the exact-port test above needs it
    const b = await curl('--local-port', `${high}-${high + 80}`, `${m.url}/WW/nodeconfig?hwaddr=${HW}`);
    assert.is(b.stdout, '403', b.stderr);
    const c = await curl('-L', '--local-port', priv, `${m.url}/WW/vnfs?hwaddr=${HW}`);
    assert.is(c.stdout, '200', c.stderr);
    assert.ok(m.requests.some((r) => r.path.startsWith('/WW/vnfs_cache/') && r.status === 200 && r.remotePort < 1024));
    const d = await curl(`${m.url}/WW/vnfs_cache/sample/image.${await m.vnfsChecksum('sample')}`);
    assert.is(d.stdout, '403');
  });
});

test('keep-alive: many requests over one connection; request log', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 1; i <= 10; i++) {
        const g = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=${i}`, { agent });
        assert.is(g.status, 200);
      }
      await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`, { agent });
      await get(`${m.url}/WW/script?hwaddr=${HW}&type=runtime`, { agent });
    } finally {
      agent.destroy();
    }
    assert.is(m.connections, 1);
    assert.is(m.requests.length, 12);
    assert.equal(
      m.requests.map((r) => r.n),
      Array.from({ length: 12 }, (_, i) => i + 1),
    );
    assert.ok(m.requests.every((r) => r.connection === 1 && r.status === 200 && r.method === 'GET'));
    assert.equal(m.requests[2].query, { hwaddr: HW, fileid: '3' });
    assert.is(m.requests[2].path, '/WW/file');
    assert.is(m.requests[0].remoteAddress.replace(/^::ffff:/, ''), '127.0.0.1');
    assert.is(m.requestsTo('/WW/file').length, 10);
  });
});

test('fault status and embedded', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    m.options.fault = (r) => (r.path === '/WW/script' ? { kind: 'status', status: 500, body: 'boom' } : undefined);
    const s = await get(`${m.url}/WW/script?hwaddr=${HW}&type=runtime`);
    assert.is(s.status, 500);
    assert.is(text(s), 'boom');
    assert.is((await get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`)).status, 200);
    m.options.fault = () => ({ kind: 'status', status: 503 });
    const s2 = await get(`${m.url}/WW/file?hwaddr=${HW}`);
    assert.is(s2.status, 503);
    assert.match(text(s2), /Service Unavailable/);
    m.options.fault = () => ({ kind: 'embedded', status: 403 });
    const e = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=1`);
    assert.is(e.status, 200);
    assert.is(text(e), embeddedErrorBody(403));
    assert.is(m.requests.at(-1)!.fault, 'embedded');
  });
});

test('fault delay answers normally after the wait; reset gives a connection reset', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    m.options.fault = () => ({ kind: 'delay', ms: 300 });
    const d = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=4`);
    assert.is(d.status, 200);
    assert.is(text(d), '/usr/share/zoneinfo/UTC');
    assert.ok(d.ms >= 290, `took ${d.ms} ms`);
    m.options.fault = () => ({ kind: 'reset' });
    const r = await get(`${m.url}/WW/file?hwaddr=${HW}`);
    assert.is(r.status, 0);
    assert.is(r.error?.code, 'ECONNRESET');
    assert.is(m.requests.at(-1)!.status, 0);
  });
});

test('fault stall: headers and part of the body, then nothing until the client gives up; stop() ends it', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    m.options.fault = () => ({ kind: 'stall' });
    const g = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=1`, { timeoutMs: 400 });
    assert.is(g.status, 200);
    assert.ok(!g.complete);
    assert.is(g.error?.code, 'CLIENT_TIMEOUT');
    const full = sampleFixture().files[0].content as string;
    assert.is(Number(g.headers['content-length']), full.length);
    assert.is(text(g), full.slice(0, full.length >> 1));
    // An empty answer stalls too (declared chunked, never terminated).
    const e = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=7`, { timeoutMs: 300 });
    assert.ok(!e.complete);
    assert.is(e.error?.code, 'CLIENT_TIMEOUT');
  });
  const m = await startMaster(sampleFixture(), { fault: () => ({ kind: 'stall' }) });
  const pending = get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`, { timeoutMs: 10000 });
  await new Promise((r) => setTimeout(r, 200));
  const t0 = Date.now();
  await m.stop();
  const g = await pending;
  assert.ok(!g.complete);
  assert.ok(Date.now() - t0 < 2000);
});

test('fault trickle: the whole answer, headers included, a few bytes at a time; complete in the end', async () => {
  await withMaster(sampleFixture(), { fault: () => ({ kind: 'trickle', everyMs: 5, bytes: 16 }) }, async (m) => {
    const arrivals: number[] = [];
    const body = await new Promise<string>((resolve, reject) => {
      const s = net.connect(m.port, m.host, () => s.write(`GET /WW/file?hwaddr=${HW}&fileid=1 HTTP/1.1\r\nHost: x\r\n\r\n`));
      let got = '';
      const want = sampleFixture().files[0].content as string;
      s.on('data', (d) => {
        arrivals.push(d.length);
        got += d;
        if (got.endsWith(want)) {
          s.destroy();
          resolve(got);
        }
      });
      s.on('error', reject);
    });
    assert.match(body, /^HTTP\/1\.1 200 OK\r\nContent-Length: 51\r\n/);
    assert.ok(arrivals.length >= 5 && Math.max(...arrivals) <= 16, `arrived in ${arrivals.length} pieces`);
  });
});

test('tls: an https master; handshakeStall holds the chosen connections silent', async () => {
  const ca = makeCa();
  await withMaster(sampleFixture(), { tls: ca.leaf('tm', 'IP:127.0.0.1'), handshakeStall: (n) => n === 1 }, async (m) => {
    assert.match(m.url, /^https:/);
    // Connection 1: TCP accepted, the ClientHello never answered.
    const stalled = await new Promise<string>((resolve) => {
      const t = tls.connect({ host: m.host, port: m.port, ca: ca.cert });
      t.on('secureConnect', () => resolve('handshake completed'));
      t.on('error', (e) => resolve(e.message));
      setTimeout(() => {
        t.destroy();
        resolve('stalled');
      }, 500);
    });
    assert.is(stalled, 'stalled');
    // Connection 2: a normal https answer.
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(`${m.url}/WW/nodeconfig?hwaddr=${HW}`, { ca: ca.cert, agent: false }, (r) => {
          let t = '';
          r.on('data', (d) => (t += d));
          r.on('end', () => resolve(t));
        })
        .on('error', reject);
    });
    assert.match(body, /WWNAME="n0000"/);
    assert.is(m.connections, 2);
  });
  rmSync(ca.dir, { recursive: true, force: true });
});

test('fault cut: exactly N body bytes with the real Content-Length, then the connection drops', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    m.options.fault = () => ({ kind: 'cut', afterBytes: 10 });
    const g = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=2`);
    const full = sampleFixture().files[1].content as string;
    assert.is(g.status, 200);
    assert.is(Number(g.headers['content-length']), full.length);
    assert.is(text(g), full.slice(0, 10));
    assert.ok(!g.complete);
    // Chunked answer: cut mid-chunk, no final chunk.
    const n = await get(`${m.url}/WW/script?hwaddr=${HW}&type=runtime`);
    assert.is(n.headers['transfer-encoding'], 'chunked');
    assert.is(text(n), '#!/bin/sh\n');
    assert.ok(!n.complete);
    // Past the end of a chunked body: all data, still no terminating chunk.
    m.options.fault = () => ({ kind: 'cut', afterBytes: 1e9 });
    const all = await get(`${m.url}/WW/script?hwaddr=${HW}&type=pre`);
    assert.is(text(all), 'echo pre\n');
    assert.ok(!all.complete);
  });
});

test('fault cut on a streamed VNFS file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wwtm-'));
  try {
    const path = join(dir, 'img');
    writeFileSync(path, Buffer.alloc(2 * 1024 * 1024, 1));
    const fx = sampleFixture();
    fx.vnfs!.sample = { image: path };
    await withMaster(
      fx,
      { vnfsRedirect: false, fault: (r) => (r.path === '/WW/vnfs' ? { kind: 'cut', afterBytes: 100000 } : undefined) },
      async (m) => {
        const g = await get(`${m.url}/WW/vnfs?hwaddr=${HW}`);
        assert.is(g.status, 200);
        assert.is(Number(g.headers['content-length']), 2 * 1024 * 1024);
        assert.is(g.body.length, 100000);
        assert.ok(!g.complete);
      },
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('fault length: a longer Content-Length than the body (premature close), and a shorter one', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    const full = sampleFixture().files[0].content as string;
    m.options.fault = () => ({ kind: 'length', declared: 1000 });
    const g = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=1`);
    assert.is(g.headers['content-length'], '1000');
    assert.is(text(g), full);
    assert.ok(!g.complete);
    m.options.fault = () => ({ kind: 'length', declared: 5 });
    const s = await get(`${m.url}/WW/file?hwaddr=${HW}&fileid=1`);
    assert.is(s.headers['content-length'], '5');
    assert.is(text(s), full.slice(0, 5)); // the client reads only what was declared
    // On a chunked answer the lie replaces the chunking.
    m.options.fault = () => ({ kind: 'length', declared: 3 });
    const r = await raw(m, `/WW/script?hwaddr=${HW}&type=pre`);
    assert.match(r, /\r\nContent-Length: 3\r\n/);
    assert.not.match(r, /Transfer-Encoding/i);
    assert.ok(r.endsWith('\r\n\r\necho pre\n'));
  });
});

test('fault body and redirect', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    const garbage = 'x'.repeat(200000) + '\n../../etc/passwd\n';
    m.options.fault = (r) => (r.path === '/WW/file' ? { kind: 'body', body: garbage } : undefined);
    const g = await get(`${m.url}/WW/file?hwaddr=${HW}`);
    assert.is(g.status, 200);
    assert.is(text(g), garbage);
    assert.is(Number(g.headers['content-length']), garbage.length);
    m.options.fault = (r) =>
      r.path === '/WW/script' ? { kind: 'body', body: Buffer.from('echo evil\n'), contentType: 'text/plain' } : undefined;
    const s = await get(`${m.url}/WW/script?hwaddr=${HW}&type=runtime`);
    assert.is(text(s), 'echo evil\n');
    assert.is(s.headers['content-type'], 'text/plain');
    assert.is(s.headers['transfer-encoding'], 'chunked');
    m.options.fault = () => ({ kind: 'redirect', location: 'ftp://elsewhere/x' });
    const r = await get(`${m.url}/WW/file?hwaddr=${HW}`);
    assert.is(r.status, 302);
    assert.is(r.headers.location, 'ftp://elsewhere/x');
    m.options.fault = () => ({ kind: 'redirect', location: '/WW/file?hwaddr=x', status: 307 });
    assert.is((await get(`${m.url}/WW/file?hwaddr=${HW}`)).status, 307);
  });
});

test('fault function sees every request, 1-based n, and can target the nth', async () => {
  await withMaster(sampleFixture(), { fault: (r) => (r.n === 2 ? { kind: 'status', status: 500 } : undefined) }, async (m) => {
    const u = `${m.url}/WW/file?hwaddr=${HW}`;
    assert.equal([(await get(u)).status, (await get(u)).status, (await get(u)).status], [200, 500, 200]);
    assert.equal(
      m.requests.map((r) => r.fault),
      [undefined, 'status', undefined],
    );
  });
});

test('deadAddress: nothing listens there', async () => {
  const a = await deadAddress();
  assert.match(a, /^127\.0\.0\.1:\d+$/);
  const g = await get(`http://${a}/WW/nodeconfig?hwaddr=${HW}`);
  assert.is(g.error?.code, 'ECONNREFUSED');
});

test('unknown path 404; makeCpio pads to 4 bytes', async () => {
  await withMaster(sampleFixture(), {}, async (m) => {
    assert.is((await get(`${m.url}/WW/other`)).status, 404);
    assert.is((await get(`${m.url}/`)).status, 404);
  });
  const c = makeCpio([{ path: 'a', content: 'xyz' }]);
  assert.is(c.length % 4, 0);
});

// Not timed (a timing bound flakes on a loaded machine): what matters is that 1,000 requests share
// the client's 4 keep-alive connections instead of opening one each.
test('1,000-file list and 1,000 content requests share 4 keep-alive connections', async () => {
  await withMaster(bigFixture(50, 1000), {}, async (m) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const list = await get(`${m.url}/WW/file?hwaddr=02:00:00:00:00:31`, { agent });
      assert.is(text(list).split('\n').filter(Boolean).length, 1000);
      const ids = Array.from({ length: 1000 }, (_, i) => i + 1);
      const results = await Promise.all(ids.map((i) => get(`${m.url}/WW/file?hwaddr=02:00:00:00:00:31&fileid=${i}`, { agent })));
      assert.ok(results.every((r) => r.status === 200 && r.body.length === 100));
      assert.ok(m.connections <= 4, `${m.connections} connections`);
    } finally {
      agent.destroy();
    }
  });
});

test.run();
