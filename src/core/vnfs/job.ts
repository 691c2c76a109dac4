// /WW/vnfs (PROTOCOL 2.5, 3 wwgetvnfs): stream the node's image from the
// master, gunzip it and unpack it in the same pass (nothing held whole in memory
// or on disk), optionally checking the MD5 of the compressed stream.
//
//   HTTP body --> MD5, gunzip (InlineGunzip) --> ByteReader --> cpio/tar reader --> Extractor
//
// The HTTP body is fed with back-pressure (forEachChunk waits while the
// decompressed data the extractor has not taken is at its bound), so a slow disk slows the download. A transient failure (503, cut
// connection, truncation) re-runs the whole consume on the next master/round:
// extraction starts over and replaces what the first attempt wrote.
//
// The target's marker of an unfinished unpack is made before the first entry and removed as
// the very last step, after the checksum and the sbin/init check (target.ts).
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { ByteReader } from './archive/bytes.ts';
import { readArchive } from './archive/detect.ts';
import type { ArchiveFormat } from './archive/types.ts';
import { WwError, describe } from '../errors.ts';
import { Extractor, type ExtractStats } from './extract.ts';
import { GcPacer } from '../gc.ts';
import type { Identity } from '../identity.ts';
import { InlineGunzip } from './inflate.ts';
import type { Logger } from '../log.ts';
import { forEachChunk } from '../net/body.ts';
import type { MasterClient } from '../net/client.ts';
import type { MasterResponse } from '../net/exchange.ts';
import { createRoot, markComplete, markIncomplete } from './target.ts';

// Until the tool imports them from target.ts (issue 19).

export interface Progress {
  /** Compressed bytes received. */
  received: number;
  /** Content-Length of the image, when the master sent one. */
  total?: number;
  stats: ExtractStats;
}

export interface VnfsOptions {
  client: MasterClient;
  hwaddr: string;
  /** Real path of the target root; with createRoot, the absolute path of one still to be made. */
  root: string;
  /** Make root (mkdir -p) once the master has answered with the image, not before. */
  createRoot?: boolean;
  /** Lower-case hex MD5 the compressed image must have; undefined: not verified. */
  expectedMd5?: string;
  /** Where expectedMd5 came from, for the mismatch message. */
  md5Source?: string;
  /** Require ROOT/sbin/init afterwards (upstream: yes). */
  requireInit?: boolean;
  /** Who unpacks (owners restored as root; whose stale temporaries are ours). */
  identity: Identity;
  owners?: boolean;
  log: Logger;
  onProgress?: (p: Progress) => void;
  /** Test hook: extractor options. */
  mknod?: string;
}

export interface VnfsResult {
  url: string;
  /** Real path of the root unpacked into. */
  root: string;
  format: ArchiveFormat;
  compressed: number;
  md5?: string;
  verified: boolean;
  stats: ExtractStats;
  seconds: number;
}

/** Compressed bytes between two minor GCs (measured on the real image: 1 MiB: 72 MiB peak RSS; 4 MiB: 77; none: 97). */
const GC_EVERY = 1 << 20;

function gzipError(err: unknown, url: string): unknown {
  const code = (err as NodeJS.ErrnoException)?.code ?? '';
  if (code.startsWith('Z_') || code === 'ERR_ZLIB_INITIALIZATION_FAILED') {
    return new WwError('WW_GZIP_MALFORMED', `${url}: image is not valid gzip data (${describe(err)})`, { cause: err });
  }
  return err;
}

async function unpackOnce(
  res: MasterResponse,
  o: VnfsOptions & { root: string; recovering: boolean },
  started: number,
): Promise<VnfsResult> {
  const gunzip = new InlineGunzip({ md5: o.expectedMd5 !== undefined });
  const declared = res.headers['content-length'];
  const total = declared === undefined ? undefined : Number(declared);
  const ex = new Extractor({ root: o.root, identity: o.identity, owners: o.owners, log: o.log, mknod: o.mknod, sweepAll: o.recovering });
  let received = 0;
  let feedError: unknown;
  /** Inflating failed (bad gzip data): the reader sees that error; the feed just stops. */
  let inflateFailed = false;
  let lastTick = 0;
  const tick = (force = false) => {
    if (!o.onProgress) return;
    const now = Date.now();
    if (!force && now - lastTick < 200) return;
    lastTick = now;
    o.onProgress({ received, total, stats: ex.stats });
  };

  const pacer = new GcPacer(GC_EVERY); // frees the HTTP layer's spent chunks (gc.ts)
  const feed = forEachChunk(res, async (chunk) => {
    if (inflateFailed) throw new Error('decompression failed'); // stops the feed; the reader reports why
    received += chunk.length;
    pacer.add(chunk.length);
    const wait = gunzip.write(chunk);
    if (wait) await wait.catch(() => (inflateFailed = true));
  }).then(
    () => {
      gunzip.end();
    },
    (err) => {
      if (!inflateFailed) feedError = err;
      gunzip.destroy(err instanceof Error ? err : new Error(String(err)));
      throw err;
    },
  );
  feed.catch(() => {}); // observed below; avoid an unhandled rejection while unpacking

  let format: ArchiveFormat = 'cpio-newc';
  try {
    const reader = new ByteReader(gunzip, { onRelease: (b) => gunzip.recycle(b) });
    for await (const entry of readArchive(reader, (f) => (format = f))) {
      await ex.add(entry);
      tick();
    }
    await reader.drain(); // padding after the trailer; also lets gunzip check the gzip trailer (CRC, length)
    ex.finish();
  } catch (err) {
    // Which failed first? A cut connection reaches the reader as a truncated archive or gzip
    // stream, and by then feedError is set: report the cause. Otherwise the failure is the
    // reader's own (a full disk, a hostile entry, bad data), and stopping the body below must
    // not turn it into "connection lost" (a transient error, retried onto the same full disk).
    const networkFirst = feedError !== undefined;
    res.body.destroy();
    gunzip.destroy();
    await feed.catch(() => {});
    if (networkFirst) throw feedError;
    throw gzipError(err, res.url);
  }
  await feed;
  tick(true);

  let digest: string | undefined;
  if (o.expectedMd5 !== undefined) {
    digest = gunzip.digest();
    if (digest !== o.expectedMd5) {
      throw new WwError(
        'WW_CHECKSUM_MISMATCH',
        `VNFS checksum mismatch: expected MD5 ${o.expectedMd5}${o.md5Source ? ` (${o.md5Source})` : ''}, ` +
          `but the image that arrived from ${res.url} (${received} bytes) has MD5 ${digest}; ` +
          `the files already unpacked into ${o.root} must not be trusted`,
      );
    }
  }
  return {
    url: res.url,
    root: o.root,
    format,
    compressed: received,
    md5: digest,
    verified: digest !== undefined,
    stats: ex.stats,
    seconds: (Date.now() - started) / 1000,
  };
}

/** Fetches and unpacks the node's VNFS into o.root. */
export async function getVnfs(o: VnfsOptions): Promise<VnfsResult> {
  const started = Date.now();
  let root = o.createRoot ? undefined : o.root;
  let recovering: boolean | undefined;
  // image: a rate bound instead of --max-time's fixed deadline (a slow link is not a dead one).
  const result = await o.client.get(
    '/WW/vnfs',
    { hwaddr: o.hwaddr },
    async (res) => {
      root ??= await createRoot(o.root);
      // Once, before the first entry of the first attempt; a retry continues under the same mark.
      recovering ??= markIncomplete(root, o.log);
      return unpackOnce(res, { ...o, root, recovering }, started);
    },
    undefined,
    { image: true },
  );
  if (o.requireInit !== false) {
    const init = join(result.root, 'sbin', 'init');
    let found = false;
    try {
      found = lstatSync(init, { throwIfNoEntry: false }) !== undefined;
    } catch {
      found = false;
    }
    if (!found) {
      throw new WwError('WW_NOT_BOOTABLE', `the image was unpacked but ${init} does not exist: not a bootable VNFS`);
    }
  }
  markComplete(result.root);
  return result;
}

export function isHexMd5(v: string): boolean {
  return /^[0-9a-fA-F]{32}$/.test(v);
}
