// Gunzip (and the MD5 of the compressed bytes) on this thread, into a few
// fixed output buffers that the reader hands back for reuse.
//
//   HTTP body --write()--> MD5, zlib inflate --batches--> async iterator (ByteReader) --> extractor
//
// Why not a node:zlib stream: it allocates a fresh output buffer for every
// chunkSize bytes it produces, and that garbage lives outside V8's heap, so V8
// collects it only every ~64 MiB: an image unpacked that way peaks at over
// 100 MiB RSS. Why not a worker thread (what this replaced): a second isolate
// costs ~19 MiB for what is ~0.4 s of CPU on a typical image. Here zlib's
// native handle inflates synchronously straight into recycled batch buffers
// (the handle node:zlib's own zlib.inflateSync drives), so decompressing
// allocates nothing per chunk.
//
// Bounded: at most OUT_FLIGHT decompressed bytes wait for the reader; a
// compressed chunk that would inflate to more (a gzip bomb, a run of zeros)
// is kept and inflated further as the reader takes batches, and write()'s
// promise settles only when all of it has been inflated.
import type { Hash } from 'node:crypto';
import type { Gunzip } from 'node:zlib';

const BATCH = 256 * 1024;
const OUT_FLIGHT = 1 << 20;
const SPARE = 4;
const EMPTY = Buffer.alloc(0);

/** node:zlib's native handle, as zlib.js itself drives it for the *Sync functions. */
interface ZlibHandle {
  writeSync(flush: number, input: Buffer, inOff: number, inLen: number, out: Buffer, outOff: number, outLen: number): void;
  onerror: (message: string, errno: number, code: string) => void;
}

export interface GunzipOptions {
  /** Also compute the MD5 of the compressed bytes (digest() after the end). */
  md5?: boolean;
}

/** An error from zlib with its code (Z_DATA_ERROR, ...) as node:zlib gives it. */
function zlibError(message: string, errno: number, code: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(message);
  e.errno = errno;
  e.code = code;
  return e;
}

/**
 * A gunzip stream on this thread. Feed it with write()/end(); read the
 * decompressed data with for-await (once), handing each chunk back with
 * recycle() once done with it. destroy() stops it at any point.
 */
export class InlineGunzip implements AsyncIterable<Buffer> {
  private readonly stream: Gunzip;
  private readonly flush: number;
  private readonly finishFlush: number;
  private readonly handle: ZlibHandle;
  /** [avail_out, avail_in] after each writeSync, filled in by the handle. */
  private readonly state: Uint32Array;
  private readonly hash?: Hash;
  private md5?: string;
  private zerr?: NodeJS.ErrnoException;
  private failure?: Error;
  /** Compressed input not yet inflated (held while the reader is behind). */
  private input?: Buffer;
  private inOff = 0;
  private ended = false;
  /** zlib reported the end of the gzip data: later input is trailing bytes, ignored as gunzip does. */
  private streamEnd = false;
  private finished = false;
  private out?: Buffer;
  private outLen = 0;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private readonly free: Buffer[] = [];
  private wakeReader?: () => void;
  private wakeWriter?: () => void;

  constructor(o: GunzipOptions = {}) {
    // Loaded here, not at start-up: only wwgetvnfs's unpacking needs them (lazy.ts).
    const zlib = process.getBuiltinModule('node:zlib');
    this.flush = zlib.constants.Z_NO_FLUSH;
    this.finishFlush = zlib.constants.Z_FINISH;
    this.stream = zlib.createGunzip();
    const s = this.stream as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    if (!s._handle || typeof s._handle.writeSync !== 'function' || !(s._writeState instanceof Uint32Array)) {
      throw new Error('this Node.js has no zlib handle to inflate with (built for the pinned Node.js)');
    }
    this.handle = s._handle;
    this.state = s._writeState;
    // Called synchronously from inside writeSync; replaces the stream's handler (nothing else uses the stream).
    this.handle.onerror = (message, errno, code) => {
      this.zerr = zlibError(message, errno, code);
    };
    if (o.md5) this.hash = process.getBuiltinModule('node:crypto').createHash('md5');
  }

  /** Takes a compressed chunk (kept, not copied, until inflated). A returned promise: wait for it before writing more. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended || this.input) return Promise.reject(new Error('write after end or before the last write settled'));
    this.hash?.update(chunk);
    if (this.streamEnd || chunk.length === 0) return undefined;
    this.input = chunk;
    this.inOff = 0;
    this.pump();
    if (this.failure) return Promise.reject(this.failure);
    if (!this.input) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.wakeWriter = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  /** No more compressed data: inflates what is left and checks the gzip trailer (CRC, length). */
  end(): void {
    if (this.ended || this.failure) return;
    this.ended = true;
    this.md5 = this.hash?.digest('hex');
    this.pump();
  }

  /** Stops (idempotent); a reader or writer waiting gets `err` or a generic error. */
  destroy(err?: Error): void {
    this.fail(err ?? new Error('decompression stopped'));
  }

  /** Hands a chunk this stream yielded back for reuse, once nothing refers to its memory any more. */
  recycle(chunk: Buffer): void {
    if (chunk.byteOffset !== 0 || chunk.buffer.byteLength !== BATCH || this.free.length >= SPARE) return;
    this.free.push(Buffer.from(chunk.buffer as ArrayBuffer));
  }

  /** Hex MD5 of the compressed bytes, once end() was called (with options.md5). */
  digest(): string | undefined {
    return this.md5;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.input = undefined;
    this.stream.close();
    this.wake();
  }

  private wake(): void {
    const r = this.wakeReader;
    this.wakeReader = undefined;
    r?.();
    if (!this.input) {
      const w = this.wakeWriter;
      this.wakeWriter = undefined;
      w?.();
    }
  }

  private push(): void {
    if (!this.out || this.outLen === 0) return;
    this.queue.push(this.out.subarray(0, this.outLen));
    this.queued += this.outLen;
    this.out = undefined;
    this.outLen = 0;
  }

  /** Inflates held input (or finishes after end()) while the reader is not too far behind. */
  private pump(): void {
    while (!this.failure && !this.finished && this.queued < OUT_FLIGHT) {
      const finishing = !this.input && this.ended;
      if (!this.input && !finishing) break;
      if (this.streamEnd && finishing) {
        this.finish();
        break;
      }
      if (!this.out) {
        this.out = this.free.pop() ?? Buffer.allocUnsafeSlow(BATCH);
        this.outLen = 0;
      }
      if (finishing) this.inOff = 0;
      const input = this.input ?? EMPTY;
      const inLen = input.length - this.inOff;
      const room = this.out.length - this.outLen;
      this.handle.writeSync(finishing ? this.finishFlush : this.flush, input, this.inOff, inLen, this.out, this.outLen, room);
      if (this.zerr) {
        this.fail(this.zerr);
        break;
      }
      const availOut = this.state[0];
      const availIn = this.state[1];
      this.outLen += room - availOut;
      this.inOff += inLen - availIn;
      if (availOut === 0) {
        this.push(); // full batch; maybe more output from the same input
        continue;
      }
      // zlib stopped with room to spare: it needs more input, or the gzip data ended.
      if (finishing) {
        this.finish();
        break;
      }
      if (availIn > 0) this.streamEnd = true; // bytes after the end of the gzip data: ignored, as gunzip(1) does
      this.input = undefined;
    }
    if (this.queue.length > 0 || this.finished || this.failure || !this.input) this.wake();
  }

  private finish(): void {
    this.push();
    this.finished = true;
    this.stream.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      const b = this.queue.shift();
      if (b !== undefined) {
        this.queued -= b.length;
        yield b;
        this.pump();
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.finished) return;
      // A partly filled batch is handed over when the writer is waiting on us or nothing is held.
      if (this.outLen > 0 && !this.input) {
        this.push();
        continue;
      }
      await new Promise<void>((resolve) => (this.wakeReader = resolve));
    }
  }
}
