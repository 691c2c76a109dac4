// The real master's /WW/file error paths print CGI headers into a 200 body (PROTOCOL 2.7):
// `Content-Type: ...\r\nStatus: 404\r\n\r\n<html>...`. Such a body is the master's refusal,
// not content: it must never be installed, printed or parsed as an answer.
import { WwError } from '../errors.ts';

/** The status embedded at the start of a 200 body, or null for an ordinary body. */
export function embeddedStatus(head: Buffer): number | null {
  // The master prints `Content-Type: ...` first; accept `Status: ...` first too, in case a
  // different mod_perl or CGI layer orders the headers the other way.
  const start = head.toString('latin1', 0, Math.min(head.length, 14)).toLowerCase();
  if (!start.startsWith('content-type: ') && !start.startsWith('status:')) return null;
  const text = head.toString('latin1', 0, Math.min(head.length, 1024));
  const end = text.search(/\r?\n\r?\n/);
  const headerBlock = end < 0 ? text : text.slice(0, end);
  // Every line of the block must look like a header, or this is ordinary content that happens to start alike.
  if (!headerBlock.split(/\r?\n/).every((l) => /^[A-Za-z][A-Za-z0-9-]*:/.test(l))) return null;
  const m = /(?:^|\n)Status:\s*(\d{3})/i.exec(headerBlock);
  return m ? Number(m[1]) : null;
}

export function embeddedStatusError(url: string, status: number): WwError {
  const what = status === 404 ? ' (unknown node or file object)' : status === 403 ? ' (node not allowed)' : '';
  return new WwError('WW_EMBEDDED_STATUS', `${url}: master answered with embedded error status ${status}${what}`, {
    status,
    retry: status >= 500,
  });
}
