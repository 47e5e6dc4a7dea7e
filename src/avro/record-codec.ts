/**
 * RawRecord ↔ Avro value of aerobak.v1.Record (schemas/record.v1.avsc).
 *
 * Contract: for every RawRecord r that satisfies the model (20-byte digest, integer
 * generation and void time in 0..2^32-1, bins with a particle type in 0..255),
 * `avroToRecord(recordToAvro(r))` deep-equals r, byte for byte, for every particle
 * type and every value — including values that are not what their type promises
 * (a STRING that is not UTF-8, an INTEGER of 3 bytes). Typed branches (long, double,
 * string, ...) are used only when they hold the exact bytes; everything else goes to
 * the Particle branch with its particle type and raw bytes, so nothing is guessed.
 *
 * Decoding accepts any value the schema allows: a Particle branch with particle type 1
 * and 8 bytes decodes to the same bin as `{ long }`.
 */
import { isUtf8 } from 'node:buffer';
import { ParticleType, type RawBin, type RawKey, type RawRecord } from '../aerospike/types.js';
import { avroType } from './avro-type.js';
import type { ContainerCodec } from './container.js';
import { RecordCodecError } from './errors.js';
import { readRecord, writeRecord } from './record-binary.js';
import { RECORD_SCHEMA_V1 } from './schemas.js';

/** The avsc Type of aerobak.v1.Record: bigint longs, wrapped unions. */
export const RECORD_TYPE = avroType(RECORD_SCHEMA_V1);

export interface AvroParticle {
  particleType: number;
  bytes: Buffer;
}

export interface AvroGeoJson {
  flags: number;
  cells: bigint[];
  json: string;
}

/** A bin value: one branch of the wrapped union, keyed by the branch's (full) name. */
export type AvroBinValue =
  | { long: bigint }
  | { double: number }
  | { string: string }
  | { boolean: boolean }
  | { bytes: Buffer }
  | { 'aerobak.v1.List': { list: Buffer } }
  | { 'aerobak.v1.Map': { map: Buffer } }
  | { 'aerobak.v1.GeoJson': AvroGeoJson }
  | { 'aerobak.v1.Hll': { hll: Buffer } }
  | { 'aerobak.v1.Particle': AvroParticle };

export type AvroUserKey = null | { long: bigint } | { string: string } | { bytes: Buffer } | { 'aerobak.v1.Particle': AvroParticle };

/** The Avro value of one record, as RECORD_TYPE encodes and decodes it. */
export interface AvroRecord {
  namespace: string;
  set: string;
  digest: Buffer;
  userKey: AvroUserKey;
  generation: bigint;
  voidTime: bigint;
  lastUpdateTime: null | { long: bigint };
  bins: { name: string; value: AvroBinValue }[];
}

const DIGEST_BYTES = 20;
const UINT32_MAX = 0xffff_ffff;
/** The NaN a FLOAT holds when it is written as an Avro double: the JS/IEEE quiet NaN. */
const CANONICAL_NAN = Buffer.from('7ff8000000000000', 'hex');
const GEO_PREFIX_BYTES = 3;
const GEO_CELL_BYTES = 8;

function particle(type: number, bytes: Buffer): { 'aerobak.v1.Particle': AvroParticle } {
  return { 'aerobak.v1.Particle': { particleType: type, bytes } };
}

/** GEOJSON as flags, cells and JSON text, or undefined if the bytes are not exactly that. */
function geoJsonParts(value: Buffer): AvroGeoJson | undefined {
  if (value.length < GEO_PREFIX_BYTES) return undefined;
  const count = value.readUInt16BE(1);
  const jsonStart = GEO_PREFIX_BYTES + GEO_CELL_BYTES * count;
  if (jsonStart > value.length) return undefined;
  const json = value.subarray(jsonStart);
  if (!isUtf8(json)) return undefined;
  const cells: bigint[] = new Array<bigint>(count);
  for (let i = 0; i < count; i++) cells[i] = value.readBigInt64BE(GEO_PREFIX_BYTES + GEO_CELL_BYTES * i);
  return { flags: value[0]!, cells, json: json.toString('utf8') };
}

function geoJsonBytes(g: AvroGeoJson): Buffer {
  if (!Number.isInteger(g.flags) || g.flags < 0 || g.flags > 0xff) throw new RecordCodecError(`GeoJSON flags ${g.flags} do not fit in a byte`);
  if (g.cells.length > 0xffff) throw new RecordCodecError(`GeoJSON with ${g.cells.length} cells (at most 65535 fit)`);
  const json = Buffer.from(g.json, 'utf8');
  const out = Buffer.allocUnsafe(GEO_PREFIX_BYTES + GEO_CELL_BYTES * g.cells.length + json.length);
  out[0] = g.flags;
  out.writeUInt16BE(g.cells.length, 1);
  g.cells.forEach((cell, i) => out.writeBigInt64BE(cell, GEO_PREFIX_BYTES + GEO_CELL_BYTES * i));
  json.copy(out, GEO_PREFIX_BYTES + GEO_CELL_BYTES * g.cells.length);
  return out;
}

function binValueToAvro(type: number, value: Buffer): AvroBinValue {
  switch (type) {
    case ParticleType.INTEGER:
      if (value.length === 8) return { long: value.readBigInt64BE(0) };
      break;
    case ParticleType.FLOAT:
      // A JS number carries any double exactly except NaN payloads, which V8 may
      // canonicalize: only the canonical NaN travels as a double.
      if (value.length === 8) {
        const d = value.readDoubleBE(0);
        if (!Number.isNaN(d) || value.equals(CANONICAL_NAN)) return { double: d };
      }
      break;
    case ParticleType.STRING:
      if (isUtf8(value)) return { string: value.toString('utf8') };
      break;
    case ParticleType.BOOL:
      if (value.length === 1 && value[0]! <= 1) return { boolean: value[0] === 1 };
      break;
    case ParticleType.BLOB:
      return { bytes: value };
    case ParticleType.LIST:
      return { 'aerobak.v1.List': { list: value } };
    case ParticleType.MAP:
      return { 'aerobak.v1.Map': { map: value } };
    case ParticleType.GEOJSON: {
      const geo = geoJsonParts(value);
      if (geo) return { 'aerobak.v1.GeoJson': geo };
      break;
    }
    case ParticleType.HLL:
      return { 'aerobak.v1.Hll': { hll: value } };
  }
  return particle(type, value);
}

function int64Bytes(n: bigint): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeBigInt64BE(n, 0);
  return out;
}

function particleFromAvro(p: AvroParticle): { type: number; value: Buffer } {
  if (!Number.isInteger(p.particleType) || p.particleType < 0 || p.particleType > 0xff) {
    throw new RecordCodecError(`particle type ${p.particleType} is not in 0..255`);
  }
  return { type: p.particleType, value: p.bytes };
}

function binValueFromAvro(v: AvroBinValue): { type: number; value: Buffer } {
  if ('long' in v) return { type: ParticleType.INTEGER, value: int64Bytes(v.long) };
  if ('double' in v) {
    if (Number.isNaN(v.double)) return { type: ParticleType.FLOAT, value: Buffer.from(CANONICAL_NAN) };
    const value = Buffer.allocUnsafe(8);
    value.writeDoubleBE(v.double, 0);
    return { type: ParticleType.FLOAT, value };
  }
  if ('string' in v) return { type: ParticleType.STRING, value: Buffer.from(v.string, 'utf8') };
  if ('boolean' in v) return { type: ParticleType.BOOL, value: Buffer.from([v.boolean ? 1 : 0]) };
  if ('bytes' in v) return { type: ParticleType.BLOB, value: v.bytes };
  if ('aerobak.v1.List' in v) return { type: ParticleType.LIST, value: v['aerobak.v1.List'].list };
  if ('aerobak.v1.Map' in v) return { type: ParticleType.MAP, value: v['aerobak.v1.Map'].map };
  if ('aerobak.v1.GeoJson' in v) return { type: ParticleType.GEOJSON, value: geoJsonBytes(v['aerobak.v1.GeoJson']) };
  if ('aerobak.v1.Hll' in v) return { type: ParticleType.HLL, value: v['aerobak.v1.Hll'].hll };
  return particleFromAvro(v['aerobak.v1.Particle']);
}

function keyToAvro(key: RawKey): AvroUserKey {
  if (key.type === ParticleType.INTEGER && key.bytes.length === 8) return { long: key.bytes.readBigInt64BE(0) };
  if (key.type === ParticleType.STRING && isUtf8(key.bytes)) return { string: key.bytes.toString('utf8') };
  if (key.type === ParticleType.BLOB) return { bytes: key.bytes };
  return particle(key.type, key.bytes);
}

function keyFromAvro(k: Exclude<AvroUserKey, null>): RawKey {
  if ('long' in k) return { type: ParticleType.INTEGER, bytes: int64Bytes(k.long) };
  if ('string' in k) return { type: ParticleType.STRING, bytes: Buffer.from(k.string, 'utf8') };
  if ('bytes' in k) return { type: ParticleType.BLOB, bytes: k.bytes };
  const { type, value } = particleFromAvro(k['aerobak.v1.Particle']);
  return { type, bytes: value };
}

function checkUint32(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > UINT32_MAX) throw new RecordCodecError(`${what} ${n} is not an integer in 0..${UINT32_MAX}`);
}

function uint32FromAvro(what: string, n: bigint): number {
  if (n < 0n || n > BigInt(UINT32_MAX)) throw new RecordCodecError(`${what} ${n} is not in 0..${UINT32_MAX}`);
  return Number(n);
}

/**
 * The Avro value of a record. Buffers are shared, not copied: the value is meant to be
 * encoded right away. Throws RecordCodecError if `r` breaks the RawRecord model.
 */
export function recordToAvro(r: RawRecord): AvroRecord {
  if (r.digest.length !== DIGEST_BYTES) throw new RecordCodecError(`record digest of ${r.digest.length} bytes (expected ${DIGEST_BYTES})`);
  checkUint32('generation', r.generation);
  checkUint32('void time', r.voidTime);
  const bins = new Array<{ name: string; value: AvroBinValue }>(r.bins.length);
  for (let i = 0; i < r.bins.length; i++) {
    const b = r.bins[i]!;
    if (!Number.isInteger(b.type) || b.type < 0 || b.type > 0xff) throw new RecordCodecError(`bin "${b.name}" has particle type ${b.type}, not in 0..255`);
    bins[i] = { name: b.name, value: binValueToAvro(b.type, b.value) };
  }
  return {
    namespace: r.namespace,
    set: r.set,
    digest: r.digest,
    userKey: r.userKey ? keyToAvro(r.userKey) : null,
    generation: BigInt(r.generation),
    voidTime: BigInt(r.voidTime),
    lastUpdateTime: r.lastUpdateTime === undefined ? null : { long: r.lastUpdateTime },
    bins,
  };
}

/**
 * The record an Avro value holds. Optional RawRecord fields are absent (not undefined)
 * when the value has null there. Throws RecordCodecError for a value that no RawRecord has.
 */
export function avroToRecord(v: AvroRecord): RawRecord {
  const bins = new Array<RawBin>(v.bins.length);
  for (let i = 0; i < v.bins.length; i++) {
    const b = v.bins[i]!;
    const { type, value } = binValueFromAvro(b.value);
    bins[i] = { name: b.name, type, value };
  }
  const r: RawRecord = {
    namespace: v.namespace,
    set: v.set,
    digest: v.digest,
    generation: uint32FromAvro('generation', v.generation),
    voidTime: uint32FromAvro('void time', v.voidTime),
    bins,
  };
  if (v.userKey !== null) r.userKey = keyFromAvro(v.userKey);
  if (v.lastUpdateTime !== null) r.lastUpdateTime = v.lastUpdateTime.long;
  return r;
}

/** Data files hold aerobak.v1.Record values. */
export const RECORD_CODEC: ContainerCodec<RawRecord> = {
  schema: RECORD_SCHEMA_V1,
  type: RECORD_TYPE,
  toAvro: recordToAvro,
  fromAvro: (value) => avroToRecord(value as AvroRecord),
  write: writeRecord,
  read: readRecord,
};
