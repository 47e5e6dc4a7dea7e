import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Cluster, parseHosts } from '../../src/aerospike/cluster.js';
import { ConnectionError } from '../../src/aerospike/errors.js';
import { UsageError } from '../../src/errors.js';
import { PartitionMap, parseReplicas } from '../../src/aerospike/partition-map.js';
import { parsePeers } from '../../src/aerospike/peers.js';
import { parseInfoReply } from '../../src/aerospike/wire/info.js';
import { ProtoType } from '../../src/aerospike/wire/proto.js';
import { loadCapture } from '../support/captures.js';
import { replicasBitmap, startFakeNode, type FakeNode } from './support/fake-node.js';

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function fake(opts: Parameters<typeof startFakeNode>[0]): Promise<FakeNode> {
  const node = await startFakeNode(opts);
  cleanup.push(() => node.close());
  return node;
}

async function connect(opts: Parameters<typeof Cluster.connect>[0]): Promise<Cluster> {
  const cluster = await Cluster.connect(opts);
  cleanup.push(() => cluster.close());
  return cluster;
}

describe('info value parsers', () => {
  it('reads the captured peers and replicas replies', () => {
    const replies = new Map<string, string>();
    for (const f of loadCapture('connect.jsonl')) {
      if (f.dir === 's2c' && f.type === ProtoType.INFO) for (const [k, v] of parseInfoReply(f.frame.subarray(8))) replies.set(k, v);
    }
    expect(parsePeers(replies.get('peers-clear-std')!)).toEqual({ generation: 0, peers: [] });
    const replicas = parseReplicas(replies.get('replicas')!);
    expect([...replicas.keys()]).toEqual(['test', 'bar']);
    const map = PartitionMap.build([['n1', replicas]]);
    expect(map.ownerOf('test', 0)).toBe('n1');
    expect(map.ownerOf('bar', 4095)).toBe('n1');
    expect(map.ownerOf('nope', 1)).toBeUndefined();
  });

  it('parses peers with default ports, explicit ports, IPv6 and TLS names', () => {
    expect(parsePeers('7,3100,[[A1,,[10.0.0.1:3000,10.0.0.2]],[B2,tls-b,[[::1]:4000]]]')).toEqual({
      generation: 7,
      peers: [
        { name: 'A1', tlsName: '', endpoints: [{ host: '10.0.0.1', port: 3000 }, { host: '10.0.0.2', port: 3100 }] },
        { name: 'B2', tlsName: 'tls-b', endpoints: [{ host: '::1', port: 4000 }] },
      ],
    });
    expect(() => parsePeers('1,3000,[[A')).toThrow(/peers-clear-std/);
  });

  it('lets the higher regime win a partition claimed twice', () => {
    const half = (p: number) => p < 2048;
    const a = parseReplicas(`test:3,1,${replicasBitmap(() => true)}`);
    const b = parseReplicas(`test:4,2,${replicasBitmap(half)},${replicasBitmap(() => false)}`);
    const map = PartitionMap.build([
      ['a', a],
      ['b', b],
    ]);
    expect(map.ownerOf('test', 0)).toBe('b');
    expect(map.ownerOf('test', 3000)).toBe('a');
  });

  it('parses host lists', () => {
    expect(parseHosts('a, b:3100,[::1]:3200')).toEqual([
      { host: 'a', port: 3000 },
      { host: 'b', port: 3100 },
      { host: '::1', port: 3200 },
    ]);
  });
});

describe('Cluster', () => {
  it('connects to one node and loads its partition map', async () => {
    const n = await fake({ name: 'N1', namespaces: ['test', 'bar'] });
    const cluster = await connect({ hosts: n.address });
    expect(cluster.nodes.map((x) => [x.name, x.host, x.port])).toEqual([['N1', '127.0.0.1', n.port]]);
    expect(cluster.namespaces()).toEqual(['test', 'bar']);
    expect(cluster.ownerOf('test', 123)).toBe(cluster.nodes[0]);
    expect((await cluster.info(['build'])).get('build')).toBe('8.1.2.0');
    const all = await cluster.infoAll(['node']);
    expect([...all.values()].map((m) => m.get('node'))).toEqual(['N1']);
  });

  it('discovers peers from one seed and splits partitions between masters', async () => {
    let b: FakeNode | undefined;
    const a = await fake({ name: 'A', owns: (p) => p % 2 === 0, peers: () => `1,3000,[[B,,[${b!.address}]]]` });
    b = await fake({ name: 'B', owns: (p) => p % 2 === 1, peers: () => `1,3000,[[A,,[${a.address}]]]` });
    const cluster = await connect({ hosts: [{ host: a.host, port: a.port }] });
    expect(cluster.nodes.map((n) => n.name).sort()).toEqual(['A', 'B']);
    expect(cluster.ownerOf('test', 10)!.name).toBe('A');
    expect(cluster.ownerOf('test', 11)!.name).toBe('B');
  });

  it('dials announced peer addresses through mapAddress', async () => {
    const b = await fake({ name: 'B', owns: () => false });
    const a = await fake({ name: 'A', peers: () => '1,3000,[[B,,[10.99.99.99:3000]]]' });
    const cluster = await connect({ hosts: a.address, mapAddress: () => ({ host: b.host, port: b.port }) });
    expect(cluster.nodes.map((n) => `${n.name}@${n.port}`).sort()).toEqual([`A@${a.port}`, `B@${b.port}`]);
  });

  it('refreshes the map when the partition generation changes', async () => {
    let generation = 1;
    let owns = (p: number) => p < 100;
    const n = await fake({ name: 'N', owns: (p) => owns(p), partitionGeneration: () => generation });
    const cluster = await connect({ hosts: n.address, tendIntervalMs: 20 });
    expect(cluster.ownerOf('test', 200)).toBeUndefined();
    owns = () => true;
    await cluster.refresh();
    expect(cluster.ownerOf('test', 200)).toBeUndefined(); // same generation: not fetched again
    generation = 2;
    await expect.poll(() => cluster.ownerOf('test', 200)?.name, { timeout: 2000 }).toBe('N');
  });

  it('fails fast with a ConnectionError naming host:port when nothing listens', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    await new Promise<void>((r) => server.close(() => r()));
    const started = Date.now();
    const err = await Cluster.connect({ hosts: `127.0.0.1:${port}` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).message).toContain(`127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('times out a host that accepts but never answers', async () => {
    const sockets: net.Socket[] = [];
    const server = net.createServer((s) => void sockets.push(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => new Promise((r) => (sockets.forEach((s) => s.destroy()), server.close(() => r()))));
    const port = (server.address() as net.AddressInfo).port;
    const err = await Cluster.connect({ hosts: `127.0.0.1:${port}`, infoTimeoutMs: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).code).toBe('TIMEOUT');
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('refuses incomplete credentials before connecting (security itself: security.test.ts)', async () => {
    await expect(Cluster.connect({ hosts: 'x', user: 'u' })).rejects.toBeInstanceOf(UsageError);
    await expect(Cluster.connect({ hosts: 'x', user: 'u', password: 'p', auth: 'EXTERNAL' })).rejects.toThrow(/without TLS/);
  });

  it('drops a dead peer and gives its partitions to the survivor', async () => {
    let b: FakeNode | undefined;
    let aOwnsAll = false;
    let aGen = 1;
    const a = await fake({
      name: 'A',
      owns: (p) => aOwnsAll || p % 2 === 0,
      partitionGeneration: () => aGen,
      peers: () => (aOwnsAll ? '2,3000,[]' : `1,3000,[[B,,[${b!.address}]]]`),
    });
    b = await fake({ name: 'B', owns: (p) => p % 2 === 1, peers: () => `1,3000,[[A,,[${a.address}]]]` });
    const cluster = await connect({ hosts: a.address, tendIntervalMs: 20, infoTimeoutMs: 200 });
    expect(cluster.nodes).toHaveLength(2);
    await b.close();
    aOwnsAll = true;
    aGen = 2;
    await expect.poll(() => cluster.nodes.map((n) => n.name), { timeout: 3000 }).toEqual(['A']);
    expect(cluster.ownerOf('test', 11)!.name).toBe('A');
  });
});
