/**
 * The row decoder (record-rows.ts) against readRecord and the batch encoder: for any
 * bytes, readRecordRow appends the row appendRecordRow writes for what readRecord
 * returns (namespace mapped, bins filtered), or throws exactly when readRecord throws.
 */
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NameCache, RowBuffer, WireRows, appendRecordRow } from '../../src/aerospike/batch-request.js';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { ContainerDecoder, ContainerEncoder } from '../../src/avro/container.js';
import { RECORD_CODEC, RECORD_TYPE, recordToAvro } from '../../src/avro/record-codec.js';
import { AvroReader, AvroWriter, readRecord, writeRecord } from '../../src/avro/record-binary.js';
import { RowsReader, readRecordRow, type RowFilter } from '../../src/avro/record-rows.js';
import { goldenRecords, recordArb } from './records.js';

function avro(r: RawRecord): Buffer {
  const w = new AvroWriter(16);
  writeRecord(w, r);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

/** The row appendRecordRow writes for `r` in `namespace` with the bins `filter` keeps, or undefined when the filter drops the record. */
function expectedRow(r: RawRecord, namespace: string, filter: RowFilter = {}): Buffer | undefined {
  const bins = filter.bins ? r.bins.filter((b) => filter.bins!.has(b.name)) : r.bins;
  if (bins.length === 0 || (filter.sets && !filter.sets.has(r.set))) return undefined;
  const out = new RowBuffer(16, 1);
  appendRecordRow(out, r.digest, namespace, r.set, r.userKey, bins, new NameCache());
  return Buffer.from(out.buf.subarray(0, out.end));
}

/** readRecordRow of `bytes` into fresh (tiny, so growing) rows; the row's bytes, or undefined when skipped. */
function decodedRow(bytes: Buffer, namespace: string, filter: RowFilter = {}, size = 1): { row: Buffer | undefined; rows: WireRows } {
  const rows = new WireRows(namespace, size, 1);
  const rd = new AvroReader(bytes, 0, bytes.length);
  readRecordRow(rd, rows, Buffer.from(namespace, 'utf8'), filter);
  expect(rd.pos).toBe(bytes.length);
  return { row: rows.count === 1 ? Buffer.from(rows.buf.subarray(rows.starts[0], rows.starts[1])) : undefined, rows };
}

const base: RawRecord = { namespace: 'test', set: 's', digest: Buffer.alloc(20, 7), generation: 1, voidTime: 0, bins: [] };
const bin = (type: number, hex: string, name = 'b') => ({ name, type, value: Buffer.from(hex, 'hex') });

/** Records at the edges of the row decoder's fast paths: long names and values, every branch, bytes that are not UTF-8. */
const edgeRecords: RawRecord[] = [
  { ...base, bins: [bin(ParticleType.INTEGER, '0000000000000001')] },
  { ...base, namespace: '', set: '', generation: 0xffff_ffff, voidTime: 0x7fff_ffff, bins: [bin(ParticleType.BLOB, '')] },
  { ...base, set: 'x'.repeat(200), namespace: 'é'.repeat(40), bins: [{ name: 'ü'.repeat(30), type: 3, value: Buffer.from('ß'.repeat(100)) }] },
  { ...base, set: '\ud800', bins: [{ name: '\ud83d\ude00'.repeat(20) + '\ud800'.repeat(30), type: 0, value: Buffer.alloc(0) }] },
  // Names that are not UTF-8 grow three times when read (each byte becomes U+FFFD), before values written in place.
  ...[ParticleType.INTEGER, ParticleType.FLOAT, ParticleType.BOOL].map((t) => ({
    ...base,
    bins: [1, 5, 30, 90].map((n) => ({ name: '\ud800'.repeat(n), type: t, value: Buffer.from(t === ParticleType.BOOL ? '01' : '4000000000000001', 'hex') })),
  })),
  { ...base, lastUpdateTime: -(2n ** 63n), bins: [bin(ParticleType.BOOL, '01')] },
  ...['0000000000000000', 'ffffffffffffffff', '8000000000000000', '7fffffffffffffff', '0000000007ffffff', '0000000008000000', 'fffffffff8000000', 'fffffffff7ffffff', '000000000000003f', '0000000000000040', 'ffffffffffffffc0', '00000000ffffffff'].flatMap((h) => [
    { ...base, bins: [bin(ParticleType.INTEGER, h)] },
    { ...base, bins: [bin(ParticleType.FLOAT, h)] },
    { ...base, userKey: { type: ParticleType.INTEGER, bytes: Buffer.from(h, 'hex') }, bins: [bin(ParticleType.INTEGER, h)] },
  ]),
  ...['7ff8000000000001', 'fff0000000000001', '8000000000000000'].map((h) => ({ ...base, bins: [bin(ParticleType.FLOAT, h)] })),
  ...[ParticleType.NULL, ParticleType.STRING, ParticleType.BLOB, ParticleType.BOOL, ParticleType.HLL, ParticleType.MAP, ParticleType.LIST, ParticleType.GEOJSON, 7, 255].map((t) => ({
    ...base,
    bins: [bin(t, ''), bin(t, '00'), bin(t, '02'), bin(t, 'c328'), bin(t, 'ff'.repeat(33)), bin(t, '41'.repeat(129)), bin(t, 'e282ac'.repeat(50))],
    userKey: { type: t, bytes: Buffer.from('c328', 'hex') },
  })),
  { ...base, userKey: { type: ParticleType.STRING, bytes: Buffer.from('ff', 'hex') }, bins: [bin(ParticleType.STRING, 'ff', 'c\u00e9')] },
  { ...base, userKey: { type: ParticleType.BLOB, bytes: Buffer.alloc(300, 1) }, bins: [bin(ParticleType.STRING, '61'.repeat(200))] },
  { ...base, bins: Array.from({ length: 100 }, (_, i) => bin(ParticleType.BLOB, 'ab'.repeat(i * 3), `n${i}`)) },
  { ...base, bins: [bin(ParticleType.GEOJSON, '05' + '0100' + '0123456789abcdef' + Buffer.from('{"a":1}').toString('hex'))] },
];

describe('readRecordRow', () => {
  it('appends the row of what readRecord reads, for random records of every particle type', () => {
    fc.assert(
      fc.property(recordArb, fc.constantFrom('bar', '', 'a-much-longer-namespace-é'), (r, namespace) => {
        const bytes = avro(r);
        const read = readRecord(new AvroReader(bytes, 0, bytes.length));
        const { row, rows } = decodedRow(bytes, namespace);
        expect(row).toEqual(expectedRow(read, namespace));
        expect(rows.skipped).toBe(row ? 0 : 1);
        if (row) expect([rows.generations[0], rows.voidTimes[0]]).toEqual([read.generation, read.voidTime]);
      }),
      { numRuns: 2000 },
    );
  });

  it('appends the row of what readRecord reads, for golden and edge records', () => {
    for (const r of [...goldenRecords(), ...edgeRecords]) {
      const bytes = avro(r);
      const read = readRecord(new AvroReader(bytes, 0, bytes.length));
      expect(decodedRow(bytes, 'bar').row).toEqual(expectedRow(read, 'bar'));
    }
  });

  it('grows its buffer wherever the record needs it, without losing a byte', () => {
    for (const r of [...edgeRecords, ...goldenRecords()]) {
      const bytes = avro(r);
      const expected = expectedRow(readRecord(new AvroReader(bytes, 0, bytes.length)), 'bar');
      const last = (expected?.length ?? 0) + 8;
      for (let size = 1; size <= last; size += size < 400 ? 1 : 61) {
        const { row } = decodedRow(bytes, 'bar', {}, size);
        if (!(row === expected || (row && expected && row.equals(expected)))) expect.fail(`row of a ${size}-byte buffer`);
      }
    }
  });

  it('reads Avro values only other writers produce like readRecord does', () => {
    const v = (value: unknown) => RECORD_TYPE.toBuffer({ ...recordToAvro(base), bins: [{ name: 'x', value }] });
    const values = [
      v({ double: Number.NaN }),
      v({ boolean: true }),
      v({ 'aerobak.v1.Particle': { particleType: 1, bytes: Buffer.from('0000000000000005', 'hex') } }),
      v({ 'aerobak.v1.GeoJson': { flags: 3, cells: [-1n, 2n ** 62n], json: '{}' } }),
    ];
    const bool = v({ boolean: true });
    bool[bool.length - 2] = 7; // a boolean byte other than 0 or 1
    values.push(bool);
    // Lengths and counts in longer varints than needed, and an array in two blocks, one with its byte size.
    values.push(Buffer.concat([Buffer.from([0x88, 0x00]), Buffer.from('test'), Buffer.from([0x82, 0x00]), Buffer.from('s'), Buffer.alloc(20, 7), Buffer.from([0, 2, 0, 0, 1, 0x02, 0x82, 0x00]), Buffer.from('a'), Buffer.from([0x00, 0x86, 0x80, 0x00, 0x01, 0x04, 0x02, 0x62, 0x08, 0x02, 0x09, 0x00])]));
    for (const bytes of values) {
      const read = readRecord(new AvroReader(bytes, 0, bytes.length));
      expect(decodedRow(bytes, 'bar').row).toEqual(expectedRow(read, 'bar'));
    }
  });

  it('keeps only the wanted sets and bins, counting the records it leaves out', () => {
    const filters: RowFilter[] = [{ sets: new Set(['s']) }, { bins: new Set(['b', 'n1']) }, { sets: new Set(['', 's']), bins: new Set(['n2']) }, {}];
    fc.assert(
      fc.property(recordArb, fc.constantFrom(...filters), (r, filter) => {
        const bytes = avro(r);
        const read = readRecord(new AvroReader(bytes, 0, bytes.length));
        const { row, rows } = decodedRow(bytes, 'bar', filter);
        expect(row).toEqual(expectedRow(read, 'bar', filter));
        expect(rows.count + rows.skipped).toBe(1);
      }),
      { numRuns: 1000 },
    );
    for (const r of edgeRecords) {
      const bytes = avro(r);
      const read = readRecord(new AvroReader(bytes, 0, bytes.length));
      for (const filter of filters) expect(decodedRow(bytes, 'bar', filter).row).toEqual(expectedRow(read, 'bar', filter));
    }
  });

  it('throws exactly when readRecord throws: cut, flipped and random bytes', () => {
    const throws = (f: () => unknown): boolean => {
      try {
        f();
        return false;
      } catch {
        return true;
      }
    };
    const same = (bytes: Buffer, end: number) => {
      const byRecord = throws(() => readRecord(new AvroReader(bytes, 0, end)));
      const byRow = throws(() => readRecordRow(new AvroReader(bytes, 0, end), new WireRows('bar', 1, 1), Buffer.from('bar'), {}));
      expect(byRow).toBe(byRecord);
    };
    for (const r of [...edgeRecords, ...goldenRecords()]) {
      const bytes = avro(r);
      for (let cut = 0; cut < bytes.length; cut++) same(bytes, cut);
    }
    fc.assert(
      fc.property(recordArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (r, at, value) => {
        const bytes = avro(r);
        bytes[at % bytes.length] = value;
        same(bytes, bytes.length);
      }),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (random) => same(Buffer.from(random), random.length)),
      { numRuns: 3000 },
    );
  });

  it('refuses a record with more bins than a batch write row holds', () => {
    const bins = Array.from({ length: 65_536 }, () => bin(ParticleType.BOOL, '01', 'b'));
    expect(() => decodedRow(avro({ ...base, bins }), 'bar')).toThrow(/65536 bins/);
    expect(decodedRow(avro({ ...base, bins: bins.slice(1) }), 'bar').rows.opCount(0)).toBe(65_535);
  });

  it('gives back the record a row writes', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        const bytes = avro(r);
        const read = readRecord(new AvroReader(bytes, 0, bytes.length));
        const { rows } = decodedRow(bytes, 'bar');
        if (rows.count === 0) return;
        const { lastUpdateTime: _, ...rest } = read;
        expect(rows.record(0)).toEqual({ ...rest, namespace: 'bar' });
      }),
      { numRuns: 500 },
    );
  });
});

describe('RowsReader', () => {
  it('turns each block of a container into one WireRows of its records, whatever the chunking', async () => {
    const records = [...goldenRecords(), ...edgeRecords, ...fc.sample(recordArb, { numRuns: 400, seed: 11 })];
    const file: Buffer[] = [];
    await pipeline(Readable.from(records), new ContainerEncoder({ blockBytes: 2000 }), new Writable({ write: (c: Buffer, _e, cb) => (file.push(c), cb()) }));
    const bytes = Buffer.concat(file);
    const expected = records.map((r) => expectedRow(readRecord(new AvroReader(avro(r), 0, avro(r).length)), 'bar')).filter((r) => r !== undefined);
    for (const chunk of [1, 7, 1000, bytes.length]) {
      const decoder = new ContainerDecoder(RECORD_CODEC, { blocks: new RowsReader('bar') });
      const blocks: WireRows[] = [];
      const chunks = Array.from({ length: Math.ceil(bytes.length / chunk) }, (_, i) => bytes.subarray(i * chunk, (i + 1) * chunk));
      await pipeline(Readable.from(chunks), decoder, new Writable({ objectMode: true, write: (rows: WireRows, _e, cb) => (blocks.push(rows), cb()) }));
      expect(blocks.length).toBeGreaterThan(10);
      const rows = blocks.flatMap((b) => Array.from({ length: b.count }, (_, i) => Buffer.from(b.buf.subarray(b.starts[i], b.starts[i + 1]))));
      expect(rows).toEqual(expected);
      expect(blocks.reduce((n, b) => n + b.count + b.skipped, 0)).toBe(records.length);
      expect(decoder.records).toBe(records.length);
    }
  });
});
