// What a request in the master's access log was, in the protocol's terms (PROTOCOL section 2):
// which node asked (hwaddr=), for what (the file list, a file object's content, a script, the node
// configuration, the VNFS image), and the mark a file list request carried (timestamp=).
import type { AccessRecord } from './accesslog.ts';

export const ENDPOINTS = ['list', 'content', 'script', 'nodeconfig', 'vnfs'] as const;
export type Endpoint = (typeof ENDPOINTS)[number];

/** How each is shown: the request it stands for. */
export const ENDPOINT_REQUEST: Record<Endpoint, string> = {
  list: '/WW/file (list)',
  content: '/WW/file?fileid (content)',
  script: '/WW/script',
  nodeconfig: '/WW/nodeconfig',
  vnfs: '/WW/vnfs',
};

export interface NodeRequest {
  hwaddr: string;
  endpoint: Endpoint;
  /** The file list request's timestamp= (0 when absent or empty: the node has none yet). */
  mark?: number;
}

/** The master accepts only such hwaddrs (PROTOCOL section 2); anything else was refused, not a node. */
const HWADDR = /^[A-Za-z0-9:]{1,64}$/;
const MARK = /^\d{1,16}$/;

/** The node request a record is, or undefined (another path, no valid hwaddr, not a GET). */
export function nodeRequest(r: AccessRecord): NodeRequest | undefined {
  if (r.method !== 'GET' && r.method !== 'HEAD') return undefined;
  const endpoint = pathEndpoint(r.path);
  if (!endpoint) return undefined;
  const q = queryParams(r.query);
  const hwaddr = q.get('hwaddr');
  if (hwaddr === undefined || !HWADDR.test(hwaddr)) return undefined;
  if (endpoint !== 'file') return { hwaddr, endpoint };
  // fileid empty or 0 asks for the list, as the master reads it (PROTOCOL 2.7).
  const fileid = q.get('fileid');
  if (fileid !== undefined && fileid !== '' && !/^0+$/.test(fileid)) return { hwaddr, endpoint: 'content' };
  const ts = q.get('timestamp') ?? '';
  return { hwaddr, endpoint: 'list', mark: MARK.test(ts) ? Number(ts) : 0 };
}

/** The query's parameters, the first of each name, decoded as a form is (URLSearchParams's rules; faster, for millions of lines). */
function queryParams(query: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of query.split('&')) {
    const eq = pair.indexOf('=');
    const k = decode(eq < 0 ? pair : pair.slice(0, eq));
    if (!out.has(k)) out.set(k, decode(eq < 0 ? '' : pair.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  if (!/[%+]/.test(s)) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s; // a stray % stays as it is, as URLSearchParams leaves it
  }
}

function pathEndpoint(path: string): Endpoint | 'file' | undefined {
  // Apache logs the path as sent: a node may write //WW/file or /WW/file/.
  const p = path.replace(/\/{2,}/g, '/').replace(/\/$/, '');
  switch (p) {
    case '/WW/file':
      return 'file';
    case '/WW/script':
      return 'script';
    case '/WW/nodeconfig':
      return 'nodeconfig';
    case '/WW/vnfs':
      return 'vnfs';
    default:
      return undefined;
  }
}
