// Gunzip (and the MD5 of the compressed bytes) on a worker thread, so that
// inflating overlaps with unpacking as in `gunzip | bsdtar`: the main thread
// writes files with synchronous calls, and a zlib stream driven from the main
// thread stalls whenever the main thread is busy writing.
//
//   main: HTTP body --batch, transfer--> worker: MD5, node:zlib gunzip --batch, transfer--> main: async iterator
//
// Bounded both ways: the main thread keeps at most IN_FLIGHT compressed bytes
// the worker has not yet fed to zlib (write() returns a promise to wait on), and
// the worker pauses inflating while OUT_FLIGHT decompressed bytes have not been
// taken by the reader. Bytes travel in batch buffers whose memory is
// transferred (never shared) and handed back for reuse once used: compressed
// batches when zlib has consumed them, decompressed ones when the ByteReader
// releases them (recycle()). The one remaining stream of garbage is node:zlib's
// own output buffers and the HTTP parser's chunks; V8 would collect those only
// every ~64 MiB of them, per thread, so both threads run a minor GC every
// GC_EVERY bytes, which keeps the peak RSS flat.
//
// The worker's code is the function below, passed as source text (`eval: true`):
// a single-executable application has no script file a Worker could load. It
// uses only built-in modules, through process.getBuiltinModule inside the
// function, because bundler-renamed imports do not exist in the worker.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Worker } from 'node:worker_threads';

const IN_FLIGHT = 4 << 20;
const OUT_FLIGHT = 8 << 20;
const BATCH_IN = 256 * 1024;
const BATCH_OUT = 1 << 20;
const GC_EVERY = 8 << 20;

export interface GunzipThreadOptions {
  /** Also compute the MD5 of the compressed bytes (digest() after the end). */
  md5?: boolean;
}

/** Messages main -> worker. */
type ToWorker =
  | { t: 'in'; ab: ArrayBuffer; n: number }
  | { t: 'end' }
  | { t: 'took'; n: number }
  | { t: 'reuse'; ab: ArrayBuffer };
/** Messages worker -> main. */
type FromWorker =
  | { t: 'ack'; ab: ArrayBuffer; n: number }
  | { t: 'out'; ab: ArrayBuffer; n: number }
  | { t: 'end'; md5?: string }
  | { t: 'error'; message: string; code?: string; errno?: number };

interface WorkerConfig {
  md5: boolean;
  outFlight: number;
  batch: number;
  gcEvery: number;
}

type GcFunction = (options?: { type?: 'major' | 'minor' }) => void;

/* The worker. Self-contained: it runs from its source text in another isolate. */
function gunzipWorker(): void {
  const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
  const zlib = process.getBuiltinModule('node:zlib');
  const crypto = process.getBuiltinModule('node:crypto');
  const cfg = workerData as WorkerConfig;
  const port = parentPort!;
  const post = (m: FromWorker, transfer?: ArrayBuffer[]) => port.postMessage(m, transfer);
  const gc = (globalThis as { gc?: GcFunction }).gc;
  const md5 = cfg.md5 ? crypto.createHash('md5') : undefined;
  const gz = zlib.createGunzip({ chunkSize: 256 * 1024 });
  /** Batch buffers the main thread has handed back. */
  const free: ArrayBuffer[] = [];
  let out: Buffer | undefined;
  let outLen = 0;
  let unacked = 0;
  let paused = false;
  let failed = false;
  let sinceGc = 0;
  const flush = () => {
    if (!out || outLen === 0) return;
    const ab = out.buffer as ArrayBuffer;
    post({ t: 'out', ab, n: outLen }, [ab]);
    unacked += outLen;
    out = undefined;
    outLen = 0;
  };
  gz.on('data', (c: Buffer) => {
    let off = 0;
    while (off < c.length) {
      if (!out) out = Buffer.from(free.pop() ?? new ArrayBuffer(cfg.batch));
      const k = Math.min(c.length - off, out.length - outLen);
      c.copy(out, outLen, off, off + k);
      outLen += k;
      off += k;
      if (outLen === out.length) flush();
    }
    sinceGc += c.length;
    if (gc && sinceGc >= cfg.gcEvery) {
      sinceGc = 0;
      gc({ type: 'minor' }); // frees zlib's spent output buffers now, not ~64 MiB later
    }
    if (!paused && unacked >= cfg.outFlight) {
      paused = true;
      gz.pause();
    }
  });
  gz.on('end', () => {
    if (failed) return;
    flush();
    post({ t: 'end', md5: md5?.digest('hex') });
  });
  gz.on('error', (e: NodeJS.ErrnoException) => {
    if (failed) return;
    failed = true;
    post({ t: 'error', message: e.message, code: e.code, errno: e.errno });
  });
  port.on('message', (m: ToWorker) => {
    if (failed) return;
    if (m.t === 'in') {
      const b = Buffer.from(m.ab, 0, m.n);
      md5?.update(b);
      // Once zlib has consumed it, the batch goes back to the main thread for reuse.
      gz.write(b, () => post({ t: 'ack', ab: m.ab, n: m.n }, [m.ab]));
    } else if (m.t === 'end') {
      gz.end();
    } else if (m.t === 'took') {
      unacked -= m.n;
      if (paused && unacked < cfg.outFlight) {
        paused = false;
        gz.resume();
      }
    } else if (m.t === 'reuse') {
      if (m.ab.byteLength === cfg.batch && free.length < 64) free.push(m.ab);
    }
  });
}

const WORKER_SOURCE = `(${gunzipWorker.toString()})();`;

let gcCached: GcFunction | null | undefined;

/**
 * V8's gc() for this thread, made available to isolates created from now on
 * (the worker) as well. Undefined where V8 does not allow it.
 */
function exposeGc(): GcFunction | undefined {
  if (gcCached === undefined) {
    try {
      setFlagsFromString('--expose-gc');
      const f: unknown = runInNewContext('typeof gc === "function" ? gc : undefined');
      gcCached = typeof f === 'function' ? (f as GcFunction) : null;
    } catch {
      gcCached = null;
    }
  }
  return gcCached ?? undefined;
}

/** An error from zlib in the worker, with its code (Z_DATA_ERROR, ...) as node:zlib gives it. */
function zlibError(m: { message: string; code?: string; errno?: number }): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(m.message);
  if (m.code !== undefined) e.code = m.code;
  if (m.errno !== undefined) e.errno = m.errno;
  return e;
}

/**
 * A gunzip stream on its own thread. Feed it with write()/end(); read the
 * decompressed data with for-await (once). destroy() stops it at any point.
 */
export class GunzipThread implements AsyncIterable<Buffer> {
  private readonly worker: Worker;
  private readonly gc?: GcFunction;
  private sinceGc = 0;
  private inFlight = 0;
  private pendingIn?: Buffer;
  private pendingLen = 0;
  /** Compressed batch buffers the worker has handed back. */
  private readonly freeIn: ArrayBuffer[] = [];
  private ended = false;
  private finished = false;
  private failure?: Error;
  private md5?: string;
  private readonly queue: Buffer[] = [];
  private wakeReader?: () => void;
  private wakeWriter?: () => void;
  private exited = false;

  constructor(o: GunzipThreadOptions = {}) {
    this.gc = exposeGc();
    const cfg: WorkerConfig = { md5: !!o.md5, outFlight: OUT_FLIGHT, batch: BATCH_OUT, gcEvery: GC_EVERY };
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: cfg, stdout: false, stderr: false });
    this.worker.on('message', (m: FromWorker) => this.onMessage(m));
    this.worker.on('error', (err) => this.fail(err));
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (!this.finished) this.fail(new Error(`decompression thread ended early (exit ${code})`));
    });
  }

  private onMessage(m: FromWorker): void {
    switch (m.t) {
      case 'ack':
        this.inFlight -= m.n;
        if (m.ab.byteLength === BATCH_IN) this.freeIn.push(m.ab);
        if (this.inFlight < IN_FLIGHT) this.wake('writer');
        return;
      case 'out':
        this.queue.push(Buffer.from(m.ab, 0, m.n));
        this.wake('reader');
        return;
      case 'end':
        this.md5 = m.md5;
        this.finished = true;
        this.wake('reader');
        return;
      case 'error':
        this.fail(zlibError(m));
        return;
    }
  }

  private wake(which: 'reader' | 'writer'): void {
    const f = which === 'reader' ? this.wakeReader : this.wakeWriter;
    if (which === 'reader') this.wakeReader = undefined;
    else this.wakeWriter = undefined;
    f?.();
  }

  private fail(err: Error): void {
    if (this.failure || this.finished) return;
    this.failure = err;
    this.wake('reader');
    this.wake('writer');
    void this.worker.terminate();
  }

  private send(): void {
    if (!this.pendingIn || this.pendingLen === 0) return;
    const ab = this.pendingIn.buffer as ArrayBuffer;
    this.worker.postMessage({ t: 'in', ab, n: this.pendingLen } satisfies ToWorker, [ab]);
    this.inFlight += this.pendingLen;
    this.pendingIn = undefined;
    this.pendingLen = 0;
  }

  /** Takes a compressed chunk (copied). A returned promise: wait for it before writing more. */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    if (this.ended) return Promise.reject(new Error('write after end'));
    let off = 0;
    while (off < chunk.length) {
      if (!this.pendingIn) this.pendingIn = Buffer.from(this.freeIn.pop() ?? new ArrayBuffer(BATCH_IN));
      const k = Math.min(chunk.length - off, this.pendingIn.length - this.pendingLen);
      chunk.copy(this.pendingIn, this.pendingLen, off, off + k);
      this.pendingLen += k;
      off += k;
      if (this.pendingLen === this.pendingIn.length) this.send();
    }
    this.sinceGc += chunk.length;
    if (this.gc && this.sinceGc >= GC_EVERY) {
      this.sinceGc = 0;
      this.gc({ type: 'minor' }); // frees the HTTP parser's spent chunks now, not ~64 MiB later
    }
    if (this.inFlight < IN_FLIGHT) return undefined;
    return new Promise<void>((resolve, reject) => {
      this.wakeWriter = () => (this.failure ? reject(this.failure) : resolve());
    });
  }

  /** No more compressed data: the worker checks the gzip trailer and ends the stream. */
  end(): void {
    if (this.ended || this.failure) return;
    this.ended = true;
    this.send();
    this.worker.postMessage({ t: 'end' } satisfies ToWorker);
  }

  /** Stops the worker (idempotent); a reader waiting gets `err` or a generic error. */
  destroy(err?: Error): void {
    this.fail(err ?? new Error('decompression stopped'));
    if (!this.exited) void this.worker.terminate();
  }

  /**
   * Hands a chunk this stream yielded back for reuse, once nothing refers to its
   * memory any more (ByteReader's onRelease). Its memory moves to the worker.
   */
  recycle(chunk: Buffer): void {
    const ab = chunk.buffer as ArrayBuffer;
    if (this.failure || this.finished || chunk.byteOffset !== 0 || ab.byteLength !== BATCH_OUT) return;
    this.worker.postMessage({ t: 'reuse', ab } satisfies ToWorker, [ab]);
  }

  /** Hex MD5 of the compressed bytes, once the stream has ended (with options.md5). */
  digest(): string | undefined {
    return this.md5;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    try {
      for (;;) {
        const b = this.queue.shift();
        if (b !== undefined) {
          this.worker.postMessage({ t: 'took', n: b.length } satisfies ToWorker);
          yield b;
          continue;
        }
        if (this.failure) throw this.failure;
        if (this.finished) return;
        await new Promise<void>((resolve) => (this.wakeReader = resolve));
      }
    } finally {
      if (this.finished) void this.worker.terminate();
    }
  }
}
