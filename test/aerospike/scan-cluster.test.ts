/**
 * ScanReader against the cluster of test/support/aerospike.ts: several nodes, several
 * sets, connections cut mid-scan (through TCP proxies, so this also runs against a real
 * cluster), node failures via the test server's fault controls, and bounded buffering
 * with a stalled consumer.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchWriter } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import { formatEndpoint } from '../../src/aerospike/connection.js';
import { ScanReader, type ScanOptions } from '../../src/aerospike/scan-reader.js';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { connectClient, realClusterHosts, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

/** Two nodes when the test server runs; a real cluster has what it has. */
let testCluster: TestCluster;
let cluster: Cluster;
const sets: string[] = [];

beforeAll(async () => {
  testCluster = await startCluster({ nodes: 2 });
  cluster = await Cluster.connect({ hosts: testCluster.hosts });
});

afterAll(async () => {
  if (!testCluster?.isTestServer && sets.length > 0) {
    const client = await connectClient(testCluster);
    for (const set of sets) await client.truncate('test', set, 0).catch(() => undefined);
    await client.close();
  }
  await cluster?.close();
  await testCluster?.stop();
});

/** Writes `count` records of about `valueBytes` each into a new set; returns the set and the records. */
async function seed(count: number, valueBytes: number, prefix = 'sc'): Promise<{ set: string; records: RawRecord[] }> {
  const set = uniqueSetName(prefix);
  sets.push(set);
  const records = Array.from({ length: count }, (_, i): RawRecord => {
    const userKey = keyFromValue(i);
    return { namespace: 'test', set, digest: computeDigest(set, userKey), userKey, generation: 1, voidTime: 0, bins: [{ name: 'v', type: ParticleType.BLOB, value: randomBytes(valueBytes) }] };
  });
  const failed: number[] = [];
  await pipeline(Readable.from(records), new BatchWriter(cluster, { onResult: (r) => r.outcome !== 'written' && failed.push(r.resultCode) }));
  expect(failed).toEqual([]);
  return { set, records };
}

async function scanAll(c: Cluster, opts: ScanOptions): Promise<{ reader: ScanReader; records: RawRecord[] }> {
  const reader = new ScanReader(c, opts);
  const records: RawRecord[] = [];
  for await (const r of reader) records.push(r as RawRecord);
  return { reader, records };
}

/** Every record exactly once, with its bytes. */
function expectSame(got: RawRecord[], want: RawRecord[]): void {
  const key = (r: RawRecord) => `${r.digest.toString('hex')}:${r.bins[0]!.value.toString('hex')}`;
  expect(got.length).toBe(want.length);
  expect(got.map(key).sort()).toEqual(want.map(key).sort());
}

/**
 * A cluster view whose every connection goes through a TCP proxy per node (seeds and
 * peers alike), so connections can be cut on a test server or a real cluster.
 */
async function proxiedCluster(): Promise<{ cluster: Cluster; proxies: TcpProxy[]; close(): Promise<void> }> {
  const proxies = await Promise.all(cluster.nodes.map((n) => startTcpProxy({ host: n.host, port: n.port })));
  const byAddress = new Map(cluster.nodes.map((n, i) => [n.address, proxies[i]!]));
  const c = await Cluster.connect({
    hosts: proxies.map((p) => ({ host: p.host, port: p.port })),
    mapAddress: (e) => {
      const p = byAddress.get(formatEndpoint(e));
      return p ? { host: p.host, port: p.port } : e;
    },
  });
  return {
    cluster: c,
    proxies,
    close: async () => {
      await c.close();
      await Promise.all(proxies.map((p) => p.close()));
    },
  };
}

describe('ScanReader on a cluster', () => {
  it('reads a namespace split over several nodes exactly once', async () => {
    const { set, records } = await seed(2000, 50);
    if (testCluster.isTestServer) {
      expect(cluster.nodes).toHaveLength(2);
      for (const [i, node] of testCluster.server!.nodes.entries()) {
        const mine = (await node.status()).partitions;
        expect(mine.every((p) => cluster.ownerOf('test', p)!.name === cluster.nodes.find((n) => n.port === testCluster.server!.nodes[i]!.port)!.name)).toBe(true);
      }
    }
    const owners = new Set(Array.from({ length: 4096 }, (_, p) => cluster.ownerOf('test', p)!.name));
    expect(owners.size).toBe(cluster.nodes.length);
    const { records: got, reader } = await scanAll(cluster, { namespace: 'test', sets: [set] });
    expectSame(got, records);
    expect(reader.donePartitions()).toHaveLength(4096);
  });

  it('scans several sets in one pass, and only those', async () => {
    const a = await seed(30, 10, 'ma');
    const b = await seed(20, 10, 'mb');
    await seed(10, 10, 'mc');
    const { records } = await scanAll(cluster, { namespace: 'test', sets: [a.set, b.set] });
    expectSame(records, [...a.records, ...b.records]);
  });

  it('resumes after a connection is cut mid-scan: nothing lost, nothing twice', async () => {
    const { set, records } = await seed(3000, 300);
    const proxied = await proxiedCluster();
    try {
      const cut = proxied.proxies[0]!.cutAfterServerBytes(150_000);
      const reader = new ScanReader(proxied.cluster, { namespace: 'test', sets: [set], highWaterMark: 20 });
      const got: RawRecord[] = [];
      for await (const r of reader) got.push(r as RawRecord);
      await cut;
      expect(proxied.proxies[0]!.cutConnections).toBe(1);
      expect(reader.stats.retries).toBeGreaterThanOrEqual(1);
      expectSame(got, records);
    } finally {
      await proxied.close();
    }
  });

  // Needs the test server's fault controls (kill a node, move its partitions): skipped against a real cluster.
  it.skipIf(realClusterHosts() !== undefined)('resumes on the new master when a node dies mid-scan', async () => {
    const server = testCluster.server!;
    const { set, records } = await seed(2000, 100);
    const victim = server.nodes[1]!;
    // Paced at 2000 records/s (1000 per node, field 10), the victim is far from done when it dies.
    const reader = new ScanReader(cluster, { namespace: 'test', sets: [set], highWaterMark: 10, recordsPerSecond: 2000 });
    const got: RawRecord[] = [];
    for await (const r of reader) {
      got.push(r as RawRecord);
      if (got.length === 100) {
        const partitions = (await victim.status()).partitions;
        await victim.kill();
        await server.movePartitions(partitions, 0);
      }
    }
    await victim.restart();
    expect(reader.stats.retries).toBeGreaterThanOrEqual(1);
    expectSame(got, records);
  });

  it('keeps buffering bounded while the consumer is stalled', async () => {
    const { set, records } = await seed(3000, 2000);
    const reader = new ScanReader(cluster, { namespace: 'test', sets: [set], highWaterMark: 50 });
    let consumed = 0;
    reader.on('data', () => {
      if (++consumed === 200) reader.pause();
    });
    await expect.poll(() => consumed, { timeout: 20_000 }).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    const state = reader.bufferState();
    expect(state.records).toBeLessThanOrEqual(50);
    // Every running node scan has stopped reading its socket.
    expect(state.pausedSockets).toBe(state.scans);
    // Per node scan: the frame being decoded, one queued frame (the server's frames are at
    // most 1 MiB plus a record) and one socket read.
    const maxFrame = 1024 * 1024 + 2100;
    expect(state.bytes).toBeLessThanOrEqual(state.scans * (2 * maxFrame + 64 * 1024));
    expect(reader.stats.records).toBeLessThan(records.length);
    reader.resume();
    await new Promise((r) => reader.on('end', r));
    expect(consumed).toBe(records.length);
  });
});
