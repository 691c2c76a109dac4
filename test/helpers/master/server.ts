// The test master: an HTTP server that answers /WW/* the way the real Warewulf 3
// master does (PROTOCOL section 2, including the quirks of 2.6 and 2.7), plus
// fault injection and a log of every request. Used only by tests and benchmarks, never shipped.
// Like fixtures.ts and cpio.ts, an oracle ON PURPOSE: it imports nothing of the product (src/).
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { fileContent, listLine, toBuffer, type FileObject, type Fixture, type NodeFixture } from './fixtures.ts';

export interface MasterOptions {
  /** Status-code dialect, PROTOCOL 2.6 (default 'development'). */
  dialect?: 'development' | 'master';
  /** /WW/file errors as HTTP 200 text/html with embedded CGI status text (PROTOCOL 2.7). Default: true for 'development'. */
  embeddedErrors?: boolean;
  /** /WW/nodeconfig and /WW/script sent chunked without Content-Length (default true). */
  chunked?: boolean;
  /** 403 for source port >= 1024, including the vnfs_cache request (default false). */
  privilegedPorts?: boolean;
  /** 403 when the source IP is not one of the node's ips (default false). */
  checkSourceIp?: boolean;
  /** /WW/vnfs answers 302 with a relative Location /WW/vnfs_cache/NAME/image.MD5 (default true); else streams directly. */
  vnfsRedirect?: boolean;
  /** The next N /WW/vnfs requests answer 503. Live: decremented on each 503 (set it again to re-arm). */
  vnfsBusy?: number;
  /** Consulted for every request, before normal handling. */
  fault?: (req: RequestInfo) => Fault | undefined;
  host?: string;
  port?: number;
  keepAliveTimeoutMs?: number;
  /** Addition: simulated server cost, waited before every answer (the real master: ~4 ms per file request). */
  latencyMs?: number;
  /** Addition: speak https with this key and certificate (PEM). */
  tls?: { key: Buffer | string; cert: Buffer | string };
  /**
   * Addition: static files by URL path (bytes, or the path of a file on disk), e.g. the lean
   * capability's runtime blob under /WW/bootstrap/ (Apache's alias of /var/lib/warewulf/bootstrap/).
   * Live: read at each request. The faults apply to them as to any answer.
   */
  files?: Record<string, Buffer | string>;
  /** Addition (with tls): accept the TCP connection (1-based number) but never answer its ClientHello. */
  handshakeStall?: (connection: number) => boolean;
}

export interface RequestInfo {
  /** 1-based count of all requests. */
  n: number;
  method: string;
  path: string;
  query: Record<string, string>;
  remotePort: number;
  remoteAddress: string;
  /** Addition: 1-based number of the TCP connection the request came on (keep-alive reuse shows as repeats). */
  connection: number;
  /** Addition: the request headers. */
  headers: http.IncomingHttpHeaders;
  /** Addition: the status line sent (0 when none was: reset, or still pending). */
  status: number;
  /** Addition: the fault applied, if any. */
  fault?: Fault['kind'];
}

export type Fault =
  | { kind: 'status'; status: number; body?: string }
  | { kind: 'embedded'; status: number }
  | { kind: 'delay'; ms: number }
  | { kind: 'stall' }
  | { kind: 'cut'; afterBytes: number }
  | { kind: 'length'; declared: number }
  /** Addition: the whole answer, status line and headers included, `bytes` (1) every `everyMs` (1000): never silent, never done. */
  | { kind: 'trickle'; everyMs?: number; bytes?: number }
  | { kind: 'reset' }
  | {
      kind: 'body';
      body: string | Buffer;
      contentType?: string /** addition, default 200 */;
      status?: number;
      /** Addition: extra headers, e.g. an unrequested Content-Encoding. */ headers?: Record<string, string>;
    }
  | { kind: 'redirect'; location: string; status?: number };

export interface RunningMaster {
  url: string;
  host: string;
  port: number;
  /** 'host:port', usable as WWMASTER. */
  address: string;
  requests: RequestInfo[];
  fixture: Fixture;
  options: MasterOptions;
  connections: number;
  stop(): Promise<void>;
  /** Addition: the MD5 hex of a VNFS image in the fixture (what WWVNFS_CHECKSUM and the cache name carry). */
  vnfsChecksum(name: string): Promise<string>;
  /** Addition: requests whose path starts with prefix (e.g. '/WW/file'). */
  requestsTo(prefix: string): RequestInfo[];
}

// ---------------------------------------------------------------------------
// Answers

interface FileSource {
  path: string;
  start: number;
  /** Byte count to send. */
  length: number;
}

interface Answer {
  status: number;
  /** Headers other than Content-Length / Transfer-Encoding. */
  headers: Record<string, string>;
  body: Buffer | FileSource;
  chunked: boolean;
}

const EMPTY = Buffer.alloc(0);
const REASONS: Record<number, [string, string]> = {
  400: ['Bad Request', 'Your browser sent a request that this server could not understand.'],
  403: ['Forbidden', "You don't have permission to access this resource."],
  404: ['Not Found', 'The requested URL was not found on this server.'],
  500: ['Internal Server Error', 'The server encountered an internal error or misconfiguration and was unable to complete your request.'],
  503: [
    'Service Unavailable',
    'The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.',
  ],
};

/** An Apache-style error page. */
export function apachePage(status: number): string {
  const [title, text] = REASONS[status] ?? [http.STATUS_CODES[status] ?? 'Error', 'An error occurred.'];
  return (
    '<!DOCTYPE HTML PUBLIC "-//IETF//DTD HTML 2.0//EN">\n<html><head>\n' +
    `<title>${status} ${title}</title>\n</head><body>\n<h1>${title}</h1>\n<p>${text}</p>\n` +
    '<hr>\n<address>Apache/2.4.37 (centos) Server at localhost Port 80</address>\n</body></html>\n'
  );
}

/** The body the real master's /WW/file error paths send with HTTP 200 (PROTOCOL 2.7). */
export function embeddedErrorBody(status: number): string {
  return `Content-Type: application/octet-stream\r\nStatus: ${status}\r\n\r\n${apachePage(status)}`;
}

function errorAnswer(status: number): Answer {
  return { status, headers: { 'Content-Type': 'text/html; charset=iso-8859-1' }, body: Buffer.from(apachePage(status)), chunked: false };
}

function embeddedAnswer(status: number): Answer {
  return {
    status: 200,
    headers: { 'Content-Type': 'text/html; charset=UTF-8' },
    body: Buffer.from(embeddedErrorBody(status)),
    chunked: false,
  };
}

function bodyLength(b: Buffer | FileSource): number {
  return Buffer.isBuffer(b) ? b.length : b.length;
}

function shuffle<T>(a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

const HWADDR_RE = /^[A-Za-z0-9:]+$/;
const TYPE_RE = /^[A-Za-z0-9._-]+$/;
const CACHE_RE = /^\/WW\/vnfs_cache\/([^/]+)\/image\.([0-9a-f]{32})$/;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// The server

class Master {
  readonly fixture: Fixture;
  readonly options: MasterOptions;
  readonly requests: RequestInfo[] = [];
  connections = 0;
  private readonly server: http.Server;
  /** With tls: the listening socket, which hands each connection to the https server or stalls it. */
  private front?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private readonly connId = new WeakMap<net.Socket, number>();
  // Indexes, verified on every hit and rebuilt on a miss (the fixture is live and may be mutated).
  private nodeIndex = new Map<string, number>();
  private fileIndex = new Map<number, number>();
  private readonly md5Buf = new WeakMap<Buffer, string>();
  private readonly md5Path = new Map<string, { size: number; mtimeMs: number; md5: Promise<string> }>();

  constructor(fixture: Fixture, options: MasterOptions) {
    this.fixture = fixture;
    this.options = options;
    const serve = (req: http.IncomingMessage, res: http.ServerResponse) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent && !res.destroyed) this.send(res, errorAnswer(500));
        else res.destroy();
        if (process.env.WW_TESTMASTER_DEBUG) console.error('test master:', err);
      });
    };
    this.server = options.tls
      ? https.createServer({ keepAlive: true, key: options.tls.key, cert: options.tls.cert }, serve)
      : http.createServer({ keepAlive: true }, serve);
    if (options.tls) {
      let n = 0;
      this.front = net.createServer((sock) => {
        sock.on('error', () => sock.destroy());
        if (options.handshakeStall?.(++n)) {
          // Counted like any connection (stop() destroys it), but never handed to TLS.
          this.connections++;
          this.sockets.add(sock);
          sock.on('close', () => this.sockets.delete(sock));
          return;
        }
        this.server.emit('connection', sock);
      });
    }
    this.server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 5000;
    this.server.on(options.tls ? 'secureConnection' : 'connection', (sock: net.Socket) => {
      this.connections++;
      this.connId.set(sock, this.connections);
      this.sockets.add(sock);
      sock.on('close', () => this.sockets.delete(sock));
      sock.on('error', () => sock.destroy());
    });
    this.server.on('clientError', (_err, sock) => sock.destroy());
  }

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const listener = this.front ?? this.server;
      listener.once('error', reject);
      listener.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        const a = listener.address() as net.AddressInfo;
        resolve({ host: this.options.host ?? '127.0.0.1', port: a.port });
      });
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.front) {
        this.front.close();
        this.server.close();
        resolve();
      } else this.server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
      this.server.closeAllConnections?.();
    });
  }

  // --- lookups -------------------------------------------------------------

  findNode(hwaddr: string): NodeFixture | undefined {
    const nodes = this.fixture.nodes;
    const pos = this.nodeIndex.get(hwaddr);
    if (pos !== undefined && nodes[pos]?.hwaddr.toLowerCase() === hwaddr) return nodes[pos];
    this.nodeIndex = new Map();
    nodes.forEach((n, i) => {
      const k = n.hwaddr.toLowerCase();
      if (!this.nodeIndex.has(k)) this.nodeIndex.set(k, i);
    });
    const p = this.nodeIndex.get(hwaddr);
    return p === undefined ? undefined : nodes[p];
  }

  findFile(id: number): FileObject | undefined {
    const files = this.fixture.files;
    const pos = this.fileIndex.get(id);
    if (pos !== undefined && files[pos]?.id === id) return files[pos];
    this.fileIndex = new Map();
    files.forEach((f, i) => {
      if (!this.fileIndex.has(f.id)) this.fileIndex.set(f.id, i);
    });
    const p = this.fileIndex.get(id);
    return p === undefined ? undefined : files[p];
  }

  async imageInfo(name: string): Promise<{ md5: string; size: number; source: Buffer | string; mtimeMs: number } | undefined> {
    const v = this.fixture.vnfs?.[name];
    if (!v) return undefined;
    if (Buffer.isBuffer(v.image)) {
      let md5 = this.md5Buf.get(v.image);
      if (md5 === undefined) {
        md5 = createHash('md5').update(v.image).digest('hex');
        this.md5Buf.set(v.image, md5);
      }
      return { md5, size: v.image.length, source: v.image, mtimeMs: 0 };
    }
    const path = v.image;
    const st = await fsp.stat(path);
    let c = this.md5Path.get(path);
    if (!c || c.size !== st.size || c.mtimeMs !== st.mtimeMs) {
      const md5 = new Promise<string>((resolve, reject) => {
        const h = createHash('md5');
        createReadStream(path, { highWaterMark: 1 << 20 })
          .on('data', (d) => h.update(d))
          .on('end', () => resolve(h.digest('hex')))
          .on('error', reject);
      });
      c = { size: st.size, mtimeMs: st.mtimeMs, md5 };
      this.md5Path.set(path, c);
      md5.catch(() => this.md5Path.delete(path));
    }
    return { md5: await c.md5, size: st.size, source: path, mtimeMs: st.mtimeMs };
  }

  async vnfsChecksum(name: string): Promise<string> {
    const i = await this.imageInfo(name);
    if (!i) throw new Error(`no VNFS '${name}' in the fixture`);
    return i.md5;
  }

  // --- request handling -----------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://master');
    const query: Record<string, string> = {};
    for (const [k, v] of u.searchParams) if (!(k in query)) query[k] = v; // CGI param(): the first one
    const sock = req.socket;
    const info: RequestInfo = {
      n: this.requests.length + 1,
      method: req.method ?? 'GET',
      path: u.pathname,
      query,
      remotePort: sock.remotePort ?? 0,
      remoteAddress: sock.remoteAddress ?? '',
      connection: this.connId.get(sock) ?? 0,
      headers: req.headers,
      status: 0,
    };
    this.requests.push(info);
    res.on('finish', () => {
      if (!info.status) info.status = res.statusCode;
    });

    const fault = this.options.fault?.(info);
    if (fault) info.fault = fault.kind;
    if (fault?.kind === 'reset') {
      const s = sock as net.Socket & { resetAndDestroy?: () => void };
      if (s.resetAndDestroy) s.resetAndDestroy();
      else s.destroy();
      return;
    }
    if (fault?.kind === 'delay') {
      await sleep(fault.ms);
      if (sock.destroyed) return;
    }
    if (this.options.latencyMs) await sleep(this.options.latencyMs);

    if (fault?.kind === 'status') {
      const a = errorAnswer(fault.status);
      if (fault.body !== undefined) a.body = Buffer.from(fault.body);
      return this.send(res, a, info);
    }
    if (fault?.kind === 'embedded') return this.send(res, embeddedAnswer(fault.status), info);
    if (fault?.kind === 'redirect') {
      return this.send(res, { status: fault.status ?? 302, headers: { Location: fault.location }, body: EMPTY, chunked: false }, info);
    }

    const answer = await this.answer(info, req);
    if (!fault || fault.kind === 'delay') return this.send(res, answer, info);
    switch (fault.kind) {
      case 'body': {
        const headers = { ...answer.headers };
        delete headers.Location;
        headers['Content-Type'] = fault.contentType ?? answer.headers['Content-Type'] ?? 'text/html; charset=UTF-8';
        Object.assign(headers, fault.headers);
        return this.send(res, { status: fault.status ?? 200, headers, body: toBuffer(fault.body), chunked: answer.chunked }, info);
      }
      case 'cut':
        info.status = answer.status;
        return this.sendRaw(sock, answer, { limit: Math.max(0, fault.afterBytes), then: 'destroy' });
      case 'stall': {
        info.status = answer.status;
        const len = bodyLength(answer.body);
        // An empty body would make the headers a complete answer: declare chunking and never end it.
        const a = len === 0 ? { ...answer, chunked: true } : answer;
        return this.sendRaw(sock, a, { limit: Math.min(Math.floor(len / 2), 1 << 20), then: 'stall' });
      }
      case 'length':
        info.status = answer.status;
        return this.sendRaw(sock, { ...answer, chunked: false }, { declared: fault.declared, then: 'end' });
      case 'trickle':
        info.status = answer.status;
        return this.trickle(sock, answer, fault.everyMs ?? 1000, fault.bytes ?? 1);
    }
  }

  /** The normal answer to a request (PROTOCOL 2). */
  private async answer(info: RequestInfo, req: http.IncomingMessage): Promise<Answer> {
    if (this.options.privilegedPorts && info.remotePort >= 1024) return errorAnswer(403);
    if (info.method !== 'GET' && info.method !== 'HEAD') return errorAnswer(405);
    const file = this.options.files?.[info.path];
    if (file !== undefined) {
      const body = Buffer.isBuffer(file) ? file : { path: file, start: 0, length: (await fsp.stat(file)).size };
      return { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body, chunked: false };
    }
    switch (info.path) {
      case '/WW/nodeconfig':
        return this.nodeconfig(info);
      case '/WW/file':
        return this.file(info);
      case '/WW/script':
        return this.script(info);
      case '/WW/vnfs':
        return this.vnfs(info);
    }
    const m = CACHE_RE.exec(info.path);
    if (m) return this.vnfsCache(decodeURIComponent(m[1]), m[2], req.headers.range);
    return errorAnswer(404);
  }

  private get development(): boolean {
    return (this.options.dialect ?? 'development') === 'development';
  }

  private ipAllowed(node: NodeFixture, info: RequestInfo): boolean {
    if (!this.options.checkSourceIp || !node.ips || node.ips.length === 0) return true;
    const ip = info.remoteAddress.replace(/^::ffff:/, '');
    return node.ips.includes(ip) || node.ips.includes(info.remoteAddress);
  }

  /** Resolves the node for hwaddr, or the status code the development master would send. */
  private lookup(info: RequestInfo): NodeFixture | number {
    const hw = info.query.hwaddr;
    if (hw === undefined || !HWADDR_RE.test(hw)) return 400;
    const node = this.findNode(hw);
    if (!node || node.disabled) return 404;
    if (!this.ipAllowed(node, info)) return 403;
    return node;
  }

  private text(body: string | Buffer, chunked: boolean): Answer {
    return { status: 200, headers: { 'Content-Type': 'text/html; charset=UTF-8' }, body: toBuffer(body), chunked };
  }

  private async nodeconfig(info: RequestInfo): Promise<Answer> {
    const chunked = this.options.chunked ?? true;
    const node = this.lookup(info);
    if (typeof node === 'number') {
      if (!this.development && node !== 403) return this.text(EMPTY, chunked);
      return errorAnswer(node);
    }
    const attrs = new Map<string, string>();
    attrs.set('WWNAME', node.name);
    attrs.set('WWNODENAME', node.name);
    attrs.set('WWHOSTNAME', node.name);
    attrs.set('WWHWADDR', node.hwaddr.toLowerCase());
    if (node.fileIds?.length) attrs.set('WWFILEIDS', node.fileIds.join(','));
    if (node.ips?.length) {
      attrs.set('WWIPADDR', node.ips.join(','));
      attrs.set('WW__NETDEVLIST', node.ips.map((ip, i) => `eth${i}=${ip}`).join(','));
    }
    for (const [k, v] of Object.entries(node.config ?? {})) attrs.set(k.startsWith('WW') ? k : `WW${k}`, v);
    attrs.delete('WWVNFS_NAME');
    attrs.delete('WWVNFS_CHECKSUM');
    const pairs = shuffle([...attrs]);
    if (node.vnfs !== undefined) {
      pairs.push(['WWVNFS_NAME', node.vnfs]);
      const img = await this.imageInfo(node.vnfs).catch(() => undefined);
      if (img) pairs.push(['WWVNFS_CHECKSUM', img.md5]);
    }
    return this.text(pairs.map(([k, v]) => `${k}="${v}"\nexport ${k}\n`).join(''), chunked);
  }

  private fileError(status: number): Answer {
    const embedded = this.options.embeddedErrors ?? this.development;
    if (!this.development) status = status === 403 ? 403 : 404;
    return embedded ? embeddedAnswer(status) : errorAnswer(status);
  }

  private file(info: RequestInfo): Answer {
    const node = this.lookup(info);
    if (typeof node === 'number') return this.fileError(node);
    const fileid = info.query.fileid;
    if (fileid !== undefined && fileid !== '') {
      if (!/^\d+$/.test(fileid)) return this.fileError(400);
      const id = Number(fileid);
      if (id !== 0) {
        const f = this.findFile(id); // like the real master: not checked against the node's FILEIDS
        if (!f) return this.fileError(404);
        return { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body: fileContent(f), chunked: false };
      }
    }
    const since = /^\d+$/.test(info.query.timestamp ?? '') ? Number(info.query.timestamp) : 0;
    const objs: FileObject[] = [];
    for (const id of node.fileIds ?? []) {
      const f = this.findFile(id);
      if (f && (since === 0 || f.timestamp > since)) objs.push(f);
    }
    objs.sort((a, b) => a.timestamp - b.timestamp || a.id - b.id);
    return {
      status: 200,
      headers: { 'Content-Type': 'text/plain; charset=UTF-8' },
      body: Buffer.from(objs.map(listLine).join('')),
      chunked: false,
    };
  }

  private script(info: RequestInfo): Answer {
    const chunked = this.options.chunked ?? true;
    let node = this.lookup(info);
    const type = info.query.type;
    if (typeof node !== 'number' && (type === undefined || !TYPE_RE.test(type))) node = 400;
    if (typeof node === 'number') {
      if (!this.development && node !== 403) return this.text(EMPTY, chunked);
      return errorAnswer(node);
    }
    const parts: Buffer[] = [];
    for (const id of node.scripts?.[type as string] ?? []) {
      const f = this.findFile(id);
      if (f?.format === 'shell') parts.push(toBuffer(f.content));
    }
    return this.text(Buffer.concat(parts), chunked);
  }

  private async vnfs(info: RequestInfo): Promise<Answer> {
    const node = this.lookup(info);
    if (typeof node === 'number') return errorAnswer(this.development ? node : node === 403 ? 403 : 404);
    if ((this.options.vnfsBusy ?? 0) > 0) {
      this.options.vnfsBusy = (this.options.vnfsBusy ?? 1) - 1;
      return errorAnswer(503);
    }
    if (node.vnfs === undefined) return errorAnswer(404);
    const img = await this.imageInfo(node.vnfs).catch(() => undefined);
    if (!img) return errorAnswer(404);
    if (this.options.vnfsRedirect ?? true) {
      const location = `/WW/vnfs_cache/${encodeURIComponent(node.vnfs)}/image.${img.md5}`;
      return { ...errorAnswer(302), headers: { Location: location, 'Content-Type': 'text/html; charset=iso-8859-1' }, body: EMPTY };
    }
    const body = Buffer.isBuffer(img.source) ? img.source : { path: img.source, start: 0, length: img.size };
    return { status: 200, headers: { 'Content-Type': 'application/octet-stream' }, body, chunked: false };
  }

  private async vnfsCache(name: string, md5: string, range: string | undefined): Promise<Answer> {
    const img = await this.imageInfo(name).catch(() => undefined);
    if (!img || img.md5 !== md5) return errorAnswer(404);
    const mtime = img.mtimeMs ? new Date(img.mtimeMs) : new Date(0);
    const headers: Record<string, string> = {
      'Last-Modified': mtime.toUTCString(),
      ETag: `"${img.size.toString(16)}-${md5.slice(0, 13)}"`,
      'Accept-Ranges': 'bytes',
    };
    let start = 0;
    let length = img.size;
    let status = 200;
    const m = range ? /^bytes=(\d*)-(\d*)$/.exec(range.trim()) : null;
    if (m && (m[1] !== '' || m[2] !== '')) {
      let s: number;
      let e: number;
      if (m[1] === '') {
        s = Math.max(0, img.size - Number(m[2]));
        e = img.size - 1;
      } else {
        s = Number(m[1]);
        e = m[2] === '' ? img.size - 1 : Math.min(Number(m[2]), img.size - 1);
      }
      if (s >= img.size || e < s) {
        return { status: 416, headers: { 'Content-Range': `bytes */${img.size}` }, body: EMPTY, chunked: false };
      }
      start = s;
      length = e - s + 1;
      status = 206;
      headers['Content-Range'] = `bytes ${s}-${e}/${img.size}`;
    }
    const body = Buffer.isBuffer(img.source) ? img.source.subarray(start, start + length) : { path: img.source, start, length };
    return { status, headers, body, chunked: false };
  }

  // --- sending ----------------------------------------------------------------

  /** A normal answer through Node's http server (keep-alive, Date, HEAD handled). */
  private send(res: http.ServerResponse, a: Answer, info?: RequestInfo): void {
    if (info) info.status = a.status;
    const headers: Record<string, string | number> = { ...a.headers };
    const len = bodyLength(a.body);
    if (a.chunked) headers['Transfer-Encoding'] = 'chunked';
    else headers['Content-Length'] = len;
    res.writeHead(a.status, headers);
    if (Buffer.isBuffer(a.body)) {
      if (a.chunked && a.body.length > 1) {
        // Like mod_perl flushing as it prints: more than one chunk.
        const mid = a.body.length >> 1;
        res.write(a.body.subarray(0, mid));
        res.end(a.body.subarray(mid));
      } else {
        res.end(a.body);
      }
      return;
    }
    if (len === 0 || res.req.method === 'HEAD') {
      res.end();
      return;
    }
    const rs = createReadStream(a.body.path, { start: a.body.start, end: a.body.start + len - 1, highWaterMark: 1 << 20 });
    rs.on('error', () => res.destroy());
    res.on('close', () => rs.destroy());
    rs.pipe(res);
  }

  /** Writes the whole answer a few bytes at a time until it is done or the client goes away. */
  private async trickle(sock: net.Socket, a: Answer, everyMs: number, bytes: number): Promise<void> {
    const src = a.body;
    const body = Buffer.isBuffer(src) ? src : (await fsp.readFile(src.path)).subarray(src.start, src.start + src.length);
    const head = [`HTTP/1.1 ${a.status} ${http.STATUS_CODES[a.status] ?? 'Unknown'}`, `Content-Length: ${body.length}`];
    for (const [k, v] of Object.entries(a.headers)) head.push(`${k}: ${v}`);
    const all = Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`), body]);
    for (let off = 0; off < all.length && !sock.destroyed; off += bytes) {
      sock.write(all.subarray(off, off + bytes));
      await sleep(everyMs);
    }
  }

  /**
   * Writes an answer straight onto the socket, for the faults Node's server
   * would not produce: stop after `limit` body bytes, or declare a false length.
   */
  private async sendRaw(
    sock: net.Socket,
    a: Answer,
    opts: { limit?: number; declared?: number; then: 'destroy' | 'stall' | 'end' },
  ): Promise<void> {
    try {
      await this.writeRaw(sock, a, opts);
    } catch {
      sock.destroy(); // never let the server answer on top of raw bytes
    }
  }

  private async writeRaw(
    sock: net.Socket,
    a: Answer,
    opts: { limit?: number; declared?: number; then: 'destroy' | 'stall' | 'end' },
  ): Promise<void> {
    const len = bodyLength(a.body);
    const lines = [`HTTP/1.1 ${a.status} ${http.STATUS_CODES[a.status] ?? 'Unknown'}`, `Date: ${new Date().toUTCString()}`];
    for (const [k, v] of Object.entries(a.headers)) lines.push(`${k}: ${v}`);
    if (a.chunked) lines.push('Transfer-Encoding: chunked');
    else lines.push(`Content-Length: ${opts.declared ?? len}`);
    if (opts.then === 'end') lines.push('Connection: close');
    const write = (d: string | Buffer) =>
      new Promise<void>((resolve) => {
        if (sock.destroyed) return resolve();
        sock.write(d, () => resolve());
      });
    await write(lines.join('\r\n') + '\r\n\r\n');
    const limit = Math.min(opts.limit ?? len, len);
    if (a.chunked && len > 0) await write(`${len.toString(16)}\r\n`);
    if (Buffer.isBuffer(a.body)) {
      if (limit > 0) await write(a.body.subarray(0, limit));
    } else if (limit > 0) {
      const rs = createReadStream(a.body.path, { start: a.body.start, end: a.body.start + limit - 1, highWaterMark: 1 << 20 });
      try {
        for await (const chunk of rs) {
          if (sock.destroyed) break;
          await write(chunk as Buffer);
        }
      } finally {
        rs.destroy();
      }
    }
    if (a.chunked && limit === len && len > 0 && opts.then !== 'stall') await write('\r\n'); // the chunk is whole; the terminator never comes
    if (opts.then === 'destroy') sock.destroy();
    else if (opts.then === 'end') sock.end();
    // 'stall': leave the socket open until the client gives up or stop() destroys it.
  }
}

function withDefaults(o: MasterOptions): MasterOptions {
  const dialect = o.dialect ?? 'development';
  return {
    dialect,
    embeddedErrors: dialect === 'development',
    chunked: true,
    privilegedPorts: false,
    checkSourceIp: false,
    vnfsRedirect: true,
    vnfsBusy: 0,
    host: '127.0.0.1',
    port: 0,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
  };
}

export async function startMaster(fixture: Fixture, options: MasterOptions = {}): Promise<RunningMaster> {
  const m = new Master(fixture, withDefaults(options));
  const { host, port } = await m.listen();
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    url: `${options.tls ? 'https' : 'http'}://${hostPart}:${port}`,
    host,
    port,
    address: `${hostPart}:${port}`,
    requests: m.requests,
    fixture: m.fixture,
    options: m.options,
    get connections() {
      return m.connections;
    },
    stop: () => m.stop(),
    vnfsChecksum: (name) => m.vnfsChecksum(name),
    requestsTo: (prefix) => m.requests.filter((r) => r.path.startsWith(prefix)),
  };
}

/** A 'host:port' on 127.0.0.1 where nothing listens. */
export function deadAddress(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(`127.0.0.1:${port}`));
    });
  });
}
