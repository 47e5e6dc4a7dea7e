/**
 * avsc Types for aerobak's schemas, configured the way every backup file is read and
 * written: Avro longs as JS bigints (user keys, INTEGER bins and nanosecond timestamps
 * use all 64 bits; avsc's default long refuses anything past 2^53) and unions wrapped
 * (`{ long: 1n }`, `{ 'aerobak.v1.List': { list } }`), so that every branch is explicit
 * and nothing is inferred from a JS value's shape.
 */
import avro from 'avsc';

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** Avro long ↔ bigint, all 64 bits. avsc packs the 8-byte little-endian value into the varint. */
const BIGINT_LONG = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer): bigint => buf.readBigInt64LE(0),
  toBuffer: (n: bigint): Buffer => {
    const buf = Buffer.allocUnsafe(8);
    buf.writeBigInt64LE(n, 0);
    return buf;
  },
  fromJSON: (json: number | string): bigint => BigInt(json),
  toJSON: (n: bigint): number | string => (Number.isSafeInteger(Number(n)) ? Number(n) : n.toString()),
  isValid: (n: unknown): boolean => typeof n === 'bigint' && n >= INT64_MIN && n <= INT64_MAX,
  compare: (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0),
});

function isLongSchema(schema: unknown): boolean {
  return schema === 'long' || (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long');
}

/** Parses a schema with bigint longs and wrapped unions (also used for a file's writer schema). */
export function avroType(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: true,
    typeHook: (s) => (isLongSchema(s) ? BIGINT_LONG : undefined),
  });
}

/**
 * Parses a schema with bigint longs and unions left unwrapped (null or the value): for
 * export files, whose unions are all a null and one other branch.
 */
export function avroTypeUnwrapped(schema: unknown): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, {
    wrapUnions: false,
    typeHook: (s) => (isLongSchema(s) ? BIGINT_LONG : undefined),
  });
}
