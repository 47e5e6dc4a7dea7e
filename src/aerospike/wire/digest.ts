/**
 * Record digests and partitions: digest = RIPEMD-160(set name, key particle type byte,
 * key bytes); partition id = (digest[0] | digest[1] << 8) & 4095.
 */
import { createHash } from 'node:crypto';
import { PARTITION_COUNT, ParticleType, type RawKey } from '../types.js';

export function computeDigest(set: string, key: RawKey): Buffer {
  return createHash('ripemd160')
    .update(Buffer.from(set, 'utf8'))
    .update(Buffer.from([key.type]))
    .update(key.bytes)
    .digest();
}

export function partitionId(digest: Buffer): number {
  return partitionIdAt(digest, 0);
}

/** The partition of the digest whose 20 bytes start at buf[from]. */
export function partitionIdAt(buf: Buffer, from: number): number {
  return (buf[from]! | (buf[from + 1]! << 8)) & (PARTITION_COUNT - 1);
}

/** Builds a RawKey from a JS value: string, integer (number or bigint) or bytes. */
export function keyFromValue(value: string | number | bigint | Buffer | Uint8Array): RawKey {
  if (typeof value === 'string') return { type: ParticleType.STRING, bytes: Buffer.from(value, 'utf8') };
  if (typeof value === 'number' || typeof value === 'bigint') {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new TypeError(`key ${value} is not a safe integer`);
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeBigInt64BE(BigInt(value), 0);
    return { type: ParticleType.INTEGER, bytes };
  }
  return { type: ParticleType.BLOB, bytes: Buffer.from(value) };
}

/** The user key as a JS value (for display, filters and export). */
export function keyToValue(key: RawKey): string | bigint | Buffer {
  switch (key.type) {
    case ParticleType.STRING:
      return key.bytes.toString('utf8');
    case ParticleType.INTEGER:
      return key.bytes.readBigInt64BE(0);
    default:
      return key.bytes;
  }
}

/** A key field's data: one particle type byte, then the key bytes. */
export function encodeKeyField(key: RawKey): Buffer {
  return Buffer.concat([Buffer.from([key.type]), key.bytes]);
}

export function decodeKeyField(data: Buffer): RawKey {
  return { type: data[0]!, bytes: Buffer.from(data.subarray(1)) };
}
