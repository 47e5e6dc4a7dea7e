/**
 * TLS to the cluster (tls.ts, Connection.open): the certificate chain and the TLS name
 * checked by default, peers found through peers-tls-std with their TLS names, mutual TLS,
 * PKI and EXTERNAL logins over TLS, encrypted client keys, --tls-protocols, and
 * --services-alternate for clusters behind NAT; through the library and the command line.
 *
 * The certificates come from a test CA made at run time with openssl (certs.ts). The
 * tests need the test server's TLS listener and its NAT addresses, so they run on the
 * test server only and are skipped when AEROSPIKE_HOSTS points at a real cluster (a
 * cluster's TLS setup is its own); the protocol parser tests run everywhere.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../../src/aerospike/cluster.js';
import { ConnectionError, LoginError } from '../../src/aerospike/errors.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { createTlsConnect, parseTlsProtocols } from '../../src/aerospike/tls.js';
import { ExitCode, UsageError } from '../../src/errors.js';
import { hosts } from '../../src/cli/options.js';
import { makeTestPki, type TestPki } from '../support/aerospike-server/certs.js';
import { startTestServer, type TestServerHandle } from '../support/aerospike-server/index.js';
import { realClusterHosts } from '../support/aerospike.js';
import { inProcess } from '../cli/run.js';

describe('TLS settings', () => {
  it('reads --tls-protocols as asbackup does, into a version range', () => {
    expect(parseTlsProtocols('TLSv1.2 TLSv1.3')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(parseTlsProtocols('TLSv1.3')).toEqual({ minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
    expect(parseTlsProtocols('all -TLSv1 -TLSv1.1')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(parseTlsProtocols('tlsv1.2 +TLSv1.3')).toEqual({ minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3' });
    expect(() => parseTlsProtocols('SSLv3')).toThrow(/not supported/);
    expect(() => parseTlsProtocols('TLSv1 TLSv1.2')).toThrow(/gap/);
    expect(() => parseTlsProtocols('TLSv1.1 +TLSv1.3')).toThrow(/gap/);
    expect(() => parseTlsProtocols('TLSv9')).toThrow(/unknown TLS protocol/);
  });

  it('takes HOST:TLSNAME:PORT and HOST:TLSNAME seeds as the C client does', () => {
    expect(hosts({ hosts: 'a:3100,b:tls-b:4333,c:tls-c,[::1]:tls6:4000,[::2]:4001' })).toEqual([
      { host: 'a', port: 3100 },
      { host: 'b', port: 4333, tlsName: 'tls-b' },
      { host: 'c', port: 3000, tlsName: 'tls-c' },
      { host: '::1', port: 4000, tlsName: 'tls6' },
      { host: '::2', port: 4001 },
    ]);
    expect(() => hosts({ hosts: 'a:b:c' })).toThrow(UsageError);
  });
});

const testServerOnly = realClusterHosts() !== undefined;

// The test server's TLS listener and NAT addresses: skipped against a real cluster (AEROSPIKE_HOSTS).
describe.skipIf(testServerOnly)('TLS against the test server (test server only)', () => {
  let pki: TestPki;
  let server: TestServerHandle;
  let tmp: string;
  const seed = (tlsName?: string) => [{ host: '127.0.0.1', port: server.nodes[0]!.port, ...(tlsName ? { tlsName } : {}) }];

  beforeAll(async () => {
    pki = makeTestPki();
    tmp = await mkdtemp(join(tmpdir(), 'aerobak-tls-'));
    const cert = pki.server(['node.test']);
    server = await startTestServer({ nodes: 2, tls: { key: cert.key, cert: cert.cert, name: 'node.test' } });
    await server.data.generate({ namespace: 'test', set: 'tls', count: 500 });
  });
  afterAll(async () => {
    await server?.stop();
    pki?.remove();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('connects with the right CA and TLS name, finds the peers through peers-tls-std, and scans', async () => {
    const c = await Cluster.connect({ hosts: seed('node.test'), tls: { ca: [pki.ca] } });
    try {
      expect(c.nodes).toHaveLength(2);
      expect(c.nodes.every((n) => n.tlsName === 'node.test')).toBe(true);
      let n = 0;
      for await (const _ of new ScanReader(c, { namespace: 'test', sets: ['tls'] })) n++;
      expect(n).toBe(500);
    } finally {
      await c.close();
    }
    // --tls-name for seeds given without one.
    const d = await Cluster.connect({ hosts: seed(), tls: { ca: [pki.ca], name: 'node.test' } });
    expect(d.nodes).toHaveLength(2);
    await d.close();
  });

  it('backs up through the command line with --tls-enable, --tls-cafile and HOST:TLSNAME:PORT', async () => {
    const to = join(tmp, 'backup');
    const r = await inProcess(['backup', '-h', `127.0.0.1:node.test:${server.nodes[0]!.port}`, '--tls-enable', '--tls-cafile', pki.caFile, '-n', 'test', '-s', 'tls', '--to', to, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'summary', records: 500 });
  });

  it('refuses a certificate for another name: the TLS name is checked, not the address', async () => {
    const wrong = await Cluster.connect({ hosts: seed('other.test'), tls: { ca: [pki.ca] } }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ConnectionError);
    expect((wrong as ConnectionError).code).toBe('TLS');
    expect((wrong as Error).message).toMatch(new RegExp(`^127\\.0\\.0\\.1:${server.nodes[0]!.port}: TLS name mismatch: the server's certificate is not for "other\\.test"`));
    // No TLS name at all: the host, 127.0.0.1, is checked, and the certificate names node.test only.
    const bare = await Cluster.connect({ hosts: seed(), tls: { ca: [pki.ca] } }).catch((e: unknown) => e);
    expect((bare as Error).message).toMatch(/TLS name mismatch: the server's certificate is not for "127\.0\.0\.1"/);

    const r = await inProcess(['backup', '-h', `127.0.0.1:other.test:${server.nodes[0]!.port}`, '--tls-enable', '--tls-cafile', pki.caFile, '-n', 'test', '--to', join(tmp, 'never')]);
    expect(r.code).toBe(ExitCode.CLUSTER);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/TLS name mismatch/);
  });

  it('refuses a server whose certificate no given CA issued', async () => {
    const err = await Cluster.connect({ hosts: seed('node.test'), tls: { ca: [makeOtherCa(pki)] } }).catch((e: unknown) => e);
    expect((err as ConnectionError).code).toBe('TLS');
    expect((err as Error).message).toMatch(/TLS: the server's certificate is not trusted .*give the CA that issued it with --tls-cafile/);
  });

  it('refuses a self-signed certificate, with or without the test CA, and with the default roots', async () => {
    const self = pki.selfSigned(['node.test']);
    const lone = await startTestServer({ tls: { key: self.key, cert: self.cert } });
    try {
      for (const tls of [{ ca: [pki.ca] }, {}]) {
        const err = await Cluster.connect({ hosts: [{ host: '127.0.0.1', port: lone.nodes[0]!.port, tlsName: 'node.test' }], tls }).catch((e: unknown) => e);
        expect((err as ConnectionError).code).toBe('TLS');
        expect((err as Error).message).toMatch(/certificate is not trusted \(self[- ]signed certificate/);
      }
    } finally {
      await lone.stop();
    }
  });

  it('says so when TLS meets a clear-text port, or clear text a TLS port', async () => {
    const clear = await startTestServer();
    try {
      const err = await Cluster.connect({ hosts: clear.hosts, tls: { ca: [pki.ca], name: 'node.test' } }).catch((e: unknown) => e);
      expect((err as ConnectionError).code).toBe('TLS');
      expect((err as Error).message).toMatch(/TLS handshake failed: the server closed the connection; is this its TLS port/);
    } finally {
      await clear.stop();
    }
    const plain = await Cluster.connect({ hosts: server.nodes[0]!.address }).catch((e: unknown) => e);
    expect((plain as Error).message).toMatch(/closed the connection at the first request; if this is a TLS port, add --tls-enable/);
  });

  it('speaks TLS 1.3 only when told so, and reads an encrypted client key with its password', async () => {
    const c = await Cluster.connect({ hosts: seed('node.test'), tls: { ca: [pki.ca], ...parseTlsProtocols('TLSv1.3') } });
    await c.close();
    const client = pki.client('someone');
    const encrypted = pki.encryptKey(client.keyFile, 'key-pw-1');
    expect(() => createTlsConnect({ ca: [pki.ca], cert: client.cert, key: readKey(encrypted) })).toThrow(/encrypted: give its password with --tls-keyfile-password/);
    expect(() => createTlsConnect({ ca: [pki.ca], cert: client.cert, key: readKey(encrypted), keyPassword: 'nope' })).toThrow(/cannot be decrypted with the --tls-keyfile-password given/);
    expect(() => createTlsConnect({ ca: [pki.ca], cert: client.cert, key: readKey(encrypted), keyPassword: 'key-pw-1' })).not.toThrow();

    const base = ['backup', '-h', `127.0.0.1:node.test:${server.nodes[0]!.port}`, '--tls-enable', '--tls-cafile', pki.caFile, '--tls-certfile', client.certFile, '--tls-keyfile', encrypted, '-n', 'test', '-s', 'tls'];
    const bad = await inProcess([...base, '--tls-keyfile-password', 'nope', '--to', join(tmp, 'k0')]);
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.stderr).not.toContain('nope');
    // env: reads the process environment.
    process.env.AEROBAK_TEST_KEY_PW = 'key-pw-1';
    try {
      const ok = await inProcess([...base, '--tls-keyfile-password', 'env:AEROBAK_TEST_KEY_PW', '--to', join(tmp, 'k1')]);
      expect(ok.code, ok.stderr).toBe(0);
    } finally {
      delete process.env.AEROBAK_TEST_KEY_PW;
    }
  });
});

describe.skipIf(testServerOnly)('mutual TLS, PKI and EXTERNAL logins (test server only: security needs Aerospike Enterprise)', () => {
  let pki: TestPki;
  let server: TestServerHandle;

  beforeAll(async () => {
    pki = makeTestPki();
    const cert = pki.server(['node.test']);
    server = await startTestServer({
      nodes: 2,
      tls: { key: cert.key, cert: cert.cert, ca: pki.ca, requestCert: true, name: 'node.test' },
      security: {
        users: [
          { user: 'pki-reader', roles: ['read'], pki: true },
          { user: 'ldap-user', password: 'Ldap-pw-9', roles: ['read'], external: true },
        ],
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    pki?.remove();
  });

  const seed = () => [{ host: '127.0.0.1', port: server.nodes[0]!.port, tlsName: 'node.test' }];

  it('refuses a client without a certificate when the server requires one', async () => {
    const err = await Cluster.connect({ hosts: seed(), tls: { ca: [pki.ca] }, auth: 'PKI' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    const none = await Cluster.connect({ hosts: seed(), tls: { ca: [pki.ca] }, user: 'ldap-user', password: 'Ldap-pw-9', auth: 'EXTERNAL' }).catch((e: unknown) => e);
    expect((none as ConnectionError).code).toBe('TLS');
    expect((none as Error).message).toMatch(/TLS handshake failed: the server requires a client certificate; give --tls-certfile and --tls-keyfile/);
  });

  it('logs in with the client certificate (--auth PKI): the common name is the user', async () => {
    const client = pki.client('pki-reader');
    const c = await Cluster.connect({ hosts: seed(), tls: { ca: [pki.ca], cert: client.cert, key: client.key }, auth: 'PKI' });
    try {
      expect(c.nodes).toHaveLength(2);
      expect(c.nodes.every((n) => n.sessionStats?.logins === 1)).toBe(true);
    } finally {
      await c.close();
    }
    const stranger = pki.client('stranger');
    const err = await Cluster.connect({ hosts: seed(), tls: { ca: [pki.ca], cert: stranger.cert, key: stranger.key }, auth: 'PKI' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as Error).message).toMatch(/login with the TLS client certificate \(PKI\) refused: INVALID_USER \(60\): no user of the cluster matches the client certificate/);

    const r = await inProcess(['backup', '-h', `127.0.0.1:node.test:${server.nodes[0]!.port}`, '--tls-enable', '--tls-cafile', pki.caFile, '--tls-certfile', client.certFile, '--tls-keyfile', client.keyFile, '--auth', 'PKI', '-n', 'test', '--to', join(pki.dir, 'pki-backup')]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('logs an EXTERNAL user in over TLS with the clear password, and refuses a wrong one', async () => {
    const client = pki.client('any');
    const tls = { ca: [pki.ca], cert: client.cert, key: client.key };
    const c = await Cluster.connect({ hosts: seed(), tls, user: 'ldap-user', password: 'Ldap-pw-9', auth: 'EXTERNAL' });
    await c.close();
    const err = await Cluster.connect({ hosts: seed(), tls, user: 'ldap-user', password: 'wrong', auth: 'EXTERNAL' }).catch((e: unknown) => e);
    expect((err as LoginError).resultCode).toBe(65);
  });
});

describe.skipIf(testServerOnly)('the test server against the official client (test server only)', () => {
  it('lets the C client (OpenSSL) connect over TLS, log in, and find both nodes through peers-tls-std', async () => {
    const pki = makeTestPki();
    const cert = pki.server(['node.test']);
    const server = await startTestServer({ nodes: 2, tls: { key: cert.key, cert: cert.cert, name: 'node.test' }, security: { users: [{ user: 'u', password: 'p-1', roles: ['read-write'] }] } });
    try {
      const config = {
        hosts: [{ addr: '127.0.0.1', port: server.nodes[0]!.port, tlsname: 'node.test' }],
        tls: { enable: true, cafile: pki.caFile },
        user: 'u',
        password: 'p-1',
        log: { level: Aerospike.log.OFF },
      };
      const client = await Aerospike.connect(config as unknown as Aerospike.ConfigOptions);
      try {
        const key = new Aerospike.Key('test', 'official-tls', 1);
        await client.put(key, { a: 1 });
        expect((await client.get(key)).bins).toEqual({ a: 1 });
        expect(client.getNodes()).toHaveLength(2);
      } finally {
        await client.close();
      }
    } finally {
      await server.stop();
      pki.remove();
    }
  });
});

describe.skipIf(testServerOnly)('--services-alternate (test server only)', () => {
  let server: TestServerHandle;

  beforeAll(async () => {
    // Behind "NAT": the -std peer lists announce an address clients cannot reach.
    server = await startTestServer({ nodes: 2, natAddresses: true });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('dials peers at their alternate addresses only when told to', async () => {
    const std = await Cluster.connect({ hosts: server.nodes[0]!.address, tendIntervalMs: 60_000 });
    expect(std.nodes).toHaveLength(1);
    await std.close();
    const alt = await Cluster.connect({ hosts: server.nodes[0]!.address, servicesAlternate: true, tendIntervalMs: 60_000 });
    expect(alt.nodes.map((n) => n.port).sort()).toEqual(server.nodes.map((n) => n.port).sort());
    await alt.close();
  });
});

function readKey(path: string): string {
  return readFileSync(path, 'utf8');
}

/** A CA certificate that did not issue the server's certificate. */
function makeOtherCa(_pki: TestPki): string {
  const other = makeTestPki();
  try {
    return other.ca;
  } finally {
    other.remove();
  }
}
