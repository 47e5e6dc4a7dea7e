/**
 * zstd data files (`.avro.zst`) without a server: one zstd frame with its content
 * checksum (what `zstd -t` checks), readable by an independent Avro reader after
 * decompression; damage is caught and named; files roll over within maxFileBytes as
 * gzip files do; levels are the codec's own. And the codecs' names and levels.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { zstdDecompressSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { parseDataFileName } from '../../src/jobs/backup.js';
import { COMPRESSIONS, codecOf, compressionOfExtension, zstdAvailable } from '../../src/jobs/compression.js';
import { DataFileSink, checkDataFile, readDataFile, type DataFileEntry, type DataFileSinkOptions } from '../../src/jobs/data-files.js';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, requiredFeatures, writeManifest, type Manifest } from '../../src/jobs/manifest.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { createStore, type ObjectStore } from '../../src/storage/index.js';
import { decodeWithAvroJs } from '../avro/avro-js.js';
import { goldenRecords, sampleRecords } from '../avro/records.js';

let stores = 0;
const memoryStore = (): ObjectStore => createStore(`mem://compression-test-${stores++}`);
const records = [...goldenRecords(), ...sampleRecords(300)];

async function stored(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const put = (store: ObjectStore, key: string, bytes: Buffer) => store.write(key, Readable.from([bytes]));

async function writeSeries(source: Iterable<RawRecord>, opts: Partial<DataFileSinkOptions> & { store: ObjectStore }): Promise<DataFileEntry[]> {
  const sink = new DataFileSink({ prefix: 'bk', baseName: 'test_0', compress: 'zstd', ...opts });
  await pipeline(Readable.from(source), sink);
  return sink.files();
}

async function readBack(store: ObjectStore, entry: DataFileEntry): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const r of readDataFile({ store, prefix: 'bk', entry, compress: 'zstd' })) out.push(r as RawRecord);
  return out;
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (e: Error & { code?: string }) => e,
  );
}

/** Incompressible records: random digest, one random blob bin of `size` bytes. */
function* randomRecords(n: number, size = 100): Generator<RawRecord> {
  for (let i = 0; i < n; i++) {
    yield { namespace: 'test', set: 's', digest: randomBytes(20), generation: 1, voidTime: 0, bins: [{ name: 'b', type: ParticleType.BLOB, value: randomBytes(size) }] };
  }
}

/** The zstd frame magic, little-endian 0xFD2FB528. */
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
/** Frame_Header_Descriptor bit 2: the frame ends in a 4-byte XXH64 content checksum. */
const CONTENT_CHECKSUM_FLAG = 0x04;

describe('zstd data files', () => {
  it('run on this runtime (the project pins Node 24)', () => {
    expect(zstdAvailable()).toBe(true);
  });

  it('are one zstd frame with its content checksum, holding an Avro container Apache avro-js reads', async () => {
    const store = memoryStore();
    const [entry, ...more] = await writeSeries(records, { store });
    expect(more).toEqual([]);
    expect(entry!.name).toBe('test_0_00000.avro.zst');
    const bytes = await stored(store, `bk/${entry!.name}`);
    expect(entry!.size).toBe(bytes.length);
    expect(bytes.subarray(0, 4)).toEqual(ZSTD_MAGIC);
    expect(bytes[4]! & CONTENT_CHECKSUM_FLAG).toBe(CONTENT_CHECKSUM_FLAG);
    expect(await readBack(store, entry!)).toEqual(records);
    const { avroToRecord } = await import('../../src/avro/record-codec.js');
    const independent = await decodeWithAvroJs(zstdDecompressSync(bytes));
    expect(independent.map((v) => avroToRecord(v as Parameters<typeof avroToRecord>[0]))).toEqual(records);
  });

  it('catch a flipped byte in decompression (the content checksum), and reading names the file', async () => {
    const store = memoryStore();
    const [entry] = (await writeSeries(records, { store })) as [DataFileEntry];
    const bytes = await stored(store, `bk/${entry.name}`);
    // Past the frame header (a flip there may only change the window size): in a block, and in the checksum.
    for (const at of [12, Math.floor(bytes.length / 2), bytes.length - 2]) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x01;
      expect(() => zstdDecompressSync(flipped), `flip at ${at}`).toThrow();
      await put(store, `bk/${entry.name}`, flipped);
      const error = await failure(readBack(store, entry));
      expect(['DATA_FILE_DECOMPRESS', 'DATA_FILE_UNDECODABLE', 'DATA_FILE_CHECKSUM_MISMATCH']).toContain(error.code);
      expect(error.message).toContain(entry.name);
    }
    // In the checksum only decompression and the SHA-256 can tell: every record decodes.
    const check = await checkDataFile({ store, prefix: 'bk', entry, compress: 'zstd' });
    expect(check.problems.map((p) => p.code)).toEqual(['DATA_FILE_DECOMPRESS', 'DATA_FILE_CHECKSUM_MISMATCH']);
    expect(check.problems[0]!.message).toMatch(new RegExp(`data file .*bk/${entry.name} cannot be decompressed \\(zstd\\) after \\d+ stored bytes: .*checksum`));
  });

  it('fail on a cut frame, naming the file', async () => {
    const store = memoryStore();
    const [entry] = (await writeSeries(records, { store })) as [DataFileEntry];
    const bytes = await stored(store, `bk/${entry.name}`);
    await put(store, `bk/${entry.name}`, bytes.subarray(0, bytes.length - 7));
    const check = await checkDataFile({ store, prefix: 'bk', entry: { ...entry, size: bytes.length - 7 }, compress: 'zstd' });
    expect(check.problems.map((p) => p.code)).toEqual(['DATA_FILE_DECOMPRESS', 'DATA_FILE_CHECKSUM_MISMATCH']);
    expect(check.problems[0]!.file).toBe(entry.name);
  });

  for (const [what, source, maxFileBytes] of [
    ['compressible records', () => records, 16 * 1024],
    ['incompressible records (zstd expands them)', () => randomRecords(3000), 16 * 1024],
    ['incompressible records, larger files', () => randomRecords(6000), 200 * 1024],
  ] as const) {
    it(`roll over at maxFileBytes: ${what}, every file at most the limit and filled, every record once in order`, async () => {
      const store = memoryStore();
      const input = [...source()];
      const files = await writeSeries(input, { store, maxFileBytes });
      expect(files.length).toBeGreaterThan(2);
      expect(files.map((f) => f.name)).toEqual(files.map((_, i) => `test_0_${String(i).padStart(5, '0')}.avro.zst`));
      const back: RawRecord[] = [];
      for (const f of files) {
        expect((await store.stat(`bk/${f.name}`))!.size).toBe(f.size);
        expect(f.size).toBeLessThanOrEqual(maxFileBytes);
        back.push(...(await readBack(store, f)));
      }
      expect(back).toEqual(input);
      for (const f of files.slice(0, -1)) expect(f.size).toBeGreaterThan(maxFileBytes / 2);
    });
  }

  it('pass the limit only with a file of a single block that alone is larger', async () => {
    const store = memoryStore();
    const maxFileBytes = 16 * 1024;
    const input = [...randomRecords(200), ...randomRecords(1, 40 * 1024), ...randomRecords(200)];
    const files = await writeSeries(input, { store, maxFileBytes });
    const big = files.filter((f) => f.size > maxFileBytes);
    expect(big.map((f) => f.records)).toEqual([1]);
    const back: RawRecord[] = [];
    for (const f of files) back.push(...(await readBack(store, f)));
    expect(back).toEqual(input);
  });

  it('take zstd levels 1-22 (default 1), and refuse levels of another codec', async () => {
    const store = memoryStore();
    const sizes: Record<number, number> = {};
    for (const level of [1, 3, 19]) {
      const [entry] = (await writeSeries(records, { store, compressLevel: level, baseName: `level_${level}` })) as [DataFileEntry];
      expect(await readBack(store, entry)).toEqual(records);
      sizes[level] = entry.size;
    }
    expect(sizes[19]).toBeLessThan(sizes[1]!);
    expect(codecOf('zstd').levels).toEqual({ min: 1, max: 22, default: 1 });
    // The same as level 1, up to the random sync markers (16 bytes a block, compressed differently).
    const [byDefault] = (await writeSeries(records, { store, baseName: 'default' })) as [DataFileEntry];
    expect(Math.abs(byDefault.size - sizes[1]!)).toBeLessThan(64);
    // (and levels 1 and 3 tell apart on these records)
    expect(Math.abs(sizes[1]! - sizes[3]!)).toBeGreaterThan(64);

    const sink = (compress: 'gzip' | 'zstd' | 'none', compressLevel: number) => () => new DataFileSink({ store, prefix: 'bk', baseName: 'x', compress, compressLevel });
    expect(sink('zstd', 0)).toThrow(/invalid compression level: 0 is not a zstd level \(1-22\)/);
    expect(sink('zstd', 23)).toThrow(RangeError);
    expect(sink('gzip', 10)).toThrow(/invalid compression level: 10 is not a gzip level \(0-9\)/);
    expect(sink('none', 1)).toThrow(/"none" takes no level/);
  });
});

describe('codecs', () => {
  it('name data files by extension, and a file name says its namespace and compression', () => {
    expect(COMPRESSIONS.map((c) => codecOf(c).extension)).toEqual(['.avro.gz', '.avro.zst', '.avro']);
    expect(COMPRESSIONS.map((c) => compressionOfExtension(codecOf(c).extension))).toEqual(COMPRESSIONS);
    expect(parseDataFileName('test_00_00001.avro.zst')).toEqual({ namespace: 'test', compress: 'zstd' });
    expect(parseDataFileName('my_ns_03_00000.avro.gz')).toEqual({ namespace: 'my_ns', compress: 'gzip' });
    expect(parseDataFileName('test_00_00000.avro')).toEqual({ namespace: 'test', compress: 'none' });
    expect(parseDataFileName('test_00_00000.avro.lz4')).toBeUndefined();
    expect(parseDataFileName('metadata.avro')).toBeUndefined();
  });

  it('bound what the bytes since a flush add, flush and end included, for incompressible input', async () => {
    for (const compression of ['gzip', 'zstd'] as const) {
      const streams = codecOf(compression).streams!;
      for (const level of [codecOf(compression).levels!.min, codecOf(compression).levels!.max]) {
        const compressor = streams.compressor(level);
        const out: Buffer[] = [];
        compressor.stream.on('data', (b: Buffer) => out.push(b));
        const size = () => out.reduce((n, b) => n + b.length, 0);
        let total = 0;
        for (const raw of [1, 700, 64 * 1024, 300 * 1024]) {
          const before = size();
          compressor.stream.write(randomBytes(raw));
          await compressor.flush();
          expect(size() - before, `${compression} ${level}: ${raw} bytes`).toBeLessThanOrEqual(streams.bound(raw));
          total += raw;
        }
        const before = size();
        compressor.stream.end();
        await new Promise((resolve) => compressor.stream.once('end', resolve));
        expect(size() - before).toBeLessThanOrEqual(streams.endBytes);
        expect(size()).toBeGreaterThan(total);
      }
    }
  });
});

describe('verify of a zstd backup', () => {
  it('passes a sound one, and reports a flipped byte by file name', async () => {
    const store = memoryStore();
    const files = await writeSeries(records, { store, maxFileBytes: 8 * 1024 });
    const now = new Date().toISOString();
    const fields: Manifest = {
      format: MANIFEST_FORMAT,
      formatVersion: MANIFEST_FORMAT_VERSION,
      tool: { name: 'aerobak-tests', version: '0' },
      schemaVersion: 1,
      createdAt: now,
      startedAt: now,
      finishedAt: now,
      cluster: { hosts: ['test'] },
      namespace: 'test',
      filters: {},
      compression: 'zstd',
      records: files.reduce((n, f) => n + f.records, 0),
      bytes: files.reduce((n, f) => n + f.size, 0),
      files,
    };
    await writeManifest(store, 'bk', { ...fields, requires: requiredFeatures(fields) });
    expect(await verifyBackup({ store, prefix: 'bk' })).toMatchObject({ ok: true, problems: [], records: records.length });

    const victim = files[1]!;
    const bytes = await stored(store, `bk/${victim.name}`);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x40;
    await put(store, `bk/${victim.name}`, bytes);
    const report = await verifyBackup({ store, prefix: 'bk' });
    expect(report.ok).toBe(false);
    expect(new Set(report.problems.map((p) => p.file))).toEqual(new Set([victim.name]));
    expect(report.problems.map((p) => p.code)).toContain('DATA_FILE_CHECKSUM_MISMATCH');
    for (const p of report.problems) expect(p.message).toContain(victim.name);
  });
});
