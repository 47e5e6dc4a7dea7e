/**
 * Records for the Avro and data-file tests: the 21 records a real server returned
 * (golden captures) and fast-check arbitraries for random records with bins of every
 * particle type, well-formed or not.
 */
import fc from 'fast-check';
import { ParticleType, type RawBin, type RawKey, type RawRecord } from '../../src/aerospike/types.js';
import { loadGoldenSummary } from '../support/captures.js';

/** The records of scan-all.jsonl (real server), as the scan reader yields them. */
export function goldenRecords(): RawRecord[] {
  return loadGoldenSummary().records.map((g) => {
    const r: RawRecord = {
      namespace: g.namespace,
      set: g.set,
      digest: Buffer.from(g.digest, 'hex'),
      generation: g.generation,
      voidTime: g.void_time_raw,
      bins: g.bins.map((b) => ({ name: b.name, type: b.particle_type, value: Buffer.from(b.value_hex, 'hex') })),
    };
    if (g.user_key) r.userKey = { type: g.user_key.type, bytes: Buffer.from(g.user_key.hex, 'hex') };
    return r;
  });
}

const bytes = (minLength = 0, maxLength = 24): fc.Arbitrary<Buffer> =>
  fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));
const eightBytes = bytes(8, 8);
const utf8 = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => Buffer.from(s, 'utf8'));
const hex = (...values: string[]): fc.Arbitrary<Buffer> => fc.constantFrom(...values).map((h) => Buffer.from(h, 'hex'));

/** Doubles whose bits matter: NaN payloads and signs, -0, infinities, subnormals. */
const specialDoubles = hex(
  '7ff8000000000000',
  '7ff8000000000001',
  'fff8000000000000',
  '7ff0000000000001',
  '8000000000000000',
  '7ff0000000000000',
  'fff0000000000000',
  '0000000000000001',
);

const geoJson = fc
  .record({ flags: fc.integer({ min: 0, max: 255 }), cells: fc.array(eightBytes, { maxLength: 4 }), json: utf8 })
  .map(({ flags, cells, json }) => {
    const count = Buffer.alloc(2);
    count.writeUInt16BE(cells.length, 0);
    return Buffer.concat([Buffer.from([flags]), count, ...cells, json]);
  });

/** A value for a particle type: mostly what the type promises, sometimes any bytes. */
function valueOf(type: number): fc.Arbitrary<Buffer> {
  switch (type) {
    case ParticleType.INTEGER:
      return fc.oneof(eightBytes, bytes());
    case ParticleType.FLOAT:
      return fc.oneof(fc.double().map((d) => Buffer.from(new Float64Array([d]).buffer).reverse()), specialDoubles, eightBytes, bytes());
    case ParticleType.STRING:
      return fc.oneof(utf8, bytes());
    case ParticleType.BOOL:
      return fc.oneof(hex('00', '01'), bytes(0, 2));
    case ParticleType.GEOJSON:
      return fc.oneof(geoJson, bytes());
    default:
      return bytes();
  }
}

const knownTypes = Object.values(ParticleType);
const particleType = fc.oneof(fc.constantFrom(...knownTypes), fc.integer({ min: 0, max: 255 }));

export const binArb: fc.Arbitrary<RawBin> = fc
  .tuple(fc.string({ unit: 'binary', maxLength: 15 }), particleType)
  .chain(([name, type]) => valueOf(type).map((value) => ({ name, type, value })));

export const keyArb: fc.Arbitrary<RawKey> = fc.oneof(
  eightBytes.map((b) => ({ type: ParticleType.INTEGER, bytes: b })),
  fc.oneof(utf8, bytes()).map((b) => ({ type: ParticleType.STRING, bytes: b })),
  bytes().map((b) => ({ type: ParticleType.BLOB, bytes: b })),
  fc.tuple(fc.integer({ min: 0, max: 255 }), bytes()).map(([type, b]) => ({ type, bytes: b })),
);

const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });

export const recordArb: fc.Arbitrary<RawRecord> = fc.record(
  {
    namespace: fc.string({ minLength: 1, maxLength: 10 }),
    set: fc.string({ unit: 'binary', maxLength: 10 }),
    digest: bytes(20, 20),
    userKey: keyArb,
    generation: uint32,
    voidTime: uint32,
    lastUpdateTime: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    bins: fc.array(binArb, { maxLength: 6 }),
  },
  { requiredKeys: ['namespace', 'set', 'digest', 'generation', 'voidTime', 'bins'] },
);

/** `n` random records, the same for the same seed. */
export function sampleRecords(n: number, seed = 42): RawRecord[] {
  return fc.sample(recordArb, { numRuns: n, seed });
}
