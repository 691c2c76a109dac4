// Minor garbage collections paced by bytes streamed. Node's HTTP layer hands each
// body chunk over in a fresh buffer whose memory lives outside V8's heap, and V8
// frees such garbage only every ~64 MiB of it, so a long download or an image
// unpack would peak far above what it holds. A minor GC every so many bytes keeps
// the peak RSS flat at a cost of well under a millisecond each.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFunction = (options?: { type?: 'minor' | 'major' }) => void;
let gcCached: GcFunction | null | undefined;

/**
 * V8's gc(), switched on when first needed rather than with --expose-gc at start-up: any V8 flag
 * given at start makes the code cache of Node's own modules unusable, which every tool would pay.
 * Undefined where V8 does not allow it.
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

/** Counts bytes; every `every` of them runs a minor GC (where V8 allows one). */
export class GcPacer {
  private since = 0;

  constructor(private readonly every: number) {}

  add(bytes: number): void {
    this.since += bytes;
    if (this.since < this.every) return;
    this.since = 0;
    exposeGc()?.({ type: 'minor' }); // switched on at the first one, not at start-up
  }
}
