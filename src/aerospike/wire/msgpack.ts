/**
 * MessagePack as the server uses it for lists, maps, expressions and index contexts.
 *
 * Aerospike conventions on top of plain msgpack:
 * - strings and blobs are msgpack `str` values whose first byte is the particle type
 *   (3 string, 4 blob, 23 GeoJSON): `a4 03 74 77 6f` is "two", `a2 04 ab` the bytes [ab];
 * - a map's or list's order flags travel as an ext value `c7 00 <flags>`: for a map as
 *   the key of a first pair whose value is nil, for a list as its first element.
 *
 * aerobak never re-encodes stored CDT bytes (it keeps the server's bytes); this codec
 * is for display, export, filters and building values in tests.
 */
import { ParticleType } from '../types.js';

export const MapOrder = { UNORDERED: 0, KEY_ORDERED: 1, KEY_VALUE_ORDERED: 3 } as const;
export const ListOrder = { UNORDERED: 0, ORDERED: 1 } as const;

/** A decoded map with its order flags; entries in wire order, keys of any type. */
export class CdtMap {
  constructor(
    public readonly entries: Array<[MsgValue, MsgValue]>,
    public readonly flags = 0,
  ) {}
}

/** A decoded list that carried order flags (plain arrays are unordered lists). */
export class CdtList {
  constructor(
    public readonly items: MsgValue[],
    public readonly flags = 0,
  ) {}
}

/** A raw ext value other than the order-flags marker. */
export class MsgExt {
  constructor(
    public readonly type: number,
    public readonly data: Buffer,
  ) {}
}

/** A GeoJSON string nested in a CDT. */
export class GeoJsonValue {
  constructor(public readonly json: string) {}
}

export type MsgValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | GeoJsonValue
  | MsgValue[]
  | CdtList
  | CdtMap
  | MsgExt;

export class MsgpackError extends Error {
  readonly code = 'MSGPACK';
  constructor(message: string) {
    super(message);
    this.name = 'MsgpackError';
  }
}

// ---------------------------------------------------------------------------- decode

/**
 * Decodes one msgpack value. With `exactIntegers`, every integer comes back as a bigint,
 * so a number is always a float: what export needs to tell 1 from 1.0.
 */
export function unpack(buf: Buffer, exactIntegers = false): MsgValue {
  const r = new Unpacker(buf, exactIntegers);
  const v = r.read();
  if (r.offset !== buf.length) throw new MsgpackError(`${buf.length - r.offset} bytes left after the msgpack value`);
  return v;
}

/**
 * Lists and maps nested deeper than this are refused (MsgpackError): the decoder recurses
 * once per level, and a few kilobytes of 0x91 bytes would otherwise overflow the stack
 * (a RangeError), here or in what walks the value next (export's JSON text).
 */
export const MAX_DEPTH = 512;

export class Unpacker {
  offset = 0;
  /** Lists and maps open around the value being read. */
  private depth = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly exactIntegers = false,
  ) {}

  /** An integer of up to 32 bits, as the caller asked for it. */
  private small(v: number): number | bigint {
    return this.exactIntegers ? BigInt(v) : v;
  }

  private need(n: number): void {
    if (this.offset + n > this.buf.length) throw new MsgpackError(`msgpack value truncated at byte ${this.offset}`);
  }

  private bytes(n: number): Buffer {
    this.need(n);
    const out = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return out;
  }

  private u8(): number {
    this.need(1);
    return this.buf[this.offset++]!;
  }

  private u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }

  private u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.offset);
    this.offset += 4;
    return v;
  }

  private int(v: bigint): number | bigint {
    if (this.exactIntegers) return v;
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private str(n: number): MsgValue {
    const b = this.bytes(n);
    if (n === 0) return '';
    const type = b[0];
    const rest = b.subarray(1);
    if (type === ParticleType.STRING) return rest.toString('utf8');
    if (type === ParticleType.GEOJSON) return new GeoJsonValue(rest.toString('utf8'));
    if (type === ParticleType.BLOB) return Buffer.from(rest);
    // Other client blob flavours keep their type byte.
    return Buffer.from(b);
  }

  private ext(n: number): MsgValue {
    const type = this.u8();
    return new MsgExt(type, Buffer.from(this.bytes(n)));
  }

  /**
   * Enters a list or map of `n` values; throws past MAX_DEPTH, or when fewer bytes are left
   * than `n` values take (a byte each at least): a 5-byte header claiming 2^32 items
   * allocates nothing.
   */
  private enter(n: number): void {
    if (++this.depth > MAX_DEPTH) throw new MsgpackError(`msgpack lists and maps nested more than ${MAX_DEPTH} deep at byte ${this.offset - 1}`);
    if (n > this.buf.length - this.offset) throw new MsgpackError(`msgpack value truncated at byte ${this.offset}: ${n} values do not fit in the ${this.buf.length - this.offset} bytes left`);
  }

  private array(n: number): MsgValue {
    this.enter(n);
    const v = this.items(n);
    this.depth--;
    return v;
  }

  private items(n: number): MsgValue {
    if (n > 0 && this.peekExt()) {
      const flagsExt = this.read() as MsgExt;
      const items: MsgValue[] = [];
      for (let i = 1; i < n; i++) items.push(this.read());
      return new CdtList(items, flagsExt.type);
    }
    const items: MsgValue[] = new Array(n);
    for (let i = 0; i < n; i++) items[i] = this.read();
    return items;
  }

  private map(n: number): MsgValue {
    this.enter(2 * n);
    const v = this.entries(n);
    this.depth--;
    return v;
  }

  private entries(n: number): MsgValue {
    const entries: Array<[MsgValue, MsgValue]> = [];
    let flags = 0;
    for (let i = 0; i < n; i++) {
      const k = this.read();
      const v = this.read();
      if (i === 0 && k instanceof MsgExt && v === null) {
        flags = k.type;
        continue;
      }
      entries.push([k, v]);
    }
    return new CdtMap(entries, flags);
  }

  /** True if the next value is an ext (the order-flags marker). */
  private peekExt(): boolean {
    const b = this.buf[this.offset];
    return b !== undefined && (b === 0xc7 || (b >= 0xd4 && b <= 0xd8) || b === 0xc8 || b === 0xc9);
  }

  read(): MsgValue {
    const b = this.u8();
    if (b <= 0x7f) return this.small(b);
    if (b >= 0xe0) return this.small(b - 0x100);
    if (b >= 0x80 && b <= 0x8f) return this.map(b & 0x0f);
    if (b >= 0x90 && b <= 0x9f) return this.array(b & 0x0f);
    if (b >= 0xa0 && b <= 0xbf) return this.str(b & 0x1f);
    switch (b) {
      case 0xc0:
        return null;
      case 0xc2:
        return false;
      case 0xc3:
        return true;
      case 0xc4:
        return Buffer.from(this.bytes(this.u8()));
      case 0xc5:
        return Buffer.from(this.bytes(this.u16()));
      case 0xc6:
        return Buffer.from(this.bytes(this.u32()));
      case 0xc7:
        return this.ext(this.u8());
      case 0xc8:
        return this.ext(this.u16());
      case 0xc9:
        return this.ext(this.u32());
      case 0xca: {
        this.need(4);
        const v = this.buf.readFloatBE(this.offset);
        this.offset += 4;
        return v;
      }
      case 0xcb: {
        this.need(8);
        const v = this.buf.readDoubleBE(this.offset);
        this.offset += 8;
        return v;
      }
      case 0xcc:
        return this.small(this.u8());
      case 0xcd:
        return this.small(this.u16());
      case 0xce:
        return this.small(this.u32());
      case 0xcf: {
        this.need(8);
        const v = this.buf.readBigUInt64BE(this.offset);
        this.offset += 8;
        return this.int(v);
      }
      case 0xd0: {
        this.need(1);
        return this.small(this.buf.readInt8(this.offset++));
      }
      case 0xd1: {
        this.need(2);
        const v = this.buf.readInt16BE(this.offset);
        this.offset += 2;
        return this.small(v);
      }
      case 0xd2: {
        this.need(4);
        const v = this.buf.readInt32BE(this.offset);
        this.offset += 4;
        return this.small(v);
      }
      case 0xd3: {
        this.need(8);
        const v = this.buf.readBigInt64BE(this.offset);
        this.offset += 8;
        return this.int(v);
      }
      case 0xd4:
        return this.ext(1);
      case 0xd5:
        return this.ext(2);
      case 0xd6:
        return this.ext(4);
      case 0xd7:
        return this.ext(8);
      case 0xd8:
        return this.ext(16);
      case 0xd9:
        return this.str(this.u8());
      case 0xda:
        return this.str(this.u16());
      case 0xdb:
        return this.str(this.u32());
      case 0xdc:
        return this.array(this.u16());
      case 0xdd:
        return this.array(this.u32());
      case 0xde:
        return this.map(this.u16());
      case 0xdf:
        return this.map(this.u32());
      default:
        throw new MsgpackError(`unknown msgpack byte 0x${b.toString(16)} at ${this.offset - 1}`);
    }
  }

  /** Skips one value without building it; returns the offset after it. */
  skip(): number {
    this.read();
    return this.offset;
  }
}

// ---------------------------------------------------------------------------- encode

/** Marks a JS number to be packed as a msgpack double even when it is integral. */
export class Float {
  constructor(public readonly value: number) {}
}

export type PackValue =
  | null
  | undefined
  | boolean
  | number
  | bigint
  | string
  | Buffer
  | Uint8Array
  | Float
  | GeoJsonValue
  | MsgExt
  | CdtList
  | CdtMap
  | PackValue[]
  | Map<PackValue, PackValue>
  | { [key: string]: PackValue };

export class Packer {
  private chunks: Buffer[] = [];
  private cur = Buffer.allocUnsafe(256);
  private at = 0;

  private ensure(n: number): void {
    if (this.at + n <= this.cur.length) return;
    this.chunks.push(this.cur.subarray(0, this.at));
    this.cur = Buffer.allocUnsafe(Math.max(256, n));
    this.at = 0;
  }

  private byte(b: number): void {
    this.ensure(1);
    this.cur[this.at++] = b;
  }

  private raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.cur.set(b, this.at);
    this.at += b.length;
  }

  private header(fix: number, fixMax: number, b8: number | undefined, b16: number, b32: number, n: number): void {
    if (n <= fixMax) this.byte(fix | n);
    else if (b8 !== undefined && n <= 0xff) {
      this.byte(b8);
      this.byte(n);
    } else if (n <= 0xffff) {
      this.ensure(3);
      this.cur[this.at] = b16;
      this.cur.writeUInt16BE(n, this.at + 1);
      this.at += 3;
    } else {
      this.ensure(5);
      this.cur[this.at] = b32;
      this.cur.writeUInt32BE(n, this.at + 1);
      this.at += 5;
    }
  }

  packArrayHeader(n: number): this {
    this.header(0x90, 15, undefined, 0xdc, 0xdd, n);
    return this;
  }

  packMapHeader(n: number): this {
    this.header(0x80, 15, undefined, 0xde, 0xdf, n);
    return this;
  }

  /** A str holding one particle-type byte then the payload. */
  packTypedBytes(type: number, payload: Uint8Array): this {
    this.header(0xa0, 31, 0xd9, 0xda, 0xdb, payload.length + 1);
    this.byte(type);
    this.raw(payload);
    return this;
  }

  /** A plain msgpack str with no particle-type byte (used by expressions for bin names). */
  packRawString(s: string): this {
    const b = Buffer.from(s, 'utf8');
    this.header(0xa0, 31, 0xd9, 0xda, 0xdb, b.length);
    this.raw(b);
    return this;
  }

  packInt(v: number | bigint): this {
    const big = typeof v === 'bigint' ? v : BigInt(v);
    if (big >= 0n) {
      if (big <= 0x7fn) this.byte(Number(big));
      else if (big <= 0xffn) (this.byte(0xcc), this.byte(Number(big)));
      else if (big <= 0xffffn) {
        this.ensure(3);
        this.cur[this.at] = 0xcd;
        this.cur.writeUInt16BE(Number(big), this.at + 1);
        this.at += 3;
      } else if (big <= 0xffffffffn) {
        this.ensure(5);
        this.cur[this.at] = 0xce;
        this.cur.writeUInt32BE(Number(big), this.at + 1);
        this.at += 5;
      } else {
        this.ensure(9);
        this.cur[this.at] = 0xcf;
        this.cur.writeBigUInt64BE(big, this.at + 1);
        this.at += 9;
      }
    } else if (big >= -32n) this.byte(Number(big) & 0xff);
    else if (big >= -128n) (this.byte(0xd0), this.byte(Number(big) & 0xff));
    else if (big >= -32768n) {
      this.ensure(3);
      this.cur[this.at] = 0xd1;
      this.cur.writeInt16BE(Number(big), this.at + 1);
      this.at += 3;
    } else if (big >= -2147483648n) {
      this.ensure(5);
      this.cur[this.at] = 0xd2;
      this.cur.writeInt32BE(Number(big), this.at + 1);
      this.at += 5;
    } else {
      this.ensure(9);
      this.cur[this.at] = 0xd3;
      this.cur.writeBigInt64BE(big, this.at + 1);
      this.at += 9;
    }
    return this;
  }

  packDouble(v: number): this {
    this.ensure(9);
    this.cur[this.at] = 0xcb;
    this.cur.writeDoubleBE(v, this.at + 1);
    this.at += 9;
    return this;
  }

  packExt(type: number, data: Uint8Array): this {
    this.header(0, -1, 0xc7, 0xc8, 0xc9, data.length);
    this.byte(type);
    this.raw(data);
    return this;
  }

  pack(v: PackValue): this {
    if (v === null || v === undefined) this.byte(0xc0);
    else if (typeof v === 'boolean') this.byte(v ? 0xc3 : 0xc2);
    else if (typeof v === 'bigint') this.packInt(v);
    else if (typeof v === 'number') {
      if (Number.isInteger(v) && !Object.is(v, -0)) this.packInt(v);
      else this.packDouble(v);
    } else if (typeof v === 'string') this.packTypedBytes(ParticleType.STRING, Buffer.from(v, 'utf8'));
    else if (v instanceof Float) this.packDouble(v.value);
    else if (v instanceof GeoJsonValue) this.packTypedBytes(ParticleType.GEOJSON, Buffer.from(v.json, 'utf8'));
    else if (v instanceof MsgExt) this.packExt(v.type, v.data);
    else if (v instanceof Uint8Array) this.packTypedBytes(ParticleType.BLOB, v);
    else if (Array.isArray(v)) {
      this.packArrayHeader(v.length);
      for (const item of v) this.pack(item);
    } else if (v instanceof CdtList) {
      this.packArrayHeader(v.items.length + (v.flags ? 1 : 0));
      if (v.flags) this.packExt(v.flags, Buffer.alloc(0));
      for (const item of v.items) this.pack(item);
    } else if (v instanceof CdtMap) {
      this.packMapHeader(v.entries.length + (v.flags ? 1 : 0));
      if (v.flags) (this.packExt(v.flags, Buffer.alloc(0)), this.byte(0xc0));
      for (const [k, val] of v.entries) (this.pack(k), this.pack(val));
    } else if (v instanceof Map) {
      this.packMapHeader(v.size);
      for (const [k, val] of v) (this.pack(k), this.pack(val));
    } else {
      const entries = Object.entries(v);
      this.packMapHeader(entries.length);
      for (const [k, val] of entries) (this.pack(k), this.pack(val));
    }
    return this;
  }

  finish(): Buffer {
    this.chunks.push(this.cur.subarray(0, this.at));
    const out = Buffer.concat(this.chunks);
    this.chunks = [];
    this.cur = Buffer.allocUnsafe(256);
    this.at = 0;
    return out;
  }
}

export function pack(v: PackValue): Buffer {
  return new Packer().pack(v).finish();
}
