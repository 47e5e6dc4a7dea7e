/**
 * The product end to end through every store: `aerobak backup`, `verify`, `list` and
 * `restore` run as a person runs them (spawned processes, configured by the environment:
 * AWS_ENDPOINT_URL / AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_REGION for S3,
 * STORAGE_EMULATOR_HOST for GCS) against a local directory, S3 (MinIO) and Google Cloud
 * Storage (fake-gcs-server); the restored records are compared with the originals byte
 * for byte. The data set (about 13 MiB of incompressible blobs, plus the golden records
 * of every particle type) makes several data files of about 6 MiB, which the job API run
 * sends to S3 as multipart uploads of 5 MiB parts.
 *
 * Then the failures a person meets first: a bucket that does not exist, credentials S3
 * refuses. They must stop the command before any scan starts, with exit code 4 and one
 * line that names the bucket or the credential problem.
 *
 * Runs against the project's test server (two nodes), or a real cluster when
 * AEROSPIKE_HOSTS is set (namespaces test and bar); sets are unique per run and
 * truncated afterwards.
 */
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { ExitCode } from '../../src/errors.js';
import { runBackup } from '../../src/jobs/backup.js';
import type { ExportManifest } from '../../src/jobs/export.js';
import { readAll } from '../../src/storage/small-objects.js';
import { listBackups } from '../../src/jobs/list.js';
import { readManifest } from '../../src/jobs/manifest.js';
import { runRestore } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore, type OpenIntent } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { startGcsServer, type GcsTestServer } from '../support/gcs-server.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { connectWire, expectSameRecords, goldenRecords, record, scanSets, truncateSets, writeRaw } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const MiB = 1024 * 1024;
/** Records of 8 KiB of random bytes: about 13 MiB that gzip cannot shrink. */
const BLOB_RECORDS = 1600;
/** With 2 groups of about 6.5 MiB each: two files per group, the first ones over 5 MiB. */
const FILE_SIZE = 6 * MiB;
const PART_SIZE = 5 * MiB;
const BUCKET = 'aerobak-e2e';
const run = randomUUID();

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let s3: S3TestServer;
let gcs: GcsTestServer;
let tmp: string;
let original: Map<string, RawRecord>;

const blobs = uniqueSetName('blobs');
const golden = uniqueSetName('golden');
const sets = [blobs, golden];

beforeAll(async () => {
  [cluster, s3, gcs] = await Promise.all([startCluster({ nodes: 2 }), startS3Server(), startGcsServer()]);
  await Promise.all([s3.createBucket(BUCKET), gcs.createBucket(BUCKET)]);
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-e2e-stores-'));
  await writeRaw(wire, goldenRecords('test', golden));
  await writeRaw(
    wire,
    Array.from({ length: BLOB_RECORDS }, (_, i) => record('test', blobs, i, { blob: randomBytes(8 * 1024), n: i, s: `record ${i}` })),
  );
  original = await scanSets(wire, 'test', sets);
  expect(original.size).toBe(BLOB_RECORDS + goldenRecords('test', golden).length);
}, SERVER_START_TIMEOUT_MS);

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) await truncateSets(client, ns, sets);
    await client.close();
  }
  await wire?.close();
  await Promise.all([cluster?.stop(), s3?.stop(), gcs?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * The environment of a person running aerobak against this cluster: none of the
 * developer's AWS, Google or Aerospike settings (a ~/.aws profile could name another
 * endpoint or region), plus `vars`.
 */
function userEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|GOOGLE_|STORAGE_EMULATOR_HOST$|AEROSPIKE_)/.test(k)) env[k] = v;
  const nowhere = join(tmp, 'no-such-file');
  return { ...env, AWS_CONFIG_FILE: nowhere, AWS_SHARED_CREDENTIALS_FILE: nowhere, AEROSPIKE_HOSTS: cluster.hosts, ...vars };
}

/** S3 as configured by the environment: endpoint, region and credentials. */
function s3Env(): Record<string, string> {
  const { endpoint, region, credentials } = s3.options;
  return {
    AWS_ENDPOINT_URL: endpoint!,
    AWS_REGION: region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: credentials?.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID!,
    AWS_SECRET_ACCESS_KEY: credentials?.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY!,
  };
}

function gcsEnv(): Record<string, string> {
  return { STORAGE_EMULATOR_HOST: gcs.options.apiEndpoint! };
}

/** Runs `aerobak args` as a child process (through tsx), as a person would. */
function aerobak(args: string[], vars: Record<string, string>): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: userEnv(vars) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
}

/** The last JSON line of a --json run: its summary (or error). */
function summaryOf(r: Run): Record<string, unknown> {
  const lines = r.stdout.trim().split('\n');
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>;
}

/** The export at `location` has its manifest and _SUCCESS, and every file it lists with the listed size and SHA-256. */
async function expectCompleteExport(location: string): Promise<void> {
  const store = await openStore(location, 'read', { s3: s3.options, gcs: gcs.options });
  const manifest = JSON.parse((await readAll(await store.read('_manifest.json'))).toString('utf8')) as ExportManifest;
  expect(await store.stat('_SUCCESS')).not.toBeNull();
  expect(manifest.records).toBe(original.size);
  for (const f of manifest.files) {
    const bytes = await readAll(await store.read(f.path));
    expect(bytes.length, f.path).toBe(f.size);
    expect(createHash('sha256').update(bytes).digest('hex'), f.path).toBe(f.sha256);
  }
  expect(new Set(manifest.files.map((f) => f.set))).toEqual(new Set(sets));
}

interface StoreCase {
  name: string;
  /** Where this store's backups of the run go: `${parent}/nightly`. */
  parent: () => string;
  env: () => Record<string, string>;
}

const stores: StoreCase[] = [
  { name: 'a local directory', parent: () => join(tmp, 'local'), env: () => ({}) },
  { name: 'S3 (MinIO)', parent: () => `s3://${BUCKET}/${run}/cli`, env: s3Env },
  { name: 'GCS (fake-gcs-server)', parent: () => `gs://${BUCKET}/${run}/cli`, env: gcsEnv },
];

describe('backup → verify → list → restore through the command line', () => {
  it.each(stores)(
    'round-trips through $name byte for byte',
    async ({ parent, env }) => {
      await truncateSets(client, 'bar', sets);
      const location = `${parent()}/nightly`;
      const vars = env();

      const backup = await aerobak(
        ['backup', '-n', 'test', '-s', sets.join(','), '--to', location, '-w', '2', '-F', `${FILE_SIZE / MiB}MiB`, '--compress-level', '1', '--no-udfs', '--json'],
        vars,
      );
      expect(backup.code, backup.stderr).toBe(ExitCode.OK);
      const backedUp = summaryOf(backup);
      expect(backedUp).toMatchObject({ event: 'summary', records: original.size, indexes: 0, udfs: 0 });
      expect(backedUp.location).toMatch(/nightly\/?$/);
      // The data cannot fit in fewer files of at most FILE_SIZE, and each group writes its own.
      expect(backedUp.files).toBeGreaterThanOrEqual(Math.max(3, Math.ceil(Number(backedUp.bytes) / FILE_SIZE)));

      const verify = await aerobak(['verify', location, '--json'], vars);
      expect(verify.code, verify.stdout + verify.stderr).toBe(ExitCode.OK);
      expect(summaryOf(verify)).toMatchObject({ ok: true, problems: [], records: original.size, filesChecked: backedUp.files });

      const list = await aerobak(['list', parent(), '--json'], vars);
      expect(list.code, list.stderr).toBe(ExitCode.OK);
      expect(summaryOf(list)).toMatchObject({
        event: 'summary',
        backups: [{ prefix: 'nightly', status: 'complete', namespace: 'test', records: original.size, files: backedUp.files }],
      });

      const restore = await aerobak(['restore', '--from', location, '-n', 'test:bar', '--json'], vars);
      expect(restore.code, restore.stderr).toBe(ExitCode.OK);
      expect(summaryOf(restore)).toMatchObject({ complete: true, read: original.size, written: original.size, failed: {} });
      expectSameRecords(original, await scanSets(wire, 'bar', sets));

      // The backup as tables, into the same store: every file the export manifest lists is there, whole.
      const lake = `${parent()}/lake`;
      const exported = await aerobak(['export', '--from', location, '--to', lake, '--json'], vars);
      expect(exported.code, exported.stderr).toBe(ExitCode.OK);
      expect(summaryOf(exported)).toMatchObject({ event: 'summary', records: original.size, format: 'parquet' });
      await expectCompleteExport(lake);
    },
    300_000,
  );

  it('sends data files larger than a part to S3 as multipart uploads (job API, 5 MiB parts)', { timeout: 300_000 }, async () => {
    await truncateSets(client, 'bar', sets);
    const options = { s3: { ...s3.options, partSize: PART_SIZE } };
    const open = (location: string, intent: OpenIntent) => openStore(location, intent, options);
    const location = `s3://${BUCKET}/${run}/jobs/multipart`;

    const backup = await runBackup(
      { cluster: { hosts: cluster.hosts }, namespace: 'test', sets, to: location, parallel: 2, fileSizeBytes: FILE_SIZE, compressLevel: 1, noUdfs: true },
      { openStore: open },
    );
    expect(backup).toMatchObject({ records: original.size, location: `${location}/` });

    const store = await open(location, 'read');
    const manifest = await readManifest(store, '');
    const large = manifest.files.filter((f) => f.size > PART_SIZE);
    expect(large.length).toBeGreaterThanOrEqual(2);
    for (const f of manifest.files) {
      const { ETag } = await s3.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `${run}/jobs/multipart/${f.name}` }));
      // A multipart object's ETag is the MD5 of its parts' MD5s, followed by the part count.
      expect(ETag, f.name).toMatch(f.size > PART_SIZE ? /^"[0-9a-f]{32}-2"$/ : /^"[0-9a-f]{32}"$/);
    }

    const report = await verifyBackup({ store, prefix: '' });
    expect(report).toMatchObject({ ok: true, problems: [], records: original.size });
    expect(await listBackups(`s3://${BUCKET}/${run}/jobs`, { openStore: open })).toMatchObject([
      { prefix: 'multipart', status: 'complete', records: original.size },
    ]);

    const restored = await runRestore({ cluster: { hosts: cluster.hosts }, from: location, namespaceMap: new Map([['test', 'bar']]) }, { openStore: open });
    expect(restored).toMatchObject({ read: original.size, written: original.size, failed: {} });
    expectSameRecords(original, await scanSets(wire, 'bar', sets));
  });
});

/**
 * What the cluster says about scans of the test's sets, as strings: on the test
 * server each node's scan counters; on a real cluster the ids of the scan jobs of
 * `blobs` that `query-show` remembers. A scan started later adds a string.
 */
async function scanMarks(): Promise<string[]> {
  if (cluster.server) {
    const nodes = await Promise.all(cluster.server.nodes.map((n) => n.status()));
    return nodes.map((s, i) => `node ${i}: ${s.scannedRecords} records scanned, last scan ${JSON.stringify(s.lastScan)}`);
  }
  const replies = await wire.infoAll(['query-show']);
  return [...replies.values()]
    .flatMap((reply) => (reply.get('query-show') ?? '').split(';'))
    .filter((job) => job.includes(`:set=${blobs}:`))
    .map((job) => job.split(':')[0]!);
}

describe('a bucket that does not exist, or credentials refused, stop the command before any scan', () => {
  const missing = `aerobak-missing-${randomUUID().slice(0, 8)}`;
  const failures: { name: string; args: () => string[]; env: () => Record<string, string>; error: () => RegExp }[] = [
    {
      name: 'backup to a missing S3 bucket',
      args: () => ['backup', '-n', 'test', '-s', blobs, '--to', `s3://${missing}/daily`],
      env: s3Env,
      error: () => new RegExp(`^aerobak: error: bucket ${missing} does not exist\\n$`),
    },
    {
      name: 'backup to S3 with an unknown access key',
      args: () => ['backup', '-n', 'test', '-s', blobs, '--to', `s3://${BUCKET}/${run}/refused`],
      env: () => ({ ...s3Env(), AWS_ACCESS_KEY_ID: 'nobody' }),
      error: () => new RegExp(`^aerobak: error: bad or missing AWS credentials for bucket ${BUCKET}: [^\\n]+\\n$`),
    },
    {
      name: 'backup to S3 with a wrong secret key',
      args: () => ['backup', '-n', 'test', '-s', blobs, '--to', `s3://${BUCKET}/${run}/refused`],
      env: () => ({ ...s3Env(), AWS_SECRET_ACCESS_KEY: 'not-the-secret' }),
      error: () => new RegExp(`^aerobak: error: bad or missing AWS credentials for bucket ${BUCKET}: [^\\n]*signature[^\\n]*\\n$`),
    },
    {
      name: 'backup to a missing GCS bucket',
      args: () => ['backup', '-n', 'test', '-s', blobs, '--to', `gs://${missing}/daily`],
      env: gcsEnv,
      error: () => new RegExp(`^aerobak: error: bucket ${missing} does not exist\\n$`),
    },
    {
      name: 'restore from a missing S3 bucket',
      args: () => ['restore', '--from', `s3://${missing}/daily`],
      env: s3Env,
      error: () => new RegExp(`^aerobak: error: bucket ${missing} does not exist\\n$`),
    },
    {
      name: 'restore from a missing GCS bucket',
      args: () => ['restore', '--from', `gs://${missing}/daily`],
      env: gcsEnv,
      error: () => new RegExp(`^aerobak: error: bucket ${missing} does not exist\\n$`),
    },
  ];

  it.each(failures)('$name: exit code 4, one line, no scan', async ({ args, env, error }) => {
    const before = await scanMarks();
    const r = await aerobak(args(), env());
    expect(r.code, r.stderr).toBe(ExitCode.STORAGE);
    expect(r.stderr).toMatch(error());
    expect(r.stdout).toBe('');
    // Process start-up included: a preflight failure takes a second, not a scan's worth.
    expect(r.ms).toBeLessThan(20_000);
    expect((await scanMarks()).filter((mark) => !before.includes(mark))).toEqual([]);
  });

  it('(control: a backup that does scan leaves a mark)', async () => {
    const before = await scanMarks();
    await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [blobs], to: `mem://${run}/control`, noUdfs: true });
    expect((await scanMarks()).filter((mark) => !before.includes(mark))).not.toEqual([]);
  });

  it('says so in the JSON error event too', async () => {
    const r = await aerobak(['backup', '-n', 'test', '-s', blobs, '--to', `s3://${missing}/daily`, '--json'], s3Env());
    expect(r.code).toBe(ExitCode.STORAGE);
    expect(summaryOf(r)).toEqual({ event: 'error', code: 'STORAGE_NO_BUCKET', exitCode: ExitCode.STORAGE, message: `bucket ${missing} does not exist` });
  });

  it('leaves nothing in the bucket when the credentials are refused', async () => {
    const store = await openStore(`s3://${BUCKET}/${run}/refused`, 'read', { s3: s3.options });
    for await (const o of store.list('')) expect.fail(`unexpected object ${o.key}`);
  });
});
