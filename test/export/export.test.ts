/**
 * aerobak export, read back by independent readers: DuckDB for Parquet (with the Hive
 * layout), Apache's avro-js for Avro. Values are checked against the JS values the test
 * wrote, for every particle type, across several sets.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { inflateRaw, zstdDecompress } from 'node:zlib';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { CdtMap, Float, GeoJsonValue, type PackValue } from '../../src/aerospike/wire/msgpack.js';
import { runBackup } from '../../src/jobs/backup.js';
import { runExport, type ExportOptions, type ExportManifest } from '../../src/jobs/export.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { avroJs, bigintLongs } from '../avro/avro-js.js';
import { connectWire, makeBackup, record, tearDown, writeRaw } from '../jobs/support.js';
import { actual, expected, query, table } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const typed = uniqueSetName('xt');
const keyed = uniqueSetName('xk');
const drift = uniqueSetName('xd');
const sets = [typed, keyed, drift];

/** The JS bins each record was written with, by set and user key. */
const written = new Map<string, Map<string, Record<string, PackValue>>>();
const voidTimes = new Map<string, number>();

function add(out: RawRecord[], set: string, key: string | number | Buffer, bins: Record<string, PackValue>, meta: { voidTime?: number } = {}): void {
  const r = record('test', set, key, bins, meta);
  out.push(r);
  if (!written.has(set)) written.set(set, new Map());
  written.get(set)!.set(r.digest.toString('hex'), bins);
  voidTimes.set(r.digest.toString('hex'), r.voidTime);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const inAYear = Math.floor(Date.now() / 1000) - 1262304000 + 365 * 86400;

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-export-'));
  const records: RawRecord[] = [];
  const ints = [0n, 1n, -1n, INT64_MIN, INT64_MAX, 2n ** 53n + 1n];
  const doubles = [0.5, -0.0, Infinity, -Infinity, 1e308, -2.5e-300];
  for (let i = 0; i < 60; i++) {
    add(
      records,
      typed,
      i,
      {
        int: ints[i % ints.length]!,
        dbl: new Float(doubles[i % doubles.length]!),
        str: i % 3 === 0 ? `naïve ✓ ${i} 日本` : `plain ${i}`,
        flag: i % 2 === 0,
        blob: Buffer.from([i, 0, 255, i ^ 0x5a]),
        geo: new GeoJsonValue(`{"type":"Point","coordinates":[${i % 180},${(i % 90) - 45}]}`),
        nums: [BigInt(i), -5n, INT64_MAX],
        words: i % 5 === 0 ? [] : ['a', `w${i}`, 'ü'],
        scores: { alpha: new Float(i + 0.25), beta: new Float(-0.0) },
        ids: new CdtMap([
          [BigInt(i), `one ${i}`],
          [INT64_MIN, 'min'],
        ]),
        mixed: [1n, 'two', new Float(3.5), Buffer.from('hi'), null, [INT64_MAX, { deep: true }]],
        nested: { inner: [1n, 2n], more: { x: new Float(Infinity) } },
      },
      i % 4 === 0 ? { voidTime: inAYear + i } : {},
    );
  }
  for (let i = 0; i < 30; i++) {
    // Keys of each type: integer, string, blob.
    const key = i % 3 === 0 ? i : i % 3 === 1 ? `key-${i}` : Buffer.from([0xde, 0xad, i]);
    add(records, keyed, key, { name: `n${i}`, _under: BigInt(i), set: `s${i}`, Name: `upper ${i}`, 'a__b': true });
  }
  for (let i = 0; i < 40; i++) {
    // The bin `v` changes type: integer, then string, then list, then map, then JSON.
    const v: PackValue = i < 10 ? BigInt(i) : i < 20 ? `text ${i}` : i < 30 ? [BigInt(i), 2n] : i < 35 ? { k: BigInt(i) } : [1n, 'x'];
    add(records, drift, i, { v, id: BigInt(i) });
  }
  await writeRaw(wire, records);
}, 120_000);

afterAll(() => tearDown({ client, wire, cluster, tmp, sets }));

const fromCluster = (to: string, extra: Partial<ExportOptions> = {}) =>
  runExport({ source: { cluster: { hosts: cluster.hosts }, namespace: 'test' }, sets, to, format: 'parquet', ...extra });

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  return out.sort();
}

/** Rows of one set by digest (hex), with every column. */
async function rowsOf(dir: string, set: string): Promise<Map<string, Record<string, unknown>>> {
  const rows = await query(`SELECT *, epoch_us(_expires_at) AS exp_us FROM ${table(dir)} WHERE set = '${set}'`);
  return new Map(rows.map((r) => [Buffer.from(r._digest as Uint8Array).toString('hex'), r]));
}

/** bin name → columns holding it, from every file's aerospike.bins metadata. */
async function binColumns(dir: string): Promise<Map<string, Set<string>>> {
  const rows = await query(`SELECT decode(value) AS v FROM parquet_kv_metadata('${dir}/**/*.parquet') WHERE decode(key) = 'aerospike.bins'`);
  const out = new Map<string, Set<string>>();
  for (const r of rows) {
    for (const [column, bin] of Object.entries(JSON.parse(r.v as string) as Record<string, string>)) {
      if (!out.has(bin)) out.set(bin, new Set());
      out.get(bin)!.add(column);
    }
  }
  return out;
}

describe('export to Parquet, read by DuckDB', () => {
  let dir: string;
  let summary: Awaited<ReturnType<typeof runExport>>;

  beforeAll(async () => {
    dir = join(tmp, 'parquet');
    // Small files and row groups: several files per set, and the drifting bin's new types arrive after a file was started.
    summary = await fromCluster(dir, { parallel: 2, rowGroupBytes: 2048, fileBytes: 8192 });
  }, 60_000);

  it('lays the files out as Hive partitions, and GROUP BY set gives the per-set counts', async () => {
    const files = await filesUnder(dir);
    for (const f of files.filter((f) => f.endsWith('.parquet'))) expect(f).toMatch(/^namespace=test\/set=[^/]+\/part-\d{2}-\d{5}\.parquet$/);
    expect(files).toContain('_manifest.json');
    expect(files).toContain('_SUCCESS');
    const counts = await query(`SELECT set, count(*) AS n FROM ${table(dir)} GROUP BY set ORDER BY set`);
    expect(Object.fromEntries(counts.map((c) => [c.set, Number(c.n)]))).toEqual(Object.fromEntries(sets.map((s) => [s, written.get(s)!.size])));
    expect(summary.records).toBe(130);
    expect(Object.keys(summary.sets).sort()).toEqual([...sets].sort());
  });

  it('reads back every value of every bin as its typed column, and the metadata columns', async () => {
    const rows = await rowsOf(dir, typed);
    const columns = await binColumns(dir);
    expect(rows.size).toBe(60);
    for (const [digest, bins] of written.get(typed)!) {
      const row = rows.get(digest)!;
      expect(row, `row ${digest}`).toBeDefined();
      expect(row._set).toBe(typed);
      expect(row._generation).toBeTypeOf('bigint');
      expect(row._last_update).toBeNull();
      const vt = voidTimes.get(digest)!;
      // A write carries a TTL relative to the server's clock: the stored void time may be a second later.
      if (vt === 0) expect(row.exp_us).toBeNull();
      else expect([0n, 1_000_000n]).toContain((row.exp_us as bigint) - BigInt(vt + 1262304000) * 1_000_000n);
      for (const [bin, value] of Object.entries(bins)) {
        const e = expected(value);
        // A typed column is named after its bin; an empty list has no element type and is JSON where the bin has no list column.
        const column = [...columns.get(bin)!].find((c) => row[c] !== null && row[c] !== undefined);
        expect(column, `${bin} of ${digest}`).toBeDefined();
        if (Array.isArray(e.value) && e.value.length === 0) {
          // [] fits the bin's list column, or is "[]" in its JSON column.
          const cell = row[column!];
          expect(typeof cell === 'string' ? JSON.parse(cell) : cell, `${bin} of ${digest}`).toEqual([]);
          continue;
        }
        expect(column, `column of ${bin} (${e.kind})`).toBe(bin);
        expect(actual(e.kind, row[column!]), `${bin} of ${digest}`).toEqual(e.value);
      }
    }
  });

  it('types the columns as Spark and Athena expect them', async () => {
    const described = await query(`DESCRIBE SELECT * FROM ${table(dir)} WHERE set = '${typed}'`);
    const types = Object.fromEntries(described.map((d) => [d.column_name, d.column_type]));
    expect(types).toMatchObject({
      _digest: 'BLOB',
      _set: 'VARCHAR',
      _generation: 'BIGINT',
      _expires_at: 'TIMESTAMP WITH TIME ZONE',
      _last_update: 'TIMESTAMP WITH TIME ZONE',
      int: 'BIGINT',
      dbl: 'DOUBLE',
      str: 'VARCHAR',
      flag: 'BOOLEAN',
      blob: 'BLOB',
      geo: 'VARCHAR',
      nums: 'BIGINT[]',
      scores: 'MAP(VARCHAR, DOUBLE)',
      ids: 'MAP(BIGINT, VARCHAR)',
      mixed: 'VARCHAR',
      nested: 'VARCHAR',
      namespace: 'VARCHAR',
      set: 'VARCHAR',
    });
    const digestWidth = await query(`SELECT DISTINCT octet_length(_digest) AS n FROM ${table(dir)}`);
    expect(digestWidth.map((d) => Number(d.n))).toEqual([20]);
  });

  it('keeps user keys of every type, and escapes bin names that would clash', async () => {
    const rows = await rowsOf(dir, keyed);
    const columns = await binColumns(dir);
    // Plain names stay; `_under` (metadata prefix), `set` (a partition column), `Name` (same as `name` in any case) and `a__b` (sibling separator) are escaped.
    expect([...columns.get('name')!]).toEqual(['name']);
    for (const bin of ['_under', 'set', 'a__b']) expect([...columns.get(bin)!]).toEqual([`_bin_${Buffer.from(bin).toString('hex')}`]);
    const upper = [...columns.get('Name')!];
    expect(upper).toHaveLength(1);
    for (const [digest, bins] of written.get(keyed)!) {
      const row = rows.get(digest)!;
      for (const [bin, value] of Object.entries(bins)) expect(actual('x', row[[...columns.get(bin)!][0]!]), bin).toEqual(expected(value).value);
      const i = Number((bins.name as string).slice(1));
      // The first key seen picks `_key`'s type; which type that is depends on scan order, so find the key among the _key columns.
      const keys = Object.entries(row).filter(([c, v]) => c.startsWith('_key') && v !== null);
      expect(keys, `keys of ${digest}`).toHaveLength(1);
      const want = i % 3 === 0 ? BigInt(i) : i % 3 === 1 ? `key-${i}` : new Uint8Array([0xde, 0xad, i]);
      expect(actual('x', keys[0]![1])).toEqual(want);
    }
  });

  it('puts a value of another type in a sibling column: nothing lost, and all files read as one table', async () => {
    const rows = await rowsOf(dir, drift);
    expect(rows.size).toBe(40);
    const manifest = JSON.parse(await readFile(join(dir, '_manifest.json'), 'utf8')) as ExportManifest;
    const driftFiles = manifest.files.filter((f) => f.set === drift);
    expect(driftFiles.length).toBeGreaterThan(1);
    const vColumns = [...(await binColumns(dir)).get('v')!].sort();
    // One column per type the bin took: int64, string, list of int64, map of string to int64, and JSON.
    expect(vColumns).toHaveLength(5);
    for (const [digest, bins] of written.get(drift)!) {
      const row = rows.get(digest)!;
      const present = vColumns.filter((c) => row[c] !== null && row[c] !== undefined);
      expect(present, `v of ${digest}`).toHaveLength(1);
      const e = expected(bins.v!);
      const kindOf = (c: string) => (c === 'v' ? undefined : c.slice(3));
      if (kindOf(present[0]!) !== undefined) expect(kindOf(present[0]!)).toBe(e.kind);
      expect(actual(e.kind, row[present[0]!])).toEqual(e.value);
    }
    // Every column keeps one type across the files: DuckDB would refuse to union them otherwise, and the manifest says so.
    const typesByColumn = new Map<string, Set<string>>();
    for (const f of driftFiles) for (const c of f.schema as Array<{ name: string; type: string }>) (typesByColumn.get(c.name) ?? typesByColumn.set(c.name, new Set()).get(c.name)!).add(c.type);
    for (const [name, types] of typesByColumn) expect([...types], name).toHaveLength(1);
  });

  it('lists every file in the manifest with its size, SHA-256 and rows, and writes _SUCCESS last', async () => {
    const manifest = JSON.parse(await readFile(join(dir, '_manifest.json'), 'utf8')) as ExportManifest;
    const files = (await filesUnder(dir)).filter((f) => f.endsWith('.parquet'));
    expect(manifest.files.map((f) => f.path).sort()).toEqual(files);
    for (const f of manifest.files) {
      const bytes = await readFile(join(dir, f.path));
      expect(bytes.length).toBe(f.size);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(f.sha256);
      const [{ n }] = (await query(`SELECT count(*) AS n FROM read_parquet('${join(dir, f.path)}')`)) as [{ n: bigint }];
      expect(Number(n)).toBe(f.rows);
    }
    expect(manifest.records).toBe(130);
    expect((await stat(join(dir, '_SUCCESS'))).mtimeMs).toBeGreaterThanOrEqual((await stat(join(dir, '_manifest.json'))).mtimeMs);
  });
});

describe('export from a backup', () => {
  it('gives the same rows as the export from the cluster', async () => {
    const backupDir = join(tmp, 'backup');
    await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [typed, keyed], to: backupDir, noUdfs: true, noIndexes: true });
    const a = join(tmp, 'same-cluster');
    const b = join(tmp, 'same-backup');
    await fromCluster(a, { sets: [typed, keyed], parallel: 1 });
    const summary = await runExport({ source: { from: backupDir }, to: b, format: 'parquet', parallel: 1 });
    expect(summary.records).toBe(90);
    const columns = (await query(`DESCRIBE SELECT * FROM ${table(a)}`)).map((c) => c.column_name as string).filter((c) => c !== '_last_update');
    const select = (dir: string) => `SELECT ${columns.map((c) => `"${c}"`).join(', ')} FROM ${table(dir)}`;
    const onlyA = await query(`${select(a)} EXCEPT ALL ${select(b)}`);
    const onlyB = await query(`${select(b)} EXCEPT ALL ${select(a)}`);
    expect(onlyA).toEqual([]);
    expect(onlyB).toEqual([]);
    expect(Number((await query(`SELECT count(*) AS n FROM ${table(b)}`))[0]!.n)).toBe(90);
  });

  it('writes records in no set under set=__none__, and a snapshot level with --snapshot', async () => {
    const backupDir = join(tmp, 'no-set-backup');
    await makeBackup(backupDir, 'test', [record('test', '', 'a', { x: 1 }), record('test', '', 'b', { x: 2 }), record('test', 'odd/set=1', 'c', { x: 3 })]);
    const dir = join(tmp, 'no-set');
    const summary = await runExport({ source: { from: backupDir }, to: dir, format: 'parquet', snapshot: true });
    const files = await filesUnder(dir);
    expect(files.some((f) => /^namespace=test\/set=__none__\/snapshot=\d{8}T\d{6}Z\/part-00-00000\.parquet$/.test(f))).toBe(true);
    expect(files.some((f) => f.startsWith('namespace=test/set=odd%2Fset%3D1/snapshot='))).toBe(true);
    expect(files).toContain(`_snapshots/${summary.snapshot}/_SUCCESS`);
    const counts = await query(`SELECT set, _set, count(*) AS n FROM ${table(dir)} GROUP BY ALL ORDER BY ALL`);
    expect(counts.map((c) => [c.set, c._set, Number(c.n)])).toEqual([
      ['__none__', '', 2],
      ['odd/set=1', 'odd/set=1', 1],
    ]);
    // A second snapshot of the same table goes beside the first; the same snapshot again is refused.
    await expect(runExport({ source: { from: backupDir }, to: dir, format: 'parquet', snapshot: true })).rejects.toThrow(/already holds snapshot/);
  });
});

/** avro-js gives unions as { branch: value }: the value of a field, whatever its branch. */
function unwrap(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || Array.isArray(v)) return v;
  const keys = Object.keys(v);
  return keys.length === 1 ? (v as Record<string, unknown>)[keys[0]!] : v;
}

async function avroRecords(path: string): Promise<{ codec: string; schema: { fields: Array<{ name: string; aerospikeBin?: string }> }; records: Record<string, unknown>[] }> {
  const bytes = await readFile(path);
  const records: Record<string, unknown>[] = [];
  let codec = '';
  let schema: unknown;
  const decoder = new (avroJs.streams.BlockDecoder as unknown as new (o: object) => NodeJS.ReadWriteStream)({
    codecs: { null: (b: Buffer, cb: (e: Error | null, r?: Buffer) => void) => cb(null, b), deflate: (b: Buffer, cb: never) => inflateRaw(b, cb), zstandard: (b: Buffer, cb: never) => zstdDecompress(b, cb) },
    parseOpts: bigintLongs(),
  });
  await new Promise<void>((resolve, reject) => {
    decoder.on('metadata', (_type: unknown, c: string, header: { meta: Record<string, Buffer> }) => {
      codec = c;
      schema = JSON.parse(header.meta['avro.schema']!.toString());
    });
    decoder.on('data', (r: Record<string, unknown>) => records.push(r));
    decoder.on('end', resolve);
    decoder.on('error', reject);
    decoder.end(bytes);
  });
  return { codec, schema: schema as never, records };
}

describe('export to Avro, read by avro-js', () => {
  for (const codec of ['deflate', 'zstandard', 'null'] as const) {
    it(`writes splittable container files with the ${codec} block codec and aerospikeBin attributes`, async () => {
      const dir = join(tmp, `avro-${codec}`);
      const summary = await fromCluster(dir, { sets: [typed, keyed], format: 'avro', codec, parallel: 1 });
      expect(summary.records).toBe(90);
      const files = (await filesUnder(dir)).filter((f) => f.endsWith('.avro'));
      expect(files.length).toBeGreaterThanOrEqual(2);
      let rows = 0;
      for (const f of files) {
        const { codec: written_, schema, records } = await avroRecords(join(dir, f));
        expect(written_).toBe(codec);
        rows += records.length;
        const fields = new Map(schema.fields.map((x) => [x.name, x]));
        if (f.includes(keyed)) {
          expect(fields.get(`_bin_${Buffer.from('set').toString('hex')}`)?.aerospikeBin).toBe('set');
          expect(fields.get('name')?.aerospikeBin).toBe('name');
          continue;
        }
        expect(fields.get('int')?.aerospikeBin).toBe('int');
        for (const r of records) {
          const digest = Buffer.from(unwrap(r._digest) as Buffer).toString('hex');
          const bins = written.get(typed)!.get(digest)!;
          expect(unwrap(r.str)).toBe(bins.str);
          expect(unwrap(r.flag)).toBe(bins.flag);
          expect(Buffer.from(unwrap(r.blob) as Buffer)).toEqual(bins.blob);
          expect(unwrap(r.geo)).toBe((bins.geo as GeoJsonValue).json);
          expect(Object.is(unwrap(r.dbl), (bins.dbl as Float).value)).toBe(true);
          expect(JSON.parse(unwrap(r.mixed) as string)).toEqual(expected(bins.mixed!).value);
        }
      }
      expect(rows).toBe(90);
    });
  }
});

describe('export refuses bad input with one clear error and no _SUCCESS', () => {
  it('a destination that is not empty', async () => {
    const dir = join(tmp, 'not-empty');
    await fromCluster(join(dir), { sets: [keyed] });
    await writeFile(join(dir, 'keep.txt'), 'x');
    await expect(fromCluster(dir, { sets: [keyed] })).rejects.toMatchObject({ code: 'DESTINATION_NOT_EMPTY' });
  });

  it('a backup that is incomplete, or corrupt; the files written so far are removed', async () => {
    const backupDir = join(tmp, 'corrupt-backup');
    await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [typed], to: backupDir, noUdfs: true, noIndexes: true, compress: 'none', parallel: 1 });
    const [dataFile] = (await readdir(backupDir)).filter((f) => f.endsWith('.avro'));
    const path = join(backupDir, dataFile!);
    const bytes = await readFile(path);
    bytes[bytes.length - 40] ^= 0xff;
    await writeFile(path, bytes);
    const dir = join(tmp, 'from-corrupt');
    await expect(runExport({ source: { from: backupDir }, to: dir, format: 'parquet', fileBytes: 4096, rowGroupBytes: 1024 })).rejects.toMatchObject({ name: 'DataFileError' });
    expect((await filesUnder(dir).catch(() => [])).filter((f) => f.endsWith('.parquet') || f.startsWith('_'))).toEqual([]);

    const incomplete = join(tmp, 'incomplete-backup');
    await makeBackup(incomplete, 'test', [record('test', 'x', 1, { a: 1 })]);
    await rm(join(incomplete, 'manifest.json'));
    await expect(runExport({ source: { from: incomplete }, to: join(tmp, 'from-incomplete'), format: 'parquet' })).rejects.toMatchObject({ code: 'BACKUP_INCOMPLETE' });
  });

  it('an unknown format or codec', async () => {
    await expect(runExport({ source: { from: tmp }, to: join(tmp, 'x'), format: 'csv' as never })).rejects.toMatchObject({ kind: 'usage' });
    await expect(runExport({ source: { from: tmp }, to: join(tmp, 'x'), format: 'avro', codec: 'snappy' })).rejects.toMatchObject({ kind: 'usage' });
  });
});

describe('export of bigger column chunks, and of a bin list', () => {
  const big = uniqueSetName('xb');
  const n = 12_000;
  const text = (i: number) => `${i % 7 === 0 ? 'ünïcode ' : ''}${'lorem ipsum dolor sit amet '.repeat(4)}${i}`;

  beforeAll(async () => {
    sets.push(big);
    const records: RawRecord[] = [];
    for (let i = 0; i < n; i++) records.push(record('test', big, i, { s: text(i), i: BigInt(i) - 6000n, w: `word${i % 13}`, ...(i % 2 === 0 ? { f: new Float(i / 4) } : {}) }));
    await writeRaw(wire, records);
  }, 120_000);

  it('pages of a column chunk (over 1 MiB of values) and dictionaries hold every value', async () => {
    const dir = join(tmp, 'big-chunks');
    const summary = await fromCluster(dir, { sets: [big], parallel: 1, rowGroupBytes: 64 * 1024 * 1024, bufferBytes: 64 * 1024 * 1024 });
    expect(summary.records).toBe(n);
    const rows = await query(`SELECT i, s, w, f FROM ${table(dir)} ORDER BY i`);
    expect(rows.length).toBe(n);
    for (const [k, r] of rows.entries()) {
      const i = k;
      expect(r.i).toBe(BigInt(i) - 6000n);
      expect(r.s).toBe(text(i));
      expect(r.w).toBe(`word${i % 13}`);
      expect(r.f).toBe(i % 2 === 0 ? i / 4 : null);
    }
    // One row group, whose string chunk (over 1 MiB of values: several pages) DuckDB reads back whole; the word column is dictionary-encoded.
    const meta = await query(`SELECT path_in_schema AS p, row_group_id AS g, encodings AS e, stats_min_value AS lo, stats_max_value AS hi FROM parquet_metadata('${dir}/**/*.parquet')`);
    expect(new Set(meta.map((m) => m.g))).toEqual(new Set([0n]));
    expect(String(meta.find((m) => m.p === 'w')!.e)).toContain('RLE_DICTIONARY');
    expect(meta.find((m) => m.p === 'i')!.lo).toBe('-6000');
    expect(meta.find((m) => m.p === 'i')!.hi).toBe(String(n - 1 - 6000));
    const chunks = await query(`SELECT count(*) AS n FROM parquet_metadata('${dir}/**/*.parquet') WHERE path_in_schema = 's'`);
    expect(Number(chunks[0]!.n)).toBe(1);
    const sizes = await query(`SELECT total_uncompressed_size AS u FROM parquet_metadata('${dir}/**/*.parquet') WHERE path_in_schema = 's'`);
    expect(Number(sizes[0]!.u)).toBeGreaterThan(1024 * 1024);
  }, 120_000);

  it('with a bin list, only those bins and the last-update time', async () => {
    const dir = join(tmp, 'bin-list');
    await fromCluster(dir, { sets: [big], bins: ['w', 'i'] });
    const columns = (await query(`DESCRIBE SELECT * FROM ${table(dir)}`)).map((c) => c.column_name as string);
    expect(columns).toContain('w');
    expect(columns).toContain('i');
    expect(columns).not.toContain('s');
    const [row] = await query(`SELECT count(*) AS n, count(_last_update) AS lu, min(i) AS lo FROM ${table(dir)}`);
    expect(Number(row!.n)).toBe(n);
    expect(Number(row!.lu)).toBe(n);
    expect(row!.lo).toBe(-6000n);
  }, 120_000);
});
