/**
 * `npm run bench:parquet-libs`: the comparison behind aerobak's Parquet writer
 * (docs/parquet-libraries.md). Throughput, peak memory, file size, nested types and
 * codecs (SNAPPY, ZSTD) of:
 *
 *   hyparquet-writer 0.17.0            pure JS, incremental ParquetWriter, async flush per row group
 *   parquet-wasm 0.8.0 + apache-arrow  Rust arrow-rs/parquet compiled to WebAssembly, fed Arrow IPC
 *   @dsnp/parquetjs 1.9.3              pure JS, row-at-a-time ParquetWriter (1.9.3 ships no code: 1.8.9 too)
 *   @duckdb/node-api 1.5.6-r.1         native DuckDB: appender into a table, COPY ... TO (FORMAT parquet)
 *
 * The libraries are not dependencies of aerobak: the first run installs the pinned
 * versions into .cache/bench-parquet-libs/ (git-ignored) with npm and loads them from
 * there. Every written file is read back with DuckDB and checked (types, codec, row
 * groups, column aggregates, a sample of rows including the LIST and MAP columns).
 *
 *   npx tsx bench/parquet-libs.ts [--records 200000] [--runs 3] [--memory-scale 2] [--no-memory]
 *                                 [--only hyparquet-writer,parquet-wasm,parquetjs,parquetjs-1.8.9,duckdb] [--keep]
 *
 * Every write runs in a child process of its own, so its peak RSS is its own (the kernel's
 * mark, reset with /proc/self/clear_refs right before the write). Record i is a function
 * of i alone, so every child writes the same data and the parent checks any row.
 *
 * - Timed runs, `--runs` rounds (every case once per round, so noise on a shared machine
 *   hits them alike): the records are generated before the clock starts; the table shows
 *   the median records/s.
 * - Memory runs, one per case at N and at `--memory-scale` x N records: each row group of
 *   records is generated when the writer asks for it, after a full GC, so the peak RSS
 *   over the RSS before the write is what the writer needs; flat from N to 2N means
 *   bounded by the row group, a ramp means it holds the table.
 *
 * Everything is also written to bench/results/parquet-libs-<UTC time>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { ReadableStream } from 'node:stream/web';
import { fileURLToPath, pathToFileURL } from 'node:url';
import zlib from 'node:zlib';

const REPO_DIR = fileURLToPath(new URL('..', import.meta.url));
const CACHE_DIR = join(REPO_DIR, '.cache', 'bench-parquet-libs');
const OUT_DIR = join(CACHE_DIR, 'out');
const RESULTS_DIR = join(REPO_DIR, 'bench', 'results');
const SCRIPT = fileURLToPath(import.meta.url);
const ROW_GROUP_ROWS = 65_536;
const SAMPLE_ROWS = 2_000;

/** What npm installs into CACHE_DIR: install name -> npm spec. */
const PINNED: Record<string, string> = {
  'hyparquet-writer': 'hyparquet-writer@0.17.0',
  'parquet-wasm': 'parquet-wasm@0.8.0',
  'apache-arrow': 'apache-arrow@21.2.0',
  '@dsnp/parquetjs': '@dsnp/parquetjs@1.9.3',
  // 1.9.3 as published holds no code (its tarball has no dist/): the last release that does.
  'parquetjs-1.8.9': 'parquetjs-1.8.9@npm:@dsnp/parquetjs@1.8.9',
  '@duckdb/node-api': '@duckdb/node-api@1.5.6-r.1',
};

type Codec = 'SNAPPY' | 'ZSTD';
const CODECS: Codec[] = ['SNAPPY', 'ZSTD'];

interface Library {
  id: string;
  label: string;
  /** Install names (keys of PINNED) whose package folders and dependencies make its install size. */
  packages: string[];
  kind: string;
  /** How it is fed and whether memory is bounded by a row group. */
  streaming: string;
}

const LIBRARIES: Library[] = [
  { id: 'hyparquet-writer', label: 'hyparquet-writer 0.17.0', packages: ['hyparquet-writer'], kind: 'pure JS', streaming: 'yes: ParquetWriter.write() per row group, awaits the writer\'s async flush() before the next' },
  { id: 'parquet-wasm', label: 'parquet-wasm 0.8.0 + apache-arrow 21.2.0', packages: ['parquet-wasm', 'apache-arrow'], kind: 'WebAssembly (Rust arrow-rs) + JS Arrow builders', streaming: 'yes: transformParquetStream() over a pull ReadableStream of Arrow record batches, one per row group' },
  { id: 'parquetjs', label: '@dsnp/parquetjs 1.9.3', packages: ['@dsnp/parquetjs'], kind: 'pure JS', streaming: '–' },
  { id: 'parquetjs-1.8.9', label: '@dsnp/parquetjs 1.8.9', packages: ['parquetjs-1.8.9'], kind: 'pure JS', streaming: 'yes: appendRow() per record, rows buffered (shredded) until rowGroupSize, then written' },
  { id: 'duckdb', label: '@duckdb/node-api 1.5.6-r.1', packages: ['@duckdb/node-api'], kind: 'native (DuckDB, prebuilt binary)', streaming: 'no: the whole table is appended into DuckDB memory, then COPY ... TO writes the file' },
];

// ---------------------------------------------------------------------------------------
// The records: an Aerospike export row. Record i is a function of i alone, so the parent
// regenerates any sampled row to compare and each child builds the same data set.

interface MapEntry {
  key: string;
  value: bigint | null;
}

interface Rec {
  _digest: Uint8Array;
  id: bigint | null;
  score: number | null;
  name: string | null;
  flag: boolean | null;
  blob: Uint8Array | null;
  tags: string[] | null;
  counts: MapEntry[] | null;
  /** Microseconds since the epoch. */
  _expires_at: bigint | null;
}

const WORDS = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot', 'golf', 'hotel', 'india', 'juliet', 'kilo', 'lima', 'mike', 'november', 'oscar', 'papa'];
const NON_ASCII = ['Zoë', 'Ærøskøbing', '東京', 'Straße', 'naïve café', '🚀 launch', 'Ελληνικά', 'русский'];
const ID_EDGES = [-(2n ** 63n), 2n ** 63n - 1n, -(2n ** 63n) + 1n, 2n ** 63n - 2n, 0n, -1n];
const SCORE_EDGES = [-0, Infinity, -Infinity, NaN, Number.MAX_VALUE, Number.MIN_VALUE];
const EPOCH_US = 1_750_000_000_000_000n;

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function makeRecord(i: number): Rec {
  const r = mulberry32(Math.imul(i + 1, 0x9e3779b1));
  const u32 = () => Math.floor(r() * 4294967296);
  const bytes = (n: number) => {
    const b = new Uint8Array(n);
    for (let k = 0; k < n; k++) b[k] = Math.floor(r() * 256);
    return b;
  };
  const word = () => WORDS[Math.floor(r() * WORDS.length)]!;
  const _digest = bytes(20);
  let id: bigint | null = r() < 0.05 ? null : BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32()));
  if (i % 1000 === 0) id = ID_EDGES[(i / 1000) % ID_EDGES.length]!;
  let score: number | null = r() < 0.05 ? null : (r() - 0.5) * 1e6;
  if (i % 997 === 1) score = SCORE_EDGES[Math.floor(i / 997) % SCORE_EDGES.length]!;
  const name = r() < 0.05 ? null : r() < 0.2 ? `${NON_ASCII[Math.floor(r() * NON_ASCII.length)]} ${word()}` : `${word()}-${word()}-${i}`;
  const flag = r() < 0.05 ? null : r() < 0.5;
  const blob = r() < 0.1 ? null : bytes(24 + Math.floor(r() * 17));
  const tags = r() < 0.1 ? null : Array.from({ length: Math.floor(r() * 6) }, () => (r() < 0.1 ? NON_ASCII[Math.floor(r() * NON_ASCII.length)]! : word()));
  let counts: MapEntry[] | null = null;
  if (r() >= 0.1) {
    const n = Math.floor(r() * 5);
    const first = Math.floor(r() * 10);
    counts = Array.from({ length: n }, (_, k) => ({
      key: `k${(first + k * 3) % 10}`,
      value: r() < 0.05 ? null : r() < 0.1 ? BigInt.asIntN(64, (BigInt(u32()) << 32n) | BigInt(u32())) : BigInt(Math.floor(r() * 1e6)),
    }));
  }
  const _expires_at = r() < 0.5 ? null : EPOCH_US + BigInt(Math.floor(r() * 2_592_000_000_000));
  return { _digest, id, score, name, flag, blob, tags, counts, _expires_at };
}

/**
 * What a writer is fed: the records, a row group at a time. heldSource: all generated
 * before the clock starts (the timed runs). lazySource: each batch generated when the
 * writer asks for it, after a full GC (the memory runs: the RSS then grows only with
 * what the writer keeps, not with the records or with garbage V8 has not collected yet).
 */
interface RecordSource {
  batches(): Iterable<Rec[]>;
}

function heldSource(n: number): RecordSource {
  const all = new Array<Rec>(n);
  for (let i = 0; i < n; i++) all[i] = makeRecord(i);
  return {
    *batches() {
      for (let start = 0; start < n; start += ROW_GROUP_ROWS) yield all.slice(start, start + ROW_GROUP_ROWS);
    },
  };
}

function* rowsOf(source: RecordSource): Iterable<Rec> {
  for (const batch of source.batches()) yield* batch;
}

function lazySource(n: number, beforeBatch: () => void): RecordSource {
  return {
    *batches() {
      for (let start = 0; start < n; start += ROW_GROUP_ROWS) {
        beforeBatch();
        const batch = new Array<Rec>(Math.min(ROW_GROUP_ROWS, n - start));
        for (let k = 0; k < batch.length; k++) batch[k] = makeRecord(start + k);
        yield batch;
      }
    },
  };
}

/** Bytes of the values themselves (no framing): the same yardstick for every library. */
function rawBytes(x: Rec): number {
  const s = (v: string) => Buffer.byteLength(v, 'utf8');
  let n = x._digest.length;
  if (x.id !== null) n += 8;
  if (x.score !== null) n += 8;
  if (x.name !== null) n += s(x.name);
  if (x.flag !== null) n += 1;
  if (x.blob !== null) n += x.blob.length;
  for (const t of x.tags ?? []) n += s(t);
  for (const e of x.counts ?? []) n += s(e.key) + (e.value === null ? 0 : 8);
  if (x._expires_at !== null) n += 8;
  return n;
}

// ---------------------------------------------------------------------------------------
// Loading the libraries from the cache directory.

const cacheRequire = createRequire(join(CACHE_DIR, 'package.json'));

function installed(name: string): boolean {
  const spec = PINNED[name]!;
  const version = spec.slice(spec.lastIndexOf('@') + 1);
  const pj = join(CACHE_DIR, 'node_modules', name, 'package.json');
  if (!existsSync(pj)) return false;
  // (1.8.9's package.json says "v1.8.9")
  return (JSON.parse(readFileSync(pj, 'utf8')) as { version?: string }).version?.replace(/^v/, '') === version;
}

function ensureInstalled(): void {
  const missing = Object.keys(PINNED).filter((n) => !installed(n));
  if (missing.length === 0) return;
  mkdirSync(CACHE_DIR, { recursive: true });
  // All in one command: a later `npm install --no-save` would prune what an earlier one added.
  const args = ['install', '--prefix', CACHE_DIR, '--no-save', '--no-audit', '--no-fund', ...Object.values(PINNED)];
  log(`installing into ${CACHE_DIR}: npm ${args.slice(4).join(' ')}`);
  const res = spawnSync('npm', args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: CACHE_DIR });
  if (res.status !== 0) throw new Error(`npm install failed (exit ${res.status ?? res.signal})`);
  const still = Object.keys(PINNED).filter((n) => !installed(n));
  if (still.length > 0) throw new Error(`npm install did not install ${still.join(', ')}`);
}

async function load(name: string): Promise<any> {
  const ns = (await import(pathToFileURL(cacheRequire.resolve(name)).href)) as Record<string, unknown>;
  return ns.default ?? ns;
}

/** Why a library cannot be loaded at all (undefined when it can). */
function unloadable(name: string): string | undefined {
  try {
    cacheRequire.resolve(name);
    return undefined;
  } catch (e) {
    const pj = JSON.parse(readFileSync(join(CACHE_DIR, 'node_modules', name, 'package.json'), 'utf8')) as { main?: string };
    const files = readdirSync(join(CACHE_DIR, 'node_modules', name));
    return `the published package has no code: its "main" ${pj.main ?? '(none)'} is missing (the package holds only ${files.join(', ')}) (${(e as Error).message.split('\n')[0]})`;
  }
}

// ---------------------------------------------------------------------------------------
// The writers. Each writes `records` to `path` in row groups of ROW_GROUP_ROWS and throws
// Unsupported when the library cannot do what is asked.

class Unsupported extends Error {}

/** Resolves to seconds spent in each phase, when a writer has phases worth telling apart. */
type Writer = (source: RecordSource, path: string, codec: Codec) => Promise<Record<string, number> | void>;

const WRITERS: Record<string, () => Promise<Writer>> = {
  'hyparquet-writer': async () => {
    const hw = await load('hyparquet-writer');
    const schema = [
      { name: 'root', num_children: 9 },
      { name: '_digest', type: 'BYTE_ARRAY', repetition_type: 'REQUIRED' },
      { name: 'id', type: 'INT64', repetition_type: 'OPTIONAL' },
      { name: 'score', type: 'DOUBLE', repetition_type: 'OPTIONAL' },
      { name: 'name', type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'OPTIONAL' },
      { name: 'flag', type: 'BOOLEAN', repetition_type: 'OPTIONAL' },
      { name: 'blob', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
      { name: 'tags', converted_type: 'LIST', logical_type: { type: 'LIST' }, repetition_type: 'OPTIONAL', num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      { name: 'element', type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'OPTIONAL' },
      { name: 'counts', converted_type: 'MAP', logical_type: { type: 'MAP' }, repetition_type: 'OPTIONAL', num_children: 1 },
      { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
      { name: 'key', type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: 'REQUIRED' },
      { name: 'value', type: 'INT64', repetition_type: 'OPTIONAL' },
      { name: '_expires_at', type: 'INT64', logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' }, repetition_type: 'OPTIONAL' },
    ];
    const fields = ['_digest', 'id', 'score', 'name', 'flag', 'blob', 'tags', 'counts', '_expires_at'] as const;
    return async (source, path, codec) => {
      const fh = await open(path, 'w');
      const writer = new hw.ByteWriter(8 << 20);
      // Each row group is encoded into the ByteWriter, then flushed to the file before
      // the next one is encoded: memory holds one row group.
      writer.flush = async () => {
        if (writer.index > 0) await fh.write(new Uint8Array(writer.buffer, 0, writer.index));
        writer.index = 0;
      };
      writer.finish = async () => {
        await writer.flush();
        await fh.close();
      };
      const compressors = { ZSTD: (b: Uint8Array) => new Uint8Array(zlib.zstdCompressSync(b)) };
      const pq = new hw.ParquetWriter({ writer, schema, codec, compressors, createdBy: 'aerobak bench' });
      for (const rs of source.batches()) {
        const columnData = fields.map((name) => ({ name, data: rs.map((x) => x[name]) }));
        await pq.write({ columnData, rowGroupSize: rs.length });
      }
      await pq.finish();
    };
  },

  'parquet-wasm': async () => {
    const arrow = await load('apache-arrow');
    const pw = await load('parquet-wasm');
    const utf8 = () => new arrow.Utf8();
    const fields = [
      new arrow.Field('_digest', new arrow.Binary(), false),
      new arrow.Field('id', new arrow.Int64(), true),
      new arrow.Field('score', new arrow.Float64(), true),
      new arrow.Field('name', utf8(), true),
      new arrow.Field('flag', new arrow.Bool(), true),
      new arrow.Field('blob', new arrow.Binary(), true),
      new arrow.Field('tags', new arrow.List(new arrow.Field('element', utf8(), true)), true),
      new arrow.Field('counts', new arrow.Map_(new arrow.Field('key_value', new arrow.Struct([new arrow.Field('key', utf8(), false), new arrow.Field('value', new arrow.Int64(), true)]), false), false), true),
      new arrow.Field('_expires_at', new arrow.TimestampMicrosecond('UTC'), true),
    ];
    const schema = new arrow.Schema(fields);
    const column = (type: unknown, values: Iterable<unknown>) => {
      const b = arrow.makeBuilder({ type, nullValues: [null] });
      for (const v of values) b.append(v);
      b.finish();
      return b.flush();
    };
    /** TimestampMicrosecond's builder takes milliseconds as numbers: micros go in directly. */
    const timestamps = (values: (bigint | null)[]) => {
      const data = new BigInt64Array(values.length);
      const nullBitmap = new Uint8Array((values.length + 7) >> 3);
      let nullCount = 0;
      values.forEach((v, k) => {
        if (v === null) nullCount++;
        else {
          data[k] = v;
          nullBitmap[k >> 3]! |= 1 << (k & 7);
        }
      });
      return arrow.makeData({ type: fields[8]!.type, length: values.length, nullCount, nullBitmap, data });
    };
    /** One row group as an Arrow record batch in WebAssembly memory. */
    const batch = (rs: Rec[]) => {
      const children = [
        column(fields[0]!.type, rs.map((x) => x._digest)),
        column(fields[1]!.type, rs.map((x) => x.id)),
        column(fields[2]!.type, rs.map((x) => x.score)),
        column(fields[3]!.type, rs.map((x) => x.name)),
        column(fields[4]!.type, rs.map((x) => x.flag)),
        column(fields[5]!.type, rs.map((x) => x.blob)),
        column(fields[6]!.type, rs.map((x) => x.tags)),
        column(fields[7]!.type, rs.map((x) => (x.counts === null ? null : new Map(x.counts.map((e) => [e.key, e.value]))))),
        timestamps(rs.map((x) => x._expires_at)),
      ];
      const struct = arrow.makeData({ type: new arrow.Struct(fields), length: rs.length, nullCount: 0, children });
      const ipc = arrow.tableToIPC(new arrow.Table([new arrow.RecordBatch(schema, struct)]), 'stream');
      const table = pw.Table.fromIPCStream(ipc);
      const batches = table.recordBatches();
      table.free();
      return batches as unknown[];
    };
    return async (source, path, codec) => {
      const props = new pw.WriterPropertiesBuilder()
        .setCompression(codec === 'SNAPPY' ? pw.Compression.SNAPPY : pw.Compression.ZSTD)
        .setMaxRowGroupSize(ROW_GROUP_ROWS)
        .setCreatedBy('aerobak bench')
        .build();
      const it = source.batches()[Symbol.iterator]();
      const input = new ReadableStream<unknown>(
        {
          pull(controller) {
            const next = it.next();
            if (next.done) return controller.close();
            for (const b of batch(next.value)) controller.enqueue(b);
          },
        },
        { highWaterMark: 0 },
      );
      const output = (await pw.transformParquetStream(input, props)) as ReadableStream<Uint8Array>;
      const fh = await open(path, 'w');
      try {
        for await (const chunk of output) await fh.write(chunk);
      } finally {
        await fh.close();
      }
    };
  },

  parquetjs: async () => {
    throw new Unsupported(unloadable('@dsnp/parquetjs') ?? 'loadable (not expected): measure it under its own id');
  },

  'parquetjs-1.8.9': async () => {
    const pj = await load('parquetjs-1.8.9');
    const schemaFor = (codec: Codec) => {
      const compression = codec;
      return new pj.ParquetSchema({
        _digest: { type: 'BYTE_ARRAY', compression },
        id: { type: 'INT64', optional: true, compression },
        score: { type: 'DOUBLE', optional: true, compression },
        name: { type: 'UTF8', optional: true, compression },
        flag: { type: 'BOOLEAN', optional: true, compression },
        blob: { type: 'BYTE_ARRAY', optional: true, compression },
        tags: { type: 'LIST', optional: true, fields: { list: { repeated: true, fields: { element: { type: 'UTF8', optional: true, compression } } } } },
        // No MAP helper: a group annotated MAP with the spec's key_value layout.
        counts: { type: 'MAP', optional: true, fields: { key_value: { repeated: true, fields: { key: { type: 'UTF8', compression }, value: { type: 'INT64', optional: true, compression } } } } },
        _expires_at: { type: 'TIMESTAMP_MICROS', optional: true, compression },
      });
    };
    return async (source, path, codec) => {
      let schema: any;
      try {
        schema = schemaFor(codec);
      } catch (e) {
        // It throws its messages as a string.
        throw new Unsupported(`${codec}: ${String(e instanceof Error ? e.message : e).split('\n')[0]}`);
      }
      const w = await pj.ParquetWriter.openFile(schema, path, { rowGroupSize: ROW_GROUP_ROWS });
      for (const x of rowsOf(source)) {
        await w.appendRow({
          _digest: x._digest,
          id: x.id,
          score: x.score,
          name: x.name,
          flag: x.flag,
          blob: x.blob,
          tags: x.tags === null ? null : { list: x.tags.map((element) => ({ element })) },
          counts: x.counts === null ? null : { key_value: x.counts },
          _expires_at: x._expires_at,
        });
      }
      await w.close();
    };
  },

  duckdb: async () => {
    const d = await load('@duckdb/node-api');
    return async (source, path, codec) => {
      const instance = await d.DuckDBInstance.create(':memory:');
      const conn = await instance.connect();
      const t0 = performance.now();
      try {
        await conn.run(`create table t (_digest blob not null, id bigint, score double, name varchar, flag boolean, blob blob, tags varchar[], counts map(varchar, bigint), _expires_at timestamptz)`);
        const a = await conn.createAppender('t');
        const listType = a.columnType(6);
        const mapType = a.columnType(7);
        for (const x of rowsOf(source)) {
          a.appendBlob(x._digest);
          if (x.id === null) a.appendNull();
          else a.appendBigInt(x.id);
          if (x.score === null) a.appendNull();
          else a.appendDouble(x.score);
          if (x.name === null) a.appendNull();
          else a.appendVarchar(x.name);
          if (x.flag === null) a.appendNull();
          else a.appendBoolean(x.flag);
          if (x.blob === null) a.appendNull();
          else a.appendBlob(x.blob);
          if (x.tags === null) a.appendNull();
          else a.appendList(d.listValue(x.tags), listType);
          if (x.counts === null) a.appendNull();
          else a.appendMap(d.mapValue(x.counts), mapType);
          if (x._expires_at === null) a.appendNull();
          else a.appendTimestampTZ(d.timestampTZValue(x._expires_at));
          a.endRow();
        }
        a.closeSync();
        const t1 = performance.now();
        await conn.run(`copy t to '${path.replaceAll("'", "''")}' (format parquet, compression ${codec.toLowerCase()}, row_group_size ${ROW_GROUP_ROWS})`);
        return { append: (t1 - t0) / 1000, copy: (performance.now() - t1) / 1000 };
      } finally {
        conn.closeSync();
        instance.closeSync();
      }
    };
  },
};

// ---------------------------------------------------------------------------------------
// The child: one write, measured.

interface ChildParams {
  lib: string;
  codec: Codec;
  records: number;
  /** held: the timed runs; lazy: the memory runs (see RecordSource). */
  mode: 'held' | 'lazy';
  path: string;
}

interface Measured {
  seconds: number;
  phases?: Record<string, number>;
  /** Peak RSS during the write minus the RSS before it. */
  peakRssDeltaMB: number;
  peakRssMB: number;
  baseRssMB: number;
  /** Lazy runs: the most heap found live after the GC before each batch. Held runs: sampled peak heapUsed. */
  heapMB: number;
  peakHow: string;
  fileBytes: number;
  cpuSeconds: number;
}

type ChildResult =
  | ({ ok: true } & Measured)
  | { ok: false; unsupported: boolean; error: string };

const MARK = 'PARQUET_LIBS_RESULT ';

function vmKB(field: 'VmHWM' | 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function resetPeakRss(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

async function child(p: ChildParams): Promise<ChildResult> {
  let write: Writer;
  try {
    write = await WRITERS[p.lib]!();
  } catch (e) {
    return { ok: false, unsupported: e instanceof Unsupported, error: (e as Error).message };
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the child needs --expose-gc');
  let liveHeap = 0;
  const source =
    p.mode === 'held'
      ? heldSource(p.records)
      : lazySource(p.records, () => {
          gc();
          liveHeap = Math.max(liveHeap, process.memoryUsage().heapUsed);
        });
  gc();
  gc();
  const baseRss = process.memoryUsage.rss();
  const exact = resetPeakRss();
  // Fallback and heap figure: samples every 20 ms (only when the event loop gets a turn:
  // a synchronous encoder is not sampled while it runs; the kernel's mark always is).
  let sampledRss = baseRss;
  let peakHeap = process.memoryUsage().heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    sampledRss = Math.max(sampledRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 20);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let phases: Record<string, number> | void;
  try {
    phases = await write(source, p.path, p.codec);
  } catch (e) {
    clearInterval(sampler);
    if (e instanceof Unsupported) return { ok: false, unsupported: true, error: e.message };
    return { ok: false, unsupported: false, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  clearInterval(sampler);
  const m = process.memoryUsage();
  sampledRss = Math.max(sampledRss, m.rss);
  peakHeap = Math.max(peakHeap, m.heapUsed);
  const hwm = exact ? vmKB('VmHWM') : undefined;
  const peakRss = hwm !== undefined ? Math.max(hwm * 1024, sampledRss) : sampledRss;
  return {
    ok: true,
    seconds,
    ...(phases ? { phases } : {}),
    peakRssDeltaMB: (peakRss - baseRss) / 1e6,
    peakRssMB: peakRss / 1e6,
    baseRssMB: baseRss / 1e6,
    heapMB: (p.mode === 'lazy' ? liveHeap : peakHeap) / 1e6,
    peakHow: hwm !== undefined ? 'VmHWM' : 'sampled',
    fileBytes: statSync(p.path).size,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
}

function runChild(p: ChildParams): Promise<ChildResult> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', SCRIPT, '--child', JSON.stringify(p)], {
      cwd: REPO_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (b: Buffer) => (out += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (err += b.toString()));
    proc.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith(MARK));
      if (line) resolve(JSON.parse(line.slice(MARK.length)) as ChildResult);
      else resolve({ ok: false, unsupported: false, error: `child exited ${code ?? signal} without a result\n${err.slice(-4000)}` });
    });
  });
}

// ---------------------------------------------------------------------------------------
// The check: DuckDB reads the file back.

interface Expected {
  records: number;
  aggregates: Record<string, bigint>;
}

const AGGREGATES: Record<string, string> = {
  rows: 'count(*)',
  ids: 'count(id)',
  scores: 'count(score)',
  names: 'count(name)',
  flags: 'count(flag)',
  trues: 'count(*) filter (where flag)',
  blobs: 'count(blob)',
  tag_lists: 'count(tags)',
  tag_items: 'coalesce(sum(len(tags)), 0)',
  maps: 'count(counts)',
  map_entries: 'coalesce(sum(cardinality(counts)), 0)',
  expiries: 'count(_expires_at)',
};

function expectedAggregates(n: number): Expected {
  const a: Record<string, bigint> = Object.fromEntries(Object.keys(AGGREGATES).map((k) => [k, 0n]));
  const inc = (k: string, by = 1) => (a[k] = a[k]! + BigInt(by));
  for (let i = 0; i < n; i++) {
    const x = makeRecord(i);
    inc('rows');
    if (x.id !== null) inc('ids');
    if (x.score !== null) inc('scores');
    if (x.name !== null) inc('names');
    if (x.flag !== null) inc('flags');
    if (x.flag === true) inc('trues');
    if (x.blob !== null) inc('blobs');
    if (x.tags !== null) inc('tag_lists'), inc('tag_items', x.tags.length);
    if (x.counts !== null) inc('maps'), inc('map_entries', x.counts.length);
    if (x._expires_at !== null) inc('expiries');
  }
  return { records: n, aggregates: a };
}

interface Check {
  ok: boolean;
  nestedOk: boolean;
  rowGroups: number;
  codecs: string[];
  types: Record<string, string>;
  problems: string[];
}

const EXPECTED_TYPES: Record<string, string[]> = {
  _digest: ['BLOB'],
  id: ['BIGINT'],
  score: ['DOUBLE'],
  name: ['VARCHAR'],
  flag: ['BOOLEAN'],
  blob: ['BLOB'],
  tags: ['VARCHAR[]'],
  counts: ['MAP(VARCHAR, BIGINT)'],
  _expires_at: ['TIMESTAMP WITH TIME ZONE', 'TIMESTAMP'],
};

function sampleIndices(n: number): number[] {
  const s = new Set<number>([0, 1, n - 1]);
  for (let g = ROW_GROUP_ROWS; g < n; g += ROW_GROUP_ROWS) s.add(g - 1).add(g);
  for (let i = 0; i < n; i += 1000) s.add(i); // the int64 edges
  for (let i = 1; i < n; i += 997) s.add(i); // the double edges
  const r = mulberry32(42);
  while (s.size < Math.min(n, SAMPLE_ROWS)) s.add(Math.floor(r() * n));
  return [...s].filter((i) => i >= 0 && i < n).sort((a, b) => a - b);
}

const bytesEqual = (a: unknown, b: Uint8Array | null) =>
  b === null ? a === null : a instanceof Uint8Array && a.length === b.length && a.every((v, k) => v === b[k]);

function compareRow(got: Record<string, unknown>, x: Rec): string[] {
  const bad: string[] = [];
  const show = (v: unknown) => JSON.stringify(v, (_, y) => (typeof y === 'bigint' ? `${y}n` : y instanceof Uint8Array ? `<${y.length} bytes>` : y));
  if (!bytesEqual(got._digest, x._digest)) bad.push('_digest');
  if (got.id !== x.id) bad.push(`id ${show(got.id)} != ${show(x.id)}`);
  if (!Object.is(got.score, x.score)) bad.push(`score ${String(got.score)} != ${String(x.score)}`);
  if (got.name !== x.name) bad.push(`name ${show(got.name)} != ${show(x.name)}`);
  if (got.flag !== x.flag) bad.push(`flag ${show(got.flag)} != ${show(x.flag)}`);
  if (!bytesEqual(got.blob, x.blob)) bad.push('blob');
  if (show(got.tags) !== show(x.tags)) bad.push(`tags ${show(got.tags)} != ${show(x.tags)}`);
  if (show(got.counts) !== show(x.counts)) bad.push(`counts ${show(got.counts)} != ${show(x.counts)}`);
  if (got.exp_us !== x._expires_at) bad.push(`_expires_at ${show(got.exp_us)} != ${show(x._expires_at)}`);
  return bad;
}

async function checkFile(d: any, path: string, codec: Codec, exp: Expected): Promise<Check> {
  const instance = await d.DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const q = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjectsJS() as Promise<Record<string, unknown>[]>;
  const file = `'${path.replaceAll("'", "''")}'`;
  const problems: string[] = [];
  let nestedOk = true;
  try {
    const types: Record<string, string> = {};
    for (const r of await q(`describe select * from read_parquet(${file})`)) types[String(r.column_name)] = String(r.column_type);
    for (const [col, want] of Object.entries(EXPECTED_TYPES)) {
      if (!want.includes(types[col] ?? '(missing)')) {
        problems.push(`type of ${col} is ${types[col] ?? '(missing)'}, expected ${want.join(' or ')}`);
        if (col === 'tags' || col === 'counts') nestedOk = false;
      }
    }
    const meta = await q(`select count(distinct row_group_id) as groups, list(distinct compression) as codecs, max(row_group_num_rows) as max_rows from parquet_metadata(${file})`);
    const rowGroups = Number(meta[0]!.groups);
    const codecs = (meta[0]!.codecs as string[]).map(String).sort();
    if (codecs.length !== 1 || codecs[0]!.toUpperCase() !== codec) problems.push(`column chunks are ${codecs.join(', ')}, expected ${codec} only`);
    if (Number(meta[0]!.max_rows) > ROW_GROUP_ROWS) problems.push(`a row group has ${String(meta[0]!.max_rows)} rows (> ${ROW_GROUP_ROWS})`);
    if (nestedOk) {
      const agg = (await q(`select ${Object.entries(AGGREGATES).map(([k, e]) => `${e}::bigint as ${k}`).join(', ')} from read_parquet(${file})`))[0]!;
      for (const [k, want] of Object.entries(exp.aggregates)) {
        if (agg[k] !== want) {
          problems.push(`${k}: ${String(agg[k])} in the file, ${want} written`);
          if (k.startsWith('tag') || k.startsWith('map')) nestedOk = false;
        }
      }
      const idx = sampleIndices(exp.records);
      const rows = await q(
        `select file_row_number::bigint as i, _digest, id, score, name, flag, blob, tags, counts, epoch_us(_expires_at) as exp_us from read_parquet(${file}, file_row_number = true) where file_row_number in (${idx.join(',')}) order by file_row_number`,
      );
      if (rows.length !== idx.length) problems.push(`sample: ${rows.length} of ${idx.length} rows found`);
      let mismatched = 0;
      for (const got of rows) {
        const bad = compareRow(got, makeRecord(Number(got.i)));
        if (bad.length > 0) {
          if (mismatched++ < 3) problems.push(`row ${String(got.i)}: ${bad.join('; ').slice(0, 300)}`);
          if (bad.some((b) => b.startsWith('tags') || b.startsWith('counts'))) nestedOk = false;
        }
      }
      if (mismatched > 3) problems.push(`... ${mismatched} of ${rows.length} sampled rows differ`);
    }
    return { ok: problems.length === 0, nestedOk, rowGroups, codecs, types, problems };
  } catch (e) {
    problems.push(`DuckDB cannot read it: ${(e as Error).message.split('\n')[0]}`);
    return { ok: false, nestedOk: false, rowGroups: 0, codecs: [], types: {}, problems };
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

// ---------------------------------------------------------------------------------------
// Install sizes: the package folders and their dependency closure inside the cache.

function dirBytes(dir: string, skipNodeModules: boolean): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (skipNodeModules && e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p, false);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

function installBytes(names: string[]): number {
  const seen = new Set<string>();
  const resolveFrom = (from: string, dep: string): string | undefined => {
    for (let dir = from; dir.startsWith(CACHE_DIR); dir = dirname(dir)) {
      const p = join(dir, 'node_modules', dep);
      if (existsSync(join(p, 'package.json'))) return p;
    }
    return undefined;
  };
  const visit = (dir: string) => {
    if (seen.has(dir)) return;
    seen.add(dir);
    const pj = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    for (const dep of Object.keys({ ...pj.dependencies, ...pj.optionalDependencies })) {
      const p = resolveFrom(dir, dep);
      if (p) visit(p);
    }
  };
  for (const n of names) visit(join(CACHE_DIR, 'node_modules', n));
  let total = 0;
  for (const dir of seen) total += dirBytes(dir, true);
  return total;
}

// ---------------------------------------------------------------------------------------
// The parent.

function log(msg: string): void {
  console.error(`[bench:parquet-libs ${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

interface CaseRow {
  lib: Library;
  codec: Codec;
  /** The timed runs (records held in memory). */
  runs: Measured[];
  /** The memory runs (records generated per row group): at N and at memoryScale x N. */
  memory: { records: number; result: Measured }[];
  unsupported?: string;
  failures: string[];
  checks: Check[];
}

function printTable(rows: string[][]): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((v, c) => v.padEnd(widths[c]!)).join(' | ')} |`;
  console.log(line(rows[0]!));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows.slice(1)) console.log(line(r));
}

async function main(): Promise<void> {
  const records = Number(arg('records') ?? 200_000);
  const runs = Number(arg('runs') ?? 3);
  const memoryScale = Number(arg('memory-scale') ?? 2);
  const memoryRuns = !process.argv.includes('--no-memory');
  const only = arg('only')?.split(',');
  const keep = process.argv.includes('--keep');
  if (![records, runs, memoryScale].every((v) => Number.isInteger(v) && v >= 1)) throw new Error('--records, --runs and --memory-scale take positive integers');
  if (typeof zlib.zstdCompressSync !== 'function') throw new Error(`node:zlib has no zstd in Node ${process.version}: run with Node >= 22.15 (npm run uses the project's Node 24)`);

  ensureInstalled();
  const libs = LIBRARIES.filter((l) => !only || only.includes(l.id));
  mkdirSync(OUT_DIR, { recursive: true });
  const duck = await load('@duckdb/node-api');

  let raw = 0;
  for (let i = 0; i < records; i++) raw += rawBytes(makeRecord(i));
  const rawPerRecord = raw / records;
  const expected = new Map<number, Expected>();
  const expectedFor = (n: number) => expected.get(n) ?? expected.set(n, expectedAggregates(n)).get(n)!;

  const cases: CaseRow[] = libs.flatMap((lib) => CODECS.map((codec) => ({ lib, codec, runs: [], memory: [], failures: [], checks: [] })));
  const t0 = Date.now();
  const loadBefore = loadavg()[1]!;

  /** One child, its file checked; undefined when it failed or is unsupported. */
  const runCase = async (c: CaseRow, mode: ChildParams['mode'], n: number, what: string, keepFile: boolean): Promise<Measured | undefined> => {
    const path = join(OUT_DIR, `${c.lib.id}-${c.codec.toLowerCase()}-${mode}.parquet`);
    rmSync(path, { force: true });
    const res = await runChild({ lib: c.lib.id, codec: c.codec, records: n, mode, path });
    if (!res.ok) {
      if (res.unsupported) {
        c.unsupported = res.error;
        log(`${c.lib.id} ${c.codec}: unsupported: ${res.error}`);
      } else {
        c.failures.push(res.error);
        log(`${c.lib.id} ${c.codec} (${what}): FAILED: ${res.error}`);
      }
      return undefined;
    }
    const check = await checkFile(duck, path, c.codec, expectedFor(n));
    c.checks.push(check);
    const phases = res.phases ? ` (${Object.entries(res.phases).map(([k, v]) => `${k} ${v.toFixed(1)} s`).join(', ')})` : '';
    log(
      `${c.lib.id} ${c.codec} (${what}): ${Math.round(n / res.seconds).toLocaleString('en-US')} rec/s${phases}, peak RSS +${res.peakRssDeltaMB.toFixed(0)} MB, heap ${res.heapMB.toFixed(0)} MB, ${(res.fileBytes / 1e6).toFixed(1)} MB, ${check.rowGroups} row groups, DuckDB check ${check.ok ? 'ok' : 'FAILED'}`,
    );
    for (const p of check.problems) log(`  !! ${c.lib.id} ${c.codec}: ${p}`);
    if (!keepFile) rmSync(path, { force: true });
    return res;
  };

  for (let round = 1; round <= runs; round++) {
    for (const c of cases) {
      if (c.unsupported !== undefined) continue;
      const res = await runCase(c, 'held', records, `round ${round}`, keep && round === runs);
      if (res) c.runs.push(res);
    }
  }
  if (memoryRuns) {
    for (const n of memoryScale === 1 ? [records] : [records, records * memoryScale]) {
      for (const c of cases) {
        if (c.unsupported !== undefined) continue;
        const res = await runCase(c, 'lazy', n, `memory, ${n.toLocaleString('en-US')} records`, false);
        if (res) c.memory.push({ records: n, result: res });
      }
    }
  }
  const totalSeconds = (Date.now() - t0) / 1000;
  const loadAfter = loadavg()[1]!;

  const rps = (c: CaseRow) => median(c.runs.map((r) => records / r.seconds));
  const ref = cases.find((c) => c.lib.id === 'hyparquet-writer' && c.codec === 'SNAPPY' && c.runs.length > 0);
  const memHeader = memoryScale === 1 ? 'peak RSS MB' : `peak RSS MB (N / ${memoryScale}N)`;
  const table: string[][] = [['library', 'codec', 'nested ok', 'records/s', 'MB/s', 'x hyparquet SNAPPY', 'CPU s', memHeader, 'file MB', 'row groups', 'DuckDB check']];
  for (const c of cases) {
    if (c.unsupported !== undefined || c.runs.length === 0) {
      const why = c.unsupported !== undefined ? `unsupported: ${c.unsupported}` : `FAILED: ${c.failures[0]?.split('\n')[0] ?? '?'}`;
      table.push([c.lib.label, c.codec, '–', '–', '–', '–', '–', '–', '–', '–', why.slice(0, 160)]);
      continue;
    }
    const allOk = c.checks.every((k) => k.ok) && c.failures.length === 0;
    table.push([
      c.lib.label,
      c.codec,
      c.checks.every((k) => k.nestedOk) ? 'yes' : 'NO',
      Math.round(rps(c)).toLocaleString('en-US'),
      ((rps(c) * rawPerRecord) / 1e6).toFixed(1),
      ref ? (rps(c) / rps(ref)).toFixed(2) : '–',
      median(c.runs.map((r) => r.cpuSeconds)).toFixed(1),
      c.memory.length > 0 ? c.memory.map((m) => m.result.peakRssDeltaMB.toFixed(0)).join(' / ') : '–',
      (median(c.runs.map((r) => r.fileBytes)) / 1e6).toFixed(1),
      String(c.checks[0]?.rowGroups ?? '–'),
      allOk ? 'ok' : `FAILED: ${[...new Set(c.checks.flatMap((k) => k.problems))].join('; ').slice(0, 160)}`,
    ]);
  }
  const sizes = libs.map((l) => ({ id: l.id, label: l.label, kind: l.kind, streaming: l.streaming, installMB: installBytes(l.packages) / 1e6 }));

  console.log();
  console.log(
    `${records.toLocaleString('en-US')} records (N; ${rawPerRecord.toFixed(0)} B of values each), row groups of ${ROW_GROUP_ROWS.toLocaleString('en-US')} rows, one child process per run; Node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`,
  );
  console.log(`load average (5 min) ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end; ${totalSeconds.toFixed(0)} s in all`);
  console.log(`records/s: median of ${runs} run(s) with the records in memory before the clock starts; MB/s = records/s x ${rawPerRecord.toFixed(0)} B; CPU s: user + system of the write (all threads)`);
  if (memoryRuns) console.log(`peak RSS: one run each with the records generated per row group as the writer asks (full GC before each), peak RSS minus RSS before the write`);
  console.log();
  printTable(table);
  console.log();
  printTable([['library', 'kind', 'install MB', 'streaming row groups'], ...sizes.map((s) => [s.label, s.kind, s.installMB.toFixed(1), s.streaming])]);
  console.log();
  const failed = cases.filter((c) => c.failures.length > 0 || c.checks.some((k) => !k.ok));
  if (failed.length > 0) {
    console.log(`FAILED: ${failed.map((c) => `${c.lib.id} ${c.codec}`).join(', ')} (see the !! lines above)`);
  }

  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  const out = join(RESULTS_DIR, `parquet-libs-${stamp}.json`);
  writeFileSync(
    out,
    JSON.stringify(
      { records, runs, memoryScale: memoryRuns ? memoryScale : null, rowGroupRows: ROW_GROUP_ROWS, rawBytesPerRecord: rawPerRecord, totalSeconds, loadBefore, loadAfter, node: process.version, cpus: cpus().map((c) => c.model), cases, sizes },
      (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
      2,
    ),
  );
  console.log(`results: ${out} (${totalSeconds.toFixed(0)} s)`);
  if (failed.length > 0) process.exitCode = 1;
}

if (process.argv[2] === '--child') {
  const p = JSON.parse(process.argv[3]!) as ChildParams;
  child(p).then(
    (r) => {
      process.stdout.write(`${MARK}${JSON.stringify(r)}\n`);
      process.exit(0);
    },
    (e: unknown) => {
      process.stdout.write(`${MARK}${JSON.stringify({ ok: false, unsupported: false, error: (e as Error).stack ?? String(e) })}\n`);
      process.exit(0);
    },
  );
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
