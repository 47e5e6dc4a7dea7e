/**
 * Export from backups as operators keep them: the chain ending at an incremental (the
 * newest version of each record, deleted records left out), a chain point picked by time
 * (--at), and the records of a real server's capture (GeoJSON with cells, HLL, ordered
 * maps, 1.0, -0.0, NaN), read back by DuckDB.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { ParticleType } from '../../src/aerospike/types.js';
import { unpack } from '../../src/aerospike/wire/msgpack.js';
import { geoJsonText } from '../../src/aerospike/wire/values.js';
import { runBackup, type BackupOptions } from '../../src/jobs/backup.js';
import { runExport } from '../../src/jobs/export.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, goldenRecords, record, scanSets, tearDown, writeRaw } from '../jobs/support.js';
import { query, table } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('xc');
const golden = uniqueSetName('xg');

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-export-chain-'));
}, 60_000);

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: [set, golden] }));

const backup = (more: Partial<BackupOptions>) =>
  runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', noUdfs: true, noIndexes: true, parallel: 2, ...more } as BackupOptions);
const tick = () => new Promise((r) => setTimeout(r, 1100));

/** `v` of every row of the export at `dir`, by user key. */
async function values(dir: string): Promise<Record<string, string>> {
  const rows = await query(`SELECT _key, v FROM ${table(dir)} ORDER BY _key`);
  return Object.fromEntries(rows.map((r) => [r._key as string, r.v as string]));
}

describe('export of a chain', () => {
  let repo: string;
  let inc: string;
  let betweenFullAndInc: Date;

  beforeAll(async () => {
    repo = join(tmp, 'repo');
    await writeRaw(wire, Array.from({ length: 50 }, (_, i) => record('test', set, `k${String(i).padStart(2, '0')}`, { v: 'full' })));
    await tick();
    await backup({ repo, sets: [set] });
    betweenFullAndInc = new Date();
    await tick();
    // Ten updated, five deleted, five added.
    await writeRaw(wire, Array.from({ length: 10 }, (_, i) => record('test', set, `k${String(i).padStart(2, '0')}`, { v: 'inc' })));
    for (let i = 10; i < 15; i++) await client.remove(new Aerospike.Key('test', set, `k${i}`));
    await writeRaw(wire, Array.from({ length: 5 }, (_, i) => record('test', set, `n${i}`, { v: 'new' })));
    await tick();
    inc = (await backup({ repo, sets: [set], incremental: true, trackDeletes: true })).location;
  }, 120_000);

  it('exports the newest version of each record and leaves deleted ones out, as the cluster holds them', async () => {
    const dir = join(tmp, 'from-chain');
    const summary = await runExport({ source: { from: inc }, to: dir, format: 'parquet' });
    const live = await scanSets(wire, 'test', [set]);
    expect(summary.records).toBe(live.size);
    expect(summary.records).toBe(50);
    expect(summary.superseded).toBe(10);
    expect(summary.deleted).toBe(5);
    const got = await values(dir);
    const want: Record<string, string> = {};
    for (const r of live.values()) want[r.userKey!.bytes.toString('utf8')] = r.bins.find((b) => b.name === 'v')!.value.toString('utf8');
    expect(got).toEqual(want);
  });

  it('exports the chain point at a time with --at', async () => {
    const dir = join(tmp, 'at-full');
    await runExport({ source: { from: repo, at: betweenFullAndInc, namespace: 'test' }, to: dir, format: 'parquet' });
    const got = await values(dir);
    expect(Object.keys(got)).toHaveLength(50);
    expect(new Set(Object.values(got))).toEqual(new Set(['full']));
  });
});

describe('export of the records of a real server capture', () => {
  it('reads back every bin: GeoJSON without its cells, HLL bytes, ordered maps, doubles incl. NaN', async () => {
    const records = goldenRecords('test', golden);
    await writeRaw(wire, records);
    const dir = join(tmp, 'golden');
    const summary = await runExport({ source: { cluster: { hosts: cluster.hosts }, namespace: 'test' }, sets: [golden], to: dir, format: 'parquet' });
    expect(summary.records).toBe(records.length);
    const bins = new Map<string, Set<string>>();
    for (const r of await query(`SELECT decode(value) AS v FROM parquet_kv_metadata('${dir}/**/*.parquet') WHERE decode(key) = 'aerospike.bins'`)) {
      for (const [column, bin] of Object.entries(JSON.parse(r.v as string) as Record<string, string>)) bins.set(bin, (bins.get(bin) ?? new Set()).add(column));
    }
    const rows = new Map((await query(`SELECT * FROM ${table(dir)}`)).map((r) => [Buffer.from(r._digest as Uint8Array).toString('hex'), r]));
    let checked = 0;
    for (const r of records) {
      const row = rows.get(r.digest.toString('hex'))!;
      expect(row, r.digest.toString('hex')).toBeDefined();
      for (const bin of r.bins) {
        const cells = [...(bins.get(bin.name) ?? [])].map((c) => row[c]).filter((c) => c !== null && c !== undefined);
        expect(cells, `bin ${bin.name}`).toHaveLength(1);
        const cell = cells[0];
        switch (bin.type) {
          case ParticleType.INTEGER:
            expect(cell).toBe(bin.value.readBigInt64BE(0));
            break;
          case ParticleType.FLOAT:
            expect(Object.is(cell, bin.value.readDoubleBE(0)), `${bin.name}: ${String(cell)}`).toBe(true);
            break;
          case ParticleType.STRING:
            expect(cell).toBe(bin.value.toString('utf8'));
            break;
          case ParticleType.GEOJSON:
            expect(JSON.parse(cell as string)).toEqual(JSON.parse(geoJsonText(bin.value)));
            break;
          case ParticleType.BLOB:
          case ParticleType.HLL:
            expect(Buffer.from(cell as Uint8Array)).toEqual(bin.value);
            break;
          case ParticleType.BOOL:
            expect(cell).toBe(bin.value[0] !== 0);
            break;
          default: {
            // Lists and maps: a native column or JSON text; either way as many elements as stored.
            const decoded = unpack(bin.value, true) as unknown;
            const size = Array.isArray(decoded) ? decoded.length : ((decoded as { entries?: unknown[]; items?: unknown[] }).entries ?? (decoded as { items: unknown[] }).items).length;
            const got = typeof cell === 'string' ? JSON.parse(cell) : cell;
            expect(Array.isArray(got) ? got.length : Object.keys(got as object).length, `elements of ${bin.name}`).toBe(size);
          }
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(15);
  });
});
