// A pull reader over an async stream of chunks (the gunzip output): exact-size
// reads for headers, zero-copy streaming for entry data, skipping, and a byte
// position for error messages. Holds at most one header's worth of data beyond
// the chunk in flight.
//
// With `onRelease`, the source's chunks are handed back once consumed, for the
// source to reuse their memory. Then a Buffer that read()/readOrEnd()/peek()
// return is valid only until the next call on the reader, and one that
// stream() passes to its callback only until the callback returns (or its
// promise settles): the archive readers and the extractor use them that way.
import { WwError } from '../../errors.ts';

export interface ByteReaderOptions {
  /** Called with each source chunk once nothing the reader handed out can still refer to it. */
  onRelease?: (chunk: Buffer) => void;
}

export class ByteReader {
  private chunks: Buffer[] = [];
  private avail = 0;
  private ended = false;
  /** Bytes consumed so far. */
  position = 0;
  private readonly it: AsyncIterator<Buffer>;
  private readonly onRelease?: (chunk: Buffer) => void;
  /** Whole source chunks behind chunks[i] (subarrays of them), to release once used up. */
  private sources: Buffer[] = [];
  /** Used-up source chunks not yet released (views of them may still be in the caller's hands). */
  private done: Buffer[] = [];

  constructor(source: AsyncIterable<Buffer> | AsyncIterator<Buffer>, opts: ByteReaderOptions = {}) {
    this.it = Symbol.asyncIterator in source ? (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]() : source;
    this.onRelease = opts.onRelease;
  }

  /** Hands back the used-up chunks: called where no earlier view can still be in use. */
  private release(): void {
    if (this.done.length === 0) return;
    const done = this.done;
    this.done = [];
    for (const c of done) this.onRelease!(c);
  }

  /** chunks[0] is used up. */
  private shift(): void {
    this.chunks.shift();
    if (this.onRelease) this.done.push(this.sources.shift()!);
  }

  static from(buf: Buffer): ByteReader {
    return new ByteReader(
      (async function* () {
        yield buf;
      })(),
    );
  }

  /** Buffers until n bytes are available; false when the stream ends first. */
  private async fill(n: number): Promise<boolean> {
    while (this.avail < n && !this.ended) {
      const r = await this.it.next();
      if (r.done) {
        this.ended = true;
        break;
      }
      const b = r.value as Buffer;
      if (b.length > 0) {
        this.chunks.push(b);
        if (this.onRelease) this.sources.push(b);
        this.avail += b.length;
      } else if (this.onRelease) {
        this.onRelease(b);
      }
    }
    return this.avail >= n;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    this.avail -= n;
    this.position += n;
    if (first.length >= n) {
      if (first.length === n) this.shift();
      else this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let o = 0;
    while (o < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - o);
      c.copy(out, o, 0, k);
      o += k;
      if (k === c.length) this.shift();
      else this.chunks[0] = c.subarray(k);
    }
    return out;
  }

  truncated(what: string): WwError {
    return new WwError('WW_ARCHIVE_MALFORMED', `image ends in the middle of ${what} (archive truncated after ${this.position} bytes)`);
  }

  /** Up to n bytes without consuming them (fewer only at the end of the stream). */
  async peek(n: number): Promise<Buffer> {
    this.release();
    await this.fill(n);
    const k = Math.min(n, this.avail);
    if (k === 0) return Buffer.alloc(0);
    if (this.chunks[0].length >= k) return this.chunks[0].subarray(0, k);
    return Buffer.concat(this.chunks).subarray(0, k);
  }

  /** Exactly n bytes, or a truncation error naming `what`. */
  async read(n: number, what: string): Promise<Buffer> {
    this.release();
    if (n === 0) return Buffer.alloc(0);
    if (!(await this.fill(n))) throw this.truncated(what);
    return this.take(n);
  }

  /** Exactly n bytes, null at a clean end of stream (0 bytes left), truncation error otherwise. */
  async readOrEnd(n: number, what: string): Promise<Buffer | null> {
    this.release();
    if (!(await this.fill(n))) {
      if (this.avail === 0) return null;
      throw this.truncated(what);
    }
    return this.take(n);
  }

  /** Hands the next n bytes to onChunk piece by piece (awaited), without copying. */
  async stream(n: number, what: string, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    let left = n;
    while (left > 0) {
      this.release(); // the previous piece's callback is done with it
      if (this.avail === 0 && !(await this.fill(1))) throw this.truncated(what);
      const k = Math.min(left, this.chunks[0].length);
      const piece = this.take(k);
      left -= k;
      const p = onChunk(piece);
      if (p) await p;
    }
  }

  async skip(n: number, what: string): Promise<void> {
    this.release();
    let left = n;
    while (left > 0) {
      if (this.avail === 0 && !(await this.fill(1))) throw this.truncated(what);
      const k = Math.min(left, this.chunks[0].length);
      this.take(k);
      left -= k;
      this.release(); // skipped bytes are never handed out
    }
  }

  /** Consumes everything left (padding after the trailer); returns how many bytes. */
  async drain(): Promise<number> {
    let n = 0;
    for (;;) {
      this.release();
      if (this.avail === 0 && !(await this.fill(1))) return n;
      n += this.avail;
      this.position += this.avail;
      while (this.chunks.length > 0) this.shift();
      this.avail = 0;
    }
  }
}

/** Wraps `size` bytes of entry data: read() at most once, rest() what is still unread. */
export function entryData(r: ByteReader, size: number, what: string, onByte?: (chunk: Buffer) => void) {
  let left = size;
  let started = false;
  return {
    read: async (onChunk: (chunk: Buffer) => void | Promise<void>): Promise<void> => {
      if (started) throw new Error(`data of ${what} read twice`);
      started = true;
      await r.stream(size, what, (c) => {
        left -= c.length;
        onByte?.(c);
        return onChunk(c);
      });
    },
    rest: () => left,
    complete: () => started && left === 0,
  };
}
