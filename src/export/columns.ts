/**
 * Buffered rows as bytes: every column of a row group is one or two leaves (docs/export.md
 * "Memory"), each a few growable byte arrays, never one JS object per value.
 *
 * A leaf is a Parquet leaf column in the making, in Dremel form: one slot per value
 * position, with its definition level (and its repetition level under a list or map),
 * and the non-null values packed one after the other in one byte array:
 *
 *   INT64, DOUBLE   8 bytes little-endian each (PLAIN as it is)
 *   BOOLEAN         1 byte each
 *   FIXED20         20 bytes each (the digest)
 *   BYTE_ARRAY      a 4-byte little-endian length, then the bytes (PLAIN as it is), and
 *                   the start of each value in `starts`
 *
 * Column shapes (the export's schema, parquet-file.ts):
 *
 *   scalar  one leaf; def 0 null, 1 value
 *   list    optional LIST / repeated list / optional element: one leaf, max def 3, max
 *           rep 1; a null list is (def 0), an empty one (def 1), elements (def 2 null,
 *           3 value), the first with rep 0 and the others rep 1
 *   map     optional MAP / repeated key_value / required key, optional value: two leaves
 *           with the same slots; key: def 0 null map, 1 empty, 2 entry; value: 0, 1, 2 null
 *           value, 3 value
 *
 * The Parquet writer encodes pages straight from these arrays; the Avro writer reads the
 * cells back row by row (ColumnReader), one short-lived value at a time.
 */
import type { Cell, ScalarCell } from './values.js';

export type LeafType = 'INT64' | 'DOUBLE' | 'BOOLEAN' | 'FIXED20' | 'BYTE_ARRAY';

const WIDTH: Record<LeafType, number> = { INT64: 8, DOUBLE: 8, BOOLEAN: 1, FIXED20: 20, BYTE_ARRAY: 0 };

function grown<T extends Uint8Array | Int32Array>(a: T, need: number, make: (n: number) => T): T {
  if (need <= a.length) return a;
  let n = Math.max(a.length * 2, 64);
  while (n < need) n *= 2;
  const b = make(n);
  b.set(a);
  return b;
}

/** Whether b[from, to) is valid UTF-8 (what Buffer's isUtf8 says, without a view). */
export function isUtf8At(b: Uint8Array, from: number, to: number): boolean {
  let i = from;
  while (i < to) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) (n = 1), (min = 0x80);
    else if (c >= 0xe0 && c <= 0xef) (n = 2), (min = 0x800);
    else if (c >= 0xf0 && c <= 0xf4) (n = 3), (min = 0x10000);
    else return false;
    if (i + n >= to) return false;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const x = b[i + k]!;
      if ((x & 0xc0) !== 0x80) return false;
      cp = (cp << 6) | (x & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

function copyInto(src: Uint8Array, to: Buffer, at: number, start: number, end: number): void {
  if (Buffer.isBuffer(src)) src.copy(to, at, start, end);
  else to.set(src.subarray(start, end), at);
}

export class Leaf {
  /** Definition level of each slot. */
  defs = new Uint8Array(64);
  /** Repetition level of each slot (leaves under a list or map only). */
  reps: Uint8Array | undefined;
  slots = 0;
  /** The non-null values, packed (see above). */
  data: Buffer = Buffer.allocUnsafeSlow(256);
  dataLength = 0;
  /** BYTE_ARRAY: where each value (its length prefix) starts in `data`. */
  starts: Int32Array | undefined;
  /** Non-null values. */
  values = 0;
  readonly width: number;

  constructor(
    readonly type: LeafType,
    readonly maxDef: number,
    repeated: boolean,
  ) {
    this.width = WIDTH[type];
    if (repeated) this.reps = new Uint8Array(64);
    if (type === 'BYTE_ARRAY') this.starts = new Int32Array(64);
  }

  /** Bytes in use: levels, values, value starts. */
  get bytes(): number {
    return this.slots * (this.reps ? 2 : 1) + this.dataLength + (this.starts ? this.values * 4 : 0);
  }

  /** Bytes held: the arrays' capacity. */
  get capacity(): number {
    return this.defs.length + (this.reps?.length ?? 0) + this.data.length + (this.starts ? this.starts.length * 4 : 0);
  }

  /** Empties the leaf, keeping its arrays for the next row group. */
  reset(): void {
    this.slots = 0;
    this.values = 0;
    this.dataLength = 0;
  }

  slot(def: number, rep: number): void {
    if (this.slots === this.defs.length) {
      this.defs = grown(this.defs, this.slots + 1, (n) => new Uint8Array(n));
      if (this.reps) this.reps = grown(this.reps, this.slots + 1, (n) => new Uint8Array(n));
    }
    this.defs[this.slots] = def;
    if (this.reps) this.reps[this.slots] = rep;
    this.slots++;
  }

  /** Room for `n` more value bytes; returns where they go. */
  #room(n: number): number {
    const at = this.dataLength;
    if (at + n > this.data.length) {
      let size = this.data.length * 2;
      while (size < at + n) size *= 2;
      const b = Buffer.allocUnsafeSlow(size);
      this.data.copy(b, 0, 0, at);
      this.data = b;
    }
    return at;
  }

  #start(at: number): void {
    if (this.values === this.starts!.length) this.starts = grown(this.starts!, this.values + 1, (n) => new Int32Array(n));
    this.starts![this.values] = at;
  }

  /** A value given as its bytes (BYTE_ARRAY, FIXED20), with the slot's levels. */
  putBytes(src: Uint8Array, def: number, rep: number, start = 0, end = src.length): void {
    this.slot(def, rep);
    const n = end - start;
    if (this.type === 'BYTE_ARRAY') {
      const at = this.#room(4 + n);
      this.data.writeUInt32LE(n, at);
      copyInto(src, this.data, at + 4, start, end);
      this.#start(at);
      this.dataLength = at + 4 + n;
    } else {
      const at = this.#room(n);
      copyInto(src, this.data, at, start, end);
      this.dataLength = at + n;
    }
    this.values++;
  }

  /** A string as UTF-8 (lone surrogates become U+FFFD, as TextEncoder writes them). */
  putString(s: string, def: number, rep: number): void {
    this.slot(def, rep);
    const at = this.#room(4 + 3 * s.length);
    const n = s.length === 0 ? 0 : this.data.write(s, at + 4, 'utf8');
    this.data.writeUInt32LE(n, at);
    this.#start(at);
    this.dataLength = at + 4 + n;
    this.values++;
  }

  /** An 8-byte big-endian value at src[from] (an INTEGER or FLOAT particle) as little-endian INT64 or DOUBLE. */
  putBigEndian8(src: Uint8Array, def: number, rep: number, from = 0): void {
    this.slot(def, rep);
    const at = this.#room(8);
    const d = this.data;
    for (let i = 0; i < 8; i++) d[at + i] = src[from + 7 - i]!;
    this.dataLength = at + 8;
    this.values++;
  }

  putInt64(v: bigint, def: number, rep: number): void {
    this.slot(def, rep);
    const at = this.#room(8);
    this.data.writeBigInt64LE(v, at);
    this.dataLength = at + 8;
    this.values++;
  }

  /** A non-negative integer below 2^53 as INT64. */
  putSafeInt64(v: number, def: number, rep: number): void {
    this.slot(def, rep);
    const at = this.#room(8);
    this.data.writeUInt32LE(v % 0x1_0000_0000, at);
    this.data.writeUInt32LE(Math.floor(v / 0x1_0000_0000), at + 4);
    this.dataLength = at + 8;
    this.values++;
  }

  /** An integer within ±2^53 as INT64. */
  putInt64Number(v: number, def: number, rep: number): void {
    this.slot(def, rep);
    const at = this.#room(8);
    const hi = Math.floor(v / 0x1_0000_0000);
    this.data.writeUInt32LE(v - hi * 0x1_0000_0000, at);
    this.data.writeInt32LE(hi, at + 4);
    this.dataLength = at + 8;
    this.values++;
  }

  putDouble(v: number, def: number, rep: number): void {
    this.slot(def, rep);
    const at = this.#room(8);
    this.data.writeDoubleLE(v, at);
    this.dataLength = at + 8;
    this.values++;
  }

  putBoolean(v: boolean, def: number, rep: number): void {
    this.slot(def, rep);
    const at = this.#room(1);
    this.data[at] = v ? 1 : 0;
    this.dataLength = at + 1;
    this.values++;
  }

  /** A cell of this leaf's type. */
  putCell(cell: ScalarCell, def: number, rep: number): void {
    switch (this.type) {
      case 'INT64':
        return this.putInt64(cell as bigint, def, rep);
      case 'DOUBLE':
        return this.putDouble(cell as number, def, rep);
      case 'BOOLEAN':
        return this.putBoolean(cell as boolean, def, rep);
      default:
        if (typeof cell === 'string') return this.putString(cell, def, rep);
        return this.putBytes(cell as Buffer, def, rep);
    }
  }

  /** Bytes of value `i` in `data`: [start, end) (without the length prefix). */
  valueStart(i: number): number {
    return this.starts ? this.starts[i]! + 4 : i * this.width;
  }

  valueEnd(i: number): number {
    return this.starts ? this.starts[i]! + 4 + this.data.readUInt32LE(this.starts[i]!) : (i + 1) * this.width;
  }
}

export type ColumnShape = 'scalar' | 'list' | 'map';

/** How a cell is read back (Avro). */
export type CellKind = 'int64' | 'double' | 'boolean' | 'string' | 'bytes';

/** One column's buffered values: its leaves (one, or key and value for a map). */
export class ColumnValues {
  readonly leaves: Leaf[];
  rows = 0;

  constructor(
    readonly shape: ColumnShape,
    types: readonly LeafType[],
  ) {
    if (shape === 'scalar') this.leaves = [new Leaf(types[0]!, 1, false)];
    else if (shape === 'list') this.leaves = [new Leaf(types[0]!, 3, true)];
    else this.leaves = [new Leaf(types[0]!, 2, true), new Leaf(types[1]!, 3, true)];
  }

  get bytes(): number {
    let n = 0;
    for (const l of this.leaves) n += l.bytes;
    return n;
  }

  get capacity(): number {
    let n = 0;
    for (const l of this.leaves) n += l.capacity;
    return n;
  }

  reset(): void {
    for (const l of this.leaves) l.reset();
    this.rows = 0;
  }

  /** Nulls up to row `rows` (rows that had no value in this column). */
  padTo(rows: number): void {
    while (this.rows < rows) this.putNull();
  }

  putNull(): void {
    for (const l of this.leaves) l.slot(0, 0);
    this.rows++;
  }

  /** The leaf of a scalar column, for its value; the caller puts it with def 1, rep 0, then calls `done`. */
  get scalar(): Leaf {
    return this.leaves[0]!;
  }

  done(): void {
    this.rows++;
  }

  putCell(cell: Cell): void {
    if (this.shape === 'scalar') this.leaves[0]!.putCell(cell as ScalarCell, 1, 0);
    else if (this.shape === 'list') {
      const items = cell as Array<ScalarCell | null>;
      const leaf = this.leaves[0]!;
      if (items.length === 0) leaf.slot(1, 0);
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        if (item === null) leaf.slot(2, i === 0 ? 0 : 1);
        else leaf.putCell(item, 3, i === 0 ? 0 : 1);
      }
    } else {
      const pairs = cell as Array<[ScalarCell, ScalarCell | null]>;
      const [keys, values] = this.leaves as [Leaf, Leaf];
      if (pairs.length === 0) {
        keys.slot(1, 0);
        values.slot(1, 0);
      }
      for (let i = 0; i < pairs.length; i++) {
        const [k, v] = pairs[i]!;
        const rep = i === 0 ? 0 : 1;
        keys.putCell(k, 2, rep);
        if (v === null) values.slot(2, rep);
        else values.putCell(v, 3, rep);
      }
    }
    this.rows++;
  }
}

/** Reads a leaf's slots in order. */
class LeafCursor {
  slot = 0;
  value = 0;
  constructor(
    readonly leaf: Leaf,
    readonly kind: CellKind,
  ) {}

  /** The next value (the caller knows the slot holds one). */
  read(): ScalarCell {
    const l = this.leaf;
    const i = this.value++;
    switch (this.kind) {
      case 'int64':
        return l.data.readBigInt64LE(i * 8);
      case 'double':
        return l.data.readDoubleLE(i * 8);
      case 'boolean':
        return l.data[i] !== 0;
      case 'string':
        return l.data.toString('utf8', l.valueStart(i), l.valueEnd(i));
      default:
        return l.data.subarray(l.valueStart(i), l.valueEnd(i));
    }
  }
}

/**
 * Reads a column's cells back row after row, as values.ts describes cells (bytes as views
 * into the buffer: valid until the buffer is cleared).
 */
export class ColumnReader {
  readonly #cursors: LeafCursor[];
  constructor(
    readonly column: ColumnValues,
    kinds: readonly CellKind[],
  ) {
    this.#cursors = column.leaves.map((l, i) => new LeafCursor(l, kinds[i]!));
  }

  next(): Cell | null {
    const c = this.column;
    const first = this.#cursors[0]!;
    const leaf = first.leaf;
    const def = leaf.defs[first.slot]!;
    if (c.shape === 'scalar') {
      first.slot++;
      return def === 0 ? null : first.read();
    }
    const second = this.#cursors[1];
    if (def <= 1) {
      first.slot++;
      if (second) second.slot++;
      return def === 0 ? null : [];
    }
    if (c.shape === 'list') {
      const items: Array<ScalarCell | null> = [];
      do {
        items.push(leaf.defs[first.slot] === 3 ? first.read() : null);
        first.slot++;
      } while (first.slot < leaf.slots && leaf.reps![first.slot] === 1);
      return items;
    }
    const values = second!.leaf;
    const pairs: Array<[ScalarCell, ScalarCell | null]> = [];
    do {
      const k = first.read();
      const v = values.defs[second!.slot] === 3 ? second!.read() : null;
      pairs.push([k, v]);
      first.slot++;
      second!.slot++;
    } while (first.slot < leaf.slots && leaf.reps![first.slot] === 1);
    return pairs;
  }
}
