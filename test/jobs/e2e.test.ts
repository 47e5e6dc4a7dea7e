/**
 * The product end to end: records of every particle type in several sets of `test`,
 * with secondary indexes (one on a list element, through a context) and a UDF module;
 * backed up to a local directory and to a memory store; restored into `bar` through a
 * namespace map; then every record of `bar` is compared with the original at the wire
 * level (set, key, bins as particle type + bytes, void time), and the indexes and the
 * UDF are checked on the cluster.
 *
 * Runs against the project's test server (two nodes, so scans and batches are routed),
 * or a real cluster when AEROSPIKE_HOSTS is set (namespaces test and bar); sets, index
 * names and the UDF file name are unique per run and removed afterwards.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Aerospike from 'aerospike';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { listIndexes, listUdfs } from '../../src/aerospike/metadata.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { CdtMap, Float, GeoJsonValue, type MsgValue, type PackValue } from '../../src/aerospike/wire/msgpack.js';
import type { EncodableValue } from '../../src/aerospike/wire/values.js';
import { runBackup } from '../../src/jobs/backup.js';
import { runRestore } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { clNow, connectWire, expectSameRecords, goldenRecords, record, scanSets, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;

const golden = uniqueSetName('golden');
const typed = uniqueSetName('typed');
const third = uniqueSetName('third');
const sets = [golden, typed, third];
const udfFile = `${uniqueSetName('udf')}.lua`;
const indexNames = { int: `${typed}_i`, str: `${typed}_s`, ctx: `${typed}_ctx`, mapkeys: `${third}_mk` };
const restoreOpts = () => ({ cluster: { hosts: cluster.hosts }, namespaceMap: new Map([['test', 'bar']]) });

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2 });
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-e2e-'));

  // Exact server bytes of every particle type, written as they are.
  await writeRaw(wire, goldenRecords('test', golden));
  // Types the official client writes losslessly, with each kind of key and TTLs.
  const send = { key: Aerospike.policy.key.SEND };
  const k = (key: string | number | Buffer, set = typed) => new Aerospike.Key('test', set, key);
  await client.put(k('s1'), { i: 7, s: 'alpha', d: 2.5, b: Buffer.from([0, 1, 255]), t: true, l: [10, 'x', [1, 2]], m: { b: 2, a: 'one' } }, {}, send);
  await client.put(k(42), { i: -1, s: 'héllo 🚀', l: [3] }, { ttl: 3600 }, send);
  await client.put(k(Buffer.from('deadbeef', 'hex')), { i: 2 ** 40, s: '' }, { ttl: -1 }, send);
  await client.put(k('no-key'), { i: 0, s: 'digest only' }, {}, { key: Aerospike.policy.key.DIGEST });
  // Values the client cannot write faithfully, in a third set, written raw. A real server
  // refuses a key-ordered map whose keys are out of order, so this one is in order.
  const now = clNow();
  await writeRaw(wire, [
    record('test', third, 'one', { one: new Float(1), neg0: new Float(-0), tags: new CdtMap([['z', 1], ['a', 2]], 0) }),
    record('test', third, 2, { where: new GeoJsonValue('{"type":"Point","coordinates":[2.35,48.85]}'), tags: new CdtMap([[1, 'a'], [3, 'c']], 1) }, { voidTime: now + 7200 }),
  ]);

  const context = new Aerospike.cdt.Context().addListIndex(0);
  for (const job of [
    await client.createIndex({ ns: 'test', set: typed, bin: 'i', index: indexNames.int, datatype: Aerospike.indexDataType.NUMERIC }),
    await client.createIndex({ ns: 'test', set: typed, bin: 's', index: indexNames.str, datatype: Aerospike.indexDataType.STRING }),
    await client.createIndex({ ns: 'test', set: typed, bin: 'l', index: indexNames.ctx, datatype: Aerospike.indexDataType.NUMERIC, context }),
    await client.createIndex({ ns: 'test', set: third, bin: 'tags', index: indexNames.mapkeys, type: Aerospike.indexType.MAPKEYS, datatype: Aerospike.indexDataType.STRING }),
  ]) {
    await job.wait(50);
  }
  const lua = join(tmp, udfFile);
  await writeFile(lua, 'function touch(rec)\n  aerospike:update(rec)\n  return 1\nend\n');
  await (await client.udfRegister(lua)).wait(50);
});

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) {
      await truncateSets(client, ns, sets);
      for (const name of Object.values(indexNames)) await client.indexRemove(ns, name).catch(() => undefined);
    }
    await client.udfRemove(udfFile).catch(() => undefined);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function expectIndexesRestored(): Promise<void> {
  const original = (await listIndexes(wire, 'test')).filter((i) => Object.values(indexNames).includes(i.name));
  const restored = (await listIndexes(wire, 'bar')).filter((i) => Object.values(indexNames).includes(i.name));
  expect(original).toHaveLength(4);
  expect(original.find((i) => i.name === indexNames.ctx)?.context).toBe(Buffer.from([0x92, 0x10, 0x00]).toString('base64'));
  expect(restored.map((i) => ({ ...i, namespace: 'test' })).sort((a, b) => a.name.localeCompare(b.name))).toEqual(
    original.sort((a, b) => a.name.localeCompare(b.name)),
  );
}

describe('backup and restore of every particle type, indexes and UDFs', () => {
  it('round-trips through a local directory into another namespace', async () => {
    const original = await scanSets(wire, 'test', sets);
    expect(original.size).toBe(21 + 4 + 2);

    const location = join(tmp, 'local-backup');
    const backup = await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets, to: location, parallel: 3 });
    expect(backup).toMatchObject({ namespace: 'test', records: original.size, indexes: 4 });
    expect(backup.udfs).toBeGreaterThanOrEqual(1);
    const report = await verifyBackup({ store: await openStore(location, 'read'), prefix: '' });
    expect(report.problems).toEqual([]);

    // The UDF must come back from the backup, not survive on the cluster.
    await client.udfRemove(udfFile);
    const summary = await runRestore({ ...restoreOpts(), from: location });
    expect(summary).toMatchObject({ read: original.size, written: original.size, fresher: 0, failed: {}, indexes: { created: 4, existing: 0 } });
    expect(summary.udfs.written).toBeGreaterThanOrEqual(1);

    const restored = await scanSets(wire, 'bar', sets);
    for (const r of restored.values()) expect(r.namespace).toBe('bar');
    expectSameRecords(original, restored);
    await expectIndexesRestored();
    expect((await listUdfs(wire)).map((u) => u.filename)).toContain(udfFile);
  });

  it('round-trips through an object store (memory); restoring again keeps the indexes it finds', async () => {
    const original = await scanSets(wire, 'test', sets);
    const location = `mem://${uniqueSetName('e2e')}/backups/one`;
    const backup = await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets, to: location, fileSizeBytes: 4096 });
    expect(backup.files).toBeGreaterThan(1);
    await truncateSets(client, 'bar', sets);

    const first = await runRestore({ ...restoreOpts(), from: location });
    expect(first).toMatchObject({ read: original.size, written: original.size, failed: {} });
    expect(first.indexes.created + first.indexes.existing).toBe(4);
    expectSameRecords(original, await scanSets(wire, 'bar', sets));
    await expectIndexesRestored();

    const again = await runRestore({ ...restoreOpts(), from: location, mode: 'replace' });
    expect(again).toMatchObject({ written: original.size, indexes: { created: 0, existing: 4 }, udfs: { written: 0 } });
    expectSameRecords(original, await scanSets(wire, 'bar', sets));
  });
});

/** Bin values of every kind the codec builds, nested lists and maps included. */
const scalar: fc.Arbitrary<PackValue> = fc.oneof(
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: false }).map((d) => new Float(d)),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)),
  fc.boolean(),
);
const nested = fc.letrec<{ value: PackValue; list: PackValue[]; map: CdtMap }>((tie) => ({
  value: fc.oneof({ depthSize: 'small' }, scalar, tie('list'), tie('map')),
  list: fc.array(tie('value'), { maxLength: 4 }),
  map: fc
    .uniqueArray(fc.tuple(fc.string({ maxLength: 8 }), tie('value')), { maxLength: 4, selector: ([k]) => k })
    .chain((entries) =>
      fc.constantFrom(0, 1, 3).map((order) => {
        // A real server refuses an ordered map whose keys are out of order (by UTF-8 bytes).
        const sorted = order === 0 ? entries : [...entries].sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        return new CdtMap(sorted as [MsgValue, MsgValue][], order);
      }),
    ),
}));
const binName = fc.stringMatching(/^[a-z][a-z0-9_]{0,14}$/);
const bins = fc.uniqueArray(fc.tuple(binName, fc.oneof(scalar, nested.list, nested.map) as fc.Arbitrary<EncodableValue>), {
  minLength: 1,
  maxLength: 6,
  selector: ([n]) => n,
});

describe('property: any records survive backup and restore byte for byte', () => {
  const set = uniqueSetName('prop');
  afterAll(async () => {
    if (client) for (const ns of ['test', 'bar']) await truncateSets(client, ns, [set]);
  });

  it('holds for random keys, bins and TTLs', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.integer()), bins, fc.option(fc.integer({ min: 60, max: 10 ** 8 }), { nil: undefined })), {
          minLength: 1,
          maxLength: 12,
        }),
        async (specs) => {
          run++;
          const now = clNow();
          const records = new Map<string, RawRecord>();
          for (const [key, binList, ttl] of specs) {
            // Keys are unique per run: the set accumulates runs, and all of them must round-trip.
            const r = record('test', set, typeof key === 'string' ? `${run}/${key}` : key * 1000 + run, Object.fromEntries(binList), {
              voidTime: ttl === undefined ? 0 : now + ttl,
            });
            records.set(r.digest.toString('hex'), r);
          }
          await writeRaw(wire, [...records.values()]);
          const location = `mem://${set}/run-${run}`;
          await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to: location, noUdfs: true, parallel: 2 });
          await runRestore({ ...restoreOpts(), from: location, mode: 'replace' });
          expectSameRecords(await scanSets(wire, 'test', [set]), await scanSets(wire, 'bar', [set]));
        },
      ),
      { numRuns: 8 },
    );
  });
});
