import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { partitionId } from '../../src/aerospike/wire/digest.js';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import type { ScanBatch } from '../../src/aerospike/scan-batch.js';
import { FieldType, MSG_HEADER_SIZE, encodeMessagesFrame } from '../../src/aerospike/wire/message.js';
import { avroToRecord, type AvroRecord } from '../../src/avro/record-codec.js';
import { DataFileSink, checkDataFile, readDataFile, type Compression, type DataFileEntry, type DataFileSinkOptions } from '../../src/jobs/data-files.js';
import type { WireRows } from '../../src/aerospike/batch-request.js';
import { RowsReader } from '../../src/avro/record-rows.js';
import { FaultyStore } from '../../src/storage/faulty.js';
import { createStore, type ObjectStore } from '../../src/storage/index.js';
import { recordMessage } from '../aerospike/support/fake-node.js';
import { decodeWithAvroJs } from '../avro/avro-js.js';
import { goldenRecords, sampleRecords } from '../avro/records.js';

let stores = 0;
const memoryStore = (): ObjectStore => createStore(`mem://data-files-test-${stores++}`);

async function stored(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `inner` with another write(). */
function withWrite(inner: ObjectStore, write: ObjectStore['write']): ObjectStore {
  return {
    location: inner.location,
    capabilities: inner.capabilities,
    open: (intent) => inner.open(intent),
    write,
    create: (key, source, options) => inner.create(key, source, options),
    read: (key, range) => inner.read(key, range),
    stat: (key) => inner.stat(key),
    list: (prefix, options) => inner.list(prefix, options),
    delete: (key) => inner.delete(key),
    deleteMany: (keys) => inner.deleteMany(keys),
    removeUnfinished: (prefix) => inner.removeUnfinished(prefix),
  };
}

async function keys(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('')) out.push(o.key);
  return out;
}

async function writeSeries(
  records: Iterable<RawRecord> | AsyncIterable<RawRecord>,
  opts: Partial<DataFileSinkOptions> & { store: ObjectStore },
): Promise<DataFileEntry[]> {
  const sink = new DataFileSink({ prefix: 'bk', baseName: 'test_0', compress: 'gzip', ...opts });
  await pipeline(Readable.from(records), sink);
  return sink.files();
}

async function readBack(store: ObjectStore, entry: DataFileEntry, compress: Compression): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const r of readDataFile({ store, prefix: 'bk', entry, compress })) out.push(r as RawRecord);
  return out;
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (e: Error & { code?: string }) => e,
  );
}

/** Uniform records: random digest, one 100-byte blob bin. */
function* plainRecords(n: number, onPull: () => void = () => undefined): Generator<RawRecord> {
  for (let i = 0; i < n; i++) {
    onPull();
    yield { namespace: 'test', set: 's', digest: randomBytes(20), generation: 1, voidTime: 0, bins: [{ name: 'b', type: ParticleType.BLOB, value: randomBytes(100) }] };
  }
}

const records = [...goldenRecords(), ...sampleRecords(300)];

/** The records as scan batches of `perBatch`, their messages in one frame body each, as a node scan delivers them. */
function batchesOf(rs: readonly RawRecord[], perBatch: number): ScanBatch[] {
  const out: ScanBatch[] = [];
  for (let i = 0; i < rs.length; i += perBatch) {
    const body = encodeMessagesFrame(rs.slice(i, i + perBatch).map((r) => recordMessage(r))).subarray(8);
    const offsets: number[] = [];
    const digests: number[] = [];
    for (let at = 0; at < body.length; ) {
      offsets.push(at);
      const nFields = body.readUInt16BE(at + 18);
      const nOps = body.readUInt16BE(at + 20);
      at += MSG_HEADER_SIZE;
      for (let f = 0; f < nFields + nOps; f++) {
        if (f < nFields && body[at + 4] === FieldType.DIGEST) digests.push(at + 5);
        at += 4 + body.readUInt32BE(at);
      }
    }
    out.push({ body, count: offsets.length, offsets: Int32Array.from(offsets), digests: Int32Array.from(digests), bytes: body.length });
  }
  return out;
}

describe('data files', () => {
  it('store records in a gzip file whose entry matches the stored bytes, readable by Apache avro-js', async () => {
    const store = memoryStore();
    const files = await writeSeries(records, { store });
    expect(files).toHaveLength(1);
    const [entry] = files as [DataFileEntry];
    const bytes = await stored(store, 'bk/test_0_00000.avro.gz');
    const partitions = [...new Set(records.map((r) => partitionId(r.digest)))].sort((a, b) => a - b);
    expect(entry).toEqual({
      name: 'test_0_00000.avro.gz',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      records: records.length,
      partitions,
    });
    expect(await readBack(store, entry, 'gzip')).toEqual(records);
    const independent = await decodeWithAvroJs(gunzipSync(bytes));
    expect(independent.map((v) => avroToRecord(v as AvroRecord))).toEqual(records);
  });

  for (const compress of ['gzip', 'none'] as const) {
    it(`roll over (${compress}) into files of at most maxFileBytes that hold every record once, in order`, async () => {
      const store = memoryStore();
      const maxFileBytes = 16 * 1024;
      const files = await writeSeries(records, { store, compress, maxFileBytes });
      expect(files.length).toBeGreaterThan(3);
      const ext = compress === 'gzip' ? '.avro.gz' : '.avro';
      expect(files.map((f) => f.name)).toEqual(files.map((_, i) => `test_0_${String(i).padStart(5, '0')}${ext}`));
      expect(await keys(store)).toEqual(files.map((f) => `bk/${f.name}`));
      const back: RawRecord[] = [];
      for (const f of files) {
        expect((await store.stat(`bk/${f.name}`))!.size).toBe(f.size);
        expect(f.size).toBeLessThanOrEqual(maxFileBytes);
        const part = await readBack(store, f, compress);
        expect(part).toHaveLength(f.records);
        back.push(...part);
      }
      expect(back).toEqual(records);
      // Files are filled, not split early: all but the last hold more than half the limit.
      for (const f of files.slice(0, -1)) expect(f.size).toBeGreaterThan(maxFileBytes / 2);
    });
  }

  it('store scan batches as the same records, rolling files over inside a batch', async () => {
    const store = memoryStore();
    const maxFileBytes = 16 * 1024;
    const sink = new DataFileSink({ store, prefix: 'bk', baseName: 'test_0', compress: 'gzip', maxFileBytes, highWaterMark: 2 });
    await pipeline(Readable.from(batchesOf(records, 120)), sink);
    const files = sink.files();
    expect(files.length).toBeGreaterThan(2);
    const back: RawRecord[] = [];
    for (const f of files) {
      expect(f.size).toBeLessThanOrEqual(maxFileBytes);
      back.push(...(await readBack(store, f, 'gzip')));
    }
    // Scans carry no last update time; everything else comes back as it was.
    expect(back).toEqual(records.map(({ lastUpdateTime: _, ...r }) => r));
    expect(files.reduce((n, f) => n + f.records, 0)).toBe(records.length);
  });

  it('refuse a scan batch record from outside the declared partitions, naming it', async () => {
    const inRange = records.filter((r) => partitionId(r.digest) < 2048);
    const outside = records.find((r) => partitionId(r.digest) >= 2048)!;
    const sink = new DataFileSink({ store: memoryStore(), prefix: 'bk', baseName: 'test_0', compress: 'gzip', partitions: { first: 0, last: 2047 } });
    const error = await failure(pipeline(Readable.from(batchesOf([...inRange.slice(0, 5), outside], 10)), sink));
    expect(error.code).toBe('DATA_FILE_PARTITION_OUT_OF_SCOPE');
    expect(error.message).toContain(outside.digest.toString('hex'));
  });

  it('gzip a file as one stream, flushing only near the size limit', async () => {
    const store = memoryStore();
    // 64 KiB blocks, ~10 of them, far below the limit: no block ends in a sync flush.
    const [entry] = await writeSeries(plainRecords(5000), { store, maxFileBytes: 1024 * 1024 });
    const bytes = await stored(store, `bk/${entry!.name}`);
    expect(bytes).toEqual(gzipSync(gunzipSync(bytes)));
  });

  it('write no file for no records', async () => {
    const store = memoryStore();
    expect(await writeSeries([], { store })).toEqual([]);
    expect(await keys(store)).toEqual([]);
  });

  it('list declared partitions, and refuse a record from another partition', async () => {
    const store = memoryStore();
    const inRange = records.filter((r) => partitionId(r.digest) < 2048);
    const ids = Array.from({ length: 2048 }, (_, i) => i);
    const files = await writeSeries(inRange, { store, partitions: ids });
    expect(files.map((f) => f.partitions)).toEqual([{ first: 0, last: 2047 }]);

    const outside = records.find((r) => partitionId(r.digest) >= 2048)!;
    const error = await failure(writeSeries([...inRange, outside], { store: memoryStore(), partitions: { first: 0, last: 2047 } }));
    expect(error.code).toBe('DATA_FILE_PARTITION_OUT_OF_SCOPE');
  });

  it('fail with the store error when an upload breaks, keeping only the finished files', async () => {
    const inner = memoryStore();
    const faulty = new FaultyStore(inner).inject('write', { afterBytes: 2000 });
    let writes = 0;
    const store = withWrite(inner, (key, source, options) => (++writes === 2 ? faulty : inner).write(key, source, options));
    const error = await failure(writeSeries(records, { store, maxFileBytes: 16 * 1024 }));
    expect(error.message).toMatch(/ECONNRESET|reset/i);
    expect(await keys(inner)).toEqual(['bk/test_0_00000.avro.gz']);
  });

  it('store nothing of the file in progress when aborted', async () => {
    const store = memoryStore();
    const abort = new AbortController();
    let pulled = 0;
    const source = plainRecords(5000, () => {
      if (++pulled === 1500) abort.abort();
    });
    const error = await failure(writeSeries(source, { store, maxFileBytes: 64 * 1024, signal: abort.signal }));
    expect(error.name).toBe('AbortError');
    const left = await keys(store);
    expect(left.length).toBeGreaterThan(0);
    let kept = 0;
    for (const key of left) kept += (await decodeWithAvroJs(gunzipSync(await stored(store, key)))).length; // complete files only
    expect(kept).toBeLessThan(1500);
  });

  for (const compress of ['none', 'gzip'] as const) {
    it(`fail (${compress}), not hang, when a stalled store fails with the chain backed up (ENOSPC mid-file)`, async () => {
      // The store reads a little, stops reading (so the chain behind it fills and a
      // Transform holds a write's callback), then fails: the destroyed chain never calls
      // that callback. Found by the chaos run (local disk full, AEROBAK_CHAOS_SEED=424242,
      // cycle 64; AEROBAK_CHAOS_REPLAY="2799292387:local disk full (ENOSPC)").
      const inner = memoryStore();
      const store = withWrite(inner, async (_key, source) => {
        const it = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
        await it.next();
        await new Promise((resolve) => setTimeout(resolve, 200));
        await it.return?.();
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      });
      const started = Date.now();
      const error = await failure(writeSeries(plainRecords(50_000, () => undefined), { store, compress, maxFileBytes: 64 * 1024 * 1024 }));
      expect(error.message).toMatch(/ENOSPC/);
      expect(Date.now() - started).toBeLessThan(20_000);
      expect(await keys(inner)).toEqual([]);
    });
  }

  it('hold backpressure end to end: a stalled store stops the source', async () => {
    const inner = memoryStore();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const store = withWrite(inner, (key, source) =>
      inner.write(
        key,
        (async function* () {
          await released;
          yield* source;
        })(),
      ),
    );
    let pulled = 0;
    const done = writeSeries(
      plainRecords(20_000, () => pulled++),
      { store, maxFileBytes: 1024 * 1024 }, // 64 KiB blocks: about 500 records each
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(pulled).toBeLessThan(2000);
    release();
    const files = await done;
    expect(files.reduce((n, f) => n + f.records, 0)).toBe(20_000);
    for (const f of files) expect(f.size).toBeLessThanOrEqual(1024 * 1024); // the size bound holds while the store lags
  });
});

describe('readDataFile', () => {
  async function series(): Promise<{ store: ObjectStore; entry: DataFileEntry; bytes: Buffer }> {
    const store = memoryStore();
    const [entry] = (await writeSeries(records, { store })) as [DataFileEntry];
    return { store, entry, bytes: await stored(store, `bk/${entry.name}`) };
  }

  async function put(store: ObjectStore, name: string, bytes: Buffer): Promise<void> {
    await store.write(`bk/${name}`, Readable.from([bytes]));
  }

  it('fails before the first record when the file is missing or truncated', async () => {
    const { store, entry, bytes } = await series();
    await put(store, entry.name, bytes.subarray(0, bytes.length - 10));
    let yielded = 0;
    const error = await failure(
      (async () => {
        for await (const _ of readDataFile({ store, prefix: 'bk', entry, compress: 'gzip' })) yielded++;
      })(),
    );
    expect(yielded).toBe(0);
    expect(error).toMatchObject({ code: 'DATA_FILE_SIZE_MISMATCH', file: entry.name });
    expect(error.message).toContain(`bk/${entry.name} is ${bytes.length - 10} bytes but the manifest says ${bytes.length} (truncated)`);

    const missing = await failure(readBack(store, { ...entry, name: 'test_0_00009.avro.gz' }, 'gzip'));
    expect(missing).toMatchObject({ code: 'DATA_FILE_MISSING', file: 'test_0_00009.avro.gz' });
  });

  it('never ends quietly on a flipped byte: the error names the file', async () => {
    const { store, entry, bytes } = await series();
    for (const at of [20, Math.floor(bytes.length / 2), bytes.length - 5]) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x01;
      await put(store, entry.name, flipped);
      const error = await failure(readBack(store, entry, 'gzip'));
      expect(['DATA_FILE_DECOMPRESS', 'DATA_FILE_UNDECODABLE', 'DATA_FILE_CHECKSUM_MISMATCH']).toContain(error.code);
      expect(error.message).toContain(entry.name);
    }
  });

  it('tear the read chain down when the consumer stops early or the read is aborted', async () => {
    const { store, entry } = await series();
    const sources: Readable[] = [];
    const watched: ObjectStore = { ...withWrite(store, (key, body, opts) => store.write(key, body, opts)), read: async (key, range) => {
      const source = await store.read(key, range);
      sources.push(source);
      return source;
    } };
    for await (const _ of readDataFile({ store: watched, prefix: 'bk', entry, compress: 'gzip' })) break;
    await new Promise((resolve) => setImmediate(resolve));
    expect(sources).toHaveLength(1);
    expect(sources[0]!.destroyed).toBe(true);

    const abort = new AbortController();
    abort.abort();
    const error = await failure(
      (async () => {
        for await (const _ of readDataFile({ store, prefix: 'bk', entry, compress: 'gzip', signal: abort.signal })) expect.fail('no record after an abort');
      })(),
    );
    expect(error.name).toBe('AbortError');
  });

  it('fails after the last record when the count differs from the manifest', async () => {
    const { store, entry } = await series();
    const error = await failure(readBack(store, { ...entry, records: entry.records + 1 }, 'gzip'));
    expect(error).toMatchObject({ code: 'DATA_FILE_RECORD_COUNT_MISMATCH', file: entry.name });
  });

  it('with a BlockReader, give one chunk per block: the rows of its records, checked as records are', async () => {
    const store = memoryStore();
    // Small files of several blocks each, with and without gzip.
    for (const compress of ['gzip', 'none'] as const) {
      const entries = await writeSeries(records, { store, compress, maxFileBytes: 16 * 1024, baseName: `rows_${compress}` });
      expect(entries.length).toBeGreaterThan(1);
      const rows: WireRows[] = [];
      for (const entry of entries) {
        for await (const chunk of readDataFile({ store, prefix: 'bk', entry, compress }, new RowsReader('bar', { sets: new Set([records[0]!.set]) }))) rows.push(chunk as WireRows);
      }
      expect(rows.length).toBeGreaterThan(entries.length);
      const kept = records.filter((r) => r.set === records[0]!.set && r.bins.length > 0);
      expect(rows.reduce((n, r) => n + r.count, 0)).toBe(kept.length);
      expect(rows.reduce((n, r) => n + r.count + r.skipped, 0)).toBe(records.length);
      const back = rows.flatMap((r) => Array.from({ length: r.count }, (_, i) => r.record(i)));
      expect(back.map((r) => r.digest.toString('hex'))).toEqual(kept.map((r) => r.digest.toString('hex')));
      expect(back.every((r) => r.namespace === 'bar')).toBe(true);

      const entry = entries[0]!;
      const error = await failure(
        (async () => {
          for await (const _ of readDataFile({ store, prefix: 'bk', entry: { ...entry, records: entry.records - 1 }, compress }, new RowsReader('bar'))) continue;
        })(),
      );
      expect(error).toMatchObject({ code: 'DATA_FILE_RECORD_COUNT_MISMATCH', file: entry.name });
    }
  });
});

describe('checkDataFile', () => {
  it('decodes every record as restore does, and lists every problem', async () => {
    const store = memoryStore();
    const [entry] = (await writeSeries(records, { store })) as [DataFileEntry];
    expect(await checkDataFile({ store, prefix: 'bk', entry, compress: 'gzip' })).toEqual({ problems: [], bytes: entry.size, records: records.length });

    // A record the row decoder refuses (more bins than a batch write row holds) makes the file undecodable.
    const many = { ...records[0]!, bins: Array.from({ length: 65_536 }, () => ({ name: 'b', type: ParticleType.BOOL, value: Buffer.from([1]) })) };
    const [bad] = (await writeSeries([records[0]!, many], { store, baseName: 'test_9' })) as [DataFileEntry];
    const check = await checkDataFile({ store, prefix: 'bk', entry: { ...bad, records: 5 }, compress: 'gzip' });
    expect(check.problems.map((p) => p.code)).toEqual(['DATA_FILE_UNDECODABLE']);
    expect(check.problems[0]!.position).toMatchObject({ block: 0, record: 1 });
    expect(check).toMatchObject({ bytes: bad.size, records: 1 });

    const missing = await checkDataFile({ store, prefix: 'bk', entry: { ...entry, name: 'test_0_00007.avro.gz' }, compress: 'gzip' });
    expect(missing).toMatchObject({ problems: [{ code: 'DATA_FILE_MISSING' }], bytes: 0, records: 0 });
  });
});
