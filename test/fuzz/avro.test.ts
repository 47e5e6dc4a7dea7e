/**
 * Fuzzing of the data-file decoders (docs/reliability.md, "Fuzzing"): the Avro container
 * (ContainerDecoder, with readRecord and with restore's RowsReader), record bodies
 * (readRecord, readRecordRow) and the scan-record encoder (WireRecordEncoder).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { afterAll, describe, expect } from 'vitest';
import { NameCache, RowBuffer, WireRows, appendRecordRow } from '../../src/aerospike/batch-request.js';
import { RecordDecoder } from '../../src/aerospike/record-decoder.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { ProtocolError } from '../../src/aerospike/wire/proto.js';
import { ContainerDecoder, ContainerWriter, type BlockReader } from '../../src/avro/container.js';
import { ContainerDecodeError, RecordCodecError } from '../../src/avro/errors.js';
import { AvroReader, AvroWriter, readRecord, writeRecord } from '../../src/avro/record-binary.js';
import { RECORD_CODEC, RECORD_TYPE, avroToRecord, type AvroRecord } from '../../src/avro/record-codec.js';
import { RowsReader, readRecordRow } from '../../src/avro/record-rows.js';
import { WireRecordEncoder } from '../../src/avro/wire-record.js';
import { recordArb } from '../avro/records.js';
import { containerCaseArb, framedContainer, recordBytes, recordSampleArb } from './avro-samples.js';
import { FuzzFailure, applyMutations, chunkingArb, chunksOf, fuzzIt, guard, guardAsync, mutants, mutationArb, printCounts, randomAfter, randomBytes } from './support.js';
import { anyMessageArb, messageSample, recordMessageArb } from './wire-samples.js';

afterAll(() => printCounts('avro'));

/** Each input is a stream pipeline: fewer runs in the short mode (FuzzOptions.cost). */
const STREAM_COST = { cost: 2 };

/** The values a ContainerDecoder pushes for `chunks` (records, or one value per block with `blocks`). */
async function decodeContainer(chunks: Buffer[], blocks?: BlockReader<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  await pipeline(Readable.from(chunks), new ContainerDecoder(RECORD_CODEC, blocks ? { blocks } : {}), async (values: AsyncIterable<unknown>) => {
    for await (const v of values) out.push(v);
  });
  return out;
}

/** The row appendRecordRow writes for `r` in `namespace`, or undefined for a record without bins (skipped). */
function expectedRow(r: RawRecord, namespace: string): Buffer | undefined {
  if (r.bins.length === 0) return undefined;
  const out = new RowBuffer(16, 1);
  appendRecordRow(out, r.digest, namespace, r.set, r.userKey, r.bins, new NameCache());
  return Buffer.from(out.buf.subarray(0, out.end));
}

/** The rows of decoded WireRows blocks. */
function rowsOf(blocks: unknown[]): { rows: Buffer[]; skipped: number } {
  const rows: Buffer[] = [];
  let skipped = 0;
  for (const b of blocks as WireRows[]) {
    skipped += b.skipped;
    for (let i = 0; i < b.count; i++) rows.push(Buffer.from(b.buf.subarray(b.starts[i], b.starts[i + 1])));
  }
  return { rows, skipped };
}

const hexed = (r: RawRecord): unknown => ({
  ...r,
  digest: r.digest.toString('hex'),
  userKey: r.userKey && { type: r.userKey.type, bytes: r.userKey.bytes.toString('hex') },
  bins: r.bins.map((b) => ({ ...b, value: b.value.toString('hex') })),
});

/** The outcome of one synchronous read, comparable across paths: its value, or its error's class and message. */
type Outcome<T> = { ok: true; value: T; end: number } | { ok: false; error: string };

function outcome<T>(f: () => { value: T; end: number }): Outcome<T> {
  try {
    return { ok: true, ...f() };
  } catch (e) {
    if (e instanceof FuzzFailure) throw e;
    return { ok: false, error: `${(e as Error).constructor.name}: ${(e as Error).message}` };
  }
}

/** Garbage after the end: a reader that respects rd.end reads the same whatever follows. */
const suffixArb = fc.uint8Array({ minLength: 1, maxLength: 16 }).map((b) => Buffer.from(b));

/** Records in one block framed right (count, size, sync), one of them mutated: what reaches the record decoders through the container. */
const framedArb = fc
  .tuple(fc.array(recordSampleArb, { minLength: 1, maxLength: 3 }), fc.nat(), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
  .map(([samples, which, ms]) => {
    const values = samples.map((s) => s.bytes);
    const i = which % samples.length;
    values[i] = applyMutations(samples[i]!, ms);
    return framedContainer(new ContainerWriter(RECORD_CODEC).header, values);
  });

describe('fuzz: ContainerDecoder (data files, readRecord)', () => {
  const allowed = [ContainerDecodeError];

  fuzzIt(
    'ContainerDecoder',
    'valid containers round-trip, whatever the chunking',
    fc.tuple(containerCaseArb, chunkingArb),
    async ([c, cuts]) => {
      const r = await guardAsync(c.sample.bytes, [], () => decodeContainer(chunksOf(c.sample.bytes, cuts)));
      if (!r.ok) throw r.error;
      expect((r.value as RawRecord[]).map(hexed)).toEqual(c.records.map(hexed));
    },
    { ...STREAM_COST, share: 0.1 },
  );

  fuzzIt(
    'ContainerDecoder',
    'mutated containers decode or fail with ContainerDecodeError',
    fc.tuple(mutants(containerCaseArb.map((c) => c.sample)), chunkingArb),
    async ([bytes, cuts]) => {
      await guardAsync(bytes, allowed, () => decodeContainer(chunksOf(bytes, cuts)));
    },
    { ...STREAM_COST, share: 0.4 },
  );

  fuzzIt(
    'ContainerDecoder',
    'mutated records in well-formed blocks decode or fail with ContainerDecodeError',
    fc.tuple(framedArb, chunkingArb),
    async ([bytes, cuts]) => {
      await guardAsync(bytes, allowed, () => decodeContainer(chunksOf(bytes, cuts)));
    },
    { ...STREAM_COST, share: 0.2 },
  );

  const header = new ContainerWriter(RECORD_CODEC).header;
  fuzzIt(
    'ContainerDecoder',
    'random bytes (alone, after the magic, after a valid header) fail with ContainerDecodeError',
    fc.tuple(fc.oneof(randomBytes(), randomAfter(fc.constant(Buffer.from('Obj\x01', 'latin1'))), randomAfter(fc.constant(header), 1024)), chunkingArb),
    async ([bytes, cuts]) => {
      await guardAsync(bytes, allowed, () => decodeContainer(chunksOf(bytes, cuts)));
    },
    { ...STREAM_COST, share: 0.3 },
  );
});

describe('fuzz: ContainerDecoder with RowsReader (restore, verify)', () => {
  fuzzIt(
    'ContainerDecoder+RowsReader',
    'valid containers give the rows appendRecordRow writes',
    fc.tuple(containerCaseArb, chunkingArb),
    async ([c, cuts]) => {
      const r = await guardAsync(c.sample.bytes, [], () => decodeContainer(chunksOf(c.sample.bytes, cuts), new RowsReader('target')));
      if (!r.ok) throw r.error;
      const { rows, skipped } = rowsOf(r.value);
      const expected = c.records.map((rec) => expectedRow(rec, 'target'));
      expect(rows.map((b) => b.toString('hex'))).toEqual(expected.filter((b) => b !== undefined).map((b) => b.toString('hex')));
      expect(skipped).toBe(expected.filter((b) => b === undefined).length);
    },
    { ...STREAM_COST, share: 0.1 },
  );

  fuzzIt(
    'ContainerDecoder+RowsReader',
    'mutated containers decode or fail with ContainerDecodeError',
    fc.tuple(mutants(containerCaseArb.map((c) => c.sample)), chunkingArb),
    async ([bytes, cuts]) => {
      await guardAsync(bytes, [ContainerDecodeError], () => decodeContainer(chunksOf(bytes, cuts), new RowsReader('ns')));
    },
    { ...STREAM_COST, share: 0.45 },
  );

  fuzzIt(
    'ContainerDecoder+RowsReader',
    'mutated records in well-formed blocks decode or fail with ContainerDecodeError',
    fc.tuple(framedArb, chunkingArb),
    async ([bytes, cuts]) => {
      await guardAsync(bytes, [ContainerDecodeError], () => decodeContainer(chunksOf(bytes, cuts), new RowsReader('ns')));
    },
    { ...STREAM_COST, share: 0.25 },
  );

  fuzzIt(
    'ContainerDecoder+RowsReader',
    'random blocks after a valid header fail with ContainerDecodeError',
    randomAfter(fc.constant(new ContainerWriter(RECORD_CODEC).header), 1024),
    async (bytes) => {
      await guardAsync(bytes, [ContainerDecodeError], () => decodeContainer([bytes], new RowsReader('ns')));
    },
    { ...STREAM_COST, share: 0.2 },
  );
});

/** readRecord of bytes[0, end) of `buf`. */
function readAt(buf: Buffer, end: number): { value: RawRecord; end: number } {
  const rd = new AvroReader(buf, 0, end);
  const value = readRecord(rd);
  if (rd.pos > end) throw new FuzzFailure(`readRecord moved past rd.end (${rd.pos} > ${end})`, buf.subarray(0, end));
  return { value, end: rd.pos };
}

describe('fuzz: readRecord (record bodies)', () => {
  // Documented (record-binary.ts): a RangeError or RecordCodecError for bytes that run past rd.end or that no record has.
  const allowed = [RangeError, RecordCodecError];

  fuzzIt('readRecord', 'valid records round-trip', recordArb, (r) => {
    const bytes = recordBytes(r);
    const read = guard(bytes, [], () => readAt(bytes, bytes.length));
    if (!read.ok) throw read.error;
    expect(hexed(read.value.value)).toEqual(hexed(r));
    expect(read.value.end).toBe(bytes.length);
  }, { share: 0.1 });

  const check = ([bytes, suffix]: [Buffer, Buffer]) => {
    const r = guard(bytes, allowed, () => readAt(bytes, bytes.length));
    const got: Outcome<RawRecord> = r.ok ? { ok: true, ...r.value } : { ok: false, error: `${r.error.constructor.name}: ${r.error.message}` };
    // The same with garbage after rd.end: nothing past the end is read.
    const withSuffix = outcome(() => readAt(Buffer.concat([bytes, suffix]), bytes.length));
    expect(stringify(withSuffix)).toEqual(stringify(got));
    if (got.ok) {
      // What avsc decodes from the same bytes (the contract: readRecord returns avroToRecord of it).
      const decoded = RECORD_TYPE.decode(bytes, 0);
      if (decoded.offset < 0) throw new FuzzFailure('readRecord read a record that avsc finds cut short', bytes);
      expect(decoded.offset).toBe(got.end);
      expect(hexed(avroToRecord(decoded.value as AvroRecord))).toEqual(hexed(got.value));
    }
  };

  fuzzIt('readRecord', 'mutated records read (as avsc reads them) or throw RangeError / RecordCodecError', fc.tuple(mutants(recordSampleArb), suffixArb), check, { share: 0.7 });
  fuzzIt('readRecord', 'random bytes read (as avsc reads them) or throw RangeError / RecordCodecError', fc.tuple(randomBytes(512), suffixArb), check, { share: 0.2 });
});

function stringify(o: Outcome<RawRecord>): unknown {
  return o.ok ? { end: o.end, value: hexed(o.value) } : o;
}

/** readRecordRow of bytes[0, end) of `buf` into fresh (tiny, so growing) rows: the row, or undefined when skipped. */
function rowAt(buf: Buffer, end: number): { value: string | undefined; end: number } {
  const rows = new WireRows('target', 1, 1);
  const rd = new AvroReader(buf, 0, end);
  readRecordRow(rd, rows, Buffer.from('target'), {});
  if (rd.pos > end) throw new FuzzFailure(`readRecordRow moved past rd.end (${rd.pos} > ${end})`, buf.subarray(0, end));
  return { value: rows.count === 1 ? rows.buf.toString('hex', rows.starts[0], rows.starts[1]) : undefined, end: rd.pos };
}

describe('fuzz: readRecordRow (restore record bodies)', () => {
  const check = ([bytes, suffix]: [Buffer, Buffer]) => {
    const r = guard(bytes, [RangeError, RecordCodecError], () => rowAt(bytes, bytes.length));
    const padded = Buffer.concat([bytes, suffix]);
    const withSuffix = outcome(() => rowAt(padded, bytes.length));
    const got: Outcome<string | undefined> = r.ok ? { ok: true, ...r.value } : { ok: false, error: `${r.error.constructor.name}: ${r.error.message}` };
    expect(withSuffix).toEqual(got);
    // Against readRecord: the same verdict, and the row appendRecordRow writes for its record.
    const reference = outcome(() => readAt(bytes, bytes.length));
    if (!reference.ok) {
      if (got.ok) throw new FuzzFailure(`readRecordRow accepted a record readRecord refuses (${reference.error})`, bytes);
      return;
    }
    if (!got.ok) {
      if (reference.value.bins.length > 0xffff && got.error.startsWith('RecordCodecError')) return;
      throw new FuzzFailure(`readRecordRow refused a record readRecord reads: ${got.error}`, bytes);
    }
    expect(got.end).toBe(reference.end);
    expect(got.value).toEqual(expectedRow(reference.value, 'target')?.toString('hex'));
  };

  fuzzIt('readRecordRow', 'mutated records: the verdict and row of readRecord + appendRecordRow', fc.tuple(mutants(fc.oneof(recordSampleArb)), suffixArb), check, { share: 0.75 });
  fuzzIt('readRecordRow', 'random bytes: the verdict and row of readRecord + appendRecordRow', fc.tuple(randomBytes(512), suffixArb), check, { share: 0.25 });
});

describe('fuzz: WireRecordEncoder (scan records into data files)', () => {
  const encoder = new WireRecordEncoder();
  const PREFIX = Buffer.from('a1b2c3', 'hex');

  const check = (body: Buffer) => {
    // The reference (the contract): a fresh RecordDecoder, then writeRecord.
    const reference = outcome(() => {
      const decoder = new RecordDecoder();
      const record = decoder.decode(body, 0);
      const w = new AvroWriter(16);
      if (!(record.lastUpdateTime !== undefined && record.bins.length === 0)) writeRecord(w, record);
      return { value: w.buf.toString('hex', 0, w.pos), end: decoder.end };
    });
    const w = new AvroWriter(4);
    PREFIX.copy(w.buf);
    w.pos = PREFIX.length;
    const r = guard(body, [ProtocolError, RangeError, RecordCodecError], () => {
      const end = encoder.write(w, body, 0);
      return { value: w.buf.toString('hex', PREFIX.length, w.pos), end };
    });
    const got: Outcome<string> = r.ok ? { ok: true, ...r.value } : { ok: false, error: `${r.error.constructor.name}: ${r.error.message}` };
    expect(got).toEqual(reference);
    expect(w.buf.subarray(0, PREFIX.length).equals(PREFIX)).toBe(true);
    if (!got.ok) expect(w.pos).toBe(PREFIX.length);
  };

  fuzzIt('WireRecordEncoder', 'valid record messages: the bytes of RecordDecoder + writeRecord', recordMessageArb, (c) => check(messageSample(c.message).bytes), { share: 0.1 });
  fuzzIt('WireRecordEncoder', 'mutated record messages: the bytes or the error of RecordDecoder + writeRecord', mutants(recordMessageArb.map((c) => messageSample(c.message))), check, {
    share: 0.6,
  });
  fuzzIt(
    'WireRecordEncoder',
    'random messages and bytes: the bytes or the error of RecordDecoder + writeRecord',
    fc.oneof(anyMessageArb.map((m) => messageSample(m).bytes), randomBytes(512)),
    check,
    { share: 0.3 },
  );
});
