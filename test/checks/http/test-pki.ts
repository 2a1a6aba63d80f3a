// A throwaway PKI for the TLS tests of the http-based checks, made by openssl: a CA, and leaf
// certificates it signs (server ones for 127.0.0.1, client ones), in a temp dir removed by clean().
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Leaf {
  name: string;
  days: number;
  usage: 'server' | 'client';
}

export interface TestPki {
  dir: string;
  /** A file of the PKI as text: `ca.pem`, `<leaf>.pem`, `<leaf>.key`. */
  pem(file: string): string;
  clean(): void;
}

export function makeTestPki(leaves: Leaf[]): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'opsbro-pki-'));
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const subject = (cn: string) => ['-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${cn}`];
  openssl('req', '-x509', ...subject('opsbro test CA'), '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '30');
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const { name, days, usage } of leaves) {
    openssl('req', ...subject(name), '-keyout', `${name}.key`, '-out', `${name}.csr`);
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      String(days),
      '-extfile',
      `${usage}.ext`,
    );
  }
  return {
    dir,
    pem: (file) => readFileSync(join(dir, file), 'utf8'),
    clean: () => rmSync(dir, { recursive: true, force: true }),
  };
}
