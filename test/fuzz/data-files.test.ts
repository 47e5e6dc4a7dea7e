/**
 * Fuzzing of data files as they are read (docs/reliability.md, "Fuzzing"): readDataFile
 * (records, and restore's rows) and checkDataFile (verify) over the memory store, with
 * compression gzip, zstd and none, plain and encrypted. Inputs: files the DataFileSink
 * writes, their stored bytes mutated (with the manifest entry as written, or one that
 * matches the mutant so that the bytes reach the decompressor and the decoder), their
 * Avro container mutated and then compressed (and encrypted) again, and random bytes.
 */
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import type { WireRows } from '../../src/aerospike/batch-request.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { RowsReader } from '../../src/avro/record-rows.js';
import { fileCrypto, sealBuffer, type FileCrypto } from '../../src/crypto/backup-keys.js';
import { DataFileError, DataFileSink, checkDataFile, readDataFile, type Compression, type DataFileEntry } from '../../src/jobs/data-files.js';
import { openStore, type ObjectStore } from '../../src/storage/index.js';
import { recordArb, sampleRecords } from '../avro/records.js';
import { containerSample } from './avro-samples.js';
import { FuzzFailure, applyMutations, fuzzIt, guardAsync, mutationArb, printCounts, randomBytes, type Sample } from './support.js';

afterAll(() => printCounts('data-files'));

/** Each input is a stream pipeline: fewer runs in the short mode (FuzzOptions.cost). */
const STREAM_COST = { cost: 4 };

const COMPRESSIONS: Compression[] = ['gzip', 'zstd', 'none'];
const store: ObjectStore = await openStore('mem://fuzz-data-files/', 'write');
const crypto: FileCrypto = fileCrypto(cryptoRandomBytes(32));
const PREFIX = 'bk';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function readAllOf(key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await store.read(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

let series = 0;

/** Writes `records` as one data file with the DataFileSink; its entry and stored bytes. */
async function writeFile(records: RawRecord[], compress: Compression, encrypted: boolean): Promise<{ entry: DataFileEntry; stored: Buffer }> {
  const sink = new DataFileSink({ store, prefix: PREFIX, baseName: `w${series++}`, compress, ...(encrypted ? { crypto } : {}) });
  await pipeline(Readable.from(records), sink);
  const [entry] = sink.files();
  if (!entry) return { entry: { name: '', size: 0, sha256: '', records: 0, partitions: [] }, stored: Buffer.alloc(0) };
  return { entry, stored: await readAllOf(`${PREFIX}/${entry.name}`) };
}

/** `plain` (an Avro container) as a data file of `compress` would store it, encrypted for `name` when asked. */
async function storedForm(plain: Buffer, compress: Compression, name: string, encrypted: boolean): Promise<Buffer> {
  const compressed = compress === 'gzip' ? zlib.gzipSync(plain) : compress === 'zstd' ? zlib.zstdCompressSync(plain, { params: { [zlib.constants.ZSTD_c_checksumFlag]: 1 } }) : plain;
  return encrypted ? sealBuffer(crypto, name, compressed) : compressed;
}

const extension: Record<Compression, string> = { gzip: '.avro.gz', zstd: '.avro.zst', none: '.avro' };

/** A pool of valid files: records, their container, and the file as stored. */
interface PoolFile {
  compress: Compression;
  encrypted: boolean;
  records: RawRecord[];
  container: Sample;
  entry: DataFileEntry;
  stored: Buffer;
}

const pool: PoolFile[] = [];
for (const compress of COMPRESSIONS) {
  for (const encrypted of [false, true]) {
    for (let i = 0; i < 8; i++) {
      const records = sampleRecords(i * 3, 1000 + pool.length);
      const { entry, stored } = await writeFile(records, compress, encrypted);
      if (records.length === 0) continue;
      pool.push({ compress, encrypted, records, container: containerSample(records, [1 + (i % 3), 2]), entry, stored });
    }
  }
}

let inputs = 0;

/** Stores `bytes` under a new name of the pool file's kind; the entry given, or one that matches the bytes. */
async function put(bytes: Buffer, f: Pick<PoolFile, 'compress' | 'entry'>, matching: boolean, name?: string): Promise<DataFileEntry> {
  const fileName = name ?? `fuzz_${inputs++}_00000${extension[f.compress]}`;
  await store.write(`${PREFIX}/${fileName}`, [bytes]);
  return matching ? { ...f.entry, name: fileName, size: bytes.length, sha256: sha256(bytes) } : { ...f.entry, name: fileName };
}

interface Verdicts {
  records: RawRecord[] | Error;
  rows: number | Error;
  problems: DataFileError[];
}

async function collect<T>(readable: Readable): Promise<T[]> {
  const out: T[] = [];
  await pipeline(
    readable,
    new Writable({
      objectMode: true,
      write(chunk: T, _e, cb) {
        out.push(chunk);
        cb();
      },
    }),
  );
  return out;
}

/** readDataFile (records), readDataFile (restore's rows) and checkDataFile of one stored file. */
async function readAllWays(entry: DataFileEntry, compress: Compression, encrypted: boolean): Promise<Verdicts> {
  const opts = { store, prefix: PREFIX, entry, compress, ...(encrypted ? { crypto } : {}) };
  const records = await collect<RawRecord>(readDataFile(opts)).catch((e: Error) => e);
  const rows = await collect<WireRows>(readDataFile(opts, new RowsReader('target')))
    .then((blocks) => blocks.reduce((n, b) => n + b.count + b.skipped, 0))
    .catch((e: Error) => e);
  const check = await checkDataFile(opts);
  return { records, rows, problems: check.problems };
}

/** The verdicts are DataFileErrors (or success), and agree: the file reads whole exactly when verify finds no problem. */
function checkVerdicts(v: Verdicts, input: Buffer): void {
  for (const e of [v.records, v.rows]) {
    if (e instanceof Error && !(e instanceof DataFileError)) throw new FuzzFailure(`readDataFile failed with ${e.constructor.name}: ${e.message}`, input, e);
  }
  for (const p of v.problems) if (!(p instanceof DataFileError)) throw new FuzzFailure(`checkDataFile reported a ${(p as Error).constructor.name}`, input);
  const readOk = !(v.records instanceof Error);
  if (readOk !== !(v.rows instanceof Error)) throw new FuzzFailure(`records ${readOk ? 'read' : 'failed'} but rows ${readOk ? 'failed' : 'read'}: ${String(readOk ? v.rows : v.records)}`, input);
  if (readOk !== (v.problems.length === 0)) {
    throw new FuzzFailure(`readDataFile ${readOk ? 'read the file' : `failed (${(v.records as Error).message})`} but checkDataFile found ${v.problems.map((p) => p.code).join(', ') || 'no problem'}`, input);
  }
  if (readOk) expect(v.rows).toBe((v.records as RawRecord[]).length);
}

const hexed = (r: RawRecord): unknown => ({
  ...r,
  digest: r.digest.toString('hex'),
  userKey: r.userKey && { type: r.userKey.type, bytes: r.userKey.bytes.toString('hex') },
  bins: r.bins.map((b) => ({ ...b, value: b.value.toString('hex') })),
});

const poolArb = fc.nat({ max: pool.length - 1 }).map((i) => pool[i]!);
const mutationsArb = fc.array(mutationArb, { minLength: 1, maxLength: 4 });
/** Memory one input may take: a few decompressed files and their decoders. */
const bounds = { memory: 128 * 1024 * 1024 };

describe('fuzz: data files (readDataFile, checkDataFile)', () => {
  const parser = 'data files';

  fuzzIt(
    parser,
    'valid files read back their records, and verify clean',
    fc.tuple(fc.array(recordArb, { minLength: 1, maxLength: 12 }), fc.constantFrom(...COMPRESSIONS), fc.boolean()),
    async ([records, compress, encrypted]) => {
      const { entry, stored } = await writeFile(records, compress, encrypted);
      const r = await guardAsync(stored, [], () => readAllWays(entry, compress, encrypted), bounds);
      if (!r.ok) throw r.error;
      expect(r.value.problems).toEqual([]);
      expect((r.value.records as RawRecord[]).map(hexed)).toEqual(records.map(hexed));
      expect(r.value.rows).toBe(records.length);
    },
    { ...STREAM_COST, share: 0.1 },
  );

  fuzzIt(
    parser,
    'stored bytes mutated, entry as written: DataFileError',
    fc.tuple(poolArb, mutationsArb),
    async ([f, ms]) => {
      const bytes = applyMutations({ bytes: f.stored }, ms);
      const entry = await put(bytes, f, false);
      const r = await guardAsync(bytes, [], () => readAllWays(entry, f.compress, f.encrypted), bounds);
      if (!r.ok) throw r.error;
      checkVerdicts(r.value, bytes);
      if (!bytes.equals(f.stored) && r.value.problems.length === 0) throw new FuzzFailure('a changed file read as sound', bytes);
    },
    { ...STREAM_COST, share: 0.2 },
  );

  fuzzIt(
    parser,
    'stored bytes mutated, entry matching the mutant: records or DataFileError',
    fc.tuple(poolArb, mutationsArb),
    async ([f, ms]) => {
      const bytes = applyMutations({ bytes: f.stored }, ms);
      const entry = await put(bytes, f, true);
      const r = await guardAsync(bytes, [], () => readAllWays(entry, f.compress, f.encrypted), bounds);
      if (!r.ok) throw r.error;
      checkVerdicts(r.value, bytes);
    },
    { ...STREAM_COST, share: 0.25 },
  );

  fuzzIt(
    parser,
    'container mutated, then compressed (and encrypted): records or DataFileError',
    fc.tuple(poolArb, mutationsArb),
    async ([f, ms]) => {
      const plain = applyMutations(f.container, ms);
      const name = `fuzz_${inputs++}_00000${extension[f.compress]}`;
      const bytes = await storedForm(plain, f.compress, name, f.encrypted);
      const entry = await put(bytes, f, true, name);
      const r = await guardAsync(plain, [], () => readAllWays(entry, f.compress, f.encrypted), bounds);
      if (!r.ok) throw r.error;
      checkVerdicts(r.value, plain);
    },
    { ...STREAM_COST, share: 0.35 },
  );

  fuzzIt(
    parser,
    'random bytes, raw or compressed, as a data file: DataFileError',
    fc.tuple(poolArb, randomBytes(2048), fc.boolean()),
    async ([f, random, wrapped]) => {
      const name = `fuzz_${inputs++}_00000${extension[f.compress]}`;
      const bytes = wrapped ? await storedForm(random, f.compress, name, f.encrypted) : random;
      const entry = await put(bytes, f, true, name);
      const r = await guardAsync(random, [], () => readAllWays(entry, f.compress, f.encrypted), bounds);
      if (!r.ok) throw r.error;
      checkVerdicts(r.value, random);
    },
    { ...STREAM_COST, share: 0.1 },
  );
});

describe('zstd: the decoder window is bounded', () => {
  /** A zstd frame with the window descriptor of 2^windowLog and one raw block of `content`. */
  const frame = (windowLog: number, content: Buffer): Buffer => {
    const block = Buffer.alloc(3);
    block.writeUIntLE((content.length << 3) | 1, 0, 3); // last block, raw
    return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (windowLog - 10) << 3]), block, content]);
  };

  it('refuses a frame that asks for a window over 128 MiB (libzstd default limit, windowLog 27), as DATA_FILE_DECOMPRESS', async () => {
    const plain = containerSample([]).bytes;
    for (const windowLog of [28, 31]) {
      const bytes = frame(windowLog, plain);
      const entry = await put(bytes, { compress: 'zstd', entry: { name: '', size: 0, sha256: '', records: 0, partitions: [] } }, true);
      const check = await checkDataFile({ store, prefix: PREFIX, entry, compress: 'zstd' });
      expect(check.problems.map((p) => p.code)).toEqual(['DATA_FILE_DECOMPRESS']);
      expect(check.problems[0]!.message).toMatch(/too much memory/);
    }
    // What the writer itself may need (level 22 streams use windowLog 27) still reads.
    const bytes = frame(27, plain);
    const entry = await put(bytes, { compress: 'zstd', entry: { name: '', size: 0, sha256: '', records: 0, partitions: [] } }, true);
    expect((await checkDataFile({ store, prefix: PREFIX, entry, compress: 'zstd' })).problems).toEqual([]);
  });
});
