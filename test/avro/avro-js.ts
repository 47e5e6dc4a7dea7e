/**
 * Apache's avro-js (an independent Avro implementation, CommonJS) for tests that
 * check aerobak's files are readable by other tools. Longs are read as bigints, as
 * any 64-bit-exact reader must.
 *
 * Its modules are loaded one by one: avro-js 1.12's index also loads a deprecated
 * validator that requires `underscore`, which the package does not declare.
 */
import { createRequire } from 'node:module';

export interface AvroJs {
  parse(schema: unknown, opts?: { typeHook?: (schema: unknown) => unknown }): { getName(): string; fromBuffer(buf: Buffer): unknown };
  streams: { BlockDecoder: new (opts?: { parseOpts?: { typeHook?: (schema: unknown) => unknown } }) => NodeJS.ReadWriteStream };
}

const require = createRequire(import.meta.url);
export const avroJs = require('avro-js/lib/files.js') as AvroJs;
const { types } = require('avro-js/lib/schemas.js') as { types: { LongType: { using(methods: Record<string, unknown>): unknown } } };

const bigintLong = types.LongType.using({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(0),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(n, 0);
    return buf;
  },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0),
});

/** avro-js parse options reading every long as a bigint (fresh each time: avro-js keeps its type registry in them). */
export const bigintLongs = () => ({
  typeHook: (schema: unknown) =>
    schema === 'long' || (typeof schema === 'object' && schema !== null && (schema as { type?: unknown }).type === 'long') ? bigintLong : undefined,
});

/** Every value of an Avro container file, decoded by avro-js. */
export async function decodeWithAvroJs(container: Buffer): Promise<unknown[]> {
  const decoder = new avroJs.streams.BlockDecoder({ parseOpts: bigintLongs() });
  const values: unknown[] = [];
  const done = new Promise<void>((resolve, reject) => {
    decoder.on('data', (v: unknown) => values.push(v));
    decoder.on('end', resolve);
    decoder.on('error', reject);
  });
  decoder.end(container);
  await done;
  return values;
}
