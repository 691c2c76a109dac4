// Outgoing connections to a master. The development-branch master refuses any
// request from a source port >= 1024 (only root can bind below), so as root we
// bind a privileged port, picking another when one is taken (each closed one
// sits in TIME_WAIT for ~60 s and there are only ~920 of them: PROTOCOL 2.7).
// Connections are kept alive and reused so a large file set needs few ports.
import http from 'node:http';
import net from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { WwError } from './errors.ts';

export type SourcePortMode = 'auto' | 'privileged' | 'any';

export const PRIVILEGED_PORT_MIN = 100; // as upstream: below 100 are well-known service ports
export const PRIVILEGED_PORT_MAX = 1023;

export interface ConnectOptions {
  sourcePort: SourcePortMode;
  connectTimeoutMs: number;
  /** Extra CA certificates for https (WWHTTP=https with a private CA). */
  ca?: string | Buffer;
  /** Whether this process may bind a privileged port; injectable for tests. */
  isRoot?: boolean;
  random?: () => number;
}

export function usesPrivilegedPort(opts: ConnectOptions): boolean {
  if (opts.sourcePort === 'privileged') return true;
  if (opts.sourcePort === 'any') return false;
  return opts.isRoot ?? process.getuid?.() === 0;
}

const RETRYABLE_BIND = new Set(['EADDRINUSE', 'EADDRNOTAVAIL']);

function tcpConnect(host: string, port: number, localPort: number | undefined, timeoutMs: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port, localPort });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new WwError('transient', `connection to ${host}:${port} timed out after ${timeoutMs / 1000} s`));
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
  if (!usesPrivilegedPort(opts)) return tcpConnect(host, port, undefined, opts.connectTimeoutMs);
  const random = opts.random ?? Math.random;
  const span = PRIVILEGED_PORT_MAX - PRIVILEGED_PORT_MIN + 1;
  const start = Math.floor(random() * span);
  // Walk the whole range from a random start: a few hundred tries at most, each a failed bind (cheap).
  for (let i = 0; i < span; i++) {
    const localPort = PRIVILEGED_PORT_MIN + ((start + i) % span);
    try {
      return await tcpConnect(host, port, localPort, opts.connectTimeoutMs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (RETRYABLE_BIND.has(code)) continue;
      if (code === 'EACCES' || code === 'EPERM') {
        throw new WwError(
          'config',
          'cannot bind a privileged source port (100-1023): run as root, or use --source-port=any if the master allows unprivileged ports',
        );
      }
      throw err;
    }
  }
  throw new WwError('transient', `no free privileged source port (100-1023) to reach ${host}:${port}`);
}

type CreateCb = (err: Error | null, sock?: net.Socket) => void;

// node:https and node:tls are loaded only when a master is reached over https: loading them
// is most of what start-up spends on built-in modules (~10 ms), and most masters talk http.
const tlsModule = () => process.getBuiltinModule('node:tls');

/** Hands Node's Agent sockets opened by openSocket (asynchronously, through the callback form). */
function agentConnect(opts: ConnectOptions, secure: boolean) {
  return (o: http.ClientRequestArgs & ConnectionOptions, cb: CreateCb) => {
    const host = String(o.host ?? 'localhost');
    const port = Number(o.port ?? (secure ? 443 : 80));
    openSocket(host, port, opts).then(
      (sock) => {
        if (!secure) return cb(null, sock);
        const tls = tlsModule();
        const t = tls.connect({
          socket: sock,
          servername: net.isIP(host) ? undefined : host,
          ca: opts.ca === undefined ? undefined : [...tls.rootCertificates, String(opts.ca)],
        });
        const onErr = (e: NodeJS.ErrnoException) => {
          sock.destroy();
          // A certificate that does not verify will not verify on the next round either.
          const cert = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(e.code ?? '');
          cb(new WwError(cert ? 'refused' : 'transient', `TLS handshake with ${host}:${port} failed: ${e.message}`));
        };
        t.once('error', onErr);
        t.once('secureConnect', () => {
          t.removeListener('error', onErr);
          cb(null, t);
        });
      },
      (err) => cb(err),
    );
    return undefined;
  };
}

/** A keep-alive agent whose sockets come from openSocket. */
export function createAgent(secure: boolean, opts: ConnectOptions, maxSockets: number): http.Agent {
  const base = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: 'lifo' as const };
  const agent = secure ? new (process.getBuiltinModule('node:https').Agent)(base) : new http.Agent(base);
  (agent as unknown as { createConnection: unknown }).createConnection = agentConnect(opts, secure);
  return agent;
}
