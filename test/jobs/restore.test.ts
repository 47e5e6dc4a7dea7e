/**
 * Restore semantics, from hand-made backups (exact generations, void times and bins)
 * into `bar`: write policies, TTL rules, filters and the namespace map, the per-record
 * error policy, index conflicts, and the refusal of a backup without a manifest.
 */
import { randomBytes } from 'node:crypto';
import Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { ResultCode } from '../../src/aerospike/wire/result-codes.js';
import { UsageError } from '../../src/errors.js';
import { IncompleteBackupError } from '../../src/jobs/manifest.js';
import { IndexConflictError, RecordWriteError, runRestore, type RestoreOptions } from '../../src/jobs/restore.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { clNow, connectWire, expectSameRecords, makeBackup, record, scanSets, truncateSets } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
const usedSets: string[] = [];
const usedIndexes: string[] = [];

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
});

afterAll(async () => {
  if (client) {
    await truncateSets(client, 'bar', usedSets);
    for (const name of usedIndexes) await client.indexRemove('bar', name).catch(() => undefined);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
});

function newSet(): string {
  const set = uniqueSetName('rs');
  usedSets.push(set);
  return set;
}

const toBar = (from: string, more: Partial<RestoreOptions> = {}): RestoreOptions => ({
  cluster: { hosts: cluster.hosts },
  from,
  namespaceMap: new Map([['test', 'bar']]),
  ...more,
});

const backupAt = () => `mem://${uniqueSetName('restore')}/backup`;
const barKey = (set: string, key: string) => new Aerospike.Key('bar', set, key);
const send = { key: Aerospike.policy.key.SEND };

async function bins(set: string, key: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await client.get(barKey(set, key))).bins;
  } catch (err) {
    if ((err as { code?: number }).code === ResultCode.KEY_NOT_FOUND) return undefined;
    throw err;
  }
}

describe('write policies', () => {
  /** In the database: `older` at generation 1, `newer` at generation 3. In the backup: both at generation 2, and `fresh`. */
  async function scenario() {
    const set = newSet();
    await client.put(barKey(set, 'older'), { v: 'db', extra: 1 }, {}, send);
    for (let i = 0; i < 3; i++) await client.put(barKey(set, 'newer'), { v: 'db', extra: 1 }, {}, send);
    const from = backupAt();
    await makeBackup(from, 'test', [
      record('test', set, 'older', { v: 'backup' }, { generation: 2 }),
      record('test', set, 'newer', { v: 'backup' }, { generation: 2 }),
      record('test', set, 'fresh', { v: 'backup' }, { generation: 2 }),
    ]);
    return { set, from };
  }

  it('generation-greater (default) writes older records and leaves a fresher one untouched, counting it', async () => {
    const { set, from } = await scenario();
    const s = await runRestore(toBar(from));
    expect(s).toMatchObject({ read: 3, written: 2, fresher: 1, existed: 0, failed: {} });
    expect(await bins(set, 'newer')).toEqual({ v: 'db', extra: 1 });
    // Bins merge into the existing record, as asrestore does by default.
    expect(await bins(set, 'older')).toEqual({ v: 'backup', extra: 1 });
    expect(await bins(set, 'fresh')).toEqual({ v: 'backup' });
  });

  it('create-only writes only records that do not exist', async () => {
    const { set, from } = await scenario();
    const s = await runRestore(toBar(from, { mode: 'create-only' }));
    expect(s).toMatchObject({ written: 1, existed: 2, fresher: 0 });
    expect(await bins(set, 'older')).toEqual({ v: 'db', extra: 1 });
    expect(await bins(set, 'fresh')).toEqual({ v: 'backup' });
  });

  it('replace replaces whole records: bins not in the backup are removed, whatever the generation', async () => {
    const { set, from } = await scenario();
    const s = await runRestore(toBar(from, { mode: 'replace' }));
    expect(s).toMatchObject({ written: 3, fresher: 0 });
    expect(await bins(set, 'newer')).toEqual({ v: 'backup' });
    expect(await bins(set, 'older')).toEqual({ v: 'backup' });
  });

  it('ignore-generation writes over fresher records, merging bins', async () => {
    const { set, from } = await scenario();
    const s = await runRestore(toBar(from, { mode: 'ignore-generation' }));
    expect(s).toMatchObject({ written: 3, fresher: 0 });
    expect(await bins(set, 'newer')).toEqual({ v: 'backup', extra: 1 });
  });
});

describe('TTL', () => {
  it('skips and counts records whose void time has passed, and restores the others\' expiration (plus --extra-ttl)', async () => {
    const set = newSet();
    const now = clNow();
    const from = backupAt();
    await makeBackup(from, 'test', [
      record('test', set, 'gone', { v: 1 }, { voidTime: now - 10 }),
      record('test', set, 'hour', { v: 2 }, { voidTime: now + 3600 }),
      record('test', set, 'never', { v: 3 }, { voidTime: 0 }),
    ]);
    expect(await runRestore(toBar(from))).toMatchObject({ read: 3, written: 2, expired: 1 });
    expect(await bins(set, 'gone')).toBeUndefined();
    const hour = await client.get(barKey(set, 'hour'));
    expect(Math.abs(hour.ttl - 3600)).toBeLessThanOrEqual(2);
    expect((await client.get(barKey(set, 'never'))).ttl).toBe(-1);

    // The extra TTL moves the void time before the expiry check (as asrestore does), so it
    // also brings back a record that expired less than that long ago.
    await truncateSets(client, 'bar', [set]);
    expect(await runRestore(toBar(from, { extraTtlSeconds: 1000 }))).toMatchObject({ written: 3, expired: 0 });
    expect(Math.abs((await client.get(barKey(set, 'hour'))).ttl - 4600)).toBeLessThanOrEqual(2);
    expect(Math.abs((await client.get(barKey(set, 'gone'))).ttl - 990)).toBeLessThanOrEqual(2);
    expect((await client.get(barKey(set, 'never'))).ttl).toBe(-1);
  });
});

describe('filters and namespace map', () => {
  it('restores only the wanted sets and bins, into the mapped namespace, counting what it skipped', async () => {
    const [a, b] = [newSet(), newSet()];
    const from = backupAt();
    await makeBackup(from, 'test', [
      record('test', a, 'both', { x: 1, y: 2 }),
      record('test', a, 'only-y', { y: 3 }),
      record('test', b, 'other-set', { x: 4 }),
    ]);
    const s = await runRestore(toBar(from, { sets: [a], bins: ['x'] }));
    expect(s).toMatchObject({ namespaces: { test: 'bar' }, read: 3, written: 1, skippedByFilter: 2 });
    const restored = await scanSets(wire, 'bar', [a, b]);
    expect([...restored.values()].map((r) => [r.namespace, r.set, r.bins.map((x) => x.name)])).toEqual([['bar', a, ['x']]]);
  });

  it('holds to the records-per-second limit, counting every record', async () => {
    const set = newSet();
    const from = backupAt();
    await makeBackup(from, 'test', Array.from({ length: 30 }, (_, i) => record('test', set, `k${i}`, { v: i })));
    const started = Date.now();
    const s = await runRestore(toBar(from, { recordsPerSecond: 50 }));
    expect(s).toMatchObject({ read: 30, written: 30, skippedByFilter: 0 });
    // 30 records at 50/s: at least ~0.4 s, whatever burst the limiter allows first.
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);
    expect((await scanSets(wire, 'bar', [set])).size).toBe(30);
  });

  it('writes every record byte for byte while blocks reuse the rows of earlier ones (many blocks, small batches, rate-limited slices)', async () => {
    // Blocks of ~2 KiB (1/16 of 32 KiB files): ~60 blocks, far more than a restore holds
    // at once, so their rows are reused; batches of 5 rows straddle blocks, and the rate
    // limit cuts blocks into slices. A buffer reused while a row of it still waited would
    // write another record's bytes.
    const set = newSet();
    const from = backupAt();
    const records = Array.from({ length: 400 }, (_, i) => record('test', set, `k${i}`, { v: i, s: randomBytes(60).toString('hex') + i, b: randomBytes(40 + (i % 50)) }));
    await makeBackup(from, 'test', records, undefined, 32 * 1024);
    const s = await runRestore(toBar(from, { batchSize: 5, parallel: 2, recordsPerSecond: 4000 }));
    expect(s).toMatchObject({ read: 400, written: 400, skippedByFilter: 0 });
    expectSameRecords(new Map(records.map((r) => [r.digest.toString('hex'), r])), await scanSets(wire, 'bar', [set]));
  });

  it('refuses a map that does not name the backup\'s namespace, rather than restoring into the source', async () => {
    const set = newSet();
    const from = backupAt();
    await makeBackup(from, 'test', [record('test', set, 'k', { v: 1 })]);
    const err = await runRestore(toBar(from, { namespaceMap: new Map([['tset', 'bar']]) })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/--namespace-map maps tset, but the backup at .* holds namespace test/);
  });
});

describe('records the cluster refuses', () => {
  // A bin name longer than 15 characters: every Aerospike server refuses it (BIN_NAME, 21).
  async function backupWithBadRecord() {
    const set = newSet();
    const from = backupAt();
    const good = Array.from({ length: 5 }, (_, i) => record('test', set, `good-${i}`, { v: i }));
    await makeBackup(from, 'test', [...good, record('test', set, 'bad', { this_bin_name_is_too_long: 1 })]);
    return { set, from };
  }

  it('stop the restore by default, naming the record and the result code, with the counts so far', async () => {
    const { set, from } = await backupWithBadRecord();
    const err = (await runRestore(toBar(from)).catch((e: unknown) => e)) as RecordWriteError;
    expect(err).toBeInstanceOf(RecordWriteError);
    expect(err.code).toBe('RECORD_WRITE_FAILED');
    expect(err.resultCode).toBe(ResultCode.BIN_NAME);
    expect(err.message).toContain(`record bar/${set}/"bad"`);
    expect(err.message).toContain('BIN_NAME (21)');
    expect(err.message).toContain('--ignore-codes 21');
    expect(err.summary).toMatchObject({ read: 6, failed: { BIN_NAME: 1 }, ignored: {} });
  });

  it('are skipped and counted when their code is ignored', async () => {
    const { set, from } = await backupWithBadRecord();
    const s = await runRestore(toBar(from, { ignoreCodes: [ResultCode.BIN_NAME] }));
    expect(s).toMatchObject({ read: 6, written: 5, ignored: { BIN_NAME: 1 }, failed: {} });
    expect((await scanSets(wire, 'bar', [set])).size).toBe(5);
  });
});

describe('secondary indexes', () => {
  it('stop the restore before any write when an index conflicts with the cluster\'s', async () => {
    const set = newSet();
    const name = `${set}_ix`;
    usedIndexes.push(name);
    await (await client.createIndex({ ns: 'bar', set, bin: 'other', index: name, datatype: Aerospike.indexDataType.NUMERIC })).wait(50);
    const from = backupAt();
    await makeBackup(from, 'test', [record('test', set, 'k', { v: 1 })], {
      indexes: [{ namespace: 'test', name, set, bin: 'v', type: 'numeric', indexType: 'default' }],
      udfs: [],
    });
    const err = await runRestore(toBar(from)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IndexConflictError);
    expect((err as Error).message).toContain(`index "${name}" exists with another definition`);
    expect((await scanSets(wire, 'bar', [set])).size).toBe(0);
    // Without the indexes the records restore.
    expect(await runRestore(toBar(from, { noIndexes: true }))).toMatchObject({ written: 1 });
  });
});

describe('a backup without a manifest', () => {
  it('is refused, saying why, and restored with force from its complete data files', async () => {
    const set = newSet();
    const from = backupAt();
    await makeBackup(from, 'test', [record('test', set, 'a', { v: 1 }), record('test', set, 'b', { v: 2 })]);
    await (await openStore(from, 'write')).delete('manifest.json');

    const err = await runRestore(toBar(from)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IncompleteBackupError);
    expect((err as Error).message).toMatch(/is incomplete: no manifest\.json/);

    const notes: string[] = [];
    const s = await runRestore(toBar(from, { force: true }), { note: (m) => notes.push(m) });
    expect(s).toMatchObject({ unverified: true, read: 2, written: 2 });
    expect(notes.join('\n')).toMatch(/has no manifest: restoring .* unverified/);
  });
});
