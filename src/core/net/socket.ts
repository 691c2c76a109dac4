// Outgoing connections to a master. The development-branch master refuses any
// request from a source port >= 1024 (only root can bind below), so as root we
// bind a privileged port, picking another when one is taken (each closed one
// sits in TIME_WAIT for ~60 s and there are only ~920 of them: PROTOCOL 2.7).
// Connections are kept alive and reused so a large file set needs few ports.
// https on top of these sockets is net/tls.ts's.
import http from 'node:http';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { startTls } from './tls.ts';
import { WwError } from '../errors.ts';
import type { Identity } from '../identity.ts';

export type SourcePortMode = 'auto' | 'privileged' | 'any';

export const PRIVILEGED_PORT_MIN = 100; // as upstream: below 100 are well-known service ports
export const PRIVILEGED_PORT_MAX = 1023;

interface ConnectBase {
  /** Bound on reaching a master: TCP connect and, for https, the TLS handshake. */
  connectTimeoutMs: number;
  /** The only CA certificates trusted for https (--ca-file); unset: Node's bundled Mozilla roots. */
  ca?: string | Buffer;
  random?: () => number;
}

/** 'auto' decides by who this process is (only root can bind below 1024), so it needs the identity. */
export type ConnectOptions = ConnectBase &
  ({ sourcePort: 'auto'; identity: Identity } | { sourcePort: 'privileged' | 'any'; identity?: Identity });

export function usesPrivilegedPort(opts: ConnectOptions): boolean {
  if (opts.sourcePort === 'auto') return opts.identity.root;
  return opts.sourcePort === 'privileged';
}

const RETRYABLE_BIND = new Set(['EADDRINUSE', 'EADDRNOTAVAIL']);

function tcpConnect(to: { host: string; port: number; localPort?: number }, timeoutMs: number): Promise<net.Socket> {
  const { host, port, localPort } = to;
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, localPort });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new WwError('WW_CONNECT_TIMEOUT', `connection to ${host}:${port} timed out after ${timeoutMs / 1000} s`));
    }, timeoutMs);
    sock.once('connect', () => {
      clearTimeout(timer);
      sock.removeAllListeners('error');
      resolve(sock);
    });
    sock.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** Opens a TCP connection, from a privileged source port when asked, retrying taken ports. */
export async function openSocket(host: string, port: number, opts: ConnectOptions): Promise<net.Socket> {
  if (!usesPrivilegedPort(opts)) return tcpConnect({ host, port }, opts.connectTimeoutMs);
  const random = opts.random ?? Math.random;
  const span = PRIVILEGED_PORT_MAX - PRIVILEGED_PORT_MIN + 1;
  const start = Math.floor(random() * span);
  // Walk the whole range from a random start: a few hundred tries at most, each a failed bind (cheap).
  for (let i = 0; i < span; i++) {
    const localPort = PRIVILEGED_PORT_MIN + ((start + i) % span);
    try {
      return await tcpConnect({ host, port, localPort }, opts.connectTimeoutMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (RETRYABLE_BIND.has(code)) continue;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new WwError(
          'WW_CONFIG',
          'cannot bind a privileged source port (100-1023): run as root, or use --source-port=any if the master allows unprivileged ports',
        );
      }
      throw err;
    }
  }
  throw new WwError('WW_NO_PORT', `no free privileged source port (100-1023) to reach ${host}:${port}`);
}

type CreateCb = (err: Error | null, sock?: net.Socket) => void;

/**
 * A connected socket to host:port, plain or TLS, within opts.connectTimeoutMs
 * for TCP connect and TLS handshake together: a master that accepts the
 * connection but never answers the ClientHello must not hold us for ever.
 */
export function openConnection(to: { host: string; port: number; secure: boolean }, opts: ConnectOptions): Promise<net.Socket> {
  const { host, port, secure } = to;
  return new Promise((resolve, reject) => {
    let done = false;
    let sock: net.Socket | undefined;
    const finish = (err: Error | null, s?: net.Socket) => {
      if (done) {
        s?.destroy();
        return;
      }
      done = true;
      clearTimeout(timer);
      if (err) {
        sock?.destroy();
        reject(err);
      } else resolve(s!);
    };
    const timer = setTimeout(() => {
      const what = secure && sock ? 'TLS handshake with' : 'connection to';
      finish(new WwError('WW_CONNECT_TIMEOUT', `${what} ${host}:${port} timed out after ${opts.connectTimeoutMs / 1000} s`));
    }, opts.connectTimeoutMs);
    openSocket(host, port, opts).then(
      (s) => {
        if (done) return void s.destroy();
        sock = s;
        if (!secure) return finish(null, s);
        const t = startTls(s, { host, port, ca: opts.ca }, (err) => (err ? finish(err) : finish(null, t)));
        sock = t;
      },
      (err) => finish(err),
    );
  });
}

/** Hands Node's Agent sockets opened by openConnection (asynchronously, through the callback form). */
function agentConnect(opts: ConnectOptions, secure: boolean) {
  return (o: http.ClientRequestArgs & ConnectionOptions, cb: CreateCb) => {
    const host = String(o.host ?? 'localhost');
    const port = Number(o.port ?? (secure ? 443 : 80)); // what our own request gave (net/exchange.ts), not typed by anyone
    openConnection({ host, port, secure }, opts).then(
      (s) => cb(null, s),
      (err) => cb(err),
    );
    return undefined;
  };
}

/**
 * How long a kept-alive connection may sit unused before it is closed. Long enough for the next
 * request of the same run (milliseconds later), short enough not to pin a prefork worker (PROTOCOL
 * 2.8) while the node applies objects or waits; the client closes idle ones at once before a
 * back-off or a pause (net/client.ts).
 */
export const KEEP_IDLE_MS = 1000;

/** A keep-alive agent whose sockets come from openConnection. */
export function createAgent(opts: ConnectOptions, o: { secure: boolean; maxSockets: number }): http.Agent {
  const { secure, maxSockets } = o;
  const base = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const, timeout: KEEP_IDLE_MS };
  // node:https, like node:tls (net/tls.ts), is loaded only for a master reached over https.
  const agent = secure ? new (process.getBuiltinModule('node:https').Agent)(base) : new http.Agent(base);
  (agent as unknown as { createConnection: unknown }).createConnection = agentConnect(opts, secure);
  return agent;
}
