// InlineGunzip: wwgetvnfs's gunzip + MD5 into recycled buffers (src/core/vnfs/inflate.ts).
import { createHash, randomBytes } from 'node:crypto';
import { setImmediate as tick } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { InlineGunzip } from '../../src/core/vnfs/inflate.ts';

/** Feeds `gz` in `piece`-byte writes (waiting as asked), reads everything, returns what came out. */
async function roundTrip(gz: Buffer, piece: number, md5 = true) {
  const g = new InlineGunzip({ md5 });
  const feed = (async () => {
    for (let o = 0; o < gz.length; o += piece) {
      const w = g.write(gz.subarray(o, o + piece));
      if (w) await w;
    }
    g.end();
  })();
  const out: Buffer[] = [];
  for await (const b of g) {
    out.push(Buffer.from(b)); // a copy: b goes back for reuse
    g.recycle(b);
  }
  await feed;
  return { data: Buffer.concat(out), md5: g.digest() };
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest('hex');

test('round trip in pieces of every size, with the MD5 of the compressed bytes', async () => {
  const data = Buffer.concat([randomBytes(300_000), Buffer.alloc(2_000_000, 'a'), Buffer.from(randomBytes(700_000).toString('hex'))]);
  const gz = gzipSync(data);
  for (const piece of [997, 4096, 65536, gz.length]) {
    const r = await roundTrip(gz, piece);
    assert.ok(r.data.equals(data), `piece ${piece}`);
    assert.is(r.md5, md5(gz));
  }
});

test('concatenated gzip members are one stream; bytes after the end are ignored (as gunzip does), but hashed', async () => {
  const a = randomBytes(100_000);
  const b = Buffer.from('second member\n'.repeat(1000));
  const gz = Buffer.concat([gzipSync(a), gzipSync(b), Buffer.alloc(1024)]);
  const r = await roundTrip(gz, 5000);
  assert.ok(r.data.equals(Buffer.concat([a, b])));
  assert.is(r.md5, md5(gz));
});

test("truncated gzip data: the reader gets zlib's error", async () => {
  const gz = gzipSync(randomBytes(200_000));
  const err = await roundTrip(gz.subarray(0, gz.length - 100), 8192).then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.ok(err, 'an error');
  assert.is(err!.code, 'Z_BUF_ERROR');
  assert.match(err!.message, /unexpected end of file/);
});

test('corrupt data: Z_DATA_ERROR for the reader, and write() rejects too', async () => {
  const g = new InlineGunzip();
  const w = g.write(Buffer.from('this is not gzip data at all'));
  assert.ok(w, 'write returns a rejected promise');
  const werr = await w!.then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.is(werr?.code, 'Z_DATA_ERROR');
  const rerr = await (async () => {
    for await (const _ of g) void _;
  })().then(
    () => undefined,
    (e: NodeJS.ErrnoException) => e,
  );
  assert.is(rerr?.code, 'Z_DATA_ERROR');
});

test('a chunk that inflates to 64 MiB (a gzip bomb) is inflated only as the reader takes it', async () => {
  const big = 64 << 20;
  const gz = gzipSync(Buffer.alloc(big)); // ~64 KiB
  const g = new InlineGunzip();
  const before = process.memoryUsage().arrayBuffers;
  let settled = false;
  const w = g.write(gz);
  assert.ok(w, 'write waits for the reader');
  void w!.then(() => (settled = true));
  for (let i = 0; i < 5; i++) await tick();
  assert.not.ok(settled, 'all inflated with nobody reading');
  const held = process.memoryUsage().arrayBuffers - before;
  assert.ok(held < 4 << 20, `${(held / 1048576).toFixed(1)} MiB held before reading`);
  let n = 0;
  let zeros = true;
  const reading = (async () => {
    for await (const b of g) {
      n += b.length;
      if (zeros && b.some((x) => x !== 0)) zeros = false;
      g.recycle(b);
    }
  })();
  await w;
  g.end();
  await reading;
  assert.is(n, big);
  assert.ok(zeros);
});

test('destroy() wakes a waiting reader with the error', async () => {
  const g = new InlineGunzip();
  const reading = (async () => {
    for await (const _ of g) void _;
  })().then(
    () => undefined,
    (e: Error) => e,
  );
  await tick();
  g.destroy(new Error('connection lost'));
  assert.match(String(await reading), /connection lost/);
});

test.run();
