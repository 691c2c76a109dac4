// One line of an Apache access log, in the formats a Warewulf 3 master writes: Warewulf's
// warewulf-httpd.conf sets no log format of its own, so the lines are the distribution's default,
// `combined` (EL: /var/log/httpd/access_log; Debian: /var/log/apache2/access.log), or `common`,
// or Debian's `vhost_combined` (a leading `vhost:port` field):
//   HOST IDENT USER [DD/Mon/YYYY:HH:MM:SS +ZZZZ] "REQUEST" STATUS BYTES ["REFERER" "USER-AGENT" ...]
// Apache escapes `"` and `\` inside the quoted request line (\" and \\), so the request ends at
// the first unescaped quote. Anything else is not such a line: the caller counts and skips it.

export interface AccessRecord {
  /** When the request arrived (%t), epoch seconds. */
  at: number;
  /** The client (%h): its address, or its name when the server looks names up. */
  address: string;
  method: string;
  /** The request's path, without its query. */
  path: string;
  /** The query string as sent (after `?`, undecoded); '' when none. */
  query: string;
  status: number;
}

const MONTHS: Record<string, number> = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

// [02/Dec/2026:01:05:09 +0000]
const TIME = /^\[(\d{2})\/([A-Z][a-z]{2})\/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})\]$/;

/** The last time parsed: consecutive lines mostly share their second. */
let lastText = '';
let lastTime: number | undefined;

/** %t as epoch seconds; undefined when it is not that format or not a real time. */
export function parseLogTime(text: string): number | undefined {
  if (text === lastText) return lastTime;
  lastText = text;
  lastTime = timeOf(text);
  return lastTime;
}

function timeOf(text: string): number | undefined {
  const m = TIME.exec(text);
  if (!m) return undefined;
  const month = MONTHS[m[2]];
  const [day, year, h, min, s, oh, om] = [m[1], m[3], m[4], m[5], m[6], m[8], m[9]].map(Number);
  if (month === undefined || day < 1 || day > 31 || h > 23 || min > 59 || s > 60 || oh > 23 || om > 59) return undefined;
  const utc = Date.UTC(year, month, day, h, min, s) / 1000;
  // Date.UTC rolls 31 Feb over into March: such a date is not one.
  if (new Date(utc * 1000).getUTCDate() !== day) return undefined;
  const offset = (oh * 60 + om) * 60;
  return m[7] === '+' ? utc - offset : utc + offset;
}

/** The line as a record, or undefined when it is not an access log line in one of the formats above. */
export function parseAccessLine(line: string): AccessRecord | undefined {
  const open = line.indexOf(' [');
  if (open < 0) return undefined;
  const head = line.slice(0, open).split(' ');
  // common/combined: HOST IDENT USER; vhost_combined: VHOST:PORT HOST IDENT USER
  if (head.length !== 3 && head.length !== 4) return undefined;
  const address = head[head.length - 3];
  if (!address) return undefined;
  const close = line.indexOf('] "', open);
  if (close < 0) return undefined;
  const at = parseLogTime(line.slice(open + 1, close + 1));
  if (at === undefined) return undefined;
  // The quoted request: up to the first quote that is not escaped.
  let i = close + 3;
  let request = '';
  for (;;) {
    const q = line.indexOf('"', i);
    if (q < 0) return undefined;
    let backslashes = 0;
    for (let j = q - 1; j >= i && line.charCodeAt(j) === 0x5c; j--) backslashes++;
    request += line.slice(i, q);
    i = q + 1;
    if (backslashes % 2 === 0) break;
    request += '"';
  }
  const tail = /^ (\d{3}) (\d+|-)(?: |$)/.exec(line.slice(i));
  if (!tail) return undefined;
  const [method, target = '', ...rest] = request.split(' ');
  // "METHOD TARGET PROTOCOL", or HTTP/0.9's "METHOD TARGET"; a request Apache could not read is '-'.
  if (rest.length > 1 || !method || !target) return { at, address, method: method ?? '', path: '', query: '', status: Number(tail[1]) };
  const qm = target.indexOf('?');
  return {
    at,
    address,
    method,
    path: qm < 0 ? target : target.slice(0, qm),
    query: qm < 0 ? '' : target.slice(qm + 1),
    status: Number(tail[1]),
  };
}
