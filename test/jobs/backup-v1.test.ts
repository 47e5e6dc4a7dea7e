/**
 * A backup written by an aerobak of manifest format version 1 (test/fixtures/backup-v1,
 * see its README) stays readable: its manifest reads as it did, verify passes it, and a
 * restore gives back exactly the golden records it holds, every particle type.
 *
 * The records are compared with the golden records as the server under test stores them
 * (written to `test` as a reference): a server computes a GeoJSON value's cells itself.
 */
import { fileURLToPath } from 'node:url';
import Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { readManifest } from '../../src/jobs/manifest.js';
import { runRestore } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, type TestCluster } from '../support/aerospike.js';
import { connectWire, expectSameRecords, goldenRecords, scanSets, truncateSets, writeRaw } from './support.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/backup-v1/', import.meta.url));
/** The set the fixture's records are in (fixed: it is in the digests). */
const SET = 'v1fixture';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  // A shared cluster may hold them from an earlier, interrupted run.
  for (const ns of ['test', 'bar']) await truncateSets(client, ns, [SET]);
});

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) await truncateSets(client, ns, [SET]);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
});

describe('a format version 1 backup', () => {
  it('has a version 1 manifest, which reads as it is', async () => {
    const manifest = await readManifest(await openStore(FIXTURE, 'read'), '');
    expect(manifest.formatVersion).toBe(1);
    expect(manifest).not.toHaveProperty('requires');
    expect(manifest.compression).toBe('gzip');
    expect(manifest.records).toBe(goldenRecords('test', SET).length);
  });

  it('verifies', async () => {
    const report = await verifyBackup({ store: await openStore(FIXTURE, 'read'), prefix: '' });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.records).toBe(goldenRecords('test', SET).length);
  });

  it('restores to exactly the records it was made of', async () => {
    const summary = await runRestore({ cluster: { hosts: cluster.hosts }, from: FIXTURE, namespaceMap: new Map([['test', 'bar']]) });
    expect(summary.unverified).toBe(false);
    expect(summary.read).toBe(goldenRecords('test', SET).length);
    await writeRaw(wire, goldenRecords('test', SET));
    expectSameRecords(await scanSets(wire, 'test', [SET]), await scanSets(wire, 'bar', [SET]));
  });
});
