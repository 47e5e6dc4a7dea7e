/**
 * S3 server-side encryption and storage class, applied to every object the S3 store
 * writes: a single PUT, a multipart upload, an exclusive create; and through
 * `aerobak backup` and `aerobak export` (--s3-sse, --s3-storage-class) to every object of a
 * backup and of an export.
 *
 * Two MinIO servers: the tests' usual one (test/support/s3-server.ts), which has no KMS and
 * so refuses any server-side encryption (501 NotImplemented), and one started here with
 * MinIO's built-in static KMS key (MINIO_KMS_SECRET_KEY), which does SSE-S3 and SSE-KMS
 * under that one key and reports them in HeadObject. MinIO takes the storage classes
 * STANDARD and REDUCED_REDUNDANCY only (InvalidStorageClass for STANDARD_IA, GLACIER_IR,
 * ...), and reports REDUCED_REDUNDANCY in HeadObject (STANDARD, as on AWS, not at all): the
 * tests use REDUCED_REDUNDANCY. What was not tested against a server: the other classes,
 * SSE-KMS under a real AWS KMS key (its key policy, kms:Decrypt for multipart uploads); the
 * request headers are checked for those (SDK middleware), not what S3 does with them.
 *
 * And a backup into a bucket with S3 Object Lock (default retention, on the second MinIO):
 * it completes and verifies, and deleting its objects as prune does (no version ids) only
 * hides them behind delete markers; their versions stay until the retention ends.
 */
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutObjectLockConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { parseS3Sse, parseS3StorageClass, s3StoreOptions } from '../../src/cli/s3-options.js';
import { ExitCode } from '../../src/errors.js';
import { runBackup } from '../../src/jobs/backup.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore, type ObjectStore, type S3Options } from '../../src/storage/index.js';
import { s3Config } from '../../src/storage/s3/config.js';
import { S3Store } from '../../src/storage/s3/s3-store.js';
import { aerobak, inProcess } from '../cli/run.js';
import { makeBackup, record, connectWire, tearDown, writeRaw } from '../jobs/support.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { MiB, RandomStream, collect, readAll, sha256Of } from './data.js';

const BUCKET = 'aerobak-s3-options';
const ACCESS_KEY = 'aerobak-test';
const SECRET_KEY = 'aerobak-test-secret';
/** MinIO's built-in KMS key: NAME:base64 of 32 bytes. */
const SSE_KEY = 'aerobak-sse-test';
const PART_SIZE = 5 * MiB;
const externalS3 = process.env.AEROBAK_TEST_S3_ENDPOINT !== undefined;

describe('parsing the options (no server)', () => {
  it('--s3-sse: AES256, aws:kms, aws:kms:KEY_ID (an ARN keeps its colons)', () => {
    expect(parseS3Sse('AES256')).toEqual({ serverSideEncryption: 'AES256' });
    expect(parseS3Sse('aes256')).toEqual({ serverSideEncryption: 'AES256' });
    expect(parseS3Sse('aws:kms')).toEqual({ serverSideEncryption: 'aws:kms' });
    expect(parseS3Sse('aws:kms:alias/backups')).toEqual({ serverSideEncryption: 'aws:kms', sseKmsKeyId: 'alias/backups' });
    const arn = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
    expect(parseS3Sse(`aws:kms:${arn}`)).toEqual({ serverSideEncryption: 'aws:kms', sseKmsKeyId: arn });
    for (const bad of ['aws:kms:', 'kms', 'AES', 'aws:kms:two words', 'sse-s3']) expect(() => parseS3Sse(bad), bad).toThrow(/--s3-sse/);
  });

  it('--s3-storage-class: any class name (upper-cased); not GLACIER or DEEP_ARCHIVE', () => {
    for (const c of ['STANDARD_IA', 'ONEZONE_IA', 'INTELLIGENT_TIERING', 'GLACIER_IR', 'REDUCED_REDUNDANCY', 'SOME_FUTURE_CLASS']) expect(parseS3StorageClass(c)).toBe(c);
    expect(parseS3StorageClass('standard_ia')).toBe('STANDARD_IA');
    expect(() => parseS3StorageClass('GLACIER')).toThrow(/restore request.*GLACIER_IR/);
    expect(() => parseS3StorageClass('deep_archive')).toThrow(/DEEP_ARCHIVE objects cannot be read/);
    expect(() => parseS3StorageClass('not a class')).toThrow(/not a storage class name/);
  });

  it('applies to s3:// destinations only, and is refused for others rather than ignored', () => {
    expect(s3StoreOptions({}, './dir')).toBeUndefined();
    expect(s3StoreOptions({ 's3-sse': 'aws:kms:k', 's3-storage-class': 'glacier_ir' }, 's3://b/p')).toEqual({
      s3: { serverSideEncryption: 'aws:kms', sseKmsKeyId: 'k', storageClass: 'GLACIER_IR' },
    });
    expect(() => s3StoreOptions({ 's3-sse': 'AES256' }, './dir')).toThrow('--s3-sse applies to an s3:// destination, not ./dir');
    expect(() => s3StoreOptions({ 's3-sse': 'AES256', 's3-storage-class': 'STANDARD_IA' }, undefined)).toThrow(
      '--s3-sse and --s3-storage-class apply to an s3:// destination, not the default local directory',
    );
    expect(() => s3StoreOptions({ 's3-storage-class': 'STANDARD_IA' }, 'gs://b/p')).toThrow(/not gs:\/\/b\/p/);
  });

  it('the store checks them too (CONFIG), for callers of the job API', () => {
    const url = new URL('s3://bucket/p');
    expect(s3Config(url, {}).writeParams).toEqual({});
    expect(s3Config(url, { serverSideEncryption: 'aws:kms', sseKmsKeyId: 'alias/x', storageClass: 'STANDARD_IA' }).writeParams).toEqual({
      ServerSideEncryption: 'aws:kms',
      SSEKMSKeyId: 'alias/x',
      StorageClass: 'STANDARD_IA',
    });
    const bad: S3Options[] = [
      { serverSideEncryption: 'aws:kms:dsse' as 'aws:kms' },
      { serverSideEncryption: 'AES256', sseKmsKeyId: 'alias/x' },
      { sseKmsKeyId: 'alias/x' },
      { storageClass: 'GLACIER' },
      { storageClass: 'standard' },
    ];
    for (const options of bad) expect(() => s3Config(url, options), JSON.stringify(options)).toThrow(expect.objectContaining({ code: 'CONFIG' }));
  });

  it('the commands refuse bad values with exit code 2 before connecting to anything', async () => {
    for (const args of [
      ['backup', '-n', 'test', '--to', './nowhere', '--s3-sse', 'AES256'],
      ['backup', '-n', 'test', '--to', 's3://bucket/x', '--s3-storage-class', 'GLACIER'],
      ['backup', '-n', 'test', '--to', 's3://bucket/x', '--s3-sse', 'aws:kms:'],
      ['export', '--from', './nowhere', '--to', './elsewhere', '--s3-storage-class', 'STANDARD_IA'],
    ]) {
      const run = await inProcess(args);
      expect(run.code, `${args.join(' ')}: ${run.stderr}`).toBe(ExitCode.USAGE);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    }
    const help = await inProcess(['backup', '--help']);
    expect(help.stdout).toMatch(/S3 objects[\s\S]*--s3-sse aws:kms\[:KEY_ID\]\|AES256[\s\S]*--s3-storage-class CLASS/);
    expect((await inProcess(['export', '--help'])).stdout).toContain('--s3-storage-class CLASS');
  });
});

/** The headers of each request the store's client sends, by command, as they go on the wire. */
function recordHeaders(store: S3Store): Array<{ command: string; headers: Record<string, string> }> {
  const sent: Array<{ command: string; headers: Record<string, string> }> = [];
  store.client.middlewareStack.add(
    (next, context) => async (args) => {
      const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
      sent.push({ command: context.commandName ?? '?', headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])) });
      return next(args);
    },
    { step: 'finalizeRequest', name: 'recordHeaders', priority: 'low' },
  );
  return sent;
}

const SSE_HEADERS = ['x-amz-server-side-encryption', 'x-amz-server-side-encryption-aws-kms-key-id', 'x-amz-storage-class'];
const sseHeadersOf = (headers: Record<string, string>) => Object.fromEntries(SSE_HEADERS.filter((h) => headers[h] !== undefined).map((h) => [h, headers[h]]));

describe('storage class, against the tests\' MinIO', () => {
  let server: S3TestServer;
  beforeAll(async () => {
    server = await startS3Server();
    await server.createBucket(BUCKET);
  }, SERVER_START_TIMEOUT_MS);
  afterAll(() => server?.stop());

  const storeWith = (options: S3Options) => new S3Store(s3Config(new URL(`s3://${BUCKET}/${randomUUID()}/`), { ...server.options, partSize: PART_SIZE, ...options }));
  const head = (store: ObjectStore, key: string) => server.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: new URL(store.location).pathname.slice(1) + key }));

  it('a single PUT, a multipart upload and an exclusive create are stored in the class given', async () => {
    const store = storeWith({ storageClass: 'REDUCED_REDUNDANCY' });
    const sent = recordHeaders(store);
    await store.write('small', [Buffer.from('one part')]);
    const big = await sha256Of(new RandomStream(2 * PART_SIZE + 1));
    await store.write('three-parts', new RandomStream(2 * PART_SIZE + 1));
    await store.create('created', [Buffer.from('exclusive')]);
    for (const key of ['small', 'three-parts', 'created']) expect((await head(store, key)).StorageClass, key).toBe('REDUCED_REDUNDANCY');
    expect((await head(store, 'three-parts')).ETag).toMatch(/-3"$/);
    expect(await sha256Of(await store.read('three-parts'))).toEqual(big);
    // On the wire: the class on PutObject and CreateMultipartUpload, nowhere else.
    const withClass = sent.filter((r) => r.headers['x-amz-storage-class'] !== undefined).map((r) => r.command);
    expect(withClass.sort()).toEqual(['CreateMultipartUploadCommand', 'PutObjectCommand', 'PutObjectCommand']);
    expect(sent.filter((r) => r.command === 'UploadPartCommand')).toHaveLength(3);
  }, 60_000);

  it('without the option, nothing is sent and the bucket\'s default (STANDARD) applies', async () => {
    const store = storeWith({});
    const sent = recordHeaders(store);
    await store.write('plain', [Buffer.from('x')]);
    expect((await head(store, 'plain')).StorageClass).toBeUndefined();
    expect(sent.map((r) => sseHeadersOf(r.headers))).toEqual([{}]);
  });

  it('a class the server does not take fails the write with CONFIG naming the object, leaving nothing (not even a multipart upload)', async () => {
    // MinIO takes STANDARD and REDUCED_REDUNDANCY only; AWS takes STANDARD_IA.
    const store = storeWith({ storageClass: 'STANDARD_IA' });
    const small = await store.write('ia', [Buffer.from('x')]).catch((e: unknown) => e);
    expect(small).toMatchObject({ name: 'StorageError', code: 'CONFIG', message: expect.stringMatching(/does not take the storage class.*ia/) });
    const big = await store.write('ia-big', new RandomStream(2 * PART_SIZE)).catch((e: unknown) => e);
    expect(big).toMatchObject({ code: 'CONFIG' });
    expect(await store.stat('ia')).toBeNull();
    expect(await store.stat('ia-big')).toBeNull();
  }, 60_000);

  it.skipIf(externalS3)('without a KMS, MinIO refuses server-side encryption (501 NotImplemented): the write fails, naming the reason', async () => {
    const store = storeWith({ serverSideEncryption: 'AES256' });
    const error = await store.write('sse', [Buffer.from('x')]).catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'StorageError', code: 'IO', message: expect.stringContaining('KMS is not configured') });
    expect(await store.stat('sse')).toBeNull();
  });
});

describe('server-side encryption and Object Lock, against a MinIO with a KMS key', () => {
  let minio: ServerProcess;
  let options: S3Options;
  let admin: S3Client;
  let cluster: TestCluster;
  let client: Aerospike.Client;
  let wire: Cluster;
  let tmp: string;
  const set = uniqueSetName('s3sse');

  beforeAll(async () => {
    [minio, cluster] = await Promise.all([
      startServer({
        name: 'minio',
        args: (port, data) => ['server', data, '--address', `127.0.0.1:${port}`, '--quiet'],
        env: {
          MINIO_ROOT_USER: ACCESS_KEY,
          MINIO_ROOT_PASSWORD: SECRET_KEY,
          MINIO_BROWSER: 'off',
          MINIO_UPDATE: 'off',
          MINIO_KMS_SECRET_KEY: `${SSE_KEY}:${randomBytes(32).toString('base64')}`,
        },
        readyUrl: (port) => `http://127.0.0.1:${port}/minio/health/live`,
      }),
      startCluster(),
    ]);
    options = { endpoint: `http://127.0.0.1:${minio.port}`, region: 'us-east-1', credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } };
    admin = new S3Client({ ...options, forcePathStyle: true });
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
    client = await connectClient(cluster);
    wire = await connectWire(cluster);
    tmp = await mkdtemp(join(tmpdir(), 'aerobak-s3-sse-'));
    await writeRaw(wire, Array.from({ length: 200 }, (_, i) => record('test', set, i, { n: i, blob: randomBytes(2048) })));
  }, SERVER_START_TIMEOUT_MS);

  afterAll(async () => {
    admin?.destroy();
    await tearDown({ client, wire, cluster, tmp, sets: [set] });
    await minio?.stop();
  });

  const storeWith = (more: S3Options) => new S3Store(s3Config(new URL(`s3://${BUCKET}/${randomUUID()}/`), { ...options, partSize: PART_SIZE, ...more }));
  const head = (key: string) => admin.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  const keysUnder = async (prefix: string) => ((await admin.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!);
  const env = () => ({ AWS_ENDPOINT_URL: options.endpoint!, AWS_ACCESS_KEY_ID: ACCESS_KEY, AWS_SECRET_ACCESS_KEY: SECRET_KEY, AWS_REGION: 'us-east-1' });

  it.each([
    ['SSE-S3', { serverSideEncryption: 'AES256' }, { 'x-amz-server-side-encryption': 'AES256' }, 'AES256'],
    ['SSE-KMS under a key', { serverSideEncryption: 'aws:kms', sseKmsKeyId: SSE_KEY }, { 'x-amz-server-side-encryption': 'aws:kms', 'x-amz-server-side-encryption-aws-kms-key-id': SSE_KEY }, 'aws:kms'],
    ['SSE-KMS under the default key', { serverSideEncryption: 'aws:kms' }, { 'x-amz-server-side-encryption': 'aws:kms' }, 'aws:kms'],
  ] as const)('%s: a single PUT, a multipart upload and an exclusive create are encrypted, and read back', async (_name, sse, headers, reported) => {
    const store = storeWith({ ...sse, storageClass: 'REDUCED_REDUNDANCY' });
    const sent = recordHeaders(store);
    const root = new URL(store.location).pathname.slice(1);
    await store.write('small', [Buffer.from('one part')]);
    const big = await sha256Of(new RandomStream(2 * PART_SIZE + 1));
    await store.write('three-parts', new RandomStream(2 * PART_SIZE + 1));
    await store.create('created', [Buffer.from('exclusive')]);
    for (const key of ['small', 'three-parts', 'created']) {
      const h = await head(root + key);
      expect(h.ServerSideEncryption, key).toBe(reported);
      expect(h.StorageClass, key).toBe('REDUCED_REDUNDANCY');
      // MinIO reports its one KMS key, as an ARN of its own.
      if (reported === 'aws:kms') expect(h.SSEKMSKeyId, key).toContain(SSE_KEY);
    }
    expect(await sha256Of(await store.read('three-parts'))).toEqual(big);
    expect((await readAll(await store.read('created'))).toString()).toBe('exclusive');
    // Requests that create objects carry the headers; the parts and the completion carry none (S3 takes them at the start).
    const creating = sent.filter((r) => ['PutObjectCommand', 'CreateMultipartUploadCommand'].includes(r.command));
    expect(creating).toHaveLength(3);
    for (const r of creating) expect(sseHeadersOf(r.headers), r.command).toEqual({ ...headers, 'x-amz-storage-class': 'REDUCED_REDUNDANCY' });
    for (const r of sent.filter((r) => ['UploadPartCommand', 'CompleteMultipartUploadCommand'].includes(r.command))) expect(sseHeadersOf(r.headers), r.command).toEqual({});
  }, 60_000);

  it('an SSE-KMS key the KMS does not know fails the write with CONFIG, leaving nothing', async () => {
    const store = storeWith({ serverSideEncryption: 'aws:kms', sseKmsKeyId: 'no-such-key' });
    const error = await store.write('k', [Buffer.from('x')]).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'CONFIG', message: expect.stringContaining('KMS key for server-side encryption') });
    expect(await store.stat('k')).toBeNull();
  });

  it('aerobak backup --s3-sse aws:kms:KEY --s3-storage-class: every object of the backup (also encrypted by aerobak), then restore', async () => {
    const prefix = `cli-${randomUUID()}`;
    const to = `s3://${BUCKET}/${prefix}`;
    const keyFile = join(tmp, 'backup.key');
    await writeFile(keyFile, randomBytes(32).toString('base64'));
    const b = await aerobak(
      ['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', to, '--no-udfs', '-F', '64KiB', '-w', '2', '--encrypt', '--key-file', keyFile, '--s3-sse', `aws:kms:${SSE_KEY}`, '--s3-storage-class', 'reduced_redundancy', '--json'],
      { env: env() },
    );
    expect(b.code, b.stderr).toBe(ExitCode.OK);
    const keys = await keysUnder(`${prefix}/`);
    expect(keys).toContain(`${prefix}/manifest.json`);
    expect(keys.some((k) => k.includes('/keys/'))).toBe(true);
    expect(keys.filter((k) => /\/test_/.test(k)).length).toBeGreaterThanOrEqual(2);
    for (const key of keys) {
      const h = await head(key);
      expect([key, h.ServerSideEncryption, h.StorageClass]).toEqual([key, 'aws:kms', 'REDUCED_REDUNDANCY']);
    }
    const r = await aerobak(['restore', '-h', cluster.hosts, '--from', to, '-n', 'test:bar', '--key-file', keyFile, '--no-udfs', '--json'], { env: env() });
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ written: 200 });
  }, 120_000);

  it('under S3 Object Lock (default retention): a backup completes and verifies; deleting it only hides it, its versions stay', async () => {
    const locked = `aerobak-locked-${randomBytes(3).toString('hex')}`;
    await admin.send(new CreateBucketCommand({ Bucket: locked, ObjectLockEnabledForBucket: true }));
    await admin.send(
      new PutObjectLockConfigurationCommand({
        Bucket: locked,
        ObjectLockConfiguration: { ObjectLockEnabled: 'Enabled', Rule: { DefaultRetention: { Mode: 'GOVERNANCE', Days: 1 } } },
      }),
    );
    const open = (location: string, intent: 'read' | 'write') => openStore(location, intent, { s3: { ...options, serverSideEncryption: 'AES256' } });
    const to = `s3://${locked}/b1`;
    // The backup rewrites its progress (backup-state.json) at every sealed file and deletes it at the end: new versions, then a delete marker.
    const summary = await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to, noUdfs: true, parallel: 2, fileSizeBytes: 64 * 1024 }, { openStore: open });
    expect(summary.records).toBe(200);
    const store = await open(to, 'read');
    expect(await verifyBackup({ store, prefix: '' })).toMatchObject({ ok: true, records: 200 });
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    expect(keys).toContain('manifest.json');
    expect(keys).not.toContain('backup-state.json');
    // prune asks the store before deleting: the manifest is under retention, so it would keep this backup.
    const lock = await (store as unknown as { retainedUntil(key: string): Promise<{ reason: string } | undefined> }).retainedUntil('manifest.json');
    expect(lock?.reason).toMatch(/^S3 Object Lock \(GOVERNANCE\) until \d{4}-/);

    // What a prune does (deletes without version ids): every key disappears from listings, as delete markers...
    await store.deleteMany(keys);
    expect(await collect(store.list(''))).toEqual([]);
    const versions = async () => (await admin.send(new ListObjectVersionsCommand({ Bucket: locked, Prefix: 'b1/' }))).Versions ?? [];
    // ... while every version stays, locked until its retention ends (billed, and restorable by removing the markers).
    const kept = await versions();
    expect(new Set(kept.map((v) => v.Key!.slice(3)))).toEqual(new Set([...keys, 'backup-state.json']));
    // Deleting a version itself is refused while it is retained (AWS: AccessDenied; MinIO: InvalidRequest, "Object is WORM protected").
    const manifest = kept.find((v) => v.Key === 'b1/manifest.json')!;
    const refused = await admin.send(new DeleteObjectCommand({ Bucket: locked, Key: manifest.Key, VersionId: manifest.VersionId })).catch((e: unknown) => e);
    expect(['AccessDenied', 'InvalidRequest']).toContain((refused as Error).name);
    expect((await versions()).some((v) => v.VersionId === manifest.VersionId)).toBe(true);
  }, 60_000);

  it('aerobak export --s3-sse AES256 --s3-storage-class: every object of the export', async () => {
    const from = join(tmp, 'hand-made');
    await makeBackup(from, 'test', Array.from({ length: 50 }, (_, i) => record('test', 'people', i, { name: `p${i}`, age: i })));
    const prefix = `export-${randomUUID()}`;
    const e = await aerobak(['export', '--from', from, '--to', `s3://${BUCKET}/${prefix}`, '--s3-sse', 'AES256', '--s3-storage-class', 'REDUCED_REDUNDANCY'], { env: env() });
    expect(e.code, e.stderr).toBe(ExitCode.OK);
    const keys = await keysUnder(`${prefix}/`);
    expect(keys).toContain(`${prefix}/_SUCCESS`);
    expect(keys.some((k) => k.endsWith('.parquet'))).toBe(true);
    for (const key of keys) {
      const h = await head(key);
      expect([key, h.ServerSideEncryption, h.StorageClass]).toEqual([key, 'AES256', 'REDUCED_REDUNDANCY']);
    }
    await rm(from, { recursive: true, force: true });
  }, 60_000);
});
