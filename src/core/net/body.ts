// Reading an answer's body, and the strict view of what counts as complete (PROTOCOL 2.6, 2.7):
// a short body, a missing final chunk or a dropped connection is never handed on as a result.
import { WwError, describe } from '../errors.ts';
import type { MasterResponse } from './exchange.ts';

/**
 * Calls onChunk for every body chunk (awaiting it, so a slow disk slows the
 * download instead of filling memory), then checks the body is complete:
 * Content-Length reached, or the final chunk of a chunked answer seen.
 */
export async function forEachChunk(res: MasterResponse, onChunk: (chunk: Buffer) => void | Promise<void>): Promise<number> {
  let received = 0;
  try {
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      if (res.progress) res.progress.bytes += (chunk as Buffer).length;
      try {
        await onChunk(chunk as Buffer);
      } catch (err) {
        // The consumer's own failure (a full disk, say) is local and definitive: not the network's.
        throw err instanceof WwError ? err : new WwError('WW_IO', describe(err), { cause: err });
      }
    }
  } catch (err) {
    if (err instanceof WwError) throw err;
    throw new WwError('WW_TRUNCATED', `${res.url}: connection lost after ${received} bytes (truncated answer)`, { cause: err });
  }
  const declared = res.headers['content-length'];
  if (!res.body.complete) {
    throw new WwError('WW_TRUNCATED', `${res.url}: truncated answer (${received} bytes${declared ? ` of ${declared}` : ''})`);
  }
  // Node's HTTP parser has already refused a Content-Length that is not digits: this is the wire's number.
  if (declared !== undefined && Number(declared) !== received) {
    throw new WwError('WW_TRUNCATED', `${res.url}: body is ${received} bytes, Content-Length said ${declared}`);
  }
  return received;
}

/** Reads a whole (bounded) body into memory; for lists, scripts and node configuration. */
export async function readBody(res: MasterResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  await forEachChunk(res, (c) => {
    size += c.length;
    if (size > limit) throw new WwError('WW_TOO_LARGE', `${res.url}: answer larger than ${limit} bytes`);
    chunks.push(c);
  });
  return Buffer.concat(chunks);
}
