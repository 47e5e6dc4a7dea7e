import { describe, expect, it } from 'vitest';
import { CdtMap, GeoJsonValue, pack, unpack, MsgpackError } from '../../../src/aerospike/wire/msgpack.js';
import { decodeParticle, encodeParticle, geoJsonText } from '../../../src/aerospike/wire/values.js';
import { encodeExpression, exp, metadataFilter } from '../../../src/aerospike/wire/exp.js';
import { ParticleType } from '../../../src/aerospike/types.js';
import { loadGoldenSummary } from '../../support/captures.js';

const golden = loadGoldenSummary();
const bins = golden.records.flatMap((r) => r.bins.map((b) => ({ label: `${r.label}/${b.name}`, ...b })));
const bin = (label: string) => bins.find((b) => b.label === label)!;
const value = (label: string) => decodeParticle(bin(label).particle_type, Buffer.from(bin(label).value_hex, 'hex'));

/** The client's own JSON encoding of special values, see client-results.json. */
function clientValue(v: unknown): unknown {
  if (v && typeof v === 'object' && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    if ('$bigint' in o) return BigInt(o.$bigint as string);
    if ('$bytes' in o) return Buffer.from(o.$bytes as string, 'hex');
    if ('$number' in o) return Number(o.$number);
  }
  return v;
}

describe('particle values (golden scan)', () => {
  it('decodes scalars to what the client reported', () => {
    for (const b of bins) {
      const v = decodeParticle(b.particle_type, Buffer.from(b.value_hex, 'hex'));
      const expected = clientValue(b.client_value);
      switch (b.particle_type) {
        case ParticleType.INTEGER:
          expect(v, b.label).toBe(BigInt(expected as number | bigint));
          break;
        case ParticleType.FLOAT:
        case ParticleType.STRING:
        case ParticleType.BOOL:
          expect(v, b.label).toEqual(expected);
          break;
        case ParticleType.BLOB:
          expect((v as Buffer).equals(expected as Buffer), b.label).toBe(true);
          break;
      }
    }
  });

  it('keeps the bit patterns of special doubles', () => {
    expect(bin('doubles/d_nan').value_hex).toBe('7ff8000000000000');
    expect(Number.isNaN(value('doubles/d_nan'))).toBe(true);
    expect(value('doubles/d_inf')).toBe(Infinity);
    expect(value('doubles/d_one')).toBe(1);
    expect(bin('doubles/d_one').particle_type).toBe(ParticleType.FLOAT);
    expect(encodeParticle(-0).value.toString('hex')).toBe('8000000000000000');
  });

  it('strips the cell prefix of GeoJSON', () => {
    const point = value('geo/g_point') as GeoJsonValue;
    expect(JSON.parse(point.json)).toEqual({ type: 'Point', coordinates: [103.913, 1.308] });
    const poly = Buffer.from(bin('geo/g_poly').value_hex, 'hex');
    expect(poly.readUInt16BE(1)).toBeGreaterThan(1);
    expect(JSON.parse(geoJsonText(poly)).type).toBe('Polygon');
  });

  it('reads lists with typed strings and blobs', () => {
    const l = value('lists/l_nested') as unknown[];
    expect(l[0]).toBe(1);
    expect(l[1]).toBe('two');
    expect(l[2]).toBe(3.5);
    expect(l[3]).toEqual([4, [5, 'six']]);
    expect(l[4]).toBeInstanceOf(CdtMap);
    expect((l[5] as Buffer).toString('hex')).toBe('ab');
    expect(l.slice(6)).toEqual([true, null, -1, 9007199254740993n]);
  });

  it('reads map order flags and integer keys', () => {
    expect((value('cdtmaps/m_unord') as CdtMap).flags).toBe(0);
    expect((value('cdtmaps/m_keyord') as CdtMap).flags).toBe(1);
    expect((value('cdtmaps/m_kvord') as CdtMap).flags).toBe(3);
    const intKeys = value('maps/m_intkeys') as CdtMap;
    expect(intKeys.entries.map(([k]) => k)).toEqual([1, 2, 3]);
  });

  it('re-packs every decoded list and map to the server bytes', () => {
    for (const b of bins.filter((x) => x.particle_type === ParticleType.LIST || x.particle_type === ParticleType.MAP)) {
      const bytes = Buffer.from(b.value_hex, 'hex');
      expect(pack(unpack(bytes) as never).toString('hex'), b.label).toBe(b.value_hex);
    }
  });

  it('rejects truncated msgpack', () => {
    const bytes = Buffer.from(bin('lists/l_nested').value_hex, 'hex');
    expect(() => unpack(bytes.subarray(0, bytes.length - 3))).toThrow(MsgpackError);
  });
});

describe('filter expressions', () => {
  it('packs metadata comparisons as the C client does', () => {
    // [GE, [LAST_UPDATE], 1e18]: 93 04 91 42 cf ...
    const e = encodeExpression(exp.ge(exp.lastUpdate(), exp.int(1_000_000_000_000_000_000n)));
    expect(e.toString('hex')).toBe('930491' + '42' + 'cf0de0b6b3a7640000');
    expect(encodeExpression(exp.eq(exp.voidTime(), exp.int(-1))).toString('hex')).toBe('93019144ff');
  });

  it('combines asbackup-style options with AND', () => {
    const e = metadataFilter({ modifiedAfter: new Date(0), noTtlOnly: true })!;
    expect(e.kind).toBe('and');
    expect(metadataFilter({})).toBeUndefined();
    expect(encodeExpression(e).subarray(0, 2).toString('hex')).toBe('9310');
  });
});
