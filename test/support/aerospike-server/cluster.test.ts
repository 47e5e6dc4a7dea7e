/**
 * Test-server cluster mode and fault controls, driven with the official client (which
 * must discover the nodes, route by partition and survive the faults) and the raw wire
 * client (which shows what each node answers); plus scan backpressure and throughput.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Aerospike from 'aerospike';
import { computeDigest, keyFromValue, partitionId } from '../../../src/aerospike/wire/digest.js';
import { FieldType, Info1, Info3, encodeMessageFrame, field } from '../../../src/aerospike/wire/message.js';
import { FrameParser } from '../../../src/aerospike/wire/proto.js';
import { connect, type Socket } from 'node:net';
import { connectClient, type TestCluster } from '../aerospike.js';
import { startTestServer, type TestServerHandle } from './index.js';
import { WireClient, recordMessages, scanFrame } from './wire-client.js';

function asCluster(server: TestServerHandle): TestCluster {
  return { hosts: server.hosts, seeds: server.seeds, isTestServer: true, server, stop: () => server.stop() };
}

async function eventually(check: () => Promise<boolean>, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}

const pidOf = (set: string, k: string) => partitionId(computeDigest(set, keyFromValue(k)));

describe('a three-node cluster', () => {
  let server: TestServerHandle;
  let client: Aerospike.Client;

  beforeAll(async () => {
    server = await startTestServer({ nodes: 3 });
    client = await connectClient(asCluster(server));
    await eventually(async () => client.getNodes().length === 3);
  });

  afterAll(async () => {
    await client?.close();
    await server?.stop();
  });

  it('splits the partitions and tells each node about its peers', async () => {
    const statuses = await Promise.all(server.nodes.map((n) => n.status()));
    expect(statuses.map((s) => s.partitions.length)).toEqual([1366, 1365, 1365]);
    expect(new Set(statuses.flatMap((s) => s.partitions)).size).toBe(4096);
    const wire = await WireClient.connect(server.nodes[1]!.host, server.nodes[1]!.port);
    try {
      const info = await wire.info(['peers-clear-std', 'replicas']);
      expect(info.get('peers-clear-std')).toBe(`0,3000,[[${server.nodes[0]!.name},,[${server.nodes[0]!.address}]],[${server.nodes[2]!.name},,[${server.nodes[2]!.address}]]]`);
      const bitmap = Buffer.from(info.get('replicas')!.split(';')[0]!.split(',')[2]!, 'base64');
      const owned = [...Array(4096).keys()].filter((p) => bitmap[p >> 3]! & (0x80 >> (p & 7)));
      expect(owned).toEqual(statuses[1]!.partitions);
    } finally {
      wire.close();
    }
  });

  it('lets the official client route every record to its owner and scan them all', async () => {
    for (let i = 0; i < 300; i++) await client.put(new Aerospike.Key('test', 'routed', `k${i}`), { i });
    const statuses = await Promise.all(server.nodes.map((n) => n.status()));
    expect(statuses.map((s) => s.proxied)).toEqual([0, 0, 0]);
    expect(await server.data.count('test', 'routed')).toBe(300);
    const scanned = await client.scan('test', 'routed').results();
    expect(scanned.map((r) => r.bins.i as number).sort((a, b) => a - b)).toEqual([...Array(300).keys()]);
    const batch = await client.batchRead([...Array(300).keys()].map((i) => ({ key: new Aerospike.Key('test', 'routed', `k${i}`), readAllBins: true })));
    expect(batch.every((r) => r.status === 0)).toBe(true);
  });

  it('serves a request sent to the wrong node through the owner, and scans answer partition-done 11', async () => {
    const pid = pidOf('routed', 'k0');
    const owner = await server.owner(pid);
    const other = server.nodes.find((n) => n.index !== owner)!;
    const wire = await WireClient.connect(other.host, other.port);
    try {
      const before = (await other.status()).proxied;
      const { messages } = await wire.stream(scanFrame({ namespace: 'test', set: 'routed', partitions: [pid] }));
      expect(messages.map((m) => [m.info3, m.resultCode, m.generation])).toEqual([
        [Info3.PARTITION_DONE, 11, pid],
        [Info3.LAST, 0, 0],
      ]);
      const get = await wire.call(
        encodeMessageFrame({
          info1: Info1.READ | Info1.GET_ALL,
          fields: [field(FieldType.NAMESPACE, 'test'), field(FieldType.SET, 'routed'), field(FieldType.DIGEST, computeDigest('routed', keyFromValue('k0')))],
        }),
      );
      expect(get[0]!.resultCode).toBe(0);
      expect((await other.status()).proxied).toBe(before + 1);
    } finally {
      wire.close();
    }
  });

  it('moves partitions: bumps partition-generation, the client follows, scans stay complete', async () => {
    const from = server.nodes[2]!;
    const before = await from.status();
    await server.movePartitions(before.partitions.slice(0, 500), 0);
    const after = await Promise.all(server.nodes.map((n) => n.status()));
    expect(after[2]!.partitions.length).toBe(before.partitions.length - 500);
    expect(after[2]!.partitionGeneration).toBe(before.partitionGeneration + 1);
    expect(after[0]!.partitionGeneration).toBeGreaterThan(0);
    expect(after[1]!.partitionGeneration).toBe(0);
    // Until the client re-reads the partition map, the old owner refuses the moved partitions...
    const wire = await WireClient.connect(from.host, from.port);
    try {
      const { messages } = await wire.stream(scanFrame({ namespace: 'test', set: 'routed', partitions: [before.partitions[0]!] }));
      expect(messages[0]).toMatchObject({ info3: Info3.PARTITION_DONE, resultCode: 11 });
    } finally {
      wire.close();
    }
    // ...and once it has (partition-generation changed), its scans are complete again.
    await eventually(async () => {
      try {
        return (await client.scan('test', 'routed').results()).length === 300;
      } catch {
        return false;
      }
    });
    // Once the client has re-read the partition map, nothing is proxied any more.
    await new Promise((r) => setTimeout(r, 1500));
    const proxied = (await Promise.all(server.nodes.map((n) => n.status()))).map((s) => s.proxied);
    for (let i = 0; i < 300; i++) await client.get(new Aerospike.Key('test', 'routed', `k${i}`));
    expect((await Promise.all(server.nodes.map((n) => n.status()))).map((s) => s.proxied)).toEqual(proxied);
  });

  it('makes a partition unavailable: 11 for single records, partition-done 11 for scans', async () => {
    const pid = pidOf('routed', 'k1');
    await server.setPartitionsAvailable([pid], false);
    try {
      await expect(client.get(new Aerospike.Key('test', 'routed', 'k1'), new Aerospike.ReadPolicy({ maxRetries: 0 }))).rejects.toMatchObject({ code: 11 });
      const owner = server.nodes[await server.owner(pid)]!;
      const wire = await WireClient.connect(owner.host, owner.port);
      try {
        const { messages } = await wire.stream(scanFrame({ namespace: 'test', set: 'routed', partitions: [pid] }));
        expect(messages[0]).toMatchObject({ info3: Info3.PARTITION_DONE, resultCode: 11, generation: pid });
      } finally {
        wire.close();
      }
    } finally {
      await server.setPartitionsAvailable([pid], true);
    }
    expect((await client.get(new Aerospike.Key('test', 'routed', 'k1'))).bins).toEqual({ i: 1 });
  });

  it('pauses a node: its requests wait, then complete on resume', async () => {
    const key = new Aerospike.Key('test', 'routed', 'k2');
    const node = server.nodes[await server.owner(pidOf('routed', 'k2'))]!;
    await node.pause();
    await expect(client.get(key, new Aerospike.ReadPolicy({ totalTimeout: 300, socketTimeout: 300, maxRetries: 0 }))).rejects.toMatchObject({ code: 9 });
    const pending = client.get(key, new Aerospike.ReadPolicy({ totalTimeout: 5000, socketTimeout: 5000 }));
    await new Promise((r) => setTimeout(r, 200));
    await node.resume();
    expect((await pending).bins).toEqual({ i: 2 });
  });

  it('drops every connection of a node and keeps serving new ones', async () => {
    const node = server.nodes[0]!;
    await eventually(async () => (await node.status()).connections > 0);
    await node.dropConnections();
    expect((await node.status()).state).toBe('running');
    const keys = [...Array(30).keys()].map((i) => new Aerospike.Key('test', 'routed', `k${i}`));
    for (const key of keys) expect((await client.get(key)).bins).toHaveProperty('i');
  });

  it('kills a node, moves its partitions away, and restarts it', async () => {
    const victim = server.nodes[1]!;
    const owned = (await victim.status()).partitions;
    const key = [...Array(300).keys()].map((i) => `k${i}`).find((k) => owned.includes(pidOf('routed', k)))!;
    await victim.kill();
    expect((await victim.status()).state).toBe('killed');
    const peers = await WireClient.connect(server.nodes[0]!.host, server.nodes[0]!.port);
    try {
      expect((await peers.info(['peers-clear-std'])).get('peers-clear-std')).not.toContain(victim.name);
    } finally {
      peers.close();
    }
    await expect(client.get(new Aerospike.Key('test', 'routed', key), new Aerospike.ReadPolicy({ totalTimeout: 500, maxRetries: 0 }))).rejects.toBeDefined();
    await server.movePartitions(owned, 2);
    await eventually(async () => {
      try {
        return (await client.get(new Aerospike.Key('test', 'routed', key))).bins.i !== undefined;
      } catch {
        return false;
      }
    });
    await victim.restart();
    expect((await victim.status()).state).toBe('running');
    await eventually(async () => client.getNodes().length === 3);
  });
});

/**
 * Reads a scan reply from a raw socket, counting record messages by walking their
 * headers without decoding them, so the reader is never the bottleneck.
 */
function countScanReply(socket: Socket): Promise<{ records: number; frames: number }> {
  const parser = new FrameParser();
  let records = 0;
  let frames = 0;
  return new Promise((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of parser.push(chunk)) {
        frames++;
        const body = frame.body;
        let at = 0;
        while (at < body.length) {
          if (body[at + 3]! & Info3.LAST) return resolve({ records, frames });
          if (!(body[at + 3]! & Info3.PARTITION_DONE)) records++;
          const nFieldsAndOps = body.readUInt16BE(at + 18) + body.readUInt16BE(at + 20);
          at += 22;
          for (let i = 0; i < nFieldsAndOps; i++) at += 4 + body.readUInt32BE(at);
        }
      }
    });
    socket.resume();
  });
}

async function openSocket(host: string, port: number): Promise<Socket> {
  const socket = connect({ host, port });
  await new Promise((r) => socket.once('connect', r));
  return socket;
}

describe('scan backpressure and throughput', () => {
  let server: TestServerHandle;

  beforeAll(async () => {
    server = await startTestServer();
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('stops producing while the client does not read', async () => {
    await server.data.generate({ namespace: 'test', set: 'bp', count: 60_000, valueBytes: 1000 });
    const node = server.nodes[0]!;
    const socket = await openSocket(node.host, node.port);
    try {
      socket.pause();
      const start = (await node.status()).scannedRecords;
      socket.write(scanFrame({ namespace: 'test', set: 'bp' }));
      await new Promise((r) => setTimeout(r, 500));
      const whilePaused = (await node.status()).scannedRecords - start;
      expect(whilePaused).toBeGreaterThan(0);
      // ~60 MB of records: the socket buffers hold a few MB, the server waits for the rest.
      expect(whilePaused).toBeLessThan(30_000);
      expect((await countScanReply(socket)).records).toBe(60_000);
    } finally {
      socket.destroy();
      await server.data.clear('test');
    }
  });

  it('scans 100,000 records fast', async () => {
    await server.data.generate({ namespace: 'test', set: 'speed', count: 100_000, valueBytes: 100 });
    const node = server.nodes[0]!;
    const socket = await openSocket(node.host, node.port);
    try {
      const started = performance.now();
      socket.write(scanFrame({ namespace: 'test', set: 'speed' }));
      const { records, frames } = await countScanReply(socket);
      const clientMs = performance.now() - started;
      expect(records).toBe(100_000);
      const serverScan = (await node.status()).lastScan!;
      expect(serverScan.records).toBe(100_000);
      const rate = Math.round((100_000 / Math.max(1, serverScan.ms)) * 1000);
      console.log(
        `test server scan of 100,000 records (integer + 100-byte string bins, ~200-byte messages): ${serverScan.ms} ms from request to LAST = ` +
          `${rate.toLocaleString('en')} records/s; ` +
          `${frames} frames, ${Math.round(clientMs)} ms seen by the reader`,
      );
      // A regression guard with headroom for a loaded 2-core machine; an idle run does 400k-700k/s.
      expect(rate).toBeGreaterThan(50_000);
    } finally {
      socket.destroy();
    }
  });
});

describe('chaos controls', () => {
  it('announces the configured addresses (a proxy in front of each node) in service and peers lists', async () => {
    const server = await startTestServer({ nodes: 2, announce: ['127.0.0.1:41000', '127.0.0.1:41001'] });
    const wire = await WireClient.connect(server.nodes[0]!.host, server.nodes[0]!.port);
    try {
      const info = await wire.info(['service-clear-std', 'peers-clear-std', 'services']);
      expect(info.get('service-clear-std')).toBe('127.0.0.1:41000');
      expect(info.get('peers-clear-std')).toBe(`0,3000,[[${server.nodes[1]!.name},,[127.0.0.1:41001]]]`);
      expect(info.get('services')).toBe('127.0.0.1:41001');
    } finally {
      wire.close();
      await server.stop();
    }
  });

  it('answers the next N writes with an injected result code, then writes again', async () => {
    const server = await startTestServer({ nodes: 1 });
    const client = await connectClient(asCluster(server));
    try {
      await server.failWrites({ code: 22, count: 2 });
      const key = new Aerospike.Key('test', 'faults', 'k');
      for (let i = 0; i < 2; i++) await expect(client.put(key, { a: 1 })).rejects.toMatchObject({ code: 22 });
      await client.put(key, { a: 2 });
      expect((await client.get(key)).bins).toEqual({ a: 2 });
      expect(await server.injectedWriteFaults()).toBe(2);
      await server.failWrites({ code: 14, count: 5 });
      await server.clearWriteFaults();
      await client.put(key, { a: 3 });
      expect(await server.injectedWriteFaults()).toBe(2);
    } finally {
      await client.close();
      await server.stop();
    }
  });
});
