/**
 * BatchWriter write policies and TTL restore against the cluster of
 * test/support/aerospike.ts (the test server, or a real cluster with AEROSPIKE_HOSTS).
 * Existing records are made with the official client; results are read back with it.
 */
import Aerospike from 'aerospike';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { citrusleafNow } from '../../src/aerospike/batch-request.js';
import { BatchWriter, type BatchWriterOptions, type WriteResult } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';

let testCluster: TestCluster;
let client: Aerospike.Client;
let cluster: Cluster;
const set = uniqueSetName('bw');

beforeAll(async () => {
  testCluster = await startCluster();
  client = await connectClient(testCluster);
  cluster = await Cluster.connect({ hosts: testCluster.hosts });
});

afterAll(async () => {
  await client?.truncate('test', set, 0).catch(() => undefined);
  await cluster?.close();
  await client?.close();
  await testCluster?.stop();
});

function str(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** A backup record of key `key` in `set` with string bins. */
function backup(key: string, generation: number, bins: Record<string, string>, voidTime = 0): RawRecord {
  const userKey = keyFromValue(key);
  return {
    namespace: 'test',
    set,
    digest: computeDigest(set, userKey),
    userKey,
    generation,
    voidTime,
    bins: Object.entries(bins).map(([name, v]) => ({ name, type: ParticleType.STRING, value: str(v) })),
  };
}

async function write(records: RawRecord[], opts: BatchWriterOptions = {}): Promise<WriteResult[]> {
  const results: WriteResult[] = [];
  await pipeline(Readable.from(records), new BatchWriter(cluster, { ...opts, onResult: (r) => results.push(r) }));
  return results;
}

const key = (k: string) => new Aerospike.Key('test', set, k);

/** Outcome and result code per user key: batches to different nodes may answer in any order. */
function outcomes(results: WriteResult[]): Record<string, [string, number]> {
  return Object.fromEntries(results.map((r) => [r.record.userKey!.bytes.toString('utf8'), [r.outcome, r.resultCode]]));
}

async function stored(k: string): Promise<{ bins: Record<string, unknown>; gen: number; ttl: number } | undefined> {
  try {
    const r = await client.get(key(k));
    return { bins: r.bins as Record<string, unknown>, gen: r.gen, ttl: r.ttl };
  } catch (err) {
    if ((err as { code?: number }).code === Aerospike.status.ERR_RECORD_NOT_FOUND) return undefined;
    throw err;
  }
}

/** An existing record with generation `gen` (written gen times). */
async function existing(k: string, gen: number, bins: Record<string, string>): Promise<void> {
  for (let i = 0; i < gen; i++) await client.put(key(k), bins);
}

describe('BatchWriter policies on a cluster', () => {
  it('generation-greater writes only over older records and counts the rest as fresher', async () => {
    await existing('gg-old', 1, { v: 'db' });
    await existing('gg-new', 3, { v: 'db', other: 'kept' });
    const results = await write([backup('gg-old', 2, { v: 'backup' }), backup('gg-new', 3, { v: 'backup' }), backup('gg-missing', 1, { v: 'backup' })]);
    expect(results).toHaveLength(3);
    expect(outcomes(results)).toEqual({ 'gg-old': ['written', 0], 'gg-new': ['fresher', 3], 'gg-missing': ['written', 0] });
    expect((await stored('gg-old'))!.bins).toEqual({ v: 'backup' });
    expect((await stored('gg-new'))!.bins).toEqual({ v: 'db', other: 'kept' });
    expect((await stored('gg-missing'))!.bins).toEqual({ v: 'backup' });
  });

  it('create-only leaves existing records alone', async () => {
    await existing('co-there', 1, { v: 'db' });
    const results = await write([backup('co-there', 5, { v: 'backup' }), backup('co-new', 1, { v: 'backup' })], { policy: 'create-only' });
    expect(results).toHaveLength(2);
    expect(outcomes(results)).toEqual({ 'co-there': ['exists', 5], 'co-new': ['written', 0] });
    expect((await stored('co-there'))!.bins).toEqual({ v: 'db' });
    expect((await stored('co-new'))!.bins).toEqual({ v: 'backup' });
  });

  it('replace removes bins the backup does not have; ignore-generation merges', async () => {
    await existing('rp', 4, { a: '1', b: '2' });
    await existing('ig', 4, { a: '1', b: '2' });
    expect((await write([backup('rp', 1, { c: '3' })], { policy: 'replace' }))[0]!.outcome).toBe('written');
    expect((await write([backup('ig', 1, { b: 'new', c: '3' })], { policy: 'ignore-generation' }))[0]!.outcome).toBe('written');
    expect((await stored('rp'))!.bins).toEqual({ c: '3' });
    expect((await stored('ig'))!.bins).toEqual({ a: '1', b: 'new', c: '3' });
  });

  it('restores void times: never stays never, finite keeps its end, expired is not written', async () => {
    const now = citrusleafNow();
    const results = await write([
      backup('ttl-never', 1, { v: 'x' }, 0),
      backup('ttl-finite', 1, { v: 'x' }, now + 5000),
      backup('ttl-expired', 1, { v: 'x' }, now - 10),
    ]);
    // Results come in completion order: an expired record is reported without a round trip.
    expect(new Map(results.map((r) => [r.record.userKey!.bytes.toString(), r.outcome]))).toEqual(
      new Map([
        ['ttl-never', 'written'],
        ['ttl-finite', 'written'],
        ['ttl-expired', 'expired'],
      ]),
    );
    const extra = await write([backup('ttl-extra', 1, { v: 'x' }, now - 10)], { extraTtlSeconds: 3600 });
    expect(extra[0]!.outcome).toBe('written');

    const byKey = new Map<string, RawRecord>();
    for await (const r of new ScanReader(cluster, { namespace: 'test', sets: [set], noBins: true })) {
      const rec = r as RawRecord;
      if (rec.userKey) byKey.set(rec.userKey.bytes.toString(), rec);
    }
    expect(byKey.get('ttl-never')!.voidTime).toBe(0);
    expect(Math.abs(byKey.get('ttl-finite')!.voidTime - (now + 5000))).toBeLessThanOrEqual(2);
    expect(Math.abs(byKey.get('ttl-extra')!.voidTime - (now - 10 + 3600))).toBeLessThanOrEqual(2);
    expect(byKey.has('ttl-expired')).toBe(false);
    expect((await stored('ttl-never'))!.ttl).toBe(Aerospike.ttl.NEVER_EXPIRE);
  });

  it('stores the user key unless told not to', async () => {
    await write([backup('key-sent', 1, { v: 'x' })]);
    await write([backup('key-not-sent', 1, { v: 'x' })], { sendKey: false });
    const keys = new Map<string, boolean>();
    for await (const r of new ScanReader(cluster, { namespace: 'test', sets: [set], noBins: true })) {
      const rec = r as RawRecord;
      keys.set(rec.digest.toString('hex'), rec.userKey !== undefined);
    }
    expect(keys.get(computeDigest(set, keyFromValue('key-sent')).toString('hex'))).toBe(true);
    expect(keys.get(computeDigest(set, keyFromValue('key-not-sent')).toString('hex'))).toBe(false);
  });
});
