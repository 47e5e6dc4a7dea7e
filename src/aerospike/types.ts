/**
 * The record model of aerobak's data path.
 *
 * Every bin is kept as the server's particle type plus the raw value bytes exactly as
 * they travel on the wire, so a record read by the scan reader and written back by the
 * batch writer is byte for byte the record the server held: no JS value conversion,
 * no lost GeoJSON/HLL types, no reordered map keys, no double 1.0 turned into an
 * integer. Converting to JS values is a separate, explicit step (see wire/values.ts).
 */

/** Server particle types (as_particle_type in the server, as_bytes_type in the C client). */
export const ParticleType = {
  NULL: 0,
  INTEGER: 1,
  FLOAT: 2,
  STRING: 3,
  BLOB: 4,
  JAVA_BLOB: 7,
  CSHARP_BLOB: 8,
  PYTHON_BLOB: 9,
  RUBY_BLOB: 10,
  PHP_BLOB: 11,
  ERLANG_BLOB: 12,
  VECTOR: 16,
  BOOL: 17,
  HLL: 18,
  MAP: 19,
  LIST: 20,
  GEOJSON: 23,
} as const;
export type ParticleTypeId = number;

/** One bin: name, particle type, raw value bytes as sent by the server. */
export interface RawBin {
  name: string;
  type: ParticleTypeId;
  value: Buffer;
}

/**
 * A stored user key: its particle type (1 integer, 3 string, 4 blob) and raw bytes
 * (8-byte big-endian for integers, UTF-8 for strings, raw bytes for blobs).
 */
export interface RawKey {
  type: ParticleTypeId;
  bytes: Buffer;
}

export interface RawRecord {
  namespace: string;
  set: string;
  /** 20-byte RIPEMD-160 digest; the record's identity on the server. */
  digest: Buffer;
  /** Present only when the record was written with the key stored (policy key SEND). */
  userKey?: RawKey;
  generation: number;
  /** Seconds since 2010-01-01T00:00:00Z (the citrusleaf epoch); 0 = never expires. */
  voidTime: number;
  /** Nanoseconds since the Unix epoch, when known (not sent by plain scans). */
  lastUpdateTime?: bigint;
  bins: RawBin[];
}

/** Seconds between the Unix epoch and the citrusleaf epoch (2010-01-01T00:00:00Z). */
export const CITRUSLEAF_EPOCH_UNIX_S = 1262304000;

export const PARTITION_COUNT = 4096;
