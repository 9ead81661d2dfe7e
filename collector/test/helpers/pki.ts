/** A throwaway PKI made with the system's openssl: a CA, a server certificate and client certificates. */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export interface Pki {
  ca: string;
  /** `{ cert, key }` files of a certificate issued by the CA for `cn`. */
  issue(name: string, cn: string, usage: 'serverAuth' | 'clientAuth'): { cert: string; key: string };
}

export function makePki(dir: string): Pki {
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl([
    'req',
    '-x509',
    ...ec,
    '-days',
    '2',
    '-subj',
    '/CN=dayi test CA',
    '-keyout',
    p('ca.key'),
    '-out',
    p('ca.pem'),
  ]);
  return {
    ca: p('ca.pem'),
    issue(name, cn, usage) {
      const ext =
        usage === 'serverAuth'
          ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n'
          : 'extendedKeyUsage=clientAuth\n';
      writeFileSync(p(`${name}.ext`), ext);
      openssl(['req', ...ec, '-subj', `/CN=${cn}`, '-keyout', p(`${name}.key`), '-out', p(`${name}.csr`)]);
      openssl([
        ...['x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.pem'), '-CAkey', p('ca.key')],
        ...['-CAcreateserial', '-days', '2', '-out', p(`${name}.pem`), '-extfile', p(`${name}.ext`)],
      ]);
      return { cert: p(`${name}.pem`), key: p(`${name}.key`) };
    },
  };
}
