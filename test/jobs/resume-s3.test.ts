/**
 * Crash-safe backups to S3 (MinIO): `aerobak backup` SIGKILLed while a multipart upload
 * of a data file is in flight, then `backup --resume`: the unfinished upload is aborted,
 * the sealed files are kept, and the backup restores to exactly the source with no record
 * stored twice, having scanned fewer records than a whole backup.
 *
 * Data files of 18 MiB (incompressible blobs) are sent as multipart uploads of 8 MiB
 * parts (the CLI's default part size), so the kill lands while one is open.
 */
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { BACKUP_STATE_FILE, type BackupState } from '../../src/jobs/backup-state.js';
import { runBackup } from '../../src/jobs/backup.js';
import { readManifest } from '../../src/jobs/manifest.js';
import { runRestore } from '../../src/jobs/restore.js';
import { createStore, type ObjectStore, type OpenIntent } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { connectWire, expectSameRecords, record, scanSets, truncateSets, writeRaw } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BUCKET = 'aerobak-resume';
/** 8 KiB records: about 39 MiB, so two or three 18 MiB files. */
const COUNT = 5000;

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let s3: S3TestServer;
let tmp: string;
let source: Map<string, RawRecord>;
const set = uniqueSetName('resume_s3');

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startCluster({ nodes: 2 }), startS3Server()]);
  await s3.createBucket(BUCKET);
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-resume-s3-'));
  await writeRaw(wire, Array.from({ length: COUNT }, (_, i) => record('test', set, i, { blob: randomBytes(8 * 1024), n: i })));
  source = await scanSets(wire, 'test', [set]);
}, SERVER_START_TIMEOUT_MS);

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) await truncateSets(client, ns, [set]);
    await client.close();
  }
  await wire?.close();
  await Promise.all([cluster?.stop(), s3?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** S3 as the environment configures it for the CLI, and nothing of the developer's own settings. */
function env(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|AEROSPIKE_)/.test(k)) out[k] = v;
  const { endpoint, region, credentials } = s3.options;
  const nowhere = join(tmp, 'no-such-file');
  return {
    ...out,
    AWS_CONFIG_FILE: nowhere,
    AWS_SHARED_CREDENTIALS_FILE: nowhere,
    AWS_ENDPOINT_URL: endpoint!,
    AWS_REGION: region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: credentials!.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials!.secretAccessKey,
  };
}

async function openS3(location: string, intent: OpenIntent): Promise<ObjectStore> {
  const store = createStore(location, { s3: s3.options });
  await store.open(intent);
  return store;
}

async function openUploads(prefix: string): Promise<string[]> {
  const { Uploads = [] } = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return Uploads.filter((u) => u.Key?.startsWith(prefix)).map((u) => u.Key!);
}

async function state(store: ObjectStore): Promise<BackupState | undefined> {
  if ((await store.stat(BACKUP_STATE_FILE)) === null) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of await store.read(BACKUP_STATE_FILE)) chunks.push(c as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as BackupState;
}

describe('backup --resume to S3 after SIGKILL', () => {
  it('aborts the multipart upload the killed run left, keeps its sealed files, and ends with the source, no record twice', async () => {
    const prefix = `nightly/${randomUUID()}`;
    const location = `s3://${BUCKET}/${prefix}`;
    const store = createStore(location, { s3: s3.options });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', location, '-F', '18MiB', '-w', '1', '-L', '500', '-z', 'none', '--no-udfs', '--no-indexes'],
      { cwd: root, env: env(), stdio: 'ignore' },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    let done = false;
    void exited.then(() => (done = true));
    let killedWith: string[] = [];
    while (!done) {
      const s = await state(store).catch(() => undefined);
      const sealed = s?.groups.reduce((n, g) => n + g.files.length, 0) ?? 0;
      const uploads = sealed >= 1 ? await openUploads(prefix) : [];
      if (uploads.length > 0) {
        child.kill('SIGKILL');
        killedWith = uploads;
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await exited).toBe('SIGKILL');
    expect(killedWith.length).toBeGreaterThan(0);

    const summary = await runBackup({ cluster: { hosts: '' }, namespace: '', resume: location, resumeGiven: {} }, { openStore: openS3 });
    expect(summary).toMatchObject({ resumed: true, records: COUNT });
    expect(summary.recordsScanned).toBeLessThan(COUNT);
    expect(await openUploads(prefix)).toEqual([]);

    const manifest = await readManifest(store, '');
    const listed = new Set(['manifest.json', ...manifest.files.map((f) => f.name)]);
    const stored: string[] = [];
    for await (const o of store.list('')) stored.push(o.key);
    expect(stored.filter((k) => !listed.has(k))).toEqual([]);

    await truncateSets(client, 'bar', [set]);
    const restored = await runRestore(
      { cluster: { hosts: cluster.hosts }, from: location, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, noIndexes: true },
      { openStore: openS3 },
    );
    // Every record once: as many written as the source holds, and the same records.
    expect(restored.read).toBe(COUNT);
    const back = await scanSets(wire, 'bar', [set]);
    for (const r of back.values()) r.namespace = 'test';
    expectSameRecords(source, back);
  });
});
