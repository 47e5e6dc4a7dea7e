/**
 * Particle values ↔ JS values. The data path never calls these: it keeps particle type
 * plus raw bytes. They serve filters, display, export and tests.
 */
import { ParticleType, type RawBin } from '../types.js';
import { CdtList, Float, GeoJsonValue, pack, unpack, type MsgValue, type PackValue } from './msgpack.js';

export type BinValue = MsgValue;

export class ParticleError extends Error {
  readonly code = 'PARTICLE';
  constructor(message: string) {
    super(message);
    this.name = 'ParticleError';
  }
}

/**
 * GeoJSON particles as stored: u8 flags, u16 BE cell count, 8 bytes per cell id, then
 * the JSON text. Clients write flags 0 and no cells; the server adds the cells.
 */
export function geoJsonText(value: Buffer): string {
  if (value.length < 3) throw new ParticleError(`GeoJSON value of ${value.length} bytes is shorter than its 3-byte prefix`);
  const cells = value.readUInt16BE(1);
  const start = 3 + 8 * cells;
  if (start > value.length) throw new ParticleError(`GeoJSON value claims ${cells} cells but has ${value.length} bytes`);
  return value.toString('utf8', start);
}

/** Decodes one particle to a JS value. Integers come back as bigint, GeoJSON as GeoJsonValue. */
export function decodeParticle(type: number, value: Buffer): BinValue {
  switch (type) {
    case ParticleType.NULL:
      return null;
    case ParticleType.INTEGER:
      if (value.length !== 8) throw new ParticleError(`INTEGER value of ${value.length} bytes (expected 8)`);
      return value.readBigInt64BE(0);
    case ParticleType.FLOAT:
      if (value.length !== 8) throw new ParticleError(`FLOAT value of ${value.length} bytes (expected 8)`);
      return value.readDoubleBE(0);
    case ParticleType.STRING:
      return value.toString('utf8');
    case ParticleType.BOOL:
      if (value.length !== 1) throw new ParticleError(`BOOL value of ${value.length} bytes (expected 1)`);
      return value[0] !== 0;
    case ParticleType.GEOJSON:
      return new GeoJsonValue(geoJsonText(value));
    case ParticleType.LIST:
    case ParticleType.MAP:
      return unpack(value);
    default:
      // BLOB, HLL, VECTOR and language blobs are opaque bytes.
      return Buffer.from(value);
  }
}

export function decodeBin(bin: RawBin): BinValue {
  return decodeParticle(bin.type, bin.value);
}

/** Marks a Buffer to be stored as HLL rather than BLOB (for tests that build records). */
export class HllValue {
  constructor(public readonly bytes: Buffer) {}
}

export type EncodableValue = PackValue | HllValue;

/**
 * Encodes a JS value as a particle, the way a careful client would: integral numbers and
 * bigints are INTEGER, other numbers (and Float) FLOAT, booleans BOOL, GeoJsonValue GEOJSON
 * (with the 3-byte prefix and no cells), arrays LIST, objects and Maps MAP (as given,
 * unordered unless a CdtMap with flags is passed), Buffers BLOB.
 */
export function encodeParticle(v: EncodableValue): { type: number; value: Buffer } {
  if (v === null || v === undefined) return { type: ParticleType.NULL, value: Buffer.alloc(0) };
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0))) {
    const value = Buffer.allocUnsafe(8);
    value.writeBigInt64BE(BigInt(v), 0);
    return { type: ParticleType.INTEGER, value };
  }
  if (typeof v === 'number' || v instanceof Float) {
    const value = Buffer.allocUnsafe(8);
    value.writeDoubleBE(typeof v === 'number' ? v : v.value, 0);
    return { type: ParticleType.FLOAT, value };
  }
  if (typeof v === 'string') return { type: ParticleType.STRING, value: Buffer.from(v, 'utf8') };
  if (typeof v === 'boolean') return { type: ParticleType.BOOL, value: Buffer.from([v ? 1 : 0]) };
  if (v instanceof HllValue) return { type: ParticleType.HLL, value: Buffer.from(v.bytes) };
  if (v instanceof GeoJsonValue) {
    return { type: ParticleType.GEOJSON, value: Buffer.concat([Buffer.from([0, 0, 0]), Buffer.from(v.json, 'utf8')]) };
  }
  if (v instanceof Uint8Array) return { type: ParticleType.BLOB, value: Buffer.from(v) };
  const packed = pack(v);
  const isList = Array.isArray(v) || v instanceof CdtList;
  return { type: isList ? ParticleType.LIST : ParticleType.MAP, value: packed };
}

export function particleTypeName(type: number): string {
  for (const [name, id] of Object.entries(ParticleType)) if (id === type) return name;
  return `TYPE_${type}`;
}
