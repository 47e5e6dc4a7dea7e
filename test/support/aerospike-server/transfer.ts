/**
 * Records crossing the worker boundary: structured clone turns Buffers into plain
 * Uint8Arrays, so the receiving side views them as Buffers again (no copy).
 */
import type { RawRecord } from '../../../src/aerospike/types.js';

export function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

export function rewrapRecord(rec: RawRecord): RawRecord {
  const out: RawRecord = {
    ...rec,
    digest: toBuffer(rec.digest),
    bins: rec.bins.map((b) => ({ name: b.name, type: b.type, value: toBuffer(b.value) })),
  };
  if (rec.userKey) out.userKey = { type: rec.userKey.type, bytes: toBuffer(rec.userKey.bytes) };
  return out;
}
