/**
 * Fuzzing of the export's value classifier (docs/reliability.md, "Fuzzing"): classifyBin
 * and classifyKey on every particle type with valid values (msgpack lists and maps packed
 * by the codec, GeoJSON, scalars), mutated values and random bytes. A value classifies to
 * a kind and a cell, its JSON text (kind json) parses as JSON, or it fails with ValueError:
 * the export then names the record (ExportValueError).
 */
import fc from 'fast-check';
import { afterAll, describe, expect } from 'vitest';
import { ParticleType } from '../../src/aerospike/types.js';
import { CdtList, CdtMap, Float, GeoJsonValue, pack, type MsgValue, type PackValue } from '../../src/aerospike/wire/msgpack.js';
import { SCALAR_KINDS, ValueError, cellBytes, classifyBin, classifyKey, type Classified } from '../../src/export/values.js';
import { FuzzFailure, fuzzIt, guard, mutants, printCounts, randomBytes, type Sample } from './support.js';

afterAll(() => printCounts('export-values'));

const anyBytes = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));

const KNOWN_TYPES = Object.values(ParticleType);
const typeArb = fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...KNOWN_TYPES) }, { weight: 1, arbitrary: fc.nat({ max: 255 }) });

/** Values a CDT holds (as PackValues). */
const { cdt } = fc.letrec<{ cdt: PackValue; scalar: PackValue }>((tie) => ({
  scalar: fc.oneof(
    fc.constant(null),
    fc.boolean(),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
    fc.integer(),
    fc.double().map((d) => new Float(d)),
    fc.string({ unit: 'binary', maxLength: 12 }),
    anyBytes(12),
    fc.string({ maxLength: 12 }).map((s) => new GeoJsonValue(s)),
  ),
  cdt: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('scalar'),
    fc.array(tie('cdt'), { maxLength: 5 }),
    fc.array(tie('scalar'), { maxLength: 5 }),
    fc.tuple(fc.array(tie('cdt'), { maxLength: 4 }), fc.integer({ min: 1, max: 3 })).map(([items, flags]) => new CdtList(items as MsgValue[], flags)),
    fc
      .tuple(fc.array(fc.tuple(fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), anyBytes(4), fc.double().map((d) => new Float(d))), tie('cdt')), { maxLength: 4 }), fc.constantFrom(0, 1, 3))
      .map(([entries, flags]) => new CdtMap(entries as Array<[MsgValue, MsgValue]>, flags)),
  ),
}));

const geoJsonArb = fc.tuple(fc.nat({ max: 255 }), fc.array(anyBytes(8, 8), { maxLength: 3 }), fc.json({ maxDepth: 1 })).map(([flags, cells, json]) => {
  const head = Buffer.alloc(3);
  head[0] = flags;
  head.writeUInt16BE(cells.length, 1);
  return Buffer.concat([head, ...cells, Buffer.from(json)]);
});

/** A value for particle type `type`: what the type holds. */
function validValue(type: number): fc.Arbitrary<Buffer> {
  switch (type) {
    case ParticleType.INTEGER:
    case ParticleType.FLOAT:
      return anyBytes(8, 8);
    case ParticleType.BOOL:
      return anyBytes(1, 1);
    case ParticleType.STRING:
      return fc.string({ unit: 'binary', maxLength: 20 }).map((s) => Buffer.from(s));
    case ParticleType.GEOJSON:
      return geoJsonArb;
    case ParticleType.LIST:
      return fc.array(cdt, { maxLength: 6 }).map((items) => pack(items));
    case ParticleType.MAP:
      return fc.array(fc.tuple(fc.oneof(fc.integer(), fc.string({ maxLength: 6 })), cdt), { maxLength: 5 }).map((entries) => pack(new CdtMap(entries as Array<[MsgValue, MsgValue]>)));
    default:
      return anyBytes(24);
  }
}

const validBinArb = typeArb.chain((type) => validValue(type).map((value) => ({ type, value })));

const KINDS = new Set<string>(SCALAR_KINDS);
const isKind = (k: string): boolean =>
  k === 'json' ||
  KINDS.has(k) ||
  (k.startsWith('list_') && KINDS.has(k.slice(5))) ||
  ['int64', 'string', 'binary', 'double'].some((key) => k.startsWith(`map_${key}_`) && KINDS.has(k.slice(5 + key.length)));

/** A classified value is well formed: a kind there is, a cell whose size is known, JSON text that parses. */
function checkClassified(c: Classified | undefined, input: Buffer): void {
  if (c === undefined) return;
  if (!isKind(c.kind)) throw new FuzzFailure(`unknown kind ${c.kind}`, input);
  const bytes = cellBytes(c.cell);
  if (!Number.isFinite(bytes) || bytes < 0) throw new FuzzFailure(`cellBytes ${bytes}`, input);
  if (c.kind === 'json') {
    try {
      JSON.parse(c.cell as string);
    } catch (e) {
      throw new FuzzFailure(`JSON text that does not parse: ${(e as Error).message}: ${String(c.cell).slice(0, 200)}`, input);
    }
  }
}

describe('fuzz: classifyBin (export)', () => {
  const parser = 'classifyBin';

  fuzzIt(
    parser,
    'valid values of every particle type classify (or, for bytes no type has, fail with ValueError)',
    validBinArb,
    ({ type, value }) => {
      const r = guard(value, [ValueError], () => classifyBin(type, value));
      if (!r.ok) {
        // Only types aerobak does not export (and malformed GeoJSON JSON is still text) may fail.
        if (KNOWN_TYPES.includes(type as never)) throw new FuzzFailure(`a valid ${type} value failed: ${r.error.message}`, value, r.error);
        return;
      }
      checkClassified(r.value, value);
      if (type === ParticleType.INTEGER) expect(r.value!.cell).toBe(value.readBigInt64BE(0));
      if (type === ParticleType.NULL) expect(r.value).toBeUndefined();
    },
    { share: 0.2 },
  );

  const check = ([type, value]: [number, Buffer]) => {
    const r = guard(value, [ValueError], () => classifyBin(type, value));
    if (r.ok) checkClassified(r.value, value);
  };
  fuzzIt(parser, 'mutated values classify or fail with ValueError', fc.tuple(typeArb, mutants(validBinArb.map(({ value }): Sample => ({ bytes: value })))), check, { share: 0.5 });
  fuzzIt(parser, 'random bytes classify or fail with ValueError', fc.tuple(typeArb, randomBytes(512)), check, { share: 0.3 });
});

describe('fuzz: classifyKey (export)', () => {
  fuzzIt(
    'classifyKey',
    'user keys of any type and bytes classify or fail with ValueError',
    fc.tuple(fc.oneof(fc.constantFrom(ParticleType.INTEGER, ParticleType.STRING, ParticleType.BLOB), fc.nat({ max: 255 })), fc.oneof(anyBytes(8, 8), anyBytes(40))),
    ([type, bytes]) => {
      const r = guard(bytes, [ValueError], () => classifyKey(type, bytes));
      if (r.ok) {
        checkClassified(r.value, bytes);
        if (type === ParticleType.INTEGER) expect(r.value.cell).toBe(bytes.readBigInt64BE(0));
      }
    },
  );
});
