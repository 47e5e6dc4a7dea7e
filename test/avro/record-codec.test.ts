import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { RecordCodecError } from '../../src/avro/errors.js';
import { RECORD_TYPE, avroToRecord, recordToAvro, type AvroBinValue, type AvroRecord } from '../../src/avro/record-codec.js';
import { goldenRecords, recordArb } from './records.js';

/** RawRecord → Avro value → Avro binary → Avro value → RawRecord. */
function roundTrip(r: RawRecord): RawRecord {
  const encoded = RECORD_TYPE.toBuffer(recordToAvro(r));
  return avroToRecord(RECORD_TYPE.fromBuffer(encoded) as AvroRecord);
}

function record(bins: RawRecord['bins'], extra: Partial<RawRecord> = {}): RawRecord {
  return { namespace: 'test', set: 's', digest: Buffer.alloc(20, 7), generation: 1, voidTime: 0, bins, ...extra };
}

const bin = (type: number, hex: string) => ({ name: 'b', type, value: Buffer.from(hex, 'hex') });
const branchOf = (v: AvroBinValue): string => Object.keys(v)[0]!;

describe('record codec', () => {
  it('round-trips random records of every particle type byte for byte', () => {
    fc.assert(
      fc.property(recordArb, (r) => {
        expect(roundTrip(r)).toEqual(r);
      }),
      { numRuns: 300 },
    );
  });

  it('round-trips every record a real server returned, into readable branches', () => {
    const golden = goldenRecords();
    expect(golden).toHaveLength(21);
    const branches = new Map<number, Set<string>>();
    for (const r of golden) {
      expect(roundTrip(r)).toEqual(r);
      for (const b of recordToAvro(r).bins) {
        const type = r.bins.find((x) => x.name === b.name)!.type;
        branches.set(type, (branches.get(type) ?? new Set()).add(branchOf(b.value)));
      }
    }
    // Everything the server sent has a typed branch: nothing falls back to Particle.
    expect(Object.fromEntries([...branches].map(([t, s]) => [t, [...s]]))).toEqual({
      [ParticleType.INTEGER]: ['long'],
      [ParticleType.FLOAT]: ['double'],
      [ParticleType.STRING]: ['string'],
      [ParticleType.BLOB]: ['bytes'],
      [ParticleType.BOOL]: ['boolean'],
      [ParticleType.HLL]: ['aerobak.v1.Hll'],
      [ParticleType.MAP]: ['aerobak.v1.Map'],
      [ParticleType.LIST]: ['aerobak.v1.List'],
      [ParticleType.GEOJSON]: ['aerobak.v1.GeoJson'],
    });
  });

  it('splits a server GeoJSON into flags, big-endian S2 cells and the JSON text', () => {
    const point = goldenRecords()
      .flatMap((r) => r.bins)
      .find((b) => b.name === 'g_point')!;
    const value = recordToAvro(record([point])).bins[0]!.value;
    expect(value).toEqual({
      'aerobak.v1.GeoJson': { flags: 0, cells: [0x31da180ab7f7a279n], json: '{"type":"Point","coordinates":[103.913,1.308]}' },
    });
  });

  it('keeps doubles in the double branch only when the bits survive a JS number', () => {
    const cases: [string, string][] = [
      ['7ff8000000000000', 'double'], // the canonical NaN
      ['8000000000000000', 'double'], // -0.0
      ['0000000000000001', 'double'], // smallest subnormal
      ['7ff8000000000001', 'aerobak.v1.Particle'], // NaN with a payload
      ['fff8000000000000', 'aerobak.v1.Particle'], // negative NaN
      ['3ff0', 'aerobak.v1.Particle'], // not 8 bytes
    ];
    for (const [hex, branch] of cases) {
      const r = record([bin(ParticleType.FLOAT, hex)]);
      expect(branchOf(recordToAvro(r).bins[0]!.value), hex).toBe(branch);
      expect(roundTrip(r), hex).toEqual(r);
    }
  });

  it('writes an Avro double as the IEEE 754 little-endian bytes of the value', () => {
    const doubleType = avro.Type.forSchema('double');
    fc.assert(
      fc.property(fc.double({ noNaN: true }), (d) => {
        const be = Buffer.alloc(8);
        be.writeDoubleBE(d, 0);
        expect(doubleType.toBuffer(d)).toEqual(Buffer.from(be).reverse());
      }),
    );
  });

  it('falls back to Particle for values a typed branch cannot hold exactly', () => {
    const cases = [
      bin(ParticleType.STRING, 'c328'), // invalid UTF-8
      bin(ParticleType.BOOL, '02'),
      bin(ParticleType.INTEGER, '010203'),
      bin(ParticleType.GEOJSON, '0000'), // shorter than its prefix
      bin(ParticleType.GEOJSON, '000002aa'), // claims 2 cells it does not have
      bin(ParticleType.NULL, ''),
      bin(ParticleType.VECTOR, '0102'),
      bin(250, 'ff'),
    ];
    for (const b of cases) {
      const r = record([b]);
      expect(recordToAvro(r).bins[0]!.value).toEqual({ 'aerobak.v1.Particle': { particleType: b.type, bytes: b.value } });
      expect(roundTrip(r)).toEqual(r);
    }
  });

  it('maps user keys to long, string and bytes, and anything else to Particle', () => {
    const keyed = (type: number, hex: string) => record([], { userKey: { type, bytes: Buffer.from(hex, 'hex') } });
    expect(recordToAvro(keyed(ParticleType.INTEGER, 'ffffffffffffffff')).userKey).toEqual({ long: -1n });
    expect(recordToAvro(keyed(ParticleType.STRING, '6b')).userKey).toEqual({ string: 'k' });
    expect(recordToAvro(keyed(ParticleType.BLOB, 'dead')).userKey).toEqual({ bytes: Buffer.from('dead', 'hex') });
    expect(recordToAvro(keyed(ParticleType.STRING, 'ff')).userKey).toEqual({ 'aerobak.v1.Particle': { particleType: 3, bytes: Buffer.from('ff', 'hex') } });
    expect(recordToAvro(keyed(ParticleType.INTEGER, '01')).userKey).toEqual({ 'aerobak.v1.Particle': { particleType: 1, bytes: Buffer.from('01', 'hex') } });
  });

  it('keeps 64-bit values exact: integers, last-update times', () => {
    const r = record([bin(ParticleType.INTEGER, '8000000000000000')], { lastUpdateTime: 1_764_000_000_123_456_789n });
    expect(recordToAvro(r).bins[0]!.value).toEqual({ long: -(2n ** 63n) });
    expect(roundTrip(r)).toEqual(r);
  });

  it('decodes a Particle branch holding a typed value to the same bin', () => {
    const v = recordToAvro(record([]));
    v.bins.push({ name: 'b', value: { 'aerobak.v1.Particle': { particleType: 1, bytes: Buffer.from('0000000000000005', 'hex') } } });
    expect(avroToRecord(v).bins).toEqual([bin(ParticleType.INTEGER, '0000000000000005')]);
  });

  it('rejects records that break the model, and Avro values no record has', () => {
    const bad = [record([], { digest: Buffer.alloc(19) }), record([], { generation: -1 }), record([], { voidTime: 2 ** 32 }), record([bin(256, '')])];
    for (const r of bad) expect(() => recordToAvro(r)).toThrow(RecordCodecError);

    const withParticle = recordToAvro(record([]));
    withParticle.bins.push({ name: 'b', value: { 'aerobak.v1.Particle': { particleType: 300, bytes: Buffer.alloc(0) } } });
    expect(() => avroToRecord(withParticle)).toThrow(/particle type 300/);
    const withGeo = recordToAvro(record([]));
    withGeo.bins.push({ name: 'g', value: { 'aerobak.v1.GeoJson': { flags: 256, cells: [], json: '{}' } } });
    expect(() => avroToRecord(withGeo)).toThrow(expect.objectContaining({ code: 'INVALID_RECORD' }));
  });
});
