/**
 * List and map values as the server takes them from a client: validated and rewritten
 * into its stored form (cdt_untrusted_rewrite() in the server's cdt.c, and msgpack_cmp()
 * in msgpack_in.c for the ordering), checked against a real 8.1.2 server.
 *
 * Used for WRITE ops with a list (20) or map (19) particle, where a refusal is result
 * code 1 (list_from_wire() / map_from_wire() return AS_ERR_UNKNOWN), and for the keys,
 * values and items of CDT map put ops, where it is 4 (cdt.ts).
 *
 * At every level, nested lists and maps included:
 * - Order flags: a list or map whose first element is an ext (not a fixext 1) takes
 *   that ext's type as its flags; for a map the ext is the key of a meta pair whose value
 *   is dropped (the stored pair is `c7 00 <flags> c0` whatever value was sent). Map flags
 *   are masked to 0x03 (1 key-ordered, 3 key-value-ordered; 2 alone is kept but orders
 *   nothing), list flags to 0x01 (ordered). Persist-index (0x10) is an index the server
 *   keeps beside a top-level value and strips on every read, so it is dropped here; below
 *   the top level the server ignores it. Flags that mask to 0 are removed with their ext.
 *   An empty list or map keeps non-zero flags (`91 c7 00 01`, `81 c7 00 01 c0`).
 * - Ordered lists: each item must compare >= the one before (equal items are allowed);
 *   otherwise refused. Unordered lists are kept in the order sent.
 * - Maps: every key must be an integer, a string (str whose first byte is 3) or a blob
 *   (first byte 4, at least that byte); no two keys may compare equal. A key-ordered (or
 *   key-value-ordered) map must arrive sorted, or it is refused; every other map, flagged
 *   or not, is stored sorted by key. (A real server never hands out a map in any other
 *   order, so "unordered" means only that no order was promised.)
 * - Ordering is the server's msgpack order: nil < false < true < negative integers <
 *   integers < strings < lists < maps < bytes (blobs and other particle types) < doubles
 *   < GeoJSON < ext. Integers and doubles compare by value (a float32 as its double; a
 *   NaN compares equal to everything, and -0.0 equals 0.0); strings, bytes and GeoJSON
 *   by their bytes (particle-type byte included), then by length; lists item by item,
 *   then by length; maps by size first, then key, value, key, value...; order flags are
 *   skipped. The ordering checks compare the bytes as sent (a nested map is compared
 *   in the order it was sent, not in its sorted form), as the server does.
 * - Compaction: integers take their shortest encoding; str headers too; array and map
 *   headers are rewritten shortest; a bin (c4/c5/c6) becomes a str when the server's
 *   compaction test says so (c4 up to 31 bytes, c5 up to 255, c6 up to 65535; a longer
 *   c4 or c5 stays as it is); an ext 8/16/32 whose length fits a fixext or a shorter
 *   header is rewritten; nil, booleans, float32, doubles and fixexts are kept.
 * - Refused: malformed or truncated msgpack, bytes after the value, the reserved byte
 *   c1, the server's non-storage ext values (ext type 0xff in a fixext 1/2 or an ext of
 *   1..3 bytes), a top-level value that is not a list (for a list particle) or a map.
 *
 * Divergences, on inputs no client sends:
 * - The real 8.1.2 server crashes (SIGSEGV) on a top-level list whose flags are exactly
 *   0x10 (persist-index on an unordered list), and aborts on an ordered list holding a
 *   malformed item (msgpack_cmp() returning an error is fatal there); here the first is
 *   stored as an unordered list and the second refused.
 * - A map meta pair whose value is itself a list or map is misparsed by the server; it
 *   is refused here.
 * - The server compares ext 16/32 values with a stale data pointer; here by their data.
 */
import { ParticleType } from '../../../src/aerospike/types.js';

/** A value the server would refuse; the caller picks the result code (1 for writes, 4 for CDT ops). */
export class CdtRewriteError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CdtRewriteError';
  }
}

// msgpack_type in the server's msgpack_in.h: the order of type classes.
const T_NIL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_NEGINT = 4;
const T_INT = 5;
const T_STRING = 6;
const T_LIST = 7;
const T_MAP = 8;
const T_BYTES = 9;
const T_DOUBLE = 10;
const T_GEOJSON = 11;
const T_EXT = 12;

const CMP_EXT_TYPE = 0xff;
const MAP_FLAG_K_ORDERED = 0x01;
const MAP_FLAGS_KEPT = 0x03;
const LIST_FLAG_ORDERED = 0x01;

interface Head {
  type: number;
  /** Items of a list, pairs of a map; 0 for scalars. */
  count: number;
  /** Offset after the header (containers) or after the whole value (scalars). */
  end: number;
  /** For str/bin: payload offset and length; for ext: data offset and length. */
  dataAt: number;
  dataLen: number;
}

function fail(message: string): never {
  throw new CdtRewriteError(message);
}

function need(buf: Buffer, end: number): void {
  if (end > buf.length) fail('truncated msgpack');
}

function bytesType(buf: Buffer, at: number, len: number): number {
  if (len === 0) return T_BYTES;
  const t = buf[at]!;
  if (t === ParticleType.STRING) return T_STRING;
  if (t === ParticleType.GEOJSON) return T_GEOJSON;
  return T_BYTES;
}

/** The header of the value at `at` (msgpack_parse()); throws on malformed or non-storage values. */
function head(buf: Buffer, at: number): Head {
  if (at >= buf.length) fail('truncated msgpack');
  const b = buf[at]!;
  const scalar = (type: number, size: number): Head => {
    need(buf, at + 1 + size);
    return { type, count: 0, end: at + 1 + size, dataAt: 0, dataLen: 0 };
  };
  const raw = (lenBytes: number): Head => {
    need(buf, at + 1 + lenBytes);
    const len = lenBytes === 1 ? buf[at + 1]! : lenBytes === 2 ? buf.readUInt16BE(at + 1) : buf.readUInt32BE(at + 1);
    const dataAt = at + 1 + lenBytes;
    need(buf, dataAt + len);
    return { type: bytesType(buf, dataAt, len), count: 0, end: dataAt + len, dataAt, dataLen: len };
  };
  const container = (type: number, lenBytes: number): Head => {
    need(buf, at + 1 + lenBytes);
    const count = lenBytes === 2 ? buf.readUInt16BE(at + 1) : buf.readUInt32BE(at + 1);
    return { type, count, end: at + 1 + lenBytes, dataAt: 0, dataLen: 0 };
  };
  const ext = (lenBytes: number, fixedLen: number): Head => {
    let len = fixedLen;
    if (lenBytes > 0) {
      need(buf, at + 1 + lenBytes);
      len = lenBytes === 1 ? buf[at + 1]! : lenBytes === 2 ? buf.readUInt16BE(at + 1) : buf.readUInt32BE(at + 1);
    }
    const typeAt = at + 1 + lenBytes;
    need(buf, typeAt + 1 + len);
    const extType = buf[typeAt]!;
    const nonStorage = lenBytes === 0 ? fixedLen <= 2 && extType === CMP_EXT_TYPE : extType === CMP_EXT_TYPE && len > 0 && len < 4;
    if (nonStorage) fail('non-storage ext value');
    return { type: T_EXT, count: 0, end: typeAt + 1 + len, dataAt: typeAt + 1, dataLen: len };
  };
  if (b <= 0x7f) return { type: T_INT, count: 0, end: at + 1, dataAt: 0, dataLen: 0 };
  if (b >= 0xe0) return { type: T_NEGINT, count: 0, end: at + 1, dataAt: 0, dataLen: 0 };
  if (b <= 0x8f) return { type: T_MAP, count: b & 0x0f, end: at + 1, dataAt: 0, dataLen: 0 };
  if (b <= 0x9f) return { type: T_LIST, count: b & 0x0f, end: at + 1, dataAt: 0, dataLen: 0 };
  if (b <= 0xbf) {
    const len = b & 0x1f;
    need(buf, at + 1 + len);
    return { type: bytesType(buf, at + 1, len), count: 0, end: at + 1 + len, dataAt: at + 1, dataLen: len };
  }
  switch (b) {
    case 0xc0:
      return scalar(T_NIL, 0);
    case 0xc2:
      return scalar(T_FALSE, 0);
    case 0xc3:
      return scalar(T_TRUE, 0);
    case 0xcc:
      return scalar(T_INT, 1);
    case 0xcd:
      return scalar(T_INT, 2);
    case 0xce:
      return scalar(T_INT, 4);
    case 0xcf:
      return scalar(T_INT, 8);
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3: {
      const size = 1 << (b - 0xd0);
      need(buf, at + 1 + size);
      return scalar(buf[at + 1]! & 0x80 ? T_NEGINT : T_INT, size);
    }
    case 0xca:
      return scalar(T_DOUBLE, 4);
    case 0xcb:
      return scalar(T_DOUBLE, 8);
    case 0xc4:
    case 0xd9:
      return raw(1);
    case 0xc5:
    case 0xda:
      return raw(2);
    case 0xc6:
    case 0xdb:
      return raw(4);
    case 0xdc:
      return container(T_LIST, 2);
    case 0xdd:
      return container(T_LIST, 4);
    case 0xde:
      return container(T_MAP, 2);
    case 0xdf:
      return container(T_MAP, 4);
    case 0xd4:
      return ext(0, 1);
    case 0xd5:
      return ext(0, 2);
    case 0xd6:
      return ext(0, 4);
    case 0xd7:
      return ext(0, 8);
    case 0xd8:
      return ext(0, 16);
    case 0xc7:
      return ext(1, 0);
    case 0xc8:
      return ext(2, 0);
    case 0xc9:
      return ext(4, 0);
    default:
      return fail(`invalid msgpack byte 0x${b.toString(16)}`);
  }
}

/**
 * True when the first element of a container is taken as its flags ext
 * (msgpack_buf_peek_type() == EXT: any ext but a fixext 1, and but the server's
 * wildcard/infinity markers).
 */
function isFlagsExt(buf: Buffer, at: number): boolean {
  const b = buf[at];
  if (b === undefined) return false;
  if (b >= 0xd5 && b <= 0xd8) return true;
  if (b === 0xc8 || b === 0xc9) return true;
  if (b === 0xc7) return !(buf[at + 1] === 1 && buf[at + 2] === CMP_EXT_TYPE && (buf[at + 3] === 0x00 || buf[at + 3] === 0x01));
  return false;
}

/** The flags ext at `at` (msgpack_get_ext(): no storage checks): its type and end. */
function flagsExt(buf: Buffer, at: number): { type: number; end: number } {
  const b = buf[at]!;
  if (at + 3 > buf.length) fail('truncated ext');
  let len: number;
  let typeAt: number;
  if (b >= 0xd4 && b <= 0xd8) {
    len = 1 << (b - 0xd4);
    typeAt = at + 1;
  } else if (b === 0xc7) {
    len = buf[at + 1]!;
    typeAt = at + 2;
  } else if (b === 0xc8) {
    need(buf, at + 4);
    len = buf.readUInt16BE(at + 1);
    typeAt = at + 3;
  } else {
    need(buf, at + 6);
    len = buf.readUInt32BE(at + 1);
    typeAt = at + 5;
  }
  need(buf, typeAt + 1 + len);
  return { type: buf[typeAt]!, end: typeAt + 1 + len };
}

/** map_is_key(): integers, strings, and blobs (particle type 4) of at least that byte. */
export function mapIsKey(buf: Buffer, at = 0): boolean {
  let h: Head;
  try {
    h = head(buf, at);
  } catch {
    return false;
  }
  if (h.type === T_INT || h.type === T_NEGINT || h.type === T_STRING) return true;
  return h.type === T_BYTES && h.dataLen > 0 && buf[h.dataAt] === ParticleType.BLOB;
}

// ------------------------------------------------------------------------ output

class Out {
  buf: Buffer;
  at = 0;
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(Math.max(16, size));
  }
  private ensure(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n));
    this.buf.copy(next, 0, 0, this.at);
    this.buf = next;
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.at++] = b;
  }
  copy(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    src.copy(this.buf, this.at, start, end);
    this.at += end - start;
  }
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.at);
    this.at += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.at);
    this.at += 4;
  }
  /** as_pack_list_header() / as_pack_map_header(). */
  containerHeader(type: number, n: number): void {
    const [fix, b16, b32] = type === T_LIST ? [0x90, 0xdc, 0xdd] : [0x80, 0xde, 0xdf];
    if (n < 16) this.byte(fix | n);
    else if (n < 0x10000) (this.byte(b16), this.u16(n));
    else (this.byte(b32), this.u32(n));
  }
  /** as_pack_str() header. */
  strHeader(len: number): void {
    if (len < 32) this.byte(0xa0 | len);
    else if (len < 0x100) (this.byte(0xd9), this.byte(len));
    else if (len < 0x10000) (this.byte(0xda), this.u16(len));
    else (this.byte(0xdb), this.u32(len));
  }
  /** as_pack_ext_header(). */
  extHeader(len: number, type: number): void {
    const fix = [1, 2, 4, 8, 16].indexOf(len);
    if (fix >= 0) this.byte(0xd4 + fix);
    else if (len < 0x100) (this.byte(0xc7), this.byte(len));
    else if (len < 0x10000) (this.byte(0xc8), this.u16(len));
    else (this.byte(0xc9), this.u32(len));
    this.byte(type);
  }
  /** as_pack_int64() / as_pack_uint64(): the shortest encoding. */
  int(v: bigint): void {
    if (v >= 0n) {
      if (v < 0x80n) this.byte(Number(v));
      else if (v < 0x100n) (this.byte(0xcc), this.byte(Number(v)));
      else if (v < 0x10000n) (this.byte(0xcd), this.u16(Number(v)));
      else if (v < 0x100000000n) (this.byte(0xce), this.u32(Number(v)));
      else {
        this.byte(0xcf);
        this.ensure(8);
        this.buf.writeBigUInt64BE(v, this.at);
        this.at += 8;
      }
    } else if (v >= -32n) this.byte(Number(v) & 0xff);
    else if (v >= -128n) (this.byte(0xd0), this.byte(Number(v) & 0xff));
    else if (v >= -32768n) (this.byte(0xd1), this.u16(Number(v) & 0xffff));
    else if (v >= -2147483648n) (this.byte(0xd2), this.u32(Number(v) >>> 0));
    else {
      this.byte(0xd3);
      this.ensure(8);
      this.buf.writeBigInt64BE(v, this.at);
      this.at += 8;
    }
  }
  result(): Buffer {
    return this.buf.subarray(0, this.at);
  }
}

function intValue(buf: Buffer, at: number): bigint {
  const b = buf[at]!;
  if (b <= 0x7f) return BigInt(b);
  if (b >= 0xe0) return BigInt(b - 0x100);
  switch (b) {
    case 0xcc:
      return BigInt(buf[at + 1]!);
    case 0xcd:
      return BigInt(buf.readUInt16BE(at + 1));
    case 0xce:
      return BigInt(buf.readUInt32BE(at + 1));
    case 0xcf:
      return buf.readBigUInt64BE(at + 1);
    case 0xd0:
      return BigInt(buf.readInt8(at + 1));
    case 0xd1:
      return BigInt(buf.readInt16BE(at + 1));
    case 0xd2:
      return BigInt(buf.readInt32BE(at + 1));
    default:
      return buf.readBigInt64BE(at + 1);
  }
}

/** Writes a non-container value compacted as msgpack_compactify_element() does. */
function writeScalar(buf: Buffer, at: number, h: Head, out: Out): void {
  const b = buf[at]!;
  if ((b >= 0xcc && b <= 0xcf) || (b >= 0xd0 && b <= 0xd3)) {
    out.int(intValue(buf, at));
    return;
  }
  const len = h.dataLen;
  let compact = true;
  switch (b) {
    case 0xc4: // the server's bin-8 test is overwritten by the str-8 one: only up to 31 bytes
    case 0xd9:
      compact = len <= 0x1f;
      break;
    case 0xc5:
    case 0xda:
      compact = len <= 0xff;
      break;
    case 0xc6:
    case 0xdb:
      compact = len <= 0xffff;
      break;
    case 0xc7:
      compact = len === 1 || len === 2 || len === 4 || len === 8 || len === 16;
      if (compact) out.extHeader(len, buf[at + 2]!);
      break;
    case 0xc8:
      compact = len <= 0xff;
      if (compact) out.extHeader(len, buf[at + 3]!);
      break;
    case 0xc9:
      compact = len <= 0xffff;
      if (compact) out.extHeader(len, buf[at + 5]!);
      break;
    default:
      compact = false;
  }
  if (!compact) {
    out.copy(buf, at, h.end);
    return;
  }
  if (b === 0xc4 || b === 0xc5 || b === 0xc6 || b === 0xd9 || b === 0xda || b === 0xdb) out.strHeader(len);
  out.copy(buf, h.dataAt, h.end);
}

/** Rewrites the value at `at` into `out`; returns the offset after it in `buf`. */
function rewriteValue(buf: Buffer, at: number, out: Out): number {
  const h = head(buf, at);
  if (h.type !== T_LIST && h.type !== T_MAP) {
    writeScalar(buf, at, h, out);
    return h.end;
  }
  const isMap = h.type === T_MAP;
  let n = h.count;
  let p = h.end;
  if (n === 0) {
    out.containerHeader(h.type, 0);
    return p;
  }
  let flags = 0;
  if (isFlagsExt(buf, p)) {
    const ext = flagsExt(buf, p);
    p = ext.end;
    // Persist-index (0x10) is stripped from what a read returns (top level) or ignored (below).
    flags = ext.type & (isMap ? MAP_FLAGS_KEPT : LIST_FLAG_ORDERED);
    if (isMap) {
      const meta = head(buf, p);
      if (meta.type === T_LIST || meta.type === T_MAP) fail('map meta pair with a list or map value');
      p = meta.end;
    }
    n--;
  }
  out.containerHeader(h.type, n + (flags ? 1 : 0));
  if (flags) {
    out.byte(0xc7);
    out.byte(0x00);
    out.byte(flags);
    if (isMap) out.byte(0xc0);
  }
  if (!isMap) {
    const ordered = (flags & LIST_FLAG_ORDERED) !== 0;
    let prevAt = -1;
    for (let i = 0; i < n; i++) {
      const start = p;
      p = rewriteValue(buf, p, out);
      if (ordered && prevAt >= 0 && compareAt(buf, prevAt, buf, start) > 0) fail('list not ordered as expected');
      prevAt = start;
    }
    return p;
  }

  const kOrdered = (flags & MAP_FLAG_K_ORDERED) !== 0;
  const contentStart = out.at;
  const pairs: { keyAt: number; keyEnd: number; end: number }[] = [];
  let needSort = false;
  let prevKeyAt = -1;
  for (let i = 0; i < n; i++) {
    if (!mapIsKey(buf, p)) fail('map has invalid key type');
    const keySrc = p;
    const keyAt = out.at;
    p = rewriteValue(buf, p, out);
    const keyEnd = out.at;
    if (!needSort && prevKeyAt >= 0) {
      const c = compareAt(buf, prevKeyAt, buf, keySrc);
      if (c === 0) fail('map has duplicate keys');
      if (c > 0) {
        if (kOrdered) fail('map not ordered as expected');
        needSort = true;
      }
    }
    prevKeyAt = keySrc;
    p = rewriteValue(buf, p, out);
    pairs.push({ keyAt, keyEnd, end: out.at });
  }
  if (needSort) {
    const content = Buffer.from(out.buf.subarray(contentStart, out.at));
    const rel = (x: number): number => x - contentStart;
    pairs.sort((a, b) => compareAt(content, rel(a.keyAt), content, rel(b.keyAt)));
    for (let i = 1; i < pairs.length; i++) {
      if (compareAt(content, rel(pairs[i - 1]!.keyAt), content, rel(pairs[i]!.keyAt)) === 0) fail('map has duplicate keys');
    }
    out.at = contentStart;
    for (const pair of pairs) out.copy(content, rel(pair.keyAt), rel(pair.end));
  }
  return p;
}

/**
 * A list (particle type 20) or map (19) value as the server stores it, from the bytes a
 * client wrote; throws CdtRewriteError where the server refuses the value.
 */
export function rewriteParticle(value: Buffer, particleType: number): Buffer {
  const expected = particleType === ParticleType.LIST ? T_LIST : T_MAP;
  if (value.length === 0 || head(value, 0).type !== expected) fail(`not a msgpack ${expected === T_LIST ? 'list' : 'map'}`);
  const out = new Out(value.length);
  const end = rewriteValue(value, 0, out);
  if (end !== value.length) fail('bytes after the value');
  return out.result();
}

/** One msgpack value (a CDT op's key, value or items) as the server stores it inside a list or map. */
export function rewriteElement(value: Buffer): Buffer {
  const out = new Out(value.length);
  const end = rewriteValue(value, 0, out);
  if (end !== value.length) fail('bytes after the value');
  return out.result();
}

// ---------------------------------------------------------------------- ordering

interface CmpItem {
  type: number;
  /** List items or map elements (2 per pair), after the flags ext. */
  len: number;
  /** Offset of the first item (containers) or after the value (scalars). */
  next: number;
  h: Head;
}

/** msgpack_cmp_parse(): a value's class, and for containers their items after the skipped flags. */
function cmpItem(buf: Buffer, at: number): CmpItem {
  const h = head(buf, at);
  if (h.type !== T_LIST && h.type !== T_MAP) return { type: h.type, len: 0, next: h.end, h };
  const per = h.type === T_MAP ? 2 : 1;
  let len = h.count * per;
  let next = h.end;
  // cmp_parse_container(): a leading ext (not the server's 0xff markers) and, for a map, its value are skipped.
  if (len > 0) {
    const b = buf[next]!;
    const isExt = b === 0xc7 || b === 0xc8 || b === 0xc9 || (b >= 0xd4 && b <= 0xd8);
    if (isExt) {
      const typeAt = b === 0xc7 ? next + 2 : b === 0xc8 ? next + 3 : b === 0xc9 ? next + 5 : next + 1;
      if (buf[typeAt] !== CMP_EXT_TYPE) {
        for (let i = 0; i < per; i++) next = skip(buf, next);
        len -= per;
      }
    }
  }
  return { type: h.type, len, next, h };
}

/** The offset after the value at `at`. */
function skip(buf: Buffer, at: number): number {
  let p = at;
  let left = 1;
  while (left > 0) {
    const h = head(buf, p);
    left--;
    if (h.type === T_LIST) left += h.count;
    else if (h.type === T_MAP) left += 2 * h.count;
    p = h.end;
  }
  return p;
}

function doubleValue(buf: Buffer, at: number): number {
  return buf[at] === 0xca ? buf.readFloatBE(at + 1) : buf.readDoubleBE(at + 1);
}

function sign(x: number | bigint, y: number | bigint): number {
  return x > y ? 1 : x < y ? -1 : 0;
}

/** Compares the values at `ia` and `ib`; returns the order and, when equal, the offsets after both. */
function compareWalk(a: Buffer, ia: number, b: Buffer, ib: number): { c: number; ea: number; eb: number } {
  const x = cmpItem(a, ia);
  const y = cmpItem(b, ib);
  if (x.type !== y.type) return { c: sign(x.type, y.type), ea: 0, eb: 0 };
  const done = (c: number) => ({ c, ea: x.next, eb: y.next });
  switch (x.type) {
    case T_NIL:
    case T_FALSE:
    case T_TRUE:
      return done(0);
    case T_NEGINT:
    case T_INT:
      return done(sign(intValue(a, ia), intValue(b, ib)));
    case T_DOUBLE:
      return done(sign(doubleValue(a, ia), doubleValue(b, ib)));
    case T_STRING:
    case T_BYTES:
    case T_GEOJSON:
    case T_EXT:
      return done(Buffer.compare(a.subarray(x.h.dataAt, x.h.dataAt + x.h.dataLen), b.subarray(y.h.dataAt, y.h.dataAt + y.h.dataLen)));
    default: {
      // Maps compare by size first; lists item by item, then by length.
      if (x.type === T_MAP && x.len !== y.len) return { c: sign(x.len, y.len), ea: 0, eb: 0 };
      let pa = x.next;
      let pb = y.next;
      const n = Math.min(x.len, y.len);
      for (let i = 0; i < n; i++) {
        const r = compareWalk(a, pa, b, pb);
        if (r.c !== 0) return r;
        pa = r.ea;
        pb = r.eb;
      }
      for (let i = n; i < x.len; i++) pa = skip(a, pa);
      for (let i = n; i < y.len; i++) pb = skip(b, pb);
      return { c: sign(x.len, y.len), ea: pa, eb: pb };
    }
  }
}

function compareAt(a: Buffer, ia: number, b: Buffer, ib: number): number {
  return compareWalk(a, ia, b, ib).c;
}

/** The server's order of two msgpack values (msgpack_cmp()): negative, 0 or positive. */
export function compareMsgpack(a: Buffer, b: Buffer): number {
  return compareAt(a, 0, b, 0);
}
