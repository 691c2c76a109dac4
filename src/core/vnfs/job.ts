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
// An unpack that did not finish must never leave a target that looks complete
// (upstream's only check, TARGET/sbin/init, may well be there already): before the
// first entry, TARGET/.wwgetvnfs-incomplete is created and synced with its folder;
// it is removed only as the very last step, after the unpack, the checksum (when
// asked) and the sbin/init check. The boot step and the wwruntime transport treat
// a target holding it as not provisioned.
import { constants as C, closeSync, existsSync, fstatSync, fsyncSync, futimesSync, lstatSync, mkdirSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ByteReader } from './archive/bytes.ts';
import { readArchive } from './archive/detect.ts';
import type { ArchiveFormat } from './archive/types.ts';
import { realRoot } from '../fs/confine.ts';
import { WwError, describe } from '../errors.ts';
import { Extractor, INCOMPLETE_MARKER, localError, type ExtractStats } from './extract.ts';
import { GcPacer } from '../gc.ts';
import { InlineGunzip } from './inflate.ts';
import type { Logger } from '../log.ts';
import { forEachChunk, type MasterClient, type MasterResponse } from '../net/client.ts';

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

/** Where to unpack and whether that is allowed (PROTOCOL 6.8). Pure: the caller supplies the facts. */
export interface TargetChoice {
  target: string;
  /** Why this target, for --verbose. */
  reason: string;
}

export function chooseTarget(o: { target?: string; newroot?: string; initramfs: boolean }): TargetChoice {
  if (o.target !== undefined && o.target !== '') return { target: o.target, reason: '--target' };
  if (o.newroot) return { target: o.newroot, reason: o.initramfs ? 'NEWROOT (initramfs)' : 'NEWROOT' };
  return { target: '/', reason: 'NEWROOT is not set: the running system' };
}

export const LIVE_ROOT_REFUSAL =
  'refusing to unpack the VNFS over / on a running system: it would overwrite every file of this live node ' +
  '(running programs, libraries, /etc) with the image\'s copies and cannot be undone. ' +
  'Inside the initramfs NEWROOT is set and /init exists; here they are not. ' +
  'Use --target DIR to unpack the image somewhere else, or --force if you really mean to overwrite /.';

/**
 * Resolves the target's real path and applies the live-root rule, before the master is contacted.
 * A missing explicit --target is not made here (nothing is created for a run that never gets an
 * image): `create` comes back true and getVnfs makes it on the master's first answer. A directory
 * that does not exist yet cannot be the live /.
 */
export async function prepareTarget(
  choice: TargetChoice,
  o: { initramfs: boolean; force: boolean; create: boolean },
): Promise<{ root: string; create: boolean }> {
  if (o.create && !existsSync(choice.target)) return { root: resolve(choice.target), create: true };
  const root = await realRoot(choice.target);
  if (root === '/' && !o.initramfs && !o.force) throw new WwError('WW_LIVE_ROOT', LIVE_ROOT_REFUSAL);
  return { root, create: false };
}

export { INCOMPLETE_MARKER };

/** fsync(2) on a directory, so a name made or removed in it is on disk. */
function syncDir(dir: string): void {
  const fd = openSync(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Marks root as being unpacked (before its first entry is written); returns whether the mark was
 * already there, i.e. an earlier unpack did not finish. Whatever else holds the name (a link, an
 * empty directory) is replaced: the mark must be a plain file of ours.
 */
export function markIncomplete(root: string, log: Logger): boolean {
  const path = join(root, INCOMPLETE_MARKER);
  try {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st && !st.isFile()) {
      if (st.isDirectory()) rmdirSync(path);
      else unlinkSync(path);
    }
    const fd = openSync(path, C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW, 0o644);
    try {
      writeSync(fd, `wwgetvnfs (pid ${process.pid}) began unpacking the VNFS here at ${new Date().toISOString()}; ` +
        'while this file exists the unpack has not finished and the tree must not be booted or trusted\n');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    syncDir(root);
    if (st?.isFile()) log.info(`${path}: an earlier unpack did not finish; unpacking again over it`);
    return st?.isFile() === true;
  } catch (err) {
    throw localError(err, path);
  }
}

/**
 * The very last step of a good unpack: the mark goes, and must be gone. The root keeps the
 * times the image gave it (removing a name from a directory sets its mtime).
 */
export function markComplete(root: string): void {
  const path = join(root, INCOMPLETE_MARKER);
  let fd: number | undefined;
  try {
    fd = openSync(root, C.O_RDONLY | C.O_DIRECTORY);
    const st = fstatSync(fd);
    try {
      unlinkSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
    fsyncSync(fd);
  } catch (err) {
    throw new WwError('WW_IO', `cannot remove ${path} after a complete unpack: ${describe(err)}`, { cause: err });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (lstatSync(path, { throwIfNoEntry: false }) !== undefined) throw new WwError('WW_IO', `${path} is still there after a complete unpack`);
}

async function createRoot(target: string): Promise<string> {
  try {
    mkdirSync(target, { recursive: true, mode: 0o755 });
  } catch (err) {
    throw new WwError('WW_IO', `cannot create target ${target}: ${describe(err)}`);
  }
  return realRoot(target);
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

async function unpackOnce(res: MasterResponse, o: VnfsOptions & { root: string; recovering: boolean }, started: number): Promise<VnfsResult> {
  const gunzip = new InlineGunzip({ md5: o.expectedMd5 !== undefined });
  const declared = res.headers['content-length'];
  const total = declared === undefined ? undefined : Number(declared);
  const ex = new Extractor({ root: o.root, owners: o.owners, log: o.log, mknod: o.mknod, sweepAll: o.recovering });
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
  const result = await o.client.get('/WW/vnfs', { hwaddr: o.hwaddr }, async (res) => {
    root ??= await createRoot(o.root);
    // Once, before the first entry of the first attempt; a retry continues under the same mark.
    recovering ??= markIncomplete(root, o.log);
    return unpackOnce(res, { ...o, root, recovering }, started);
  }, undefined, { image: true });
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
