// https to a master: the trust store, the certificate check against the address the admin
// wrote, and what a failed handshake says. node:tls is loaded only when a master is reached
// over https: loading it is most of what start-up spends on built-in modules (~10 ms), and
// most masters talk http.
import net from 'node:net';
import type { ConnectionOptions, SecureContext } from 'node:tls';
import { WwError } from '../errors.ts';

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
const CERTIFICATE_ERROR =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME|ISSUER|^INVALID_(CA|PURPOSE|NON_CA)$|^PATH_LENGTH_EXCEEDED$|^HOSTNAME_MISMATCH$|^(EMAIL|IP_ADDRESS)_MISMATCH$|CRL/;

/**
 * Whether an error code says the master's certificate does not verify. Such a failure is
 * definitive (the same certificate will not verify on the next round); the one test, for the
 * handshake here and for errors surfacing later in an exchange (net/exchange.ts).
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
  return cert
    ? `${msg} (the master's certificate must be issued for this address by a CA in --ca-file FILE, or, without --ca-file, by one of the public CAs built into the tools)`
    : msg;
}

/**
 * Starts the TLS handshake with host:port over a connected socket. Returns the TLS socket at once
 * (the caller's connect timeout may have to destroy it); `done` is called once the handshake is
 * over: with null when the certificate verified, or with the handshake's WwError.
 */
export function startTls(
  socket: net.Socket,
  o: { host: string; port: number; ca: string | Buffer | undefined },
  done: (err: WwError | null) => void,
): net.Socket {
  const t = tlsModule().connect({ socket, ...tlsOptions(o.host, o.ca) });
  const onErr = (e: NodeJS.ErrnoException) => {
    // A certificate that does not verify will not verify on the next round either.
    const cert = isCertificateError(e.code);
    done(new WwError('WW_TLS', `TLS handshake with ${o.host}:${o.port} failed: ${tlsMessage(e, cert)}`, { retry: !cert }));
  };
  t.once('error', onErr);
  t.once('secureConnect', () => {
    t.removeListener('error', onErr);
    done(null);
  });
  return t;
}
