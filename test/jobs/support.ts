/**
 * Helpers of the job tests: raw writes and wire-level reads (the official client
 * changes types, see DESIGN.md fact 1, so comparisons go through ScanReader), the
 * golden records of the captures under a set of our own, and hand-made backups for
 * restore tests that need exact inputs (an expired record, a bin the server refuses).
 */
import { rm } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type Aerospike from 'aerospike';
import { expect } from 'vitest';
import { BatchWriter, type WriteResult } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { CITRUSLEAF_EPOCH_UNIX_S, type RawRecord } from '../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { encodeParticle, type EncodableValue } from '../../src/aerospike/wire/values.js';
import { RECORD_SCHEMA_VERSION } from '../../src/avro/schemas.js';
import { ContainerDecoder } from '../../src/avro/container.js';
import { RECORD_CODEC } from '../../src/avro/record-codec.js';
import { codecOf } from '../../src/jobs/compression.js';
import { DataFileSink } from '../../src/jobs/data-files.js';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, readManifest, writeManifest, writeMetadata, type BackupMetadata } from '../../src/jobs/manifest.js';
import { openStore } from '../../src/storage/index.js';
import { goldenRecords } from '../support/captures.js';
import type { TestCluster } from '../support/aerospike.js';

// The golden records live with the captures (no vitest there, so the chaos run can use them too).
export { goldenRecords };

export async function connectWire(cluster: TestCluster): Promise<Cluster> {
  return Cluster.connect({ hosts: cluster.hosts });
}

/** Seconds since the citrusleaf epoch, as void times count. */
export function clNow(): number {
  return Math.floor(Date.now() / 1000) - CITRUSLEAF_EPOCH_UNIX_S;
}

/** A record with the given user key and bins (JS values encoded as particles). */
export function record(
  namespace: string,
  set: string,
  key: string | number | Buffer,
  bins: Record<string, EncodableValue>,
  meta: { voidTime?: number; generation?: number; sendKey?: boolean } = {},
): RawRecord {
  const userKey = keyFromValue(key);
  const r: RawRecord = {
    namespace,
    set,
    digest: computeDigest(set, userKey),
    generation: meta.generation ?? 1,
    voidTime: meta.voidTime ?? 0,
    bins: Object.entries(bins).map(([name, v]) => ({ name, ...encodeParticle(v) })),
  };
  if (meta.sendKey !== false) r.userKey = userKey;
  return r;
}

/** Writes records byte for byte (replace policy); fails the test on any refused record. */
export async function writeRaw(cluster: Cluster, records: RawRecord[]): Promise<void> {
  const failures: WriteResult[] = [];
  await pipeline(
    Readable.from(records),
    new BatchWriter(cluster, { policy: 'replace', onResult: (r) => r.outcome === 'failed' && failures.push(r) }),
  );
  expect(failures.map((f) => f.resultCode)).toEqual([]);
}

/** Every record of the sets, read at the wire level, by digest (hex). */
export async function scanSets(cluster: Cluster, namespace: string, sets: string[]): Promise<Map<string, RawRecord>> {
  const out = new Map<string, RawRecord>();
  for await (const r of new ScanReader(cluster, { namespace, sets })) {
    const rec = r as RawRecord;
    out.set(rec.digest.toString('hex'), rec);
  }
  return out;
}

/** A comparable view: set, key, bins sorted by name with type and hex bytes. */
export function shape(r: RawRecord): { set: string; key?: string; bins: [string, number, string][] } {
  const bins = r.bins.map((b): [string, number, string] => [b.name, b.type, b.value.toString('hex')]).sort((a, b) => a[0].localeCompare(b[0]));
  return { set: r.set, ...(r.userKey ? { key: `${r.userKey.type}:${r.userKey.bytes.toString('hex')}` } : {}), bins };
}

/**
 * Asserts that `restored` holds exactly the records of `original`: same digests, sets,
 * keys, bins (particle types and bytes). Void times must match; a write carries a TTL
 * relative to the server's clock, so one that straddles a second boundary lands a
 * second later, which is the only difference allowed.
 */
export function expectSameRecords(original: Map<string, RawRecord>, restored: Map<string, RawRecord>): void {
  expect([...restored.keys()].sort()).toEqual([...original.keys()].sort());
  for (const [digest, o] of original) {
    const r = restored.get(digest)!;
    expect(shape(r), `record ${digest}`).toEqual(shape(o));
    if (o.voidTime === 0) expect(r.voidTime, `void time of ${digest}`).toBe(0);
    else expect([0, 1], `void time of ${digest}: ${o.voidTime} restored as ${r.voidTime}`).toContain(r.voidTime - o.voidTime);
  }
}

/** Truncates sets through the official client (cleanup on a shared cluster). */
export async function truncateSets(client: Aerospike.Client, namespace: string, sets: string[]): Promise<void> {
  for (const set of sets) await client.truncate(namespace, set, 0);
}

/**
 * A backup made by hand: the data files of `records` (one unless `maxFileBytes` rolls
 * them over; blocks are 1/16 of that), their namespace, and a manifest.
 * For restore tests that need records no cluster would hand a backup (expired ones,
 * a bin name the server refuses).
 */
export async function makeBackup(location: string, namespace: string, records: RawRecord[], metadata?: BackupMetadata, maxFileBytes?: number): Promise<void> {
  const store = await openStore(location, 'write');
  const metadataEntry = metadata ? await writeMetadata(store, '', metadata) : undefined;
  const sink = new DataFileSink({ store, prefix: '', baseName: `${namespace}_00`, compress: 'gzip', ...(maxFileBytes !== undefined ? { maxFileBytes } : {}) });
  await pipeline(Readable.from(records), sink);
  const files = sink.files();
  const now = new Date().toISOString();
  await writeManifest(store, '', {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    requires: [],
    tool: { name: 'aerobak-tests', version: '0' },
    schemaVersion: RECORD_SCHEMA_VERSION,
    createdAt: now,
    startedAt: now,
    finishedAt: now,
    cluster: { hosts: ['test'] },
    namespace,
    filters: {},
    compression: 'gzip',
    records: files.reduce((n, f) => n + f.records, 0),
    bytes: files.reduce((n, f) => n + f.size, 0),
    files,
    ...(metadataEntry ? { metadata: metadataEntry } : {}),
  });
}

/**
 * Every record of every data file of the complete backup at `location`, in manifest
 * order, decoded independently of restore (decompress, then the Avro container decoder).
 */
export async function backupRecords(location: string): Promise<Array<{ file: string; record: RawRecord }>> {
  const store = await openStore(location, 'read');
  const manifest = await readManifest(store, '');
  const out: Array<{ file: string; record: RawRecord }> = [];
  for (const f of manifest.files) {
    const decompressor = codecOf(manifest.compression).streams?.decompressor();
    await pipeline([
      await store.read(f.name),
      ...(decompressor ? [decompressor] : []),
      new ContainerDecoder(RECORD_CODEC),
      new Writable({ objectMode: true, write: (record: RawRecord, _e, cb) => (out.push({ file: f.name, record }), cb()) }),
    ]);
  }
  return out;
}

/**
 * The end of a job test file: truncates `sets` in test and bar (a shared cluster keeps
 * nothing of the run), closes the official and the wire clients, stops the cluster and
 * removes the scratch directory. Each part may be missing (a beforeAll that failed half-way).
 */
export async function tearDown(parts: { client?: Aerospike.Client; wire?: Cluster; cluster?: TestCluster; tmp?: string; sets: readonly string[] }): Promise<void> {
  if (parts.client) {
    for (const ns of ['test', 'bar']) await truncateSets(parts.client, ns, [...parts.sets]);
    await parts.client.close();
  }
  await parts.wire?.close();
  await parts.cluster?.stop();
  if (parts.tmp) await rm(parts.tmp, { recursive: true, force: true });
}
