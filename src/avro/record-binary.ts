/**
 * Hand-written Avro binary codec of aerobak.v1.Record (RECORD_SCHEMA_V1), straight
 * between RawRecords and bytes: no intermediate Avro value, no bigints for 64-bit
 * longs (they travel as two 32-bit halves), no JS strings for STRING values (their
 * raw bytes are written after an isUtf8 check, and read back as views).
 *
 * The value writers (put*) take a byte range (src, from, to) and an output offset, and
 * are exported, so that wire-record.ts encodes scan records straight from the reply
 * frame with the same code.
 *
 * Contract (test/avro/record-binary.test.ts):
 * - `writeRecord(w, r)` appends exactly the bytes avsc writes for
 *   `RECORD_TYPE.toBuffer(recordToAvro(r))`: the same union branch for every value
 *   (the rules of record-codec.ts), the same varints, the same string bytes (including
 *   avsc's encoding of lone surrogates in short strings). It throws the same
 *   RecordCodecErrors as recordToAvro for records that break the model.
 * - `readRecord(rd)` returns what `avroToRecord(RECORD_TYPE.decode(...))` returns, for
 *   any bytes avsc decodes; bin values, keys and digests are views of the input
 *   buffer (the caller must not reuse it) except INTEGER and FLOAT values (8-byte copies,
 *   big-endian) and BOOLs. It throws (a RangeError or RecordCodecError) for bytes that
 *   run past `rd.end` or that no record has.
 */
import { isUtf8 } from 'node:buffer';
import { ParticleType, type RawBin, type RawKey, type RawRecord } from '../aerospike/types.js';
import { RecordCodecError } from './errors.js';

const DIGEST_BYTES = 20;
const UINT32_MAX = 0xffff_ffff;
const GEO_PREFIX_BYTES = 3;
const GEO_CELL_BYTES = 8;

/** A growing output buffer: bytes [0, pos) are written. */
export class AvroWriter {
  buf: Buffer;
  pos = 0;

  /** A new buffer of `size` bytes, or `reuse` (its old contents are written over). */
  constructor(size = 64 * 1024, reuse?: Buffer) {
    this.buf = reuse ?? Buffer.allocUnsafe(size);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, this.pos + n));
    this.buf.copy(grown, 0, 0, this.pos);
    this.buf = grown;
  }
}

/** An input cursor: bytes [pos, end) of buf are still to be read. */
export class AvroReader {
  constructor(
    public buf: Buffer,
    public pos: number,
    public end: number,
  ) {}
}

// ---------------------------------------------------------------------------
// Encoding
//
// The put* functions write at buf[pos] and return the offset just past what they wrote;
// the caller has made room for it (they never grow anything; valueBound says how much a
// value takes). The write* functions are the same on an AvroWriter, with an ensure each.
// wire-record.ts makes room once per record, writes the common values itself and the
// others with putBinValue / putKey, with the offset in a local variable.

/** Zig-zag varint of a non-negative safe integer (lengths, branch indexes, uint32s): at most 8 bytes, 5 below 2^32. */
export function putCount(buf: Buffer, pos: number, n: number): number {
  if (n < 64) {
    buf[pos] = n * 2;
    return pos + 1;
  }
  return putLongCount(buf, pos, n * 2);
}

/** putCount of n >= 64, zig-zagged: `z` = 2n. */
function putLongCount(buf: Buffer, pos: number, z: number): number {
  if (z < 0x1_0000_0000) {
    z >>>= 0;
    while (z > 0x7f) {
      buf[pos++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
  } else {
    while (z >= 0x80) {
      buf[pos++] = (z % 0x80) | 0x80;
      z = Math.floor(z / 0x80);
    }
  }
  buf[pos] = z;
  return pos + 1;
}

function writeCount(w: AvroWriter, n: number): void {
  w.ensure(8);
  w.pos = putCount(w.buf, w.pos, n);
}

/** Zig-zag varint of the signed 64-bit value `hi`:`lo` (hi signed or not, lo unsigned; only the bits matter): at most 10 bytes. */
export function putLongBits(buf: Buffer, pos: number, hi: number, lo: number): number {
  const sign = hi >> 31;
  let zhi = (((hi << 1) | (lo >>> 31)) ^ sign) >>> 0;
  let zlo = ((lo << 1) ^ sign) >>> 0;
  while (zhi !== 0) {
    buf[pos++] = (zlo & 0x7f) | 0x80;
    zlo = ((zlo >>> 7) | (zhi << 25)) >>> 0;
    zhi >>>= 7;
  }
  while (zlo > 0x7f) {
    buf[pos++] = (zlo & 0x7f) | 0x80;
    zlo >>>= 7;
  }
  buf[pos] = zlo;
  return pos + 1;
}

/** Avro long of the 8 big-endian two's complement bytes at src[off]: at most 10 bytes. */
function putInt64BE(buf: Buffer, pos: number, src: Buffer, off: number): number {
  const hi = (src[off]! << 24) | (src[off + 1]! << 16) | (src[off + 2]! << 8) | src[off + 3]!;
  const lo = ((src[off + 4]! << 24) | (src[off + 5]! << 16) | (src[off + 6]! << 8) | src[off + 7]!) >>> 0;
  return putLongBits(buf, pos, hi, lo);
}

const SCRATCH = Buffer.alloc(8);

function writeBigLong(w: AvroWriter, n: bigint): void {
  if (typeof n !== 'bigint' || n < -(2n ** 63n) || n >= 2n ** 63n) throw new RecordCodecError(`last update time ${String(n)} is not a signed 64-bit integer`);
  SCRATCH.writeBigInt64BE(n, 0);
  w.ensure(10);
  w.pos = putInt64BE(w.buf, w.pos, SCRATCH, 0);
}

/**
 * Longest copy made by a JS loop: below it the loop is cheaper than a call into C++,
 * above it a native copy (measured on Node 20: a 32-byte loop costs what a set() does).
 */
const COPY_LOOP_MAX = 32;

/**
 * Copies src[from, to). A range that is not all of src goes to TypedArray#set as a
 * Uint8Array view: cheaper than Buffer#copy or subarray, which make the same view and more.
 */
function putRaw(buf: Buffer, pos: number, src: Buffer, from: number, to: number): number {
  const n = to - from;
  if (n <= COPY_LOOP_MAX) {
    for (let i = 0; i < n; i++) buf[pos + i] = src[from + i]!;
  } else if (from === 0 && to === src.length) {
    buf.set(src, pos);
  } else {
    buf.set(new Uint8Array(src.buffer, src.byteOffset + from, n), pos);
  }
  return pos + n;
}

/** Avro bytes: length, then the bytes src[from, to). */
function putBytes(buf: Buffer, pos: number, src: Buffer, from: number, to: number): number {
  return putRaw(buf, putCount(buf, pos, to - from), src, from, to);
}

/**
 * Avro string of the bytes src[from, to) if they are UTF-8, else -1 (with bytes written
 * past pos). A short value is copied and checked in one loop.
 */
function putUtf8(buf: Buffer, pos: number, src: Buffer, from: number, to: number): number {
  const n = to - from;
  const start = putCount(buf, pos, n);
  if (n <= COPY_LOOP_MAX) {
    let bits = 0;
    for (let i = 0; i < n; i++) bits |= buf[start + i] = src[from + i]!;
    if (bits < 0x80) return start + n;
  } else {
    putRaw(buf, start, src, from, to);
  }
  return utf8(buf, start, start + n) ? start + n : -1;
}

/**
 * isUtf8 of src[from, to) (all of src by default), with a JS loop for short ASCII values;
 * a range that is not all of src costs a view only when it goes to isUtf8.
 */
function utf8(src: Buffer, from = 0, to = src.length): boolean {
  if (to - from <= 64) {
    let i = from;
    while (i < to && src[i]! < 0x80) i++;
    if (i === to) return true;
  }
  return isUtf8(from === 0 && to === src.length ? src : src.subarray(from, to));
}

/**
 * Avro string of a JS string, exactly as avsc 5 writes it: UTF-8, except that strings
 * of at most 64 bytes go through avsc's own encoder, which writes a lone surrogate as
 * its 3-byte form (Buffer#write would write U+FFFD).
 */
export function writeString(w: AvroWriter, s: string): void {
  const n = s.length;
  if (n < 64) {
    // ASCII fast path: one byte per unit, and a one-byte length.
    w.ensure(1 + n);
    const buf = w.buf;
    const start = w.pos;
    let pos = start + 1;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      buf[pos++] = c;
    }
    if (i === n) {
      buf[start] = n << 1;
      w.pos = pos;
      return;
    }
  }
  const len = Buffer.byteLength(s);
  writeCount(w, len);
  w.ensure(len);
  const buf = w.buf;
  let pos = w.pos;
  if (len > 64) {
    buf.write(s, pos, len, 'utf8');
    w.pos = pos + len;
    return;
  }
  for (let i = 0; i < n; i++) {
    let c1 = s.charCodeAt(i);
    let c2: number;
    if (c1 < 0x80) {
      buf[pos++] = c1;
    } else if (c1 < 0x800) {
      buf[pos++] = (c1 >> 6) | 0xc0;
      buf[pos++] = (c1 & 0x3f) | 0x80;
    } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
      c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
      i++;
      buf[pos++] = (c1 >> 18) | 0xf0;
      buf[pos++] = ((c1 >> 12) & 0x3f) | 0x80;
      buf[pos++] = ((c1 >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c1 & 0x3f) | 0x80;
    } else {
      buf[pos++] = (c1 >> 12) | 0xe0;
      buf[pos++] = ((c1 >> 6) & 0x3f) | 0x80;
      buf[pos++] = (c1 & 0x3f) | 0x80;
    }
  }
  w.pos = pos;
}

function writeByte(w: AvroWriter, b: number): void {
  w.ensure(1);
  w.buf[w.pos++] = b;
}

/** Union branch `index` (< 64: one byte) then a Particle record of the bytes src[from, to): at most 11 bytes and the value. */
function putParticle(buf: Buffer, pos: number, index: number, type: number, src: Buffer, from: number, to: number): number {
  buf[pos] = index << 1;
  if (type >= 0) pos = putCount(buf, pos + 1, type);
  else pos = putLongBits(buf, pos + 1, -1, type >>> 0); // only a user key's type can be negative
  return putBytes(buf, pos, src, from, to);
}

// Branch indexes of the bin value union and of the user key union (schemas.ts).
export const V_LONG = 0;
export const V_DOUBLE = 1;
export const V_STRING = 2;
export const V_BOOLEAN = 3;
export const V_BYTES = 4;
export const V_LIST = 5;
export const V_MAP = 6;
const V_GEOJSON = 7;
export const V_HLL = 8;
const V_PARTICLE = 9;
export const K_LONG = 1;
export const K_STRING = 2;
export const K_BYTES = 3;
const K_PARTICLE = 4;

/**
 * Most bytes putBinValue and putKey write for a value of `n` bytes: the value's bytes
 * after at most 11 (union branch, particle type up to an int32, length up to 2^32), or for
 * a GeoJSON of c cells and a j-byte JSON (n = 3 + 8c + j) at most 12 + 10c + j (a cell
 * is a long of up to 10 bytes). Both are under 2n + 16.
 */
export function valueBound(n: number): number {
  return 2 * n + 16;
}

/**
 * Whether the double of bits `hi`:`lo` (as two int32s) is kept as it is, i.e. a JS number
 * holds it: anything but a NaN other than 0x7ff8000000000000.
 */
export function isExactBits(hi: number, lo: number): boolean {
  if ((hi & 0x7ff00000) !== 0x7ff00000) return true; // finite
  if ((hi & 0x000fffff) === 0 && lo === 0) return true; // ±Infinity
  return hi === 0x7ff80000 && lo === 0; // the canonical NaN
}

/** isExactBits of the 8 big-endian bytes at v[at]. */
function isExactDouble(v: Buffer, at = 0): boolean {
  const hi = (v[at]! << 24) | (v[at + 1]! << 16) | (v[at + 2]! << 8) | v[at + 3]!;
  const lo = (v[at + 4]! << 24) | (v[at + 5]! << 16) | (v[at + 6]! << 8) | v[at + 7]!;
  return isExactBits(hi, lo);
}

/** GeoJSON value src[from, to) as flags/cells/json, or -1 if the bytes are not exactly that. */
function putGeoJson(buf: Buffer, pos: number, src: Buffer, from: number, to: number): number {
  if (to - from < GEO_PREFIX_BYTES) return -1;
  const count = (src[from + 1]! << 8) | src[from + 2]!;
  const jsonStart = from + GEO_PREFIX_BYTES + GEO_CELL_BYTES * count;
  if (jsonStart > to) return -1;
  if (!utf8(src, jsonStart, to)) return -1;
  buf[pos] = V_GEOJSON << 1;
  pos = putCount(buf, pos + 1, src[from]!);
  if (count > 0) {
    pos = putCount(buf, pos, count);
    for (let i = 0; i < count; i++) pos = putInt64BE(buf, pos, src, from + GEO_PREFIX_BYTES + GEO_CELL_BYTES * i);
  }
  buf[pos] = 0;
  return putBytes(buf, pos + 1, src, jsonStart, to);
}

/** A bin value: particle type `type`, raw bytes src[from, to); at most valueBound(to - from) bytes. */
export function putBinValue(buf: Buffer, pos: number, type: number, src: Buffer, from: number, to: number): number {
  switch (type) {
    case ParticleType.INTEGER:
      if (to - from === 8) {
        buf[pos] = V_LONG << 1;
        return putInt64BE(buf, pos + 1, src, from);
      }
      break;
    case ParticleType.FLOAT:
      if (to - from === 8 && isExactDouble(src, from)) {
        buf[pos] = V_DOUBLE << 1;
        for (let i = 0; i < 8; i++) buf[pos + 1 + i] = src[from + 7 - i]!;
        return pos + 9;
      }
      break;
    case ParticleType.STRING: {
      const end = putUtf8(buf, pos + 1, src, from, to);
      if (end >= 0) {
        buf[pos] = V_STRING << 1;
        return end;
      }
      break;
    }
    case ParticleType.BOOL:
      if (to - from === 1 && src[from]! <= 1) {
        buf[pos] = V_BOOLEAN << 1;
        buf[pos + 1] = src[from]!;
        return pos + 2;
      }
      break;
    case ParticleType.BLOB:
      buf[pos] = V_BYTES << 1;
      return putBytes(buf, pos + 1, src, from, to);
    case ParticleType.LIST:
      buf[pos] = V_LIST << 1;
      return putBytes(buf, pos + 1, src, from, to);
    case ParticleType.MAP:
      buf[pos] = V_MAP << 1;
      return putBytes(buf, pos + 1, src, from, to);
    case ParticleType.GEOJSON: {
      const end = putGeoJson(buf, pos, src, from, to);
      if (end >= 0) return end;
      break;
    }
    case ParticleType.HLL:
      buf[pos] = V_HLL << 1;
      return putBytes(buf, pos + 1, src, from, to);
  }
  return putParticle(buf, pos, V_PARTICLE, type, src, from, to);
}

/**
 * A user key (the union's non-null branches): particle type `type`, raw bytes src[from, to);
 * at most valueBound(to - from) bytes. Throws before writing if `type` is not an Avro int.
 */
export function putKey(buf: Buffer, pos: number, type: number, src: Buffer, from: number, to: number): number {
  if (type === ParticleType.INTEGER && to - from === 8) {
    buf[pos] = K_LONG << 1;
    return putInt64BE(buf, pos + 1, src, from);
  }
  if (type === ParticleType.STRING) {
    const end = putUtf8(buf, pos + 1, src, from, to);
    if (end >= 0) {
      buf[pos] = K_STRING << 1;
      return end;
    }
  } else if (type === ParticleType.BLOB) {
    buf[pos] = K_BYTES << 1;
    return putBytes(buf, pos + 1, src, from, to);
  }
  if (!Number.isInteger(type) || type < -0x8000_0000 || type > 0x7fff_ffff) {
    throw new RecordCodecError(`user key particle type ${type} is not an Avro int`);
  }
  return putParticle(buf, pos, K_PARTICLE, type, src, from, to);
}

function checkUint32(what: string, n: number): void {
  if (!Number.isInteger(n) || n < 0 || n > UINT32_MAX) throw new RecordCodecError(`${what} ${n} is not an integer in 0..${UINT32_MAX}`);
}

/**
 * Appends the Avro binary of `r` to `w`. On a throw (a record that breaks the model),
 * `w.pos` may have moved: the caller resets it.
 */
export function writeRecord(w: AvroWriter, r: RawRecord): void {
  if (r.digest.length !== DIGEST_BYTES) throw new RecordCodecError(`record digest of ${r.digest.length} bytes (expected ${DIGEST_BYTES})`);
  checkUint32('generation', r.generation);
  checkUint32('void time', r.voidTime);
  const bins = r.bins;
  for (let i = 0; i < bins.length; i++) {
    const b = bins[i]!;
    if (!Number.isInteger(b.type) || b.type < 0 || b.type > 0xff) throw new RecordCodecError(`bin "${b.name}" has particle type ${b.type}, not in 0..255`);
  }
  writeString(w, r.namespace);
  writeString(w, r.set);
  w.ensure(DIGEST_BYTES);
  w.pos = putRaw(w.buf, w.pos, r.digest, 0, DIGEST_BYTES);
  const key = r.userKey;
  if (key) {
    w.ensure(valueBound(key.bytes.length));
    w.pos = putKey(w.buf, w.pos, key.type, key.bytes, 0, key.bytes.length);
  } else {
    writeByte(w, 0);
  }
  writeCount(w, r.generation);
  writeCount(w, r.voidTime);
  if (r.lastUpdateTime === undefined) {
    writeByte(w, 0);
  } else {
    writeByte(w, 2);
    writeBigLong(w, r.lastUpdateTime);
  }
  if (bins.length > 0) {
    writeCount(w, bins.length);
    for (let i = 0; i < bins.length; i++) {
      const b = bins[i]!;
      writeString(w, b.name);
      w.ensure(valueBound(b.value.length));
      w.pos = putBinValue(w.buf, w.pos, b.type, b.value, 0, b.value.length);
    }
  }
  writeByte(w, 0);
}

// ---------------------------------------------------------------------------
// Decoding

export function pastEnd(): never {
  throw new RangeError('the record runs past the end of its block');
}

/** Result halves of readLongBits: the signed 64-bit value hi:lo (hi signed int32, lo uint32). */
let longHi = 0;
let longLo = 0;

/** Reads a zig-zag varint long into longHi/longLo. */
export function readLongBits(rd: AvroReader): void {
  const buf = rd.buf;
  const end = rd.end;
  let pos = rd.pos;
  let lo = 0;
  let hi = 0;
  let b = 0;
  let done = false;
  for (let s = 0; s < 28; s += 7) {
    if (pos >= end) pastEnd();
    b = buf[pos++]!;
    lo |= (b & 0x7f) << s;
    if (b < 0x80) {
      done = true;
      break;
    }
  }
  if (!done) {
    if (pos >= end) pastEnd();
    b = buf[pos++]!;
    lo |= (b & 0x0f) << 28;
    hi = (b & 0x7f) >> 4;
    if (b >= 0x80) {
      for (let s = 3; ; s += 7) {
        if (s > 31) throw new RangeError('an Avro long of more than 10 bytes');
        if (pos >= end) pastEnd();
        b = buf[pos++]!;
        hi |= (b & 0x7f) << s;
        if (b < 0x80) break;
      }
    }
  }
  rd.pos = pos;
  const sign = -(lo & 1);
  longLo = (((lo >>> 1) | (hi << 31)) ^ sign) >>> 0;
  longHi = ((hi >>> 1) ^ sign) | 0;
}

function bitsToBigInt(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** A long as a JS number; throws if it is not a safe integer. */
function readLong(rd: AvroReader): number {
  const pos = rd.pos;
  if (pos < rd.end) {
    const b = rd.buf[pos]!;
    if (b < 0x80) {
      rd.pos = pos + 1;
      return b & 1 ? -((b + 1) >> 1) : b >> 1;
    }
  }
  readLongBits(rd);
  if (longHi >= -0x20_0000 && longHi < 0x20_0000) return longHi * 0x1_0000_0000 + longLo;
  throw new RangeError(`Avro long ${bitsToBigInt(longHi, longLo)} is beyond 2^53`);
}

/** A length: a long in 0..end-pos (the bytes must be there). */
export function readLength(rd: AvroReader): number {
  const n = readLong(rd);
  if (n < 0) throw new RangeError(`negative Avro length ${n}`);
  if (rd.pos + n > rd.end) pastEnd();
  return n;
}

/** Avro bytes, as a view of the input. */
function readBytesView(rd: AvroReader): Buffer {
  const n = readLength(rd);
  const start = rd.pos;
  rd.pos = start + n;
  return rd.buf.subarray(start, start + n);
}

/** The record codec's STRING value of an Avro string: its bytes, or (if they are not UTF-8) what avsc decodes them to, re-encoded. */
function readStringBytes(rd: AvroReader): Buffer {
  const v = readBytesView(rd);
  return utf8(v) ? v : Buffer.from(v.toString('utf8'), 'utf8');
}

function readString(rd: AvroReader): string {
  const n = readLength(rd);
  const start = rd.pos;
  rd.pos = start + n;
  return rd.buf.toString('utf8', start, start + n);
}

/**
 * Short strings that repeat record after record (namespace, set, bin names), by slot:
 * the bytes last seen in a slot and their string, reused when the bytes are the same.
 */
const cachedBytes: Uint8Array[] = [];
const cachedStrings: string[] = [];
const CACHE_SLOTS = 64;
const CACHE_MAX_BYTES = 32;

function readCachedString(rd: AvroReader, slot: number): string {
  if (slot >= CACHE_SLOTS) return readString(rd);
  const n = readLength(rd);
  const start = rd.pos;
  rd.pos = start + n;
  return cachedString(rd.buf, start, n, slot);
}

/** The string of the UTF-8 bytes buf[start, start + n), from the cache slot `slot` when it holds the same bytes. */
export function cachedString(buf: Buffer, start: number, n: number, slot: number): string {
  if (n > CACHE_MAX_BYTES || slot >= CACHE_SLOTS) return buf.toString('utf8', start, start + n);
  const seen = cachedBytes[slot];
  if (seen !== undefined && seen.length === n) {
    let i = 0;
    while (i < n && seen[i] === buf[start + i]) i++;
    if (i === n) return cachedStrings[slot]!;
  }
  const s = buf.toString('utf8', start, start + n);
  cachedBytes[slot] = Uint8Array.prototype.slice.call(buf, start, start + n);
  cachedStrings[slot] = s;
  return s;
}

/** An Avro long as 8 big-endian bytes (a fresh buffer). */
function readInt64BE(rd: AvroReader): Buffer {
  const out = Buffer.allocUnsafe(8);
  readInt64Into(rd, out, 0);
  return out;
}

/** Reads an Avro long and writes it as 8 big-endian bytes at out[at]. */
export function readInt64Into(rd: AvroReader, out: Buffer, at: number): void {
  readLongBits(rd);
  const hi = longHi;
  const lo = longLo;
  out[at] = hi >>> 24;
  out[at + 1] = hi >>> 16;
  out[at + 2] = hi >>> 8;
  out[at + 3] = hi;
  out[at + 4] = lo >>> 24;
  out[at + 5] = lo >>> 16;
  out[at + 6] = lo >>> 8;
  out[at + 7] = lo;
}

export function readUnionIndex(rd: AvroReader, branches: number, what: string): number {
  const i = readLong(rd);
  if (i < 0 || i >= branches) throw new RangeError(`${what} union branch ${i} (only ${branches})`);
  return i;
}

export function readParticleType(rd: AvroReader): number {
  const t = readLong(rd);
  if (t < 0 || t > 0xff) throw new RecordCodecError(`particle type ${t} is not in 0..255`);
  return t;
}

const CANONICAL_NAN = Buffer.from('7ff8000000000000', 'hex');

function readDoubleBE(rd: AvroReader): Buffer {
  const out = Buffer.allocUnsafe(8);
  readDoubleInto(rd, out, 0);
  return out;
}

/** Reads an Avro double and writes it as 8 big-endian bytes at out[at]. */
export function readDoubleInto(rd: AvroReader, out: Buffer, at: number): void {
  const pos = rd.pos;
  if (pos + 8 > rd.end) pastEnd();
  const buf = rd.buf;
  rd.pos = pos + 8;
  for (let i = 0; i < 8; i++) out[at + i] = buf[pos + 7 - i]!;
  // A NaN reads as a JS number, which aerobak writes back as the canonical NaN.
  if ((out[at]! & 0x7f) === 0x7f && (out[at + 1]! & 0xf0) === 0xf0 && !isExactDouble(out.subarray(at, at + 8))) CANONICAL_NAN.copy(out, at);
}

export function readArrayCount(rd: AvroReader): number {
  let n = readLong(rd);
  if (n < 0) {
    n = -n;
    readLong(rd); // the block's byte size
  }
  return n;
}

export function readGeoJson(rd: AvroReader): Buffer {
  const flags = readLong(rd);
  const cells: Buffer[] = [];
  for (let n = readArrayCount(rd); n !== 0; n = readArrayCount(rd)) {
    // Before reading them: each cell is a Buffer until the end (~100 bytes of heap for a 1-byte long).
    if (cells.length + n > 0xffff) throw new RecordCodecError(`GeoJSON with ${cells.length + n} cells (at most 65535 fit)`);
    for (let i = 0; i < n; i++) cells.push(readInt64BE(rd));
  }
  const json = readStringBytes(rd);
  if (flags < 0 || flags > 0xff) throw new RecordCodecError(`GeoJSON flags ${flags} do not fit in a byte`);
  const out = Buffer.allocUnsafe(GEO_PREFIX_BYTES + GEO_CELL_BYTES * cells.length + json.length);
  out[0] = flags;
  out.writeUInt16BE(cells.length, 1);
  for (let i = 0; i < cells.length; i++) cells[i]!.copy(out, GEO_PREFIX_BYTES + GEO_CELL_BYTES * i);
  json.copy(out, GEO_PREFIX_BYTES + GEO_CELL_BYTES * cells.length);
  return out;
}

/** Union branches of a bin value and of a user key, for decoders of their own (record-rows.ts). */
export const BinBranch = { LONG: V_LONG, DOUBLE: V_DOUBLE, STRING: V_STRING, BOOLEAN: V_BOOLEAN, BYTES: V_BYTES, LIST: V_LIST, MAP: V_MAP, GEOJSON: V_GEOJSON, HLL: V_HLL, PARTICLE: V_PARTICLE } as const;
export const KeyBranch = { NONE: 0, LONG: K_LONG, STRING: K_STRING, BYTES: K_BYTES, PARTICLE: K_PARTICLE } as const;
export const BIN_BRANCHES = 10;
export const KEY_BRANCHES = 5;

function readBin(rd: AvroReader, index: number): RawBin {
  const name = readCachedString(rd, index + 2);
  const branch = readUnionIndex(rd, BIN_BRANCHES, 'bin value');
  let type: number;
  let value: Buffer;
  switch (branch) {
    case V_LONG:
      type = ParticleType.INTEGER;
      value = readInt64BE(rd);
      break;
    case V_DOUBLE:
      type = ParticleType.FLOAT;
      value = readDoubleBE(rd);
      break;
    case V_STRING:
      type = ParticleType.STRING;
      value = readStringBytes(rd);
      break;
    case V_BOOLEAN:
      if (rd.pos >= rd.end) pastEnd();
      type = ParticleType.BOOL;
      value = Buffer.from([rd.buf[rd.pos++] ? 1 : 0]);
      break;
    case V_BYTES:
      type = ParticleType.BLOB;
      value = readBytesView(rd);
      break;
    case V_LIST:
      type = ParticleType.LIST;
      value = readBytesView(rd);
      break;
    case V_MAP:
      type = ParticleType.MAP;
      value = readBytesView(rd);
      break;
    case V_GEOJSON:
      type = ParticleType.GEOJSON;
      value = readGeoJson(rd);
      break;
    case V_HLL:
      type = ParticleType.HLL;
      value = readBytesView(rd);
      break;
    default:
      type = readParticleType(rd);
      value = readBytesView(rd);
  }
  return { name, type, value };
}

function readKey(rd: AvroReader, branch: number): RawKey {
  switch (branch) {
    case K_LONG:
      return { type: ParticleType.INTEGER, bytes: readInt64BE(rd) };
    case K_STRING:
      return { type: ParticleType.STRING, bytes: readStringBytes(rd) };
    case K_BYTES:
      return { type: ParticleType.BLOB, bytes: readBytesView(rd) };
    default: {
      const type = readParticleType(rd);
      return { type, bytes: readBytesView(rd) };
    }
  }
}

export function readUint32(rd: AvroReader, what: string): number {
  readLongBits(rd);
  if (longHi !== 0) throw new RecordCodecError(`${what} ${bitsToBigInt(longHi, longLo)} is not in 0..${UINT32_MAX}`);
  return longLo;
}

/** Bins a record can have: the wire message's operation count is 16 bits. */
const MAX_RECORD_BINS = 0xffff;

/** Reads one record at rd.pos and moves rd.pos past it. */
export function readRecord(rd: AvroReader): RawRecord {
  const namespace = readCachedString(rd, 0);
  const set = readCachedString(rd, 1);
  if (rd.pos + DIGEST_BYTES > rd.end) pastEnd();
  const digest = rd.buf.subarray(rd.pos, rd.pos + DIGEST_BYTES);
  rd.pos += DIGEST_BYTES;
  const keyBranch = readUnionIndex(rd, KEY_BRANCHES, 'user key');
  const userKey = keyBranch === 0 ? undefined : readKey(rd, keyBranch);
  const generation = readUint32(rd, 'generation');
  const voidTime = readUint32(rd, 'void time');
  let lastUpdateTime: bigint | undefined;
  if (readUnionIndex(rd, 2, 'last update time') === 1) {
    readLongBits(rd);
    lastUpdateTime = BigInt.asIntN(64, bitsToBigInt(longHi, longLo));
  }
  const bins: RawBin[] = [];
  for (let n = readArrayCount(rd); n !== 0; n = readArrayCount(rd)) {
    // A record's bins travel as the wire's operations, at most 65535 of them: a block
    // claiming more is corrupt, and is not decoded into a bin object per byte.
    if (bins.length + n > MAX_RECORD_BINS) throw new RecordCodecError(`a record of more than ${MAX_RECORD_BINS} bins (the wire protocol carries at most ${MAX_RECORD_BINS})`);
    for (let i = 0; i < n; i++) bins.push(readBin(rd, bins.length));
  }
  const r: RawRecord = { namespace, set, digest, generation, voidTime, bins };
  if (userKey !== undefined) r.userKey = userKey;
  if (lastUpdateTime !== undefined) r.lastUpdateTime = lastUpdateTime;
  return r;
}
