/**
 * Login to a cluster with security (auth.ts, wire/admin.ts): the password hash, the admin
 * messages, LOGIN and AUTHENTICATE against the test server's access control, session
 * expiry in the middle of a scan, roles, and the command line (exit codes, one line, no
 * password anywhere: outputs, manifests, the saved backup state).
 *
 * Everything that needs a cluster needs security configured on it, which is Aerospike
 * Enterprise: those tests run on the project's test server only and are skipped when
 * AEROSPIKE_HOSTS points at a real cluster (their names say so). The hash and codec
 * tests run everywhere.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { inspect } from 'node:util';
import Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AEROSPIKE_BCRYPT_SALT, Credentials, hashPassword, refreshDelayMs } from '../../src/aerospike/auth.js';
import { BatchWriter } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import { LoginError } from '../../src/aerospike/errors.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { AdminCommand, AdminField, decodeAdminMessage } from '../../src/aerospike/wire/admin.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { ResultCode } from '../../src/aerospike/wire/result-codes.js';
import { clusterOptions } from '../../src/cli/options.js';
import { ExitCode, InterruptedError, UsageError } from '../../src/errors.js';
import { startTestServer, type TestServerHandle } from '../support/aerospike-server/index.js';
import { realClusterHosts } from '../support/aerospike.js';
import { aerobak, inProcess, noStack } from '../cli/run.js';

const READER_PASSWORD = 'Rd-8c1f-secret!';
const WRITER_PASSWORD = 'Wr-2d9e pässwörd';
const USERS = [
  { user: 'reader', password: READER_PASSWORD, roles: ['read'] },
  { user: 'writer', password: WRITER_PASSWORD, roles: ['read-write', 'data-admin'] },
];

describe('the password hash and the admin messages', () => {
  it('hashes as every Aerospike client does: bcrypt, cost 10, the fixed salt', () => {
    // Vectors computed with bcryptjs and, independently, with pyca/bcrypt 5.0 (OpenBSD's C code).
    expect(AEROSPIKE_BCRYPT_SALT).toBe('$2a$10$7EqJtq98hPqEX7fNZaFWoO');
    expect(hashPassword('admin')).toBe('$2a$10$7EqJtq98hPqEX7fNZaFWoO1mVO/4MLpGzsqojz6E9Gef6iXDjXdDa');
    expect(hashPassword('pässwörd')).toBe('$2a$10$7EqJtq98hPqEX7fNZaFWoOteZHET5XbgArChDJutG6xOnAY19WzN.');
    expect(hashPassword('')).toBe('$2a$10$7EqJtq98hPqEX7fNZaFWoOLCkFexA7A9eoJ0Ew.mTDdk.E60D.9zS');
    // A password that already is such a hash is sent as it is (as_password_get_constant_hash).
    expect(hashPassword('$2a$10$7EqJtq98hPqEX7fNZaFWoO1mVO/4MLpGzsqojz6E9Gef6iXDjXdDa')).toBe('$2a$10$7EqJtq98hPqEX7fNZaFWoO1mVO/4MLpGzsqojz6E9Gef6iXDjXdDa');
  });

  it('writes LOGIN and AUTHENTICATE as as_admin.c does', () => {
    const internal = Credentials.create({ user: 'admin', password: 'admin', tls: false });
    const login = internal.loginRequest();
    expect([...login.subarray(0, 2)]).toEqual([2, 2]); // proto version 2, type 2 (admin)
    expect(login.readUIntBE(2, 6)).toBe(login.length - 8);
    expect([...login.subarray(8, 12)]).toEqual([0, 0, AdminCommand.LOGIN, 2]);
    expect(login.subarray(12, 24).every((b) => b === 0)).toBe(true);
    const msg = decodeAdminMessage(login.subarray(8));
    expect(msg.fields.map((f) => [f.id, f.data.toString()])).toEqual([
      [AdminField.USER, 'admin'],
      [AdminField.CREDENTIAL, '$2a$10$7EqJtq98hPqEX7fNZaFWoO1mVO/4MLpGzsqojz6E9Gef6iXDjXdDa'],
    ]);
    // Field sizes count the id byte: 4-byte size 6 for "admin".
    expect(login.readUInt32BE(24)).toBe(6);

    const external = Credentials.create({ mode: 'EXTERNAL', user: 'ldap', password: 'pw', tls: true });
    expect(decodeAdminMessage(external.loginRequest().subarray(8)).fields.map((f) => f.id)).toEqual([AdminField.USER, AdminField.CREDENTIAL, AdminField.CLEAR_PASSWORD]);
    const pki = Credentials.create({ mode: 'PKI', tls: true });
    expect(decodeAdminMessage(pki.loginRequest().subarray(8)).fields).toEqual([]);

    const auth = decodeAdminMessage(internal.authenticateRequest(Buffer.from([1, 2, 3])).subarray(8));
    expect(auth.command).toBe(AdminCommand.AUTHENTICATE);
    expect(auth.fields.map((f) => [f.id, [...f.data]])).toEqual([
      [AdminField.USER, [...Buffer.from('admin')]],
      [AdminField.SESSION_TOKEN, [1, 2, 3]],
    ]);
    expect(decodeAdminMessage(pki.authenticateRequest(Buffer.from([9])).subarray(8)).fields.map((f) => f.id)).toEqual([AdminField.SESSION_TOKEN]);
  });

  it('keeps the password out of JSON and util.inspect', () => {
    const c = Credentials.create({ mode: 'EXTERNAL', user: 'ldap', password: 'Hidden-pw-1', tls: true });
    expect(JSON.stringify(c)).not.toContain('Hidden-pw-1');
    expect(inspect(c, { showHidden: true, depth: 5 })).not.toContain('Hidden-pw-1');
    expect(JSON.stringify(c)).not.toContain(hashPassword('Hidden-pw-1'));
  });

  it('refuses incomplete or unsafe combinations with a UsageError', () => {
    expect(() => Credentials.create({ user: 'u', tls: false })).toThrow(UsageError);
    expect(() => Credentials.create({ mode: 'EXTERNAL', user: 'u', password: 'p', tls: false })).toThrow(/refused without TLS/);
    expect(() => Credentials.create({ mode: 'PKI', tls: false })).toThrow(/--tls-enable/);
    expect(() => Credentials.create({ mode: 'PKI', password: 'p', tls: true })).toThrow(/takes no password/);
  });

  it('asks for the password on a terminal without echo (--password-prompt), when connecting', async () => {
    const terminal = () => {
      const stdin = Object.assign(new PassThrough(), { isTTY: true, modes: [] as boolean[], setRawMode: (raw: boolean) => void stdin.modes.push(raw) });
      let shown = '';
      const prompt = new Writable({ write: (chunk: Buffer, _enc, cb) => ((shown += chunk.toString()), cb()) });
      return { stdin, prompt, shown: () => shown };
    };
    const t = terminal();
    const opts = clusterOptions({ hosts: '127.0.0.1', user: 'reader', 'password-prompt': true }, { stdin: t.stdin, prompt: t.prompt });
    expect(t.shown()).toBe(''); // nothing is asked before connect() calls it
    const answer = (opts.password as () => Promise<string>)();
    t.stdin.write('secq');
    t.stdin.write('\u007fret\r');
    expect(await answer).toBe('secret');
    expect(t.shown()).toBe('Password for reader: \n');
    expect(t.stdin.modes).toEqual([true, false]);

    const c = terminal();
    const cancelled = (clusterOptions({ hosts: '127.0.0.1', user: 'reader', 'password-prompt': true }, { stdin: c.stdin, prompt: c.prompt }).password as () => Promise<string>)();
    c.stdin.write('\u0003');
    await expect(cancelled).rejects.toBeInstanceOf(InterruptedError);
    expect(c.stdin.modes).toEqual([true, false]);

    expect(() => clusterOptions({ hosts: '127.0.0.1', user: 'reader', 'password-prompt': true }, { stdin: new PassThrough() })).toThrow(/needs a terminal/);
  });

  it('renews a token 60 s before its TTL, or at half a short one', () => {
    expect(refreshDelayMs(86400)).toBe(86340_000);
    expect(refreshDelayMs(121)).toBe(61_000);
    expect(refreshDelayMs(120)).toBe(60_000);
    expect(refreshDelayMs(2)).toBe(1000);
  });
});

const testServerOnly = realClusterHosts() !== undefined;

/** Writes `count` records into `set` as the writer user. */
async function seed(server: TestServerHandle, set: string, count: number): Promise<RawRecord[]> {
  const records = Array.from({ length: count }, (_, i): RawRecord => {
    const userKey = keyFromValue(i);
    const v = Buffer.alloc(8);
    v.writeBigInt64BE(BigInt(i));
    return { namespace: 'test', set, digest: computeDigest(set, userKey), userKey, generation: 1, voidTime: 0, bins: [{ name: 'n', type: ParticleType.INTEGER, value: v }] };
  });
  const c = await Cluster.connect({ hosts: server.hosts, user: 'writer', password: WRITER_PASSWORD });
  try {
    const failed: number[] = [];
    await pipeline(Readable.from(records), new BatchWriter(c, { onResult: (r) => r.outcome !== 'written' && failed.push(r.resultCode) }));
    expect(failed).toEqual([]);
  } finally {
    await c.close();
  }
  return records;
}

const digests = (records: RawRecord[]) => records.map((r) => r.digest.toString('hex')).sort();

// Security needs Aerospike Enterprise: these run on the test server only (skipped with AEROSPIKE_HOSTS).
describe.skipIf(testServerOnly)('login against the test server (test server only: security needs Aerospike Enterprise)', () => {
  let server: TestServerHandle;

  beforeAll(async () => {
    server = await startTestServer({ nodes: 2, security: { users: USERS } });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('logs every node in with the right password and authenticates new connections with the token', async () => {
    const before = await server.security.stats();
    const c = await Cluster.connect({ hosts: server.nodes[0]!.address, user: 'reader', password: READER_PASSWORD, tendIntervalMs: 60_000 });
    try {
      expect(c.nodes).toHaveLength(2);
      expect(c.namespaces()).toContain('test');
      for (const n of c.nodes) expect(n.sessionStats).toEqual({ logins: 1, refusedTokens: 0 });
      // New connections (the pool holds one per node) authenticate with the token, no new login.
      const conns = await Promise.all([c.nodes[0]!.acquire(), c.nodes[0]!.acquire()]);
      for (const conn of conns) c.nodes[0]!.release(conn);
      const after = await server.security.stats();
      expect(after.logins - before.logins).toBe(2);
      expect(after.authentications - before.authentications).toBeGreaterThanOrEqual(1);
      expect(after.refusedAuthentications).toBe(before.refusedAuthentications);
    } finally {
      await c.close();
    }
  });

  it('refuses a wrong password and an unknown user with the server result code, naming node and user only', async () => {
    const wrong = await Cluster.connect({ hosts: server.nodes[0]!.address, user: 'reader', password: 'not-the-password-42' }).catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(LoginError);
    expect((wrong as LoginError).kind).toBe('cluster');
    expect((wrong as LoginError).resultCode).toBe(ResultCode.INVALID_CREDENTIAL);
    expect((wrong as Error).message).toBe(`${server.nodes[0]!.address}: login as user "reader" refused: INVALID_CREDENTIAL (65): the user name or password is wrong`);
    expect((wrong as Error).message).not.toContain('not-the-password-42');

    const unknown = await Cluster.connect({ hosts: server.nodes[0]!.address, user: 'nobody', password: 'x' }).catch((e: unknown) => e);
    expect((unknown as LoginError).resultCode).toBe(ResultCode.INVALID_USER);
    expect((unknown as Error).message).toMatch(/login as user "nobody" refused: INVALID_USER \(60\)/);
  });

  it('calls a password function once, when connecting', async () => {
    let calls = 0;
    const c = await Cluster.connect({ hosts: server.hosts, user: 'reader', password: async () => (calls++, READER_PASSWORD) });
    expect(calls).toBe(1);
    expect(c.nodes).toHaveLength(2);
    await c.close();
  });

  it('says the cluster needs a login when none is given', async () => {
    const err = await Cluster.connect({ hosts: server.nodes[0]!.address }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LoginError);
    expect((err as Error).message).toMatch(/NOT_AUTHENTICATED.*security enabled; give --user/);
  });

  it('lets the official client (C client 7) log in to the test server: LOGIN and AUTHENTICATE as the reference sends them', async () => {
    const client = await Aerospike.connect({ hosts: server.hosts, user: 'writer', password: WRITER_PASSWORD, log: { level: Aerospike.log.OFF } });
    try {
      const key = new Aerospike.Key('test', 'official', 'k1');
      await client.put(key, { v: 1 });
      expect((await client.get(key)).bins).toEqual({ v: 1 });
    } finally {
      await client.close();
    }
    const refused = await Aerospike.connect({ hosts: server.hosts, user: 'writer', password: 'wrong', log: { level: Aerospike.log.OFF } }).catch((e: unknown) => e);
    expect((refused as { code?: number }).code).toBe(ResultCode.INVALID_CREDENTIAL);
  });

  it('refuses a write by a user with only the read role: ROLE_VIOLATION, naming the role needed', async () => {
    const c = await Cluster.connect({ hosts: server.hosts, user: 'reader', password: READER_PASSWORD });
    try {
      const set = 'readonly';
      const userKey = keyFromValue('x');
      const results: number[] = [];
      const rec: RawRecord = { namespace: 'test', set, digest: computeDigest(set, userKey), userKey, generation: 1, voidTime: 0, bins: [{ name: 'b', type: ParticleType.STRING, value: Buffer.from('v') }] };
      await pipeline(Readable.from([rec]), new BatchWriter(c, { onResult: (r) => results.push(r.resultCode) }));
      expect(results).toEqual([ResultCode.ROLE_VIOLATION]);
    } finally {
      await c.close();
    }
  });

  it('logs in again when the session expires mid-scan: the scan goes on and reads every record once', async () => {
    const records = await seed(server, 'expiry', 3000);
    const c = await Cluster.connect({ hosts: server.hosts, user: 'reader', password: READER_PASSWORD, tendIntervalMs: 60_000 });
    const before = await server.security.stats();
    try {
      const reader = new ScanReader(c, { namespace: 'test', sets: ['expiry'], highWaterMark: 20, recordsPerSecond: 6000 });
      const got: RawRecord[] = [];
      for await (const r of reader) {
        got.push(r as RawRecord);
        if (got.length === 500) {
          // The server drops every token and every connection: the retry's new connections must log in again.
          await server.security.expireSessions();
          for (const n of server.nodes) await n.dropConnections();
        }
      }
      expect(got.length).toBeGreaterThan(500);
      expect(digests(got)).toEqual(digests(records));
      expect(reader.stats.retries).toBeGreaterThanOrEqual(1);
      const after = await server.security.stats();
      expect(after.refusals.slice(before.refusals.length)).toContain(ResultCode.EXPIRED_SESSION);
      expect(after.logins - before.logins).toBeGreaterThanOrEqual(1);
      expect(c.nodes.reduce((n, node) => n + node.sessionStats!.refusedTokens, 0)).toBeGreaterThanOrEqual(1);
    } finally {
      await c.close();
    }
  });

  it('renews the token before its TTL runs out, without a refused AUTHENTICATE', async () => {
    const short = await startTestServer({ security: { users: USERS, sessionTtlSeconds: 2 } });
    try {
      const c = await Cluster.connect({ hosts: short.hosts, user: 'reader', password: READER_PASSWORD, tendIntervalMs: 60_000 });
      try {
        await new Promise((r) => setTimeout(r, 1100)); // past the refresh point (half of a 2 s TTL)
        await short.nodes[0]!.dropConnections();
        await new Promise((r) => setTimeout(r, 50)); // the pool sees its idle connection closed
        expect((await c.info(['build'])).get('build')).toMatch(/^\d/);
        expect(c.nodes[0]!.sessionStats).toEqual({ logins: 2, refusedTokens: 0 });
        const stats = await short.security.stats();
        expect(stats.logins).toBe(2);
        expect(stats.refusals).toEqual([]);
      } finally {
        await c.close();
      }
    } finally {
      await short.stop();
    }
  });
});

/** Every file under `dir`, as text. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) out.set(join(entry.parentPath, entry.name), (await readFile(join(entry.parentPath, entry.name))).toString('latin1'));
  }
  return out;
}

/** The secrets that must never be written: each password as typed, as UTF-8 seen as latin1, and its hash. */
function secrets(password: string): string[] {
  return [password, Buffer.from(password, 'utf8').toString('latin1'), hashPassword(password), hashPassword(password).slice(29)];
}

function expectNoSecret(where: string, text: string, password: string): void {
  for (const s of secrets(password)) expect(text.includes(s), `${where} holds the password (or its hash)`).toBe(false);
}

describe.skipIf(testServerOnly)('credentials on the command line (test server only: security needs Aerospike Enterprise)', () => {
  let server: TestServerHandle;
  let tmp: string;
  let records: RawRecord[];

  beforeAll(async () => {
    server = await startTestServer({ nodes: 2, security: { users: USERS } });
    tmp = await mkdtemp(join(tmpdir(), 'aerobak-security-'));
    records = await seed(server, 'cli', 1500);
  });
  afterAll(async () => {
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it('a wrong password exits with code 3 and one line that names the user, not the password', async () => {
    const to = join(tmp, 'never');
    const r = await aerobak(['backup', '-h', server.hosts, '-n', 'test', '-s', 'cli', '--to', to, '-U', 'reader', '-P', 'Wrong-Passw0rd-77']);
    expect(r.code).toBe(ExitCode.CLUSTER);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^aerobak: error: 127\.0\.0\.1:\d+: login as user "reader" refused: INVALID_CREDENTIAL \(65\): the user name or password is wrong$/);
    noStack(r.stderr);
    expectNoSecret('stderr', r.stderr + r.stdout, 'Wrong-Passw0rd-77');

    const json = await inProcess(['backup', '-h', server.hosts, '-n', 'test', '-s', 'cli', '--to', to, '-U', 'reader', '-P', 'Wrong-Passw0rd-77', '--json']);
    expect(json.code).toBe(ExitCode.CLUSTER);
    expect(JSON.parse(json.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'error', code: 'LOGIN_FAILED', exitCode: 3 });
    expectNoSecret('--json output', json.stdout + json.stderr, 'Wrong-Passw0rd-77');
  });

  it('refuses bad credential flags with exit code 2 before connecting', async () => {
    const base = ['backup', '-h', server.hosts, '-n', 'test', '--to', join(tmp, 'x')];
    const cases: [string[], RegExp][] = [
      [['-U', 'reader'], /user "reader" needs a password/],
      [['-U', 'reader', '--password-file', join(tmp, 'missing')], /--password-file .*missing: cannot read it \(ENOENT\)/],
      [['-U', 'reader', '--password-prompt'], /--password-prompt needs a terminal/],
      [['-U', 'reader', '-P', 'x', '--auth', 'EXTERNAL'], /--auth EXTERNAL .* refused without TLS; add --tls-enable/],
      [['--auth', 'PKI'], /--auth PKI .* needs --tls-enable/],
      [['--auth', 'KERBEROS', '-U', 'u', '-P', 'p'], /--auth "KERBEROS" must be one of: INTERNAL, EXTERNAL, PKI/],
      [['--tls-cafile', 'ca.pem'], /--tls-cafile needs --tls-enable/],
    ];
    for (const [args, message] of cases) {
      const r = await inProcess([...base, ...args]);
      expect(r.code, args.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr).toMatch(message);
    }
  });

  it('backs up with -P, --password-file or AEROSPIKE_PASSWORD, resumes with credentials from the environment, and writes no password anywhere', async () => {
    const dir = join(tmp, 'killed');
    const passwordFile = join(tmp, 'reader.pw');
    await writeFile(passwordFile, `${READER_PASSWORD}\n`, { mode: 0o600 });

    // Killed as soon as it has saved progress: the saved state stays behind.
    let killed = false;
    const first = await aerobak(['backup', '-h', server.hosts, '-n', 'test', '-s', 'cli', '--to', dir, '-F', '4KiB', '-L', '1500', '-U', 'reader', '-P', READER_PASSWORD, '--json'], {
      onStdout: (text, kill) => {
        if (!killed && text.includes('"event":"progress"')) {
          killed = true;
          kill('SIGKILL');
        }
      },
    });
    expect(killed, first.stderr).toBe(true);
    const state = await readFile(join(dir, 'backup-state.json'), 'utf8');
    expect(JSON.parse(state).options.hosts).toBe(server.hosts);
    for (const [file, text] of await filesUnder(dir)) expectNoSecret(file, text, READER_PASSWORD);
    expectNoSecret('the killed run\'s output', first.stdout + first.stderr, READER_PASSWORD);

    // The resumed run takes the credentials from the environment, not from the saved state.
    const resumed = await aerobak(['backup', '--resume', dir, '--json'], { env: { AEROSPIKE_USER: 'reader', AEROSPIKE_PASSWORD: READER_PASSWORD } });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'summary', records: records.length, resumed: true });
    expectNoSecret('the resumed run\'s output', resumed.stdout + resumed.stderr, READER_PASSWORD);

    const fresh = join(tmp, 'fresh');
    const viaFile = await inProcess(['backup', '-h', server.hosts, '-n', 'test', '-s', 'cli', '--to', fresh, '-U', 'reader', '--password-file', passwordFile, '--json']);
    expect(viaFile.code, viaFile.stderr).toBe(0);
    expectNoSecret('--password-file run output', viaFile.stdout + viaFile.stderr, READER_PASSWORD);

    for (const d of [dir, fresh]) {
      const files = await filesUnder(d);
      expect([...files.keys()].some((f) => f.endsWith('manifest.json'))).toBe(true);
      for (const [file, text] of files) expectNoSecret(file, text, READER_PASSWORD);
    }
  });

  it('restores with a user that can write, and stops with a clear error for one that only reads', async () => {
    const from = join(tmp, 'for-restore');
    const backup = await inProcess(['backup', '-h', server.hosts, '-n', 'test', '-s', 'cli', '--to', from, '-U', 'reader', '-P', READER_PASSWORD]);
    expect(backup.code, backup.stderr).toBe(0);

    const denied = await inProcess(['restore', '-h', server.hosts, '--from', from, '-n', 'test:bar', '-U', 'reader', '-P', READER_PASSWORD]);
    expect(denied.code).toBe(ExitCode.FAILED);
    expect(denied.stderr).toMatch(/ROLE_VIOLATION \(81\)/);
    expect(denied.stderr).toMatch(/roles do not allow it \(a backup needs the read role, a restore read-write/);
    expectNoSecret('restore output', denied.stdout + denied.stderr, READER_PASSWORD);

    const pw = join(tmp, 'writer.pw');
    await writeFile(pw, `${WRITER_PASSWORD}\r\n`);
    const ok = await inProcess(['restore', '-h', server.hosts, '--from', from, '-n', 'test:bar', '-U', 'writer', '--password-file', pw, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'summary', written: records.length });
    expectNoSecret('restore output', ok.stdout + ok.stderr, WRITER_PASSWORD);
    expect(await server.data.count('bar', 'cli')).toBe(records.length);
  });
});
