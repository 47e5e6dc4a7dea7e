/**
 * A test PKI made at run time with the openssl command (OpenSSL 1.1.1 or 3.x): a CA,
 * server certificates for given TLS names issued by it, client certificates (the common
 * name is the user for PKI logins), a self-signed server certificate no CA vouches for,
 * and an encrypted copy of a key. EC P-256 keys, valid for two days; everything lives in
 * a temporary directory that `remove()` deletes. Nothing is downloaded.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CertFiles {
  certFile: string;
  keyFile: string;
  cert: string;
  key: string;
}

export interface TestPki {
  dir: string;
  caFile: string;
  ca: string;
  /** A server certificate for `names` (DNS entries; an IP-looking name becomes an IP entry), issued by the CA. */
  server(names: string[]): CertFiles;
  /** A client certificate with common name `cn`, issued by the CA. */
  client(cn: string): CertFiles;
  /** A self-signed server certificate for `names`: no CA the client knows issued it. */
  selfSigned(names: string[]): CertFiles;
  /** A copy of the key file encrypted with AES-256 under `password`; returns its path. */
  encryptKey(keyFile: string, password: string): string;
  remove(): void;
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new Error('the TLS tests make their certificates with the openssl command, which is not installed (apt-get install openssl)');
    throw new Error(`openssl ${args.join(' ')} failed: ${e.stderr?.toString() ?? e.message}`);
  }
}

function sanOf(names: string[]): string {
  return names.map((n) => (/^[\d.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
}

export function makeTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'aerobak-pki-'));
  let serial = 0;
  const file = (name: string) => join(dir, name);
  const newKey = (name: string) => openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', name], dir);
  const read = (name: string) => readFileSync(file(name), 'utf8');
  const files = (base: string): CertFiles => ({ certFile: file(`${base}.crt`), keyFile: file(`${base}.key`), cert: read(`${base}.crt`), key: read(`${base}.key`) });

  newKey('ca.key');
  openssl(
    ['req', '-x509', '-new', '-key', 'ca.key', '-sha256', '-days', '2', '-subj', '/CN=aerobak test CA', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', 'ca.crt'],
    dir,
  );

  const issue = (cn: string, ext: string): string => {
    const base = `cert${++serial}`;
    newKey(`${base}.key`);
    openssl(['req', '-new', '-key', `${base}.key`, '-subj', `/CN=${cn}`, '-out', `${base}.csr`], dir);
    writeFileSync(file(`${base}.ext`), ext);
    openssl(['x509', '-req', '-in', `${base}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(1000 + serial), '-days', '2', '-sha256', '-extfile', `${base}.ext`, '-out', `${base}.crt`], dir);
    return base;
  };

  return {
    dir,
    caFile: file('ca.crt'),
    ca: read('ca.crt'),
    server: (names) => files(issue(names[0]!, `subjectAltName=${sanOf(names)}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n`)),
    client: (cn) => files(issue(cn, 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n')),
    selfSigned: (names) => {
      const base = `self${++serial}`;
      newKey(`${base}.key`);
      openssl(['req', '-x509', '-new', '-key', `${base}.key`, '-sha256', '-days', '2', '-subj', `/CN=${names[0]}`, '-addext', `subjectAltName=${sanOf(names)}`, '-out', `${base}.crt`], dir);
      return files(base);
    },
    encryptKey: (keyFile, password) => {
      const out = file(`enc${++serial}.key`);
      openssl(['pkey', '-in', keyFile, '-aes256', '-passout', `pass:${password}`, '-out', out], dir);
      return out;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
