// Test certificates, made with openssl at test time: a private CA and leaf
// certificates with exactly the subjectAltNames a test asks for. Nothing is
// checked in and nothing outlives the temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestCa {
  dir: string;
  /** PEM of the CA certificate (what --ca-file names). */
  cert: Buffer;
  certPath: string;
  /** A leaf key and certificate signed by this CA; san e.g. 'IP:127.0.0.1' or 'DNS:localhost' (omit for none). */
  leaf(name: string, san?: string, cn?: string): { key: Buffer; cert: Buffer };
}

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export function makeCa(label = 'wwruntime test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'ww-ca-'));
  const caKey = join(dir, 'ca.key');
  const certPath = join(dir, 'ca.pem');
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    `/CN=${label}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout',
    caKey,
    '-out',
    certPath,
  ]);
  return {
    dir,
    cert: readFileSync(certPath),
    certPath,
    leaf(name, san, cn = 'wwruntime test master') {
      const key = join(dir, `${name}.key`);
      const csr = join(dir, `${name}.csr`);
      const crt = join(dir, `${name}.pem`);
      const ext = join(dir, `${name}.ext`);
      writeFileSync(ext, `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n${san ? `subjectAltName=${san}\n` : ''}`);
      openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`, '-keyout', key, '-out', csr]);
      openssl([
        'x509',
        '-req',
        '-in',
        csr,
        '-CA',
        certPath,
        '-CAkey',
        caKey,
        '-CAcreateserial',
        '-days',
        '2',
        '-extfile',
        ext,
        '-out',
        crt,
      ]);
      return { key: readFileSync(key), cert: readFileSync(crt) };
    },
  };
}
