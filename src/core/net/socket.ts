// Outgoing connections to a master. The development-branch master refuses any
// request from a source port >= 1024 (only root can bind below), so as root we
// bind a privileged port, picking another when one is taken (each closed one
// sits in TIME_WAIT for ~60 s and there are only ~920 of them: PROTOCOL 2.7).
// Connections are kept alive and reused so a large file set needs few ports.
import http from 'node:http';
import net from 'node:net';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { WwError } from '../errors.ts';

export type SourcePortMode = 'auto' | 'privileged' | 'any';

export const PRIVILEGED_PORT_MIN = 100; // as upstream: below 100 are well-known service ports
export const PRIVILEGED_PORT_MAX = 1023;

export interface ConnectOptions {
  sourcePort: SourcePortMode;
  /** Bound on reaching a master: TCP connect and, for https, the TLS handshake. */
  connectTimeoutMs: number;
  /** The only CA certificates trusted for https (--ca-file); unset: Node's bundled Mozilla roots. */
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

// node:https and node:tls are loaded only when a master is reached over https: loading them
// is most of what start-up spends on built-in modules (~10 ms), and most masters talk http.
const tlsModule = () => process.getBuiltinModule('node:tls');

/**
 * The CA certificates trusted for https: exactly --ca-file's, else exactly the Mozilla roots built
 * into Node.js (tls.rootCertificates). Always given explicitly, so nothing in the environment adds
 * to them: NODE_EXTRA_CA_CERTS, NODE_USE_SYSTEM_CA and SSL_CERT_FILE/SSL_CERT_DIR act only on
 * Node's default store, which is then never used.
 */
export function trustedCas(ca: string | Buffer | undefined): string[] {
  return ca === undefined ? [...tlsModule().rootCertificates] : [String(ca)];
}

// One secure context per trust store, made when first needed: parsing the ~120 bundled roots takes
// ~7 ms, too much for every connection of a large file set.
const contexts = new Map<string | Buffer | undefined, SecureContext>();
function secureContext(ca: string | Buffer | undefined): SecureContext {
  let sc = contexts.get(ca);
  if (!sc) {
    sc = tlsModule().createSecureContext({ ca: trustedCas(ca) });
    contexts.set(ca, sc);
  }
  return sc;
}

/**
 * TLS options for a master at `host` (an IP address or a DNS name, as given in
 * WWMASTER). The certificate is checked against that address: an IP against the
 * certificate's IP subjectAltNames, a name against its DNS names; SNI only for a
 * name (RFC 6066 forbids IP literals). `ca`, when given, is the whole trust
 * store: a cluster CA pinned by --ca-file is the only issuer wanted, not one
 * more beside the ~120 public roots. The check is always on: rejectUnauthorized
 * is given, never left to Node's default (which NODE_TLS_REJECT_UNAUTHORIZED=0 turns off).
 */
export function tlsOptions(host: string, ca: string | Buffer | undefined): ConnectionOptions {
  return {
    host,
    servername: net.isIP(host) ? undefined : host,
    rejectUnauthorized: true,
    secureContext: secureContext(ca),
  };
}

// OpenSSL's verification results (as Node names them: UNABLE_TO_GET_ISSUER_CERT, CERT_HAS_EXPIRED,
// INVALID_CA, INVALID_PURPOSE, PATH_LENGTH_EXCEEDED, HOSTNAME_MISMATCH, ...) and Node's own
// identity checks (ERR_TLS_CERT_ALTNAME_INVALID, ..._FORMAT).
const CERTIFICATE_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ISSUER|^INVALID_(CA|PURPOSE|NON_CA)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$|^(EMAIL|IP_ADDRESS)_MISMATCH$|CRL/;

/**
 * Whether an error code says the master's certificate does not verify. Such a failure is
 * definitive (the same certificate will not verify on the next round); the one test of
 * net/socket.ts and net/client.ts.
 */
export function isCertificateError(code: string | undefined): boolean {
  return !!code && CERTIFICATE_ERROR.test(code);
}

/**
 * Node's own advice in certificate errors names a Node.js flag; ours names our option. A
 * certificate with no IP subjectAltName at all leaves Node's list empty: say so.
 */
function tlsMessage(e: Error, cert: boolean): string {
  const msg = e.message
    .replace(/;\s*if the root CA is installed locally.*$/s, '')
    .replace(/(IP: \S+ is not in the cert's list:)\s*$/, '$1 the certificate lists no IP addresses');
  return cert ? `${msg} (the master's certificate must be issued for this address by a CA in --ca-file FILE, or, without --ca-file, by one of the public CAs built into the tools)` : msg;
}

/**
 * A connected socket to host:port, plain or TLS, within opts.connectTimeoutMs
 * for TCP connect and TLS handshake together: a master that accepts the
 * connection but never answers the ClientHello must not hold us for ever.
 */
export function openConnection(host: string, port: number, opts: ConnectOptions, secure: boolean): Promise<net.Socket> {
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
        const t = tlsModule().connect({ socket: s, ...tlsOptions(host, opts.ca) });
        sock = t;
        const onErr = (e: NodeJS.ErrnoException) => {
          // A certificate that does not verify will not verify on the next round either.
          const cert = isCertificateError(e.code);
          finish(new WwError('WW_TLS', `TLS handshake with ${host}:${port} failed: ${tlsMessage(e, cert)}`, { retry: !cert }));
        };
        t.once('error', onErr);
        t.once('secureConnect', () => {
          t.removeListener('error', onErr);
          finish(null, t);
        });
      },
      (err) => finish(err),
    );
  });
}

/** Hands Node's Agent sockets opened by openConnection (asynchronously, through the callback form). */
function agentConnect(opts: ConnectOptions, secure: boolean) {
  return (o: http.ClientRequestArgs & ConnectionOptions, cb: CreateCb) => {
    const host = String(o.host ?? 'localhost');
    const port = Number(o.port ?? (secure ? 443 : 80));
    openConnection(host, port, opts, secure).then((s) => cb(null, s), (err) => cb(err));
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
