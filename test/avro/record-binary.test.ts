import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { RecordCodecError } from '../../src/avro/errors.js';
import { AvroReader, AvroWriter, readRecord, writeRecord } from '../../src/avro/record-binary.js';
import { RECORD_TYPE, avroToRecord, recordToAvro, type AvroRecord } from '../../src/avro/record-codec.js';
import { goldenRecords, recordArb } from './records.js';

function handWritten(r: RawRecord, w = new AvroWriter(16)): Buffer {
  const start = w.pos;
  writeRecord(w, r);
  return Buffer.from(w.buf.subarray(start, w.pos));
}

function viaAvsc(r: RawRecord): Buffer {
  return RECORD_TYPE.toBuffer(recordToAvro(r));
}

function readAll(bytes: Buffer): RawRecord {
  const rd = new AvroReader(bytes, 0, bytes.length);
  const r = readRecord(rd);
  expect(rd.pos).toBe(bytes.length);
  return r;
}

const bin = (type: number, hex: string) => ({ name: 'b', type, value: Buffer.from(hex, 'hex') });
const base: RawRecord = { namespace: 'test', set: 's', digest: Buffer.alloc(20, 7), generation: 1, voidTime: 0, bins: [] };

/** Records whose every field is at an edge: empty values, extreme longs, odd doubles, every key type, long strings. */
const edgeRecords: RawRecord[] = [
  base,
  { ...base, namespace: '', set: '', generation: 0xffff_ffff, voidTime: 0x7fff_ffff },
  { ...base, set: 'x'.repeat(200), namespace: 'é'.repeat(40), bins: [{ name: 'ü'.repeat(30), type: 3, value: Buffer.from('ß'.repeat(100)) }] },
  { ...base, set: '\ud800', namespace: 'a\udc00b', bins: [{ name: '\ud83d\ude00'.repeat(20) + '\ud800'.repeat(30), type: 0, value: Buffer.alloc(0) }] },
  { ...base, lastUpdateTime: -(2n ** 63n) },
  { ...base, lastUpdateTime: 2n ** 63n - 1n },
  { ...base, lastUpdateTime: 0n },
  ...['0000000000000000', 'ffffffffffffffff', '8000000000000000', '7fffffffffffffff', '0000000080000000', '000000007fffffff', '00000000ffffffff', '0000000100000000', 'ffffffff00000000', 'ffffffff7fffffff', '001fffffffffffff', 'ffe0000000000000'].flatMap((h) => [
    { ...base, bins: [bin(ParticleType.INTEGER, h)] },
    { ...base, bins: [bin(ParticleType.FLOAT, h)] },
    { ...base, userKey: { type: ParticleType.INTEGER, bytes: Buffer.from(h, 'hex') } },
  ]),
  ...['7ff8000000000000', '7ff8000000000001', 'fff8000000000000', '7ff0000000000001', 'fff0000000000001', '8000000000000000', '7ff0000000000000', 'fff0000000000000', '0000000000000001'].map((h) => ({ ...base, bins: [bin(ParticleType.FLOAT, h)] })),
  ...[ParticleType.NULL, ParticleType.INTEGER, ParticleType.FLOAT, ParticleType.STRING, ParticleType.BLOB, ParticleType.BOOL, ParticleType.HLL, ParticleType.MAP, ParticleType.LIST, ParticleType.GEOJSON, ParticleType.VECTOR, 7, 255].map((t) => ({
    ...base,
    bins: [bin(t, ''), bin(t, '00'), bin(t, '01'), bin(t, '02'), bin(t, 'c328'), bin(t, '000000'), bin(t, '0000017b')],
    userKey: { type: t, bytes: Buffer.alloc(0) },
  })),
  { ...base, userKey: { type: ParticleType.STRING, bytes: Buffer.from('ff', 'hex') } },
  { ...base, userKey: { type: ParticleType.STRING, bytes: Buffer.from('k') } },
  { ...base, userKey: { type: ParticleType.BLOB, bytes: Buffer.alloc(300, 1) } },
  { ...base, bins: Array.from({ length: 100 }, (_, i) => bin(ParticleType.BLOB, 'ab'.repeat(i * 3))) },
  { ...base, bins: [bin(ParticleType.GEOJSON, '05' + '0100' + '0123456789abcdef' + Buffer.from('{"a":1}').toString('hex'))] },
];

describe('hand-written record codec', () => {
  it('writes the bytes avsc writes, for random records of every particle type', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        expect(handWritten(r)).toEqual(viaAvsc(r));
      }),
      { numRuns: 2000 },
    );
  });

  it('writes the bytes avsc writes, for golden and edge records', () => {
    for (const r of [...goldenRecords(), ...edgeRecords]) expect(handWritten(r)).toEqual(viaAvsc(r));
  });

  it('appends to a writer that grows, record after record', () => {
    const records = fc.sample(recordArb, { numRuns: 300, seed: 7 });
    const w = new AvroWriter(1);
    for (const r of records) writeRecord(w, r);
    expect(Buffer.from(w.buf.subarray(0, w.pos))).toEqual(Buffer.concat(records.map(viaAvsc)));
  });

  it('reads back every record it writes, and what avsc reads', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        const bytes = handWritten(r);
        const decoded = readAll(bytes);
        expect(decoded).toEqual(r);
        expect(decoded).toEqual(avroToRecord(RECORD_TYPE.fromBuffer(bytes) as AvroRecord));
      }),
      { numRuns: 2000 },
    );
    for (const r of [...goldenRecords(), ...edgeRecords]) {
      const bytes = handWritten(r);
      const expected = avroToRecord(RECORD_TYPE.fromBuffer(bytes) as AvroRecord);
      expect(readAll(bytes)).toEqual(expected);
    }
  });

  it('reads Avro values only other writers produce like avsc does', () => {
    const values: AvroRecord[] = [];
    const v = (extra: Partial<AvroRecord>): AvroRecord => ({ ...recordToAvro(base), ...extra });
    values.push(v({ bins: [{ name: 'n', value: { double: Number.NaN } }] }));
    values.push(v({ bins: [{ name: 'b', value: { boolean: true } }] }));
    values.push(v({ bins: [{ name: 'p', value: { 'aerobak.v1.Particle': { particleType: 1, bytes: Buffer.from('0000000000000005', 'hex') } } }] }));
    values.push(v({ bins: [{ name: 'g', value: { 'aerobak.v1.GeoJson': { flags: 3, cells: [-1n, 2n ** 62n], json: '{}' } } }] }));
    for (const value of values) {
      const bytes = RECORD_TYPE.toBuffer(value);
      expect(readAll(bytes)).toEqual(avroToRecord(RECORD_TYPE.fromBuffer(bytes) as AvroRecord));
    }
    // A NaN with a payload written by another tool reads as the canonical NaN, as avsc gives it.
    const nan = RECORD_TYPE.toBuffer(v({ bins: [{ name: 'n', value: { double: 0 } }] }));
    const at = nan.length - 9; // the double's 8 bytes before the array end
    Buffer.from('010000000000f8ff', 'hex').copy(nan, at);
    expect(readAll(nan).bins[0]!.value).toEqual(Buffer.from('7ff8000000000000', 'hex'));
    // A boolean byte other than 0 or 1 reads as true.
    const bool = RECORD_TYPE.toBuffer(v({ bins: [{ name: 'b', value: { boolean: true } }] }));
    bool[bool.length - 2] = 7;
    expect(readAll(bool).bins[0]!.value).toEqual(Buffer.from([1]));
  });

  it('throws for records that break the model, like recordToAvro', () => {
    const bad = [{ ...base, digest: Buffer.alloc(19) }, { ...base, generation: -1 }, { ...base, voidTime: 2 ** 32 }, { ...base, generation: 1.5 }, { ...base, bins: [bin(256, '')] }];
    for (const r of bad) {
      expect(() => recordToAvro(r)).toThrow(RecordCodecError);
      expect(() => handWritten(r)).toThrow(RecordCodecError);
    }
  });

  it('throws for bytes that end inside the record or hold no record', () => {
    const bytes = handWritten(edgeRecords[2]!);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => readRecord(new AvroReader(bytes, 0, cut))).toThrow();
    }
    const particle = RECORD_TYPE.toBuffer({ ...recordToAvro(base), bins: [{ name: 'p', value: { 'aerobak.v1.Particle': { particleType: 300, bytes: Buffer.alloc(0) } } }] });
    expect(() => readAll(particle)).toThrow(/particle type 300/);
    const generation = RECORD_TYPE.toBuffer({ ...recordToAvro(base), generation: 2n ** 40n });
    expect(() => readAll(generation)).toThrow(/generation 1099511627776 is not in/);
  });
});
