/**
 * LIST and MAP particles put into their columns straight from their msgpack bytes, the
 * common cases only: a list whose non-null elements have one scalar kind, a map whose
 * keys have one key kind and whose non-null values have one scalar kind (into their
 * list / map columns), and any other list or map as JSON text (into its json column).
 * The cells are the ones values.ts makes of the decoded value (classifyBin, jsonText),
 * written as bytes without decoding the value into JS objects first.
 *
 * Anything out of the ordinary (malformed or truncated msgpack, a string that is not
 * valid UTF-8, an unsigned 64-bit integer above int64, an untyped list or map, unusual
 * map keys, a value nested deeper than MAX_DEPTH) returns false: the caller then takes
 * the general path (unpack, classifyBin), which gives those their cells or errors.
 */
import { ParticleType } from '../aerospike/types.js';
import { MAX_DEPTH } from '../aerospike/wire/msgpack.js';
import type { Leaf } from './columns.js';
import { isUtf8At } from './columns.js';
import { doubleText } from './values.js';
import type { MapKeyKind, ScalarKind } from './values.js';

/** What a msgpack value at some offset is, as a cell. */
const enum K {
  Null,
  Int,
  Double,
  Bool,
  /** A particle string: a STRING (text after the type byte). */
  String,
  /** Bytes: a BLOB particle string (after the type byte), another blob flavour (with it), msgpack bin. */
  Binary,
  GeoJson,
  /** Array, map, ext: not a scalar. */
  Other,
  /** Malformed, or a case left to the general path. */
  Bad,
}

const KIND_NAMES: Partial<Record<K, ScalarKind>> = {
  [K.Int]: 'int64',
  [K.Double]: 'double',
  [K.Bool]: 'boolean',
  [K.String]: 'string',
  [K.Binary]: 'binary',
  [K.GeoJson]: 'geojson',
};

/** The value at b[at]: its kind, where its payload lies and where it ends. */
class Reader {
  b: Buffer = Buffer.alloc(0);
  end = 0;
  /** Set by `scalar`: payload [from, to) (ints and doubles: the encoded bytes), and the next offset. */
  from = 0;
  to = 0;
  next = 0;
  /** The msgpack type byte of the last value read. */
  type = 0;

  /** Length of a container or str/bin/ext at `at` whose size field has `n` bytes, or -1 past the end. */
  #size(at: number, n: number): number {
    if (at + n > this.end) return -1;
    return n === 1 ? this.b[at]! : n === 2 ? this.b.readUInt16BE(at) : this.b.readUInt32BE(at);
  }

  #payload(at: number, len: number): K | -1 {
    if (len < 0 || at + len > this.end) return -1;
    this.from = at;
    this.to = at + len;
    this.next = at + len;
    return 0;
  }

  /** Reads the scalar (or notes the non-scalar) at `at`. */
  scalar(at: number): K {
    if (at >= this.end) return K.Bad;
    const b = this.b;
    const t = (this.type = b[at]!);
    if (t <= 0x7f || t >= 0xe0) {
      this.from = at;
      this.to = this.next = at + 1;
      return K.Int;
    }
    if ((t >= 0xa0 && t <= 0xbf) || t === 0xd9 || t === 0xda || t === 0xdb) {
      const n = t <= 0xbf ? 0 : t === 0xd9 ? 1 : t === 0xda ? 2 : 4;
      const len = n === 0 ? t & 0x1f : this.#size(at + 1, n);
      if (this.#payload(at + 1 + n, len) === -1) return K.Bad;
      if (len === 0) return K.String;
      const p = b[this.from]!;
      if (p === ParticleType.STRING || p === ParticleType.GEOJSON) {
        this.from++;
        if (!isUtf8At(b, this.from, this.to)) return K.Bad;
        return p === ParticleType.STRING ? K.String : K.GeoJson;
      }
      if (p === ParticleType.BLOB) this.from++;
      return K.Binary;
    }
    switch (t) {
      case 0xc0:
        this.next = at + 1;
        return K.Null;
      case 0xc2:
      case 0xc3:
        this.next = at + 1;
        return K.Bool;
      case 0xc4:
      case 0xc5:
      case 0xc6: {
        const n = t === 0xc4 ? 1 : t === 0xc5 ? 2 : 4;
        return this.#payload(at + 1 + n, this.#size(at + 1, n)) === -1 ? K.Bad : K.Binary;
      }
      case 0xca:
        return this.#payload(at + 1, 4) === -1 ? K.Bad : K.Double;
      case 0xcb:
        return this.#payload(at + 1, 8) === -1 ? K.Bad : K.Double;
      case 0xcc:
      case 0xd0:
        return this.#payload(at + 1, 1) === -1 ? K.Bad : K.Int;
      case 0xcd:
      case 0xd1:
        return this.#payload(at + 1, 2) === -1 ? K.Bad : K.Int;
      case 0xce:
      case 0xd2:
        return this.#payload(at + 1, 4) === -1 ? K.Bad : K.Int;
      case 0xcf:
        // Above int64: the general path's business.
        if (this.#payload(at + 1, 8) === -1 || b[at + 1]! >= 0x80) return K.Bad;
        return K.Int;
      case 0xd3:
        return this.#payload(at + 1, 8) === -1 ? K.Bad : K.Int;
      default:
        return K.Other;
    }
  }

  /** An int's value as a number when exact (|v| <= 2^53), else undefined (the caller reads 8 bytes). */
  intNumber(): number | undefined {
    const b = this.b;
    const t = this.type;
    if (t <= 0x7f) return t;
    if (t >= 0xe0) return t - 0x100;
    switch (t) {
      case 0xcc:
        return b[this.from]!;
      case 0xcd:
        return b.readUInt16BE(this.from);
      case 0xce:
        return b.readUInt32BE(this.from);
      case 0xd0:
        return b.readInt8(this.from);
      case 0xd1:
        return b.readInt16BE(this.from);
      case 0xd2:
        return b.readInt32BE(this.from);
      default:
        return undefined;
    }
  }

  double(): number {
    return this.type === 0xca ? this.b.readFloatBE(this.from) : this.b.readDoubleBE(this.from);
  }

  /** A container header at `at`: sets `count` and `next` (the first element); false when it is not one. */
  count = 0;
  container(at: number, map: boolean): boolean {
    if (at >= this.end) return false;
    const t = this.b[at]!;
    let n: number;
    let size = 0;
    if (map && t >= 0x80 && t <= 0x8f) n = t & 0x0f;
    else if (!map && t >= 0x90 && t <= 0x9f) n = t & 0x0f;
    else if (t === (map ? 0xde : 0xdc)) (size = 2), (n = this.#size(at + 1, 2));
    else if (t === (map ? 0xdf : 0xdd)) (size = 4), (n = this.#size(at + 1, 4));
    else return false;
    if (n < 0 || n > this.end - at) return false;
    this.count = n;
    this.next = at + 1 + size;
    return true;
  }

  /** Whether the value at `at` is an ext (the order-flags marker when first). */
  isExt(at: number): boolean {
    const t = this.b[at];
    return t !== undefined && (t === 0xc7 || (t >= 0xd4 && t <= 0xd8) || t === 0xc8 || t === 0xc9);
  }

  /** An ext at `at`: its type byte, data [from, to); false when truncated. */
  ext(at: number): boolean {
    const t = this.b[at]!;
    let len: number;
    let head = 1;
    if (t >= 0xd4 && t <= 0xd8) len = 1 << (t - 0xd4);
    else {
      const n = t === 0xc7 ? 1 : t === 0xc8 ? 2 : 4;
      len = this.#size(at + 1, n);
      head += n;
    }
    if (len < 0 || at + head + 1 + len > this.end) return false;
    this.type = this.b[at + head]!;
    this.from = at + head + 1;
    this.to = this.from + len;
    this.next = this.to;
    return true;
  }
}

const reader = new Reader();

/** Puts the scalar the reader just read (kind k) into `leaf` with the slot's levels. */
function put(leaf: Leaf, k: K, def: number, rep: number): void {
  const r = reader;
  switch (k) {
    case K.Int: {
      const n = r.intNumber();
      if (n !== undefined) leaf.putInt64Number(n, def, rep);
      else leaf.putBigEndian8(r.b, def, rep, r.from);
      return;
    }
    case K.Double:
      if (r.type === 0xcb) leaf.putBigEndian8(r.b, def, rep, r.from);
      else leaf.putDouble(r.double(), def, rep);
      return;
    case K.Bool:
      leaf.putBoolean(r.type === 0xc3, def, rep);
      return;
    default:
      leaf.putBytes(r.b, def, rep, r.from, r.to);
  }
}

/**
 * The kind of the list or map at b[from, to): `list_<kind>` or `map_<key>_<value>` when
 * typed, `json` when mixed or nested, undefined for the general path (untyped, unusual
 * or malformed).
 */
export function collectionKind(b: Buffer, from: number, to: number, map: boolean): string | undefined {
  const r = reader;
  r.b = b;
  r.end = to;
  if (!r.container(from, map)) return undefined;
  let n = r.count;
  let at = r.next;
  if (n > 0 && r.isExt(at)) {
    if (!r.ext(at)) return undefined;
    at = r.next;
    if (map) {
      if (r.scalar(at) !== K.Null) return undefined;
      at = r.next;
    }
    n--;
  }
  let keyKind: K | undefined;
  let kind: K | undefined;
  for (let i = 0; i < n; i++) {
    if (map) {
      const k = r.scalar(at);
      if (k === K.Bad) return undefined;
      if (k !== K.Int && k !== K.String && k !== K.Binary && k !== K.Double) return 'json';
      if (keyKind !== undefined && k !== keyKind) return 'json';
      keyKind = k;
      at = r.next;
    }
    const v = r.scalar(at);
    if (v === K.Bad) return undefined;
    if (v === K.Other) return 'json';
    if (v !== K.Null) {
      if (kind !== undefined && v !== kind) return 'json';
      kind = v;
    }
    at = r.next;
  }
  if (at !== to || kind === undefined) return undefined;
  return map ? `map_${KIND_NAMES[keyKind!] as MapKeyKind}_${KIND_NAMES[kind]}` : `list_${KIND_NAMES[kind]}`;
}

/** Puts the list or map that collectionKind typed into its column's leaves (columns.ts levels). */
export function putCollection(leaves: readonly Leaf[], b: Buffer, from: number, to: number, map: boolean): void {
  const r = reader;
  r.b = b;
  r.end = to;
  r.container(from, map);
  let n = r.count;
  let at = r.next;
  if (n > 0 && r.isExt(at)) {
    r.ext(at);
    at = r.next;
    if (map) {
      r.scalar(at);
      at = r.next;
    }
    n--;
  }
  const first = leaves[0]!;
  if (n === 0) {
    for (const l of leaves) l.slot(1, 0);
    return;
  }
  for (let i = 0; i < n; i++) {
    const rep = i === 0 ? 0 : 1;
    if (map) {
      put(first, r.scalar(at), 2, rep);
      at = r.next;
      const v = r.scalar(at);
      if (v === K.Null) leaves[1]!.slot(2, rep);
      else put(leaves[1]!, v, 3, rep);
    } else {
      const v = r.scalar(at);
      if (v === K.Null) first.slot(2, rep);
      else put(first, v, 3, rep);
    }
    at = r.next;
  }
}

// ------------------------------------------------------------------------- JSON text

/** The JSON text being written (UTF-8). */
class Out {
  buf = Buffer.allocUnsafeSlow(4096);
  len = 0;

  room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = Buffer.allocUnsafeSlow(size);
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  byte(c: number): void {
    this.room(1);
    this.buf[this.len++] = c;
  }

  ascii(s: string): void {
    this.room(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.len++] = s.charCodeAt(i);
  }

  /** b[from, to) (valid UTF-8) as a JSON string, escaped as JSON.stringify escapes. */
  quoted(b: Buffer, from: number, to: number): void {
    this.room(2 + 6 * (to - from));
    const o = this.buf;
    let at = this.len;
    o[at++] = 0x22;
    for (let i = from; i < to; i++) {
      const c = b[i]!;
      if (c >= 0x20 && c !== 0x22 && c !== 0x5c) {
        o[at++] = c;
        continue;
      }
      o[at++] = 0x5c;
      if (c === 0x22 || c === 0x5c) o[at++] = c;
      else if (c === 0x08) o[at++] = 0x62;
      else if (c === 0x0c) o[at++] = 0x66;
      else if (c === 0x0a) o[at++] = 0x6e;
      else if (c === 0x0d) o[at++] = 0x72;
      else if (c === 0x09) o[at++] = 0x74;
      else {
        const hex = c.toString(16).padStart(4, '0');
        o[at++] = 0x75;
        for (let k = 0; k < 4; k++) o[at++] = hex.charCodeAt(k);
      }
    }
    o[at++] = 0x22;
    this.len = at;
  }

  /** A JSON string of ASCII text that needs no escape (base64, digits). */
  quotedAscii(s: string): void {
    this.byte(0x22);
    this.ascii(s);
    this.byte(0x22);
  }
}

const out = new Out();
const SAFE = 2 ** 53;

/** Writes the value at `at` as JSON; returns the next offset, or -1 for the general path. */
function json(at: number, depth: number): number {
  const r = reader;
  if (depth > MAX_DEPTH) return -1;
  const isMap = r.container(at, true);
  if (isMap || r.container(at, false)) {
    let n = r.count;
    at = r.next;
    if (n > 0 && r.isExt(at)) {
      if (!r.ext(at)) return -1;
      at = r.next;
      if (isMap) {
        if (r.scalar(at) !== K.Null) return -1;
        at = r.next;
      }
      n--;
    }
    out.byte(isMap ? 0x7b : 0x5b);
    for (let i = 0; i < n; i++) {
      if (i > 0) out.byte(0x2c);
      if (isMap) {
        const k = r.scalar(at);
        if (k === K.String) out.quoted(r.b, r.from, r.to);
        else if (k === K.Int) {
          const v = r.intNumber();
          out.quotedAscii(v !== undefined ? String(v) : r.b.readBigInt64BE(r.from).toString());
        } else if (k === K.Double) out.quotedAscii(doubleText(r.double()).replace(/^"|"$/g, ''));
        else if (k === K.Binary) out.quotedAscii(r.b.toString('base64', r.from, r.to));
        else return -1;
        at = r.next;
        out.byte(0x3a);
      }
      at = json(at, depth + 1);
      if (at < 0) return -1;
    }
    out.byte(isMap ? 0x7d : 0x5d);
    return at;
  }
  if (r.isExt(at)) {
    if (!r.ext(at)) return -1;
    out.ascii(`{"$ext":${r.type},"data":`);
    out.quotedAscii(r.b.toString('base64', r.from, r.to));
    out.byte(0x7d);
    return r.next;
  }
  const k = r.scalar(at);
  switch (k) {
    case K.Null:
      out.ascii('null');
      break;
    case K.Bool:
      out.ascii(r.type === 0xc3 ? 'true' : 'false');
      break;
    case K.Int: {
      const v = r.intNumber();
      if (v !== undefined) out.ascii(String(v));
      else {
        const big = r.b.readBigInt64BE(r.from);
        const text = big.toString();
        if (big > -SAFE && big < SAFE) out.ascii(text);
        else out.quotedAscii(text);
      }
      break;
    }
    case K.Double:
      out.ascii(doubleText(r.double()));
      break;
    case K.String:
    case K.GeoJson:
      out.quoted(r.b, r.from, r.to);
      break;
    case K.Binary:
      out.quotedAscii(r.b.toString('base64', r.from, r.to));
      break;
    default:
      return -1;
  }
  return r.next;
}

/**
 * Puts the JSON text of the list or map at b[from, to) into a json column's leaf (def 1);
 * false when the general path must do it (nothing put then).
 */
export function putJson(leaf: Leaf, b: Buffer, from: number, to: number): boolean {
  const r = reader;
  r.b = b;
  r.end = to;
  out.len = 0;
  if (json(from, 1) !== to) return false;
  leaf.putBytes(out.buf, 1, 0, 0, out.len);
  if (out.buf.length > 1024 * 1024) out.buf = Buffer.allocUnsafeSlow(4096);
  return true;
}
