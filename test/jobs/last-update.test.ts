/**
 * The last-update time in backups: with a bin list the scan carries it (server 8.1.2+)
 * and every record of the backup has it; without one it cannot be had (docs/data-plane.md)
 * and stays null. Records that hold none of the listed bins stay out of the backup, as
 * they do without the last-update op.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { allBuildsAtLeast } from '../../src/aerospike/metadata.js';
import { runBackup } from '../../src/jobs/backup.js';
import { runRestore } from '../../src/jobs/restore.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { backupRecords, connectWire, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('lut');
let writtenFrom: bigint;
let writtenTo: bigint;

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-lut-'));
  // Server clocks have millisecond resolution for the last-update time; a second of slack.
  writtenFrom = BigInt(Date.now() - 1000) * 1_000_000n;
  await writeRaw(wire, [
    ...Array.from({ length: 50 }, (_, i) => record('test', set, `both${i}`, { a: i, b: `b${i}` })),
    ...Array.from({ length: 10 }, (_, i) => record('test', set, `bonly${i}`, { b: `only b ${i}` })),
  ]);
  writtenTo = BigInt(Date.now() + 1000) * 1_000_000n;
});

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: [set] }));

const records = async (dir: string): Promise<RawRecord[]> => (await backupRecords(dir)).map((r) => r.record);

const backup = (to: string, bins?: string[]) =>
  runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to, noUdfs: true, noIndexes: true, ...(bins ? { bins } : {}) });

describe('the last-update time of backed-up records', () => {
  it('is in every record of a backup with a bin list (server 8.1.2+), within the time the records were written', async () => {
    // Older servers take no projection op in a scan: the time is then left out (null).
    const projection = await allBuildsAtLeast(wire, '8.1.2.0');
    const dir = join(tmp, 'with-bins');
    const summary = await backup(dir, ['a']);
    const got = await records(dir);
    // The ten records without bin a stay out, as a scan of bin a leaves them out.
    expect(summary.records).toBe(50);
    expect(got).toHaveLength(50);
    for (const r of got) {
      expect(r.bins.map((b) => b.name)).toEqual(['a']);
      if (!projection) {
        expect(r.lastUpdateTime).toBeUndefined();
        continue;
      }
      expect(r.lastUpdateTime, `record ${r.digest.toString('hex')}`).toBeTypeOf('bigint');
      expect(r.lastUpdateTime! >= writtenFrom && r.lastUpdateTime! <= writtenTo).toBe(true);
    }
    // And the backup restores as any other.
    await truncateSets(client, 'bar', [set]);
    const restored = await runRestore({ cluster: { hosts: cluster.hosts }, from: dir, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, noIndexes: true });
    expect(restored.written).toBe(50);
    expect((await scanSets(wire, 'bar', [set])).size).toBe(50);
  });

  it('is null without a bin list, which a scan cannot combine with it', async () => {
    const dir = join(tmp, 'all-bins');
    const summary = await backup(dir);
    expect(summary.records).toBe(60);
    for (const r of await records(dir)) expect(r.lastUpdateTime).toBeUndefined();
  });
});
