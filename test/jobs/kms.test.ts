/**
 * Encrypted backups under an AWS KMS key, against a real KMS-compatible server: moto's
 * (test/support/kms-server.ts), behind a proxy that counts the requests it receives. A
 * backup of several data files from parallel partition groups makes exactly one
 * GenerateDataKey call and its restore exactly one Decrypt, and both round-trip the golden
 * records byte for byte; another KMS key, a replaced key object and a ciphertext made
 * without aerobak's encryption context cannot open it; alias names, alias ARNs, key ids and
 * key ARNs work as the key; a key ARN of another region than AWS_REGION works; rekey moves a
 * backup from a key file to the KMS key and back; and the CLI does the same configured only
 * by the environment (AWS_ENDPOINT_URL_KMS, AWS_REGION, AWS_* credentials).
 *
 * Where moto is not AWS (see docs/security.md, "AWS KMS keys, and how they were tested"):
 * - A Decrypt whose KeyId names another key than the one the ciphertext was made under
 *   fails with AccessDeniedException in moto; AWS answers IncorrectKeyException, which
 *   aerobak reports as WRONG_KEY (with the key ARN the backup was made with). Under moto
 *   that case is KMS_FAILED, and the tests say so where they meet it; to test aerobak's
 *   answer to AWS's error, the proxy renames moto's (kms.renameErrors).
 * - moto accepts any credentials and enforces no key policy or IAM permission (beyond a
 *   few DescribeKey cases), and uses disabled keys and keys pending deletion as enabled
 *   ones: permissions and key states are not tested here.
 * - moto does enforce the encryption context (it is the AES-GCM AAD of its ciphertexts:
 *   another one, or none, is InvalidCiphertextException, as on AWS), and refuses unknown
 *   keys and aliases with NotFoundException; its ciphertext blobs are its own format.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GenerateDataKeyCommand, UpdateAliasCommand } from '@aws-sdk/client-kms';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { rawKek, type Kek } from '../../src/crypto/keys.js';
import { kmsKek } from '../../src/crypto/kms.js';
import { ExitCode } from '../../src/errors.js';
import { runBackup, type BackupOptions } from '../../src/jobs/backup.js';
import { runRekey } from '../../src/jobs/rekey.js';
import { runRestore, type RestoreOptions } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore } from '../../src/storage/index.js';
import { aerobak } from '../cli/run.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { SERVER_START_TIMEOUT_MS, startKmsServer, type KmsRequest, type KmsTestKey, type KmsTestServer } from '../support/kms-server.js';
import { connectWire, expectSameRecords, goldenRecords, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let kms: KmsTestServer;
let tmp: string;
/** The backups' key, with an alias; and another key of the same account. */
let main: KmsTestKey;
let other: KmsTestKey;
const golden = uniqueSetName('kmsg');
const blobs = uniqueSetName('kmsb');
const sets = [golden, blobs];
let original: Map<string, RawRecord>;
const ALIAS = `aerobak-test-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  [kms, cluster] = await Promise.all([startKmsServer(), startCluster({ nodes: 2 })]);
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-kms-'));
  main = await kms.createKey({ alias: ALIAS });
  other = await kms.createKey();
  await writeRaw(wire, [
    ...goldenRecords('test', golden),
    // About 2.4 MiB that does not compress: several data files per partition group.
    ...Array.from({ length: 300 }, (_, i) => record('test', blobs, i, { blob: randomBytes(8 * 1024), i })),
  ]);
  original = await scanSets(wire, 'test', sets);
}, SERVER_START_TIMEOUT_MS);

afterAll(async () => {
  await tearDown({ client, wire, cluster, tmp, sets });
  await kms?.stop();
});

beforeEach(() => kms.reset());

const kek = (name: string, env: NodeJS.ProcessEnv = kms.env): Promise<Kek> => kmsKek(`aws:${name}`, env);
const backup = async (to: string, encrypt: Kek, more: Partial<BackupOptions> = {}) =>
  runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets, to, noUdfs: true, parallel: 4, compress: 'none', fileSizeBytes: 256 * 1024, encrypt, ...more } as BackupOptions);
const restore = async (from: string, key: Kek, more: Partial<RestoreOptions> = {}) => {
  await truncateSets(client, 'bar', sets);
  return runRestore({ cluster: { hosts: cluster.hosts }, from, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, mode: 'replace', key, ...more } as RestoreOptions);
};
const restored = async () => {
  const out = await scanSets(wire, 'bar', sets);
  for (const r of out.values()) r.namespace = 'test';
  return out;
};
const dataFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.startsWith('test_') && !f.endsWith('.digests'));
const keyObjectFiles = async (dir: string) => (await readdir(join(dir, 'keys'))).filter((f) => f.endsWith('.json'));
const CONTEXT = { aerobak: 'data key v1' };

describe('a backup under a KMS key', () => {
  let dir: string;
  let backupCalls: Record<string, number>;
  let backupRequests: KmsRequest[];

  beforeAll(async () => {
    dir = join(tmp, 'arn');
    kms.reset();
    await backup(dir, await kek(main.arn));
    backupCalls = kms.counts();
    backupRequests = [...kms.requests];
  }, 120_000);

  it('made exactly one KMS call, GenerateDataKey, for several data files from parallel groups', async () => {
    expect((await dataFiles(dir)).length).toBeGreaterThanOrEqual(4);
    expect(backupCalls).toEqual({ GenerateDataKey: 1 });
    expect(backupRequests[0]!.body).toMatchObject({ KeyId: main.arn, KeySpec: 'AES_256', EncryptionContext: CONTEXT });
  });

  it('restores the golden records byte for byte with exactly one Decrypt', async () => {
    const summary = await restore(dir, await kek(main.arn));
    expect(summary.written).toBe(original.size);
    expectSameRecords(original, await restored());
    expect(kms.counts()).toEqual({ Decrypt: 1 });
    expect(kms.requests[0]!.body).toMatchObject({ KeyId: main.arn, EncryptionContext: CONTEXT });
  }, 60_000);

  it('stores the KMS ciphertext and the key\'s name in its key object, and no data key', async () => {
    const [name] = await keyObjectFiles(dir);
    const obj = JSON.parse(await readFile(join(dir, 'keys', name!), 'utf8')) as { kek: Record<string, unknown>; wrapped: string };
    expect(obj.kek).toEqual({ type: 'aws-kms', id: name!.replace(/\.json$/, ''), kmsKey: main.arn });
    expect(Buffer.from(obj.wrapped, 'base64').length).toBeGreaterThan(32);
  });

  it('verifies with its key (one Decrypt)', async () => {
    const result = await verifyBackup({ store: await openStore(dir, 'read'), prefix: '', key: await kek(main.arn) });
    expect(result).toMatchObject({ ok: true, records: original.size });
    expect(kms.counts()).toEqual({ Decrypt: 1 });
  });

  it('another KMS key cannot open it: WRONG_KEY naming that key, no KMS call, nothing written', async () => {
    const error = await restore(dir, await kek(other.arn)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WRONG_KEY' });
    expect((error as Error).message).toContain(`KMS key ${other.arn}`);
    expect((error as Error).message).toContain(dir);
    expect(kms.counts()).toEqual({});
    expect((await restored()).size).toBe(0);
  });

  it('a key object whose ciphertext is another key\'s is refused by KMS (moto: AccessDeniedException, AWS: IncorrectKeyException)', async () => {
    const copy = join(tmp, 'swapped-key');
    await cp(dir, copy, { recursive: true });
    const [name] = await keyObjectFiles(copy);
    const path = join(copy, 'keys', name!);
    const obj = JSON.parse(await readFile(path, 'utf8')) as { wrapped: string };
    const foreign = await kms.client().send(new GenerateDataKeyCommand({ KeyId: other.arn, KeySpec: 'AES_256', EncryptionContext: CONTEXT }));
    obj.wrapped = Buffer.from(foreign.CiphertextBlob!).toString('base64');
    await writeFile(path, JSON.stringify(obj));
    const error = await restore(copy, await kek(main.arn)).catch((e: unknown) => e);
    // AWS would answer IncorrectKeyException, which aerobak reports as WRONG_KEY; moto answers AccessDeniedException (KMS_FAILED).
    expect(error).toMatchObject({ code: 'KMS_FAILED' });
    expect((error as Error).message).toMatch(/^KMS Decrypt with .* failed: AccessDeniedException/);
    expect(kms.counts()).toEqual({ Decrypt: 1 });
    expect((await restored()).size).toBe(0);
  });

  it('a ciphertext of the right key made without aerobak\'s encryption context is WRONG_KEY (the context is checked)', async () => {
    const copy = join(tmp, 'no-context');
    await cp(dir, copy, { recursive: true });
    const [name] = await keyObjectFiles(copy);
    const path = join(copy, 'keys', name!);
    const obj = JSON.parse(await readFile(path, 'utf8')) as { wrapped: string };
    const bare = await kms.client().send(new GenerateDataKeyCommand({ KeyId: main.arn, KeySpec: 'AES_256' }));
    obj.wrapped = Buffer.from(bare.CiphertextBlob!).toString('base64');
    await writeFile(path, JSON.stringify(obj));
    const error = await restore(copy, await kek(main.arn)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'WRONG_KEY' });
    expect((error as Error).message).toContain('InvalidCiphertextException');
    // Garbage in place of the ciphertext: the same.
    obj.wrapped = randomBytes(96).toString('base64');
    await writeFile(path, JSON.stringify(obj));
    await expect(restore(copy, await kek(main.arn))).rejects.toMatchObject({ code: 'WRONG_KEY' });
    expect((await restored()).size).toBe(0);
  });

  it('a key that does not exist fails the backup with KMS_FAILED naming it, before any file is written', async () => {
    const missing = main.arn.replace(/key\/.*$/, 'key/00000000-0000-0000-0000-000000000000');
    const to = join(tmp, 'missing-key');
    const error = await backup(to, await kek(missing)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KMS_FAILED' });
    expect((error as Error).message).toMatch(/^KMS GenerateDataKey with arn:.*key\/00000000-0000-0000-0000-000000000000 failed: NotFoundException/);
    expect(await readdir(to).catch(() => [])).not.toContain('manifest.json');
    expect(await dataFiles(to).catch(() => [])).toEqual([]);
  });
});

describe('aliases, key ids and regions', () => {
  it('the alias ARN is the key: one GenerateDataKey, one Decrypt, and the alias name, key ARN and key id open it too', async () => {
    const dir = join(tmp, 'alias');
    await backup(dir, await kek(main.aliasArn!), { sets: [golden] });
    expect(kms.counts()).toEqual({ GenerateDataKey: 1 });
    const [name] = await keyObjectFiles(dir);
    const obj = JSON.parse(await readFile(join(dir, 'keys', name!), 'utf8')) as { kek: Record<string, unknown> };
    // The key ARN KMS answered with is recorded beside the alias.
    expect(obj.kek).toMatchObject({ kmsKey: main.aliasArn, kmsKeyArn: main.arn });
    const goldenOnly = new Map([...original].filter(([, r]) => r.set === golden));
    for (const given of [main.aliasArn!, main.aliasName!, main.arn, main.keyId]) {
      kms.reset();
      expect((await restore(dir, await kek(given), { sets: [golden] })).written, given).toBe(goldenOnly.size);
      expectSameRecords(goldenOnly, await restored());
      expect(kms.requests.map((r) => [r.action, r.body.KeyId]), given).toEqual([['Decrypt', given]]);
    }
  }, 120_000);

  it('a backup made with a key ARN does not open with an alias of it (no KMS call resolves it): WRONG_KEY', async () => {
    const dir = join(tmp, 'arn-then-alias');
    await backup(dir, await kek(main.arn), { sets: [golden] });
    kms.reset();
    await expect(restore(dir, await kek(main.aliasArn!), { sets: [golden] })).rejects.toMatchObject({ code: 'WRONG_KEY' });
    expect(kms.counts()).toEqual({});
  }, 60_000);

  it('after the alias moves to another key, the backup opens with the key ARN it was made under', async () => {
    const alias = `aerobak-moving-${randomBytes(4).toString('hex')}`;
    const first = await kms.createKey({ alias });
    const second = await kms.createKey();
    const dir = join(tmp, 'moved-alias');
    await backup(dir, await kek(first.aliasName!), { sets: [golden] });
    await kms.client().send(new UpdateAliasCommand({ AliasName: first.aliasName!, TargetKeyId: second.keyId }));
    kms.reset();
    // moto answers AccessDeniedException (KMS_FAILED) ...
    const error = await restore(dir, await kek(first.aliasName!), { sets: [golden] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KMS_FAILED', message: expect.stringContaining('AccessDeniedException') });
    expect(kms.counts()).toEqual({ Decrypt: 1 });
    // ... where AWS answers IncorrectKeyException: WRONG_KEY, naming the key ARN to give instead.
    kms.renameErrors = { AccessDeniedException: 'IncorrectKeyException' };
    const asOnAws = await restore(dir, await kek(first.aliasName!), { sets: [golden] }).catch((e: unknown) => e);
    expect(asOnAws).toMatchObject({ code: 'WRONG_KEY' });
    expect((asOnAws as Error).message).toContain(`IncorrectKeyException); it was wrapped under ${first.arn}: if ${first.aliasName} is an alias that was moved to another key since, give --kms aws:${first.arn}`);
    kms.reset();
    expect((await restore(dir, await kek(first.arn), { sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    expect(kms.counts()).toEqual({ Decrypt: 1 });
  }, 60_000);

  it('a key ARN of another region than AWS_REGION: the calls go to the key\'s region', async () => {
    const abroad = await kms.createKey({ region: 'eu-west-1' });
    expect(abroad.arn).toContain(':eu-west-1:');
    const dir = join(tmp, 'abroad');
    // kms.env says us-east-1.
    await backup(dir, await kek(abroad.arn), { sets: [golden] });
    expect((await restore(dir, await kek(abroad.arn), { sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    expect(kms.counts()).toEqual({ GenerateDataKey: 1, Decrypt: 1 });
    // A bare key id has no region: AWS_REGION's KMS does not know it.
    await expect(restore(dir, await kek(abroad.keyId), { sets: [golden] })).rejects.toMatchObject({ code: 'KMS_FAILED' });
  }, 60_000);

  it('credentials and endpoint come from the environment given, not the process\'s', async () => {
    // The test process has no AWS credentials of its own; the SDK's chain alone would find none.
    expect(process.env.AWS_ACCESS_KEY_ID).toBeUndefined();
    const dir = join(tmp, 'env-only');
    await backup(dir, await kek(main.arn, { ...kms.env }), { sets: [golden] });
    expect(kms.counts()).toEqual({ GenerateDataKey: 1 });
    // Without an endpoint in the environment given, the SDK would go to AWS: here the env names another (closed) port and the call fails.
    const error = await restore(dir, await kek(main.arn, { ...kms.env, AWS_ENDPOINT_URL_KMS: 'http://127.0.0.1:9' }), { sets: [golden] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'KMS_FAILED' });
  }, 60_000);
});

describe('rekey between a key file and the KMS key', () => {
  it('key file -> KMS key (one Encrypt, one Decrypt to check it) -> another key file, removing the KMS key object', async () => {
    const dir = join(tmp, 'rekey');
    const fileKey = rawKek(randomBytes(32), 'key file a.key');
    await backup(dir, fileKey, { sets: [golden] });
    expect(kms.counts()).toEqual({});
    const manifest = await readFile(join(dir, 'manifest.json'));

    const toKms = await runRekey({ location: dir, key: fileKey, newKey: await kek(main.arn) });
    expect(toKms.backups).toHaveLength(1);
    expect(toKms.backups[0]!.added).toMatch(/^keys\/aws-kms-[0-9a-f]{16}\.json$/);
    expect(kms.counts()).toEqual({ Encrypt: 1, Decrypt: 1 });
    expect(kms.requests.find((r) => r.action === 'Encrypt')!.body).toMatchObject({ KeyId: main.arn, EncryptionContext: CONTEXT });
    kms.reset();
    expect((await restore(dir, await kek(main.arn), { sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    expect(kms.counts()).toEqual({ Decrypt: 1 });

    const back = rawKek(randomBytes(32), 'key file b.key');
    kms.reset();
    const toFile = await runRekey({ location: dir, key: await kek(main.arn), newKey: back, removeOld: true });
    expect(toFile.backups[0]).toMatchObject({ removed: toKms.backups[0]!.added });
    expect(kms.counts()).toEqual({ Decrypt: 1 });
    expect((await restore(dir, back, { sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    expect((await restore(dir, fileKey, { sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    kms.reset();
    await expect(restore(dir, await kek(main.arn), { sets: [golden] })).rejects.toMatchObject({ code: 'WRONG_KEY' });
    expect(kms.counts()).toEqual({});
    expect((await readFile(join(dir, 'manifest.json'))).equals(manifest)).toBe(true);
  }, 60_000);
});

describe('the command line, configured by the environment', () => {
  it('backup --encrypt --kms aws:ARN, then verify and restore --kms aws:ARN', async () => {
    const dir = join(tmp, 'cli');
    const env = { ...kms.env };
    const b = await aerobak(['backup', '-h', cluster.hosts, '-n', 'test', '-s', sets.join(','), '--to', dir, '--no-udfs', '-w', '4', '-F', '256KiB', '--encrypt', '--kms', `aws:${main.arn}`, '--json'], { env });
    expect(b.code, b.stderr).toBe(ExitCode.OK);
    expect(kms.counts()).toEqual({ GenerateDataKey: 1 });
    expect((await dataFiles(dir)).length).toBeGreaterThanOrEqual(4);

    kms.reset();
    const v = await aerobak(['verify', dir, '--kms', `aws:${main.arn}`], { env });
    expect(v.code, v.stderr).toBe(ExitCode.OK);
    expect(kms.counts()).toEqual({ Decrypt: 1 });

    kms.reset();
    await truncateSets(client, 'bar', sets);
    const r = await aerobak(['restore', '-h', cluster.hosts, '--from', dir, '-n', 'test:bar', '--no-udfs', '--kms', `aws:${main.arn}`, '--json'], { env });
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ written: original.size });
    expect(kms.counts()).toEqual({ Decrypt: 1 });
    expectSameRecords(original, await restored());

    // Another key: exit 1 and one line naming it, no KMS call.
    kms.reset();
    const wrong = await aerobak(['restore', '-h', cluster.hosts, '--from', dir, '-n', 'test:bar', '--kms', `aws:${other.arn}`], { env });
    expect(wrong.code).toBe(ExitCode.FAILED);
    expect(wrong.stderr.trim().split('\n'), wrong.stderr).toHaveLength(1);
    expect(wrong.stderr).toContain(other.arn);
    expect(kms.counts()).toEqual({});
  }, 120_000);
});
