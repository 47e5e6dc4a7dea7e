/**
 * The backup job's checks and failure behaviour: destination and namespace checked
 * before any scan, an interrupted or failed backup leaves no manifest (and restore
 * refuses it unless forced), a corrupt data file is named by verify and restore,
 * partition ranges and progress with an ETA.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { partitionId } from '../../src/aerospike/wire/digest.js';
import { InterruptedError, NamespaceNotFoundError } from '../../src/errors.js';
import { DestinationNotEmptyError, defaultBackupLocation, runBackup, type BackupOptions } from '../../src/jobs/backup.js';
import { DataFileError } from '../../src/jobs/data-files.js';
import { listBackups } from '../../src/jobs/list.js';
import { IncompleteBackupError, readManifest } from '../../src/jobs/manifest.js';
import type { ProgressView } from '../../src/jobs/progress.js';
import { runRestore } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { FaultyStore } from '../../src/storage/faulty.js';
import { StorageError, createStore, openStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/types.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('bk');
const COUNT = 300;

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-backup-'));
  await writeRaw(
    wire,
    Array.from({ length: COUNT }, (_, i) => record('test', set, `k${i}`, { i, pad: 'x'.repeat(40) })),
  );
});

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) await truncateSets(client, ns, [set]);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const opts = (more: Partial<BackupOptions> = {}): BackupOptions => ({
  cluster: { hosts: cluster.hosts },
  namespace: 'test',
  sets: [set],
  noUdfs: true,
  to: `mem://${uniqueSetName('bk')}/b`,
  ...more,
});

async function keys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('')) out.push(o.key);
  return out;
}

describe('the default destination', () => {
  it('is a new directory named after the namespace and the UTC time, under ./aerobak-backups', () => {
    expect(defaultBackupLocation('test', new Date('2026-01-24T10:15:00.123Z'), '/srv')).toBe('/srv/aerobak-backups/test-20260124T101500Z');
  });
});

describe('checks before the scan', () => {
  it('fails on a destination that cannot be written, naming it, without scanning', async () => {
    const file = join(tmp, 'a-file');
    await writeFile(file, 'not a directory');
    const progress: ProgressView[] = [];
    const err = await runBackup(opts({ to: join(file, 'backup') }), { onProgress: (v) => progress.push(v) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StorageError);
    expect((err as Error).message).toContain(join(file, 'backup'));
    expect(progress).toEqual([]);
  });

  it('refuses a destination that already holds files', async () => {
    const to = `mem://${uniqueSetName('bk')}/used`;
    const store = createStore(to);
    await store.write('somefile', (async function* () {
      yield Buffer.from('x');
    })());
    const err = await runBackup(opts({ to })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DestinationNotEmptyError);
    expect((err as Error).message).toMatch(/already holds files \(for example somefile\); back up to a new, empty location/);
  });

  it('names a namespace that does not exist and lists the ones that do', async () => {
    const err = await runBackup(opts({ namespace: 'nope' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NamespaceNotFoundError);
    expect((err as Error).message).toMatch(/namespace "nope" does not exist on the cluster; its namespaces are: .*\btest\b/);
    expect((err as Error).message).toMatch(/\bbar\b/);
  });
});

describe('a backup that does not finish', () => {
  it('when interrupted, stops every scan, writes no manifest, and restore refuses it unless forced', async () => {
    const bucket = `mem://${uniqueSetName('bk')}`;
    const to = `${bucket}/interrupted`;
    const controller = new AbortController();
    let seen = 0;
    const backup = runBackup(opts({ to, recordsPerSecond: 200, fileSizeBytes: 1024 }), {
      signal: controller.signal,
      onProgress: (v) => {
        seen = v.records;
        if (v.records >= 100) controller.abort(new InterruptedError('interrupted by SIGINT'));
      },
    });
    const err = await backup.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InterruptedError);
    expect((err as Error).message).toMatch(/^interrupted by SIGINT: the backup at .* is incomplete \(it has no manifest, so restore refuses it\)/);
    expect(seen).toBeLessThan(COUNT);

    const store = await openStore(to, 'read');
    const stored = await keys(store);
    expect(stored).not.toContain('manifest.json');
    expect(stored.filter((k) => k.endsWith('.avro.zst')).length).toBeGreaterThan(0);
    await expect(readManifest(store, '')).rejects.toBeInstanceOf(IncompleteBackupError);
    expect(await listBackups(bucket)).toMatchObject([{ prefix: 'interrupted', status: 'incomplete', namespace: 'test' }]);

    const restoreOpts = { cluster: { hosts: cluster.hosts }, from: to, namespaceMap: new Map([['test', 'bar']]) };
    await expect(runRestore(restoreOpts)).rejects.toThrow(/is incomplete: no manifest\.json/);
    const forced = await runRestore({ ...restoreOpts, force: true });
    expect(forced.unverified).toBe(true);
    expect(forced.written).toBeGreaterThan(0);
    expect(forced.written).toBeLessThan(COUNT);
  });

  it('when an upload fails, aborts the other groups and writes no manifest', async () => {
    const to = `mem://${uniqueSetName('bk')}/failing`;
    const faulty = new FaultyStore(createStore(to));
    faulty.inject('write', { afterBytes: 200, error: new StorageError('IO', 'simulated upload failure') });
    const err = await runBackup(opts({ to, fileSizeBytes: 2048 }), { openStore: async () => faulty }).catch((e: unknown) => e);
    expect((err as Error).message).toBe('simulated upload failure');
    expect(await keys(faulty.inner)).not.toContain('manifest.json');
  });
});

describe('a corrupt data file', () => {
  it('is named by verify and stops restore', async () => {
    const to = join(tmp, 'to-corrupt');
    await runBackup(opts({ to, parallel: 2 }));
    const store = await openStore(to, 'write');
    const manifest = await readManifest(store, '');
    const victim = manifest.files[0]!.name;
    const chunks: Buffer[] = [];
    for await (const c of await store.read(victim)) chunks.push(c as Buffer);
    const bytes = Buffer.concat(chunks);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await store.write(victim, (async function* () {
      yield bytes;
    })());

    const report = await verifyBackup({ store, prefix: '' });
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.file)).toContain(victim);

    const err = await runRestore({ cluster: { hosts: cluster.hosts }, from: to, namespaceMap: new Map([['test', 'bar']]) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataFileError);
    expect((err as DataFileError).file).toBe(victim);
    expect((err as Error).message).toContain(victim);
  });
});

describe('what a backup holds', () => {
  it('covers only the partitions asked for, and reports progress with an ETA from the object counts', async () => {
    const to = `mem://${uniqueSetName('bk')}/half`;
    const progress: ProgressView[] = [];
    const summary = await runBackup(opts({ to, partitions: [{ first: 0, last: 2047 }], recordsPerSecond: 600 }), { onProgress: (v) => progress.push(v) });
    const manifest = await readManifest(await openStore(to, 'read'), '');
    expect(manifest.filters.partitions).toEqual([{ first: 0, last: 2047 }]);
    for (const f of manifest.files) expect(f.partitions).toEqual(expect.anything());
    const expected = [...Array(COUNT).keys()].filter((i) => partitionId(record('test', set, `k${i}`, {}).digest) <= 2047).length;
    expect(summary.records).toBe(expected);
    // The estimate is the set's object count scaled to the partitions scanned.
    expect(Math.abs(progress.at(-1)!.totalRecords! - COUNT / 2)).toBeLessThanOrEqual(1);
    expect(progress.at(-1)).toMatchObject({ phase: 'backup', records: expected });
    expect(progress.some((v) => v.etaSeconds !== undefined)).toBe(true);
  });
});
