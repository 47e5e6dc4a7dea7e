/**
 * `backup --estimate` (src/jobs/estimate.ts): the sample's choice of partitions, and the
 * estimate against the real backup of the same data on the project's test server (or
 * AEROSPIKE_HOSTS): records and stored bytes within a sane factor, nothing written.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { PARTITION_COUNT } from '../../src/aerospike/types.js';
import { NamespaceNotFoundError } from '../../src/errors.js';
import { runBackup } from '../../src/jobs/backup.js';
import { MAX_SAMPLE_PARTITIONS, estimateBackup, samplePartitionCount, spreadSample } from '../../src/jobs/estimate.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, truncateSets, writeRaw } from './support.js';

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet'];
const RECORDS = 6000;

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('est');

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-estimate-'));
  await writeRaw(
    wire,
    Array.from({ length: RECORDS }, (_, i) =>
      record('test', set, i, {
        n: i,
        s: Array.from({ length: 4 + (i % 7) }, (_, j) => WORDS[(i * 7 + j) % WORDS.length]).join(' '),
        b: randomBytes(40 + (i % 60)),
      }),
    ),
  );
}, 120_000);

afterAll(async () => {
  if (client) {
    await truncateSets(client, 'test', [set]);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the sample', () => {
  it('spreads the sampled partitions evenly over the selection', () => {
    const all = Array.from({ length: PARTITION_COUNT }, (_, i) => i);
    expect(spreadSample(all, 4)).toEqual([512, 1536, 2560, 3584]);
    expect(spreadSample([10, 11, 12], 8)).toEqual([10, 11, 12]);
    expect(spreadSample(all, 0)).toEqual([]);
    const s = spreadSample(all, 256);
    expect(new Set(s).size).toBe(256);
    expect(s.every((id, i) => i === 0 || id - s[i - 1]! === 16)).toBe(true);
  });

  it('takes as many whole partitions as hold the target by the object count, 1 to 256', () => {
    // 4,096,000 objects: 1,000 a partition.
    expect(samplePartitionCount(10_000, 4_096_000, 4096)).toBe(10);
    expect(samplePartitionCount(10, 4_096_000_000, 4096)).toBe(1);
    expect(samplePartitionCount(10_000, 4096, 4096)).toBe(MAX_SAMPLE_PARTITIONS);
    expect(samplePartitionCount(10_000, 4096, 100)).toBe(100);
    expect(samplePartitionCount(10_000, 0, 4096)).toBe(16);
    expect(samplePartitionCount(10_000, 100, 0)).toBe(0);
  });
});

describe('estimateBackup', () => {
  it('is within a sane factor of the real backup, for zstd, gzip and none', async () => {
    for (const compress of ['zstd', 'gzip', 'none'] as const) {
      const e = await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], compress });
      const to = join(tmp, `real-${compress}`);
      const real = await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], compress, to });
      expect(real.records).toBe(RECORDS);
      expect(e.records / real.records).toBeGreaterThan(0.75);
      expect(e.records / real.records).toBeLessThan(1.33);
      expect(e.storedBytes / real.bytes).toBeGreaterThan(0.6);
      expect(e.storedBytes / real.bytes).toBeLessThan(1.6);
      expect(e.sample.records).toBeGreaterThan(0);
      expect(e.sample.partitions).toBe(MAX_SAMPLE_PARTITIONS);
      expect(e.sample.clusterObjects).toBe(RECORDS);
      expect(e.seconds).toBeGreaterThan(0);
      if (compress === 'none') expect(e.sample.compressionRatio).toBe(1);
      else expect(e.sample.compressionRatio).toBeGreaterThan(1.1);
      expect(e.avroBytes).toBeGreaterThanOrEqual(e.storedBytes * (compress === 'none' ? 1 : 1.1));
    }
  }, 120_000);

  it('aims at the sample size it is given, and scales by the partitions selected', async () => {
    const e = await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], sampleRecords: 60 });
    // ~1.46 records a partition: 42 partitions hold about 60.
    expect(e.sample.partitions).toBe(Math.ceil(60 / (RECORDS / PARTITION_COUNT)));
    expect(e.sample.target).toBe(60);
    expect(e.records).toBe(Math.round((e.sample.records * PARTITION_COUNT) / e.sample.partitions));

    const quarter = await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], partitions: [{ first: 0, last: 1023 }] });
    expect(quarter.partitions).toBe('0-1023');
    expect(quarter.sample.partitionsSelected).toBe(1024);
    expect(quarter.sample.partitionIds.every((id) => id <= 1023)).toBe(true);
    expect(quarter.records / (RECORDS / 4)).toBeGreaterThan(0.7);
    expect(quarter.records / (RECORDS / 4)).toBeLessThan(1.4);
  }, 60_000);

  it('adds the encryption overhead, and bounds the duration by a bandwidth', async () => {
    const plain = await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], compress: 'none' });
    const enc = await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], compress: 'none', encrypted: true });
    expect(enc.encrypted).toBe(true);
    expect(enc.records).toBe(plain.records);
    expect(enc.storedBytes).toBeGreaterThan(plain.storedBytes);
    expect(enc.sample.fileHeaderBytes.stored).toBeGreaterThan(plain.sample.fileHeaderBytes.stored);
    const slow = await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], bandwidthBytesPerSecond: 1000 });
    expect(slow.bandwidthBound).toBe(true);
    expect(slow.seconds).toBeCloseTo(slow.storedBytes / 1000, 3);
  }, 60_000);

  it('names a namespace that does not exist', async () => {
    await expect(estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'nope' })).rejects.toBeInstanceOf(NamespaceNotFoundError);
  });

  it('writes nothing anywhere (the real backup above wrote its own directory only)', async () => {
    const before = (await readdir(tmp)).sort();
    await estimateBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set] });
    expect((await readdir(tmp)).sort()).toEqual(before);
    const manifest = JSON.parse(await readFile(join(tmp, 'real-zstd', 'manifest.json'), 'utf8')) as { records: number };
    expect(manifest.records).toBe(RECORDS);
  });
});
