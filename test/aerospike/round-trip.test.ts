/**
 * Byte-for-byte round trip through the data plane, against the cluster of
 * test/support/aerospike.ts (the test server, or a real cluster with AEROSPIKE_HOSTS):
 *
 *   official client puts (every golden record) + BatchWriter puts (exact bytes the client
 *   cannot write) → `test`/<set> → ScanReader → BatchWriter → `bar`/<set> → ScanReader
 *
 * Both scans must give the same records: digests, sets, keys, particle types and value
 * bytes of every bin, and void times.
 */
import Aerospike from 'aerospike';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { citrusleafNow } from '../../src/aerospike/batch-request.js';
import { BatchWriter, type WriteResult } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { ParticleType, type RawBin, type RawRecord } from '../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { CdtList, CdtMap, MapOrder, pack } from '../../src/aerospike/wire/msgpack.js';
import { geoJsonText } from '../../src/aerospike/wire/values.js';
import { writeGoldenRecords } from '../conformance/golden.js';
import { loadGoldenSummary } from '../support/captures.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';

let testCluster: TestCluster;
let client: Aerospike.Client;
let cluster: Cluster;
const set = uniqueSetName('rt');

beforeAll(async () => {
  testCluster = await startCluster();
  client = await connectClient(testCluster);
  cluster = await Cluster.connect({ hosts: testCluster.hosts });
});

afterAll(async () => {
  for (const ns of ['test', 'bar']) await client?.truncate(ns, set, 0).catch(() => undefined);
  await cluster?.close();
  await client?.close();
  await testCluster?.stop();
});

function f64(v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b;
}

function i64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(v);
  return b;
}

/** Records the official client cannot write losslessly, as raw particles. */
function exactRecords(): RawRecord[] {
  const bins: RawBin[] = [
    { name: 'd_one', type: ParticleType.FLOAT, value: f64(1.0) },
    { name: 'd_negzero', type: ParticleType.FLOAT, value: f64(-0) },
    { name: 'd_nan', type: ParticleType.FLOAT, value: f64(NaN) },
    { name: 'd_inf', type: ParticleType.FLOAT, value: f64(Infinity) },
    { name: 'd_ninf', type: ParticleType.FLOAT, value: f64(-Infinity) },
    { name: 'i_min', type: ParticleType.INTEGER, value: i64(-(2n ** 63n)) },
    { name: 'i_max', type: ParticleType.INTEGER, value: i64(2n ** 63n - 1n) },
    { name: 'b_true', type: ParticleType.BOOL, value: Buffer.from([1]) },
    { name: 'blob', type: ParticleType.BLOB, value: Buffer.from([0, 0xff, 0x80]) },
    // A real server keeps even unordered maps sorted by key (and rejects an ordered list
    // that is not in order), so these values are written in the server's own form, as
    // every record a backup holds was read from a server.
    { name: 'm_unord', type: ParticleType.MAP, value: pack(new CdtMap([[1, 'a'], [2, 'b'], [3, 'c']])) },
    { name: 'm_intkeys', type: ParticleType.MAP, value: pack(new CdtMap([[1, 'a'], [2, 'b'], [3, 'c']], MapOrder.KEY_ORDERED)) },
    { name: 'm_kv_bytes', type: ParticleType.MAP, value: pack(new CdtMap([[Buffer.from([1]), 'x'], [Buffer.from([2]), 'y']], MapOrder.KEY_VALUE_ORDERED)) },
    {
      name: 'nested',
      type: ParticleType.LIST,
      value: pack([new CdtMap([['k', new CdtList([1, 2, 3], 1)]], MapOrder.KEY_ORDERED), [1.0, -0, 'z', Buffer.from([9])], new CdtMap([[7, [new CdtMap([])]]])]),
    },
    { name: 'l_ordered', type: ParticleType.LIST, value: pack(new CdtList([1, 2, 3], 1)) },
  ];
  const now = citrusleafNow();
  const keyed = (key: string | number | Buffer, voidTime: number, b: RawBin[]): RawRecord => {
    const userKey = keyFromValue(key);
    return { namespace: 'test', set, digest: computeDigest(set, userKey), userKey, generation: 1, voidTime, bins: b };
  };
  const noKey = keyed('exact-nokey', now + 7200, [{ name: 'v', type: ParticleType.STRING, value: Buffer.from('no key stored') }]);
  delete noKey.userKey;
  return [
    keyed('exact-types', 0, bins),
    keyed(-9007199254740993n as unknown as number, now + 100_000, bins.slice(0, 3)),
    keyed(Buffer.from([0xde, 0xad]), 0, bins.slice(9)),
    noKey,
  ];
}

async function scan(namespace: string): Promise<Map<string, RawRecord>> {
  const out = new Map<string, RawRecord>();
  for await (const r of new ScanReader(cluster, { namespace, sets: [set] })) {
    const rec = r as RawRecord;
    expect(out.has(rec.digest.toString('hex'))).toBe(false);
    out.set(rec.digest.toString('hex'), rec);
  }
  return out;
}

async function write(records: Iterable<RawRecord>, namespace?: string): Promise<WriteResult[]> {
  const results: WriteResult[] = [];
  await pipeline(Readable.from(records), new BatchWriter(cluster, { namespace, onResult: (r) => results.push(r) }));
  return results;
}

function binsOf(r: RawRecord): Array<[string, number, string]> {
  return r.bins.map((b) => [b.name, b.type, b.value.toString('hex')] as [string, number, string]).sort((a, b) => a[0].localeCompare(b[0]));
}

describe('round trip test → bar', () => {
  it('keeps every particle type, key and void time byte for byte', async () => {
    await writeGoldenRecords(client, set);
    const exact = exactRecords();
    const written = await write(exact);
    expect(written.map((r) => r.outcome)).toEqual(exact.map(() => 'written'));

    const source = await scan('test');
    const golden = loadGoldenSummary();
    expect(source.size).toBe(golden.record_count + exact.length);

    // What the official client stored reads back as the real server stored it (golden capture).
    for (const g of golden.records) {
      const digest = computeDigest(set, g.user_key ? { type: g.user_key.type, bytes: Buffer.from(g.user_key.hex, 'hex') } : keyFromValue('k-nosend'));
      const r = source.get(digest.toString('hex'));
      expect(r, g.label).toBeDefined();
      expect(r!.userKey?.bytes.toString('hex')).toBe(g.user_key?.hex);
      for (const gb of g.bins) {
        const bin = r!.bins.find((b) => b.name === gb.name)!;
        expect(bin.type, `${g.label}/${gb.name}`).toBe(gb.particle_type);
        if (gb.particle_type === ParticleType.GEOJSON) {
          // The cell ids after the flags are the server's (S2 cells); the JSON is what was written.
          expect(geoJsonText(bin.value)).toBe(geoJsonText(Buffer.from(gb.value_hex, 'hex')));
        } else {
          expect(bin.value.toString('hex'), `${g.label}/${gb.name}`).toBe(gb.value_hex);
        }
      }
    }
    // The raw records come back exactly as written.
    for (const e of exact) {
      const r = source.get(e.digest.toString('hex'))!;
      expect(binsOf(r)).toEqual(binsOf(e));
      expect(r.userKey?.bytes.toString('hex')).toBe(e.userKey?.bytes.toString('hex'));
      expect(Math.abs(r.voidTime - e.voidTime)).toBeLessThanOrEqual(1);
    }

    const copied = await write(source.values(), 'bar');
    expect(copied.filter((r) => r.outcome !== 'written')).toEqual([]);
    const target = await scan('bar');
    expect([...target.keys()].sort()).toEqual([...source.keys()].sort());
    for (const [digest, s] of source) {
      const t = target.get(digest)!;
      expect(t.namespace).toBe('bar');
      expect(t.set).toBe(s.set);
      expect(binsOf(t)).toEqual(binsOf(s));
      expect(t.userKey ? [t.userKey.type, t.userKey.bytes.toString('hex')] : null).toEqual(
        s.userKey ? [s.userKey.type, s.userKey.bytes.toString('hex')] : null,
      );
      if (s.voidTime === 0) expect(t.voidTime).toBe(0);
      else expect(Math.abs(t.voidTime - s.voidTime)).toBeLessThanOrEqual(1);
    }
  });
});
