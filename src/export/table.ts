/**
 * The columns of an export, shared by every file it writes (one registry per export, so
 * a bin's column has one name and type in every set and every file), and the rows
 * buffered for one file (docs/export.md, "Columns").
 *
 * A column never changes type: a bin's first column takes the kind of the first value
 * the export sees, and a value of another kind goes to the sibling column
 * `<column>__<kind>` (values.ts names the kinds). Columns are only ever added, so the
 * files of a set differ at most by columns that later files have and earlier ones lack,
 * which every engine merges into one table.
 *
 * Column names (the same rule for Parquet and Avro): a bin keeps its name when it is
 * plain, that is non-empty, not starting with `_`, without `__`, not `namespace`, `set`
 * or `snapshot` in any case (the layout's partition columns), not equal in any case to
 * an earlier bin's column, and, for Avro, matching [A-Za-z][A-Za-z0-9_]*. Any other bin
 * is `_bin_<hex of its UTF-8 bytes>`. Metadata columns start with `_` and never with
 * `_bin_`, so no bin's column can take a metadata column's name. The bin behind every
 * column is recorded in each file (`aerospike.bins` in Parquet, `aerospikeBin` in Avro).
 */
import type { RawRecord } from '../aerospike/types.js';
import { CITRUSLEAF_EPOCH_UNIX_S } from '../aerospike/types.js';
import { ParticleType } from '../aerospike/types.js';
import { ColumnReader, ColumnValues, isUtf8At, type CellKind, type ColumnShape, type LeafType } from './columns.js';
import { collectionKind, putCollection, putJson } from './msgpack-cells.js';
import type { WireRecord } from './wire-record.js';
import { blobKind, classifyBin, classifyKey, listElement, mapParts, type Cell, type Classified, type Kind, type ScalarKind } from './values.js';

/** What a column holds besides bin values. */
export type ColumnRole = 'bin' | 'key' | 'digest' | 'set' | 'generation' | 'expires' | 'lastUpdate';

export interface Column {
  readonly name: string;
  readonly kind: Kind | 'digest' | 'timestamp';
  readonly role: ColumnRole;
  /** For role 'bin': the bin's name. */
  readonly bin?: string;
  /** Position in the set's columns. */
  readonly index: number;
}

const PARTITION_COLUMNS = new Set(['namespace', 'set', 'snapshot']);
const AVRO_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

/** A bin's base column name (before any sibling suffix), given the lowercased names already taken. */
export function binColumnName(bin: string, taken: ReadonlySet<string>, avro: boolean): string {
  const plain =
    bin !== '' &&
    !bin.startsWith('_') &&
    !bin.includes('__') &&
    !PARTITION_COLUMNS.has(bin.toLowerCase()) &&
    !taken.has(bin.toLowerCase()) &&
    (!avro || AVRO_NAME.test(bin));
  return plain ? bin : `_bin_${Buffer.from(bin, 'utf8').toString('hex')}`;
}

/** The metadata columns, first in every file, in this order. */
const METADATA: ReadonlyArray<Pick<Column, 'name' | 'kind' | 'role'>> = [
  { name: '_digest', kind: 'digest', role: 'digest' },
  { name: '_set', kind: 'string', role: 'set' },
  { name: '_generation', kind: 'int64', role: 'generation' },
  { name: '_expires_at', kind: 'timestamp', role: 'expires' },
  { name: '_last_update', kind: 'timestamp', role: 'lastUpdate' },
];

/** A column as the namespace knows it: name, kind, what it holds. */
export type ColumnDef = Omit<Column, 'index'>;

/**
 * The columns of a whole export (one namespace): a bin's columns have one name and type
 * in every set, so the sets read as one table too (the Hive layout's `set` partition).
 */
export class ColumnRegistry {
  /** Bin name → its base column name and its columns. */
  readonly #byBin = new Map<string, { base: string; columns: ColumnDef[] }>();
  readonly #keyColumns: ColumnDef[] = [];
  readonly #taken = new Set<string>(METADATA.map((m) => m.name.toLowerCase()));

  constructor(private readonly avro: boolean) {}

  #make(c: ColumnDef): ColumnDef {
    this.#taken.add(c.name.toLowerCase());
    return c;
  }

  /**
   * The column of `existing` (a bin's columns, or the key's) that takes `v`, creating it
   * when none does: the first typed value's column is named `base`, every other one
   * `<base>__<kind>`. An untyped list or map goes to a list (map) column when there is
   * one, else to the JSON column, `<base>__json` (so an empty list seen first does not
   * take the name the bin's real type should have).
   */
  #place(existing: ColumnDef[], v: Classified, base: string, make: (name: string, kind: Kind) => ColumnDef): ColumnDef {
    const fits = (v.untyped && existing.find((c) => fitsUntyped(c, v.untyped!))) ?? existing.find((c) => c.kind === v.kind);
    if (fits) return fits;
    const baseTaken = existing.some((c) => c.name === base);
    const name = baseTaken || v.untyped ? `${base}__${v.kind}` : base;
    const column = make(name, v.kind);
    existing.push(column);
    return column;
  }

  /** The column a bin value goes to (created on first use). */
  binColumn(bin: string, v: Classified): ColumnDef {
    let entry = this.#byBin.get(bin);
    if (!entry) this.#byBin.set(bin, (entry = { base: binColumnName(bin, this.#taken, this.avro), columns: [] }));
    if (entry.columns.length === 0) this.#taken.add(entry.base.toLowerCase());
    return this.#place(entry.columns, v, entry.base, (name, kind) => this.#make({ name, kind, role: 'bin', bin }));
  }

  /** The column a stored user key goes to: `_key`, or `_key__<kind>` for a key of another type than the first. */
  keyColumn(v: Classified): ColumnDef {
    return this.#place(this.#keyColumns, v, '_key', (name, kind) => this.#make({ name, kind, role: 'key' }));
  }
}

/** The columns one set has used, in the order it first used them (metadata first), named and typed by the registry. */
export class SetTable {
  readonly columns: Column[] = [];
  readonly #local = new Map<string, Column>();

  constructor(
    readonly namespace: string,
    readonly set: string,
    private readonly registry: ColumnRegistry,
  ) {
    for (const m of METADATA) this.#localOf({ ...m });
  }

  #localOf(def: ColumnDef): Column {
    let c = this.#local.get(def.name);
    if (!c) {
      c = { ...def, index: this.columns.length };
      this.columns.push(c);
      this.#local.set(def.name, c);
    }
    return c;
  }

  /** Bin → kind → its column, for typed values (a bin's column for a kind never changes). */
  readonly #typed = new Map<string, Map<Kind, Column>>();

  binColumn(bin: string, v: Classified): Column {
    if (v.untyped) return this.#localOf(this.registry.binColumn(bin, v));
    let byKind = this.#typed.get(bin);
    const hit = byKind?.get(v.kind);
    if (hit) return hit;
    const c = this.#localOf(this.registry.binColumn(bin, v));
    if (!byKind) this.#typed.set(bin, (byKind = new Map()));
    byKind.set(v.kind, c);
    return c;
  }

  keyColumn(v: Classified): Column {
    return this.#localOf(this.registry.keyColumn(v));
  }
}

function fitsUntyped(c: ColumnDef, u: NonNullable<Classified['untyped']>): boolean {
  if (u.collection === 'list') return listElement(c.kind as Kind) !== undefined;
  const parts = mapParts(c.kind as Kind);
  return parts !== undefined && (u.keyKind === undefined || parts.key === u.keyKind);
}

/** The cell `v` takes in column `c`: the typed cell of an untyped collection in a list or map column. */
export function cellFor(c: ColumnDef, v: Classified): Cell {
  return v.untyped && c.kind !== 'json' ? v.untyped.cell : v.cell;
}

/** Microseconds since the Unix epoch of a void time (seconds since 2010), or null for never. */
export function expiresMicros(voidTime: number): bigint | null {
  return voidTime === 0 ? null : BigInt(voidTime + CITRUSLEAF_EPOCH_UNIX_S) * 1_000_000n;
}

/** How a column's values are stored (columns.ts): its shape, leaf types, and how cells read back. */
export interface ColumnLayout {
  shape: ColumnShape;
  leaves: LeafType[];
  cells: CellKind[];
}

function scalarLayout(kind: ScalarKind | 'digest' | 'timestamp'): { leaf: LeafType; cell: CellKind } {
  switch (kind) {
    case 'int64':
    case 'timestamp':
      return { leaf: 'INT64', cell: 'int64' };
    case 'double':
      return { leaf: 'DOUBLE', cell: 'double' };
    case 'boolean':
      return { leaf: 'BOOLEAN', cell: 'boolean' };
    case 'digest':
      return { leaf: 'FIXED20', cell: 'bytes' };
    case 'string':
    case 'geojson':
      return { leaf: 'BYTE_ARRAY', cell: 'string' };
    default:
      return { leaf: 'BYTE_ARRAY', cell: 'bytes' };
  }
}

export function columnLayout(c: Pick<Column, 'kind'>): ColumnLayout {
  if (c.kind === 'json') return { shape: 'scalar', leaves: ['BYTE_ARRAY'], cells: ['string'] };
  if (c.kind !== 'digest' && c.kind !== 'timestamp') {
    const element = listElement(c.kind);
    if (element) {
      const e = scalarLayout(element);
      return { shape: 'list', leaves: [e.leaf], cells: [e.cell] };
    }
    const map = mapParts(c.kind);
    if (map) {
      const k = scalarLayout(map.key);
      const v = scalarLayout(map.value);
      return { shape: 'map', leaves: [k.leaf, v.leaf], cells: [k.cell, v.cell] };
    }
  }
  const s = scalarLayout(c.kind as ScalarKind | 'digest' | 'timestamp');
  return { shape: 'scalar', leaves: [s.leaf], cells: [s.cell] };
}

const STRING_VALUE: Classified = { kind: 'string', cell: '' };
const KINDS_OF_BLOBS: Partial<Record<number, Classified>> = {};
/** The column kind of a blob particle type (the cell is put from the bytes themselves). */
function blobClass(type: number): Classified | undefined {
  let c = KINDS_OF_BLOBS[type];
  if (c === undefined) {
    const kind = blobKind(type);
    if (kind === undefined) return undefined;
    KINDS_OF_BLOBS[type] = c = { kind, cell: '' };
  }
  return c;
}
const INT64_VALUE: Classified = { kind: 'int64', cell: 0n };
const JSON_VALUE: Classified = { kind: 'json', cell: '' };
const BY_KIND = new Map<Kind, Classified>();
/** A typed value of `kind`, for placing it in its column (the cell is put from the bytes). */
function classified(kind: Kind): Classified {
  let c = BY_KIND.get(kind);
  if (!c) BY_KIND.set(kind, (c = { kind, cell: '' }));
  return c;
}
const DOUBLE_VALUE: Classified = { kind: 'double', cell: 0 };

/**
 * The rows of one file not yet written, column by column (columns.ts: bytes, not one JS
 * value per cell): `data[c]` holds column c's values for every row so far, or is
 * undefined while the buffer has seen no value of it. Columns the set gains while rows
 * are buffered join with nulls for the rows before.
 */
export class RowBuffer {
  data: Array<ColumnValues | undefined> = [];
  rows = 0;
  /** Bytes of the buffered values (levels, values, offsets; the arrays hold up to twice as much). */
  bytes = 0;

  constructor(readonly table: SetTable) {}

  #column(c: Column): ColumnValues {
    let col = this.data[c.index];
    if (!col) {
      const layout = columnLayout(c);
      col = this.data[c.index] = new ColumnValues(layout.shape, layout.leaves);
    }
    if (col.rows < this.rows) col.padTo(this.rows);
    return col;
  }

  #put(c: Column, cell: Cell | null): void {
    const col = this.#column(c);
    if (cell === null) col.putNull();
    else col.putCell(cell);
  }

  add(r: RawRecord): void {
    const before = this.#held();
    this.#metadata(r.digest, 0, r.set, r.generation, r.voidTime, r.lastUpdateTime);
    if (r.userKey) this.#key(r.userKey.type, r.userKey.bytes);
    for (const bin of r.bins) this.#bin(bin.name, bin.type, bin.value, 0, bin.value.length);
    this.rows++;
    this.bytes += this.#held() - before;
  }

  /** A scan record read in its reply frame (wire-record.ts): its values are copied from there. */
  addWire(w: WireRecord): void {
    const before = this.#held();
    const data = w.data;
    this.#metadata(data, w.digestAt, w.set, w.generation, w.voidTime, w.lastUpdateTime);
    if (w.keyFrom >= 0) this.#key(w.keyType, data.subarray(w.keyFrom, w.keyTo));
    for (let i = 0; i < w.bins; i++) this.#bin(w.names[i]!, w.types[i]!, data, w.valueFrom[i]!, w.valueTo[i]!);
    this.rows++;
    this.bytes += this.#held() - before;
  }

  #metadata(digestIn: Buffer, digestAt: number, setName: string, generation: number, voidTime: number, lastUpdate: bigint | undefined): void {
    const cols = this.table.columns;
    // The digest is copied into the column's bytes (the record's is a view into a decoder's block).
    const digest = this.#column(cols[0]!);
    digest.scalar.putBytes(digestIn, 1, 0, digestAt, digestAt + 20);
    digest.done();
    const set = this.#column(cols[1]!);
    set.scalar.putString(setName, 1, 0);
    set.done();
    const gen = this.#column(cols[2]!);
    gen.scalar.putSafeInt64(generation, 1, 0);
    gen.done();
    const expires = this.#column(cols[3]!);
    if (voidTime === 0) expires.putNull();
    else {
      // At most (2^32 + 2010's Unix seconds) * 10^6 < 2^53: exact as a double.
      expires.scalar.putSafeInt64((voidTime + CITRUSLEAF_EPOCH_UNIX_S) * 1_000_000, 1, 0);
      expires.done();
    }
    this.#put(cols[4]!, lastUpdate === undefined ? null : lastUpdate / 1000n);
  }

  #key(type: number, bytes: Buffer): void {
    const k = classifyKey(type, bytes);
    this.#put(this.table.keyColumn(k), k.cell);
  }

  /** One bin, its value at value[from, to): scalars straight into their column's bytes. */
  #bin(name: string, type: number, value: Buffer, from: number, to: number): void {
    const t = this.table;
    switch (type) {
      case ParticleType.STRING: {
        const col = this.#column(t.binColumn(name, STRING_VALUE));
        if (isUtf8At(value, from, to)) col.scalar.putBytes(value, 1, 0, from, to);
        else col.scalar.putString(value.toString('utf8', from, to), 1, 0);
        col.done();
        return;
      }
      case ParticleType.INTEGER:
      case ParticleType.FLOAT: {
        if (to - from !== 8) classifyBin(type, value.subarray(from, to)); // throws the ValueError
        const col = this.#column(t.binColumn(name, type === ParticleType.INTEGER ? INT64_VALUE : DOUBLE_VALUE));
        col.scalar.putBigEndian8(value, 1, 0, from);
        col.done();
        return;
      }
      case ParticleType.LIST:
      case ParticleType.MAP: {
        // Typed lists and maps, and JSON text, from the msgpack bytes (msgpack-cells.ts); the rest below.
        const map = type === ParticleType.MAP;
        const kind = collectionKind(value, from, to, map);
        if (kind === 'json') {
          const col = this.#column(t.binColumn(name, JSON_VALUE));
          if (putJson(col.scalar, value, from, to)) {
            col.done();
            return;
          }
        } else if (kind !== undefined) {
          const col = this.#column(t.binColumn(name, classified(kind as Kind)));
          putCollection(col.leaves, value, from, to, map);
          col.done();
          return;
        }
        break;
      }
      default: {
        const blob = blobClass(type);
        if (blob) {
          const col = this.#column(t.binColumn(name, blob));
          col.scalar.putBytes(value, 1, 0, from, to);
          col.done();
          return;
        }
      }
    }
    const v = classifyBin(type, from === 0 && to === value.length ? value : value.subarray(from, to));
    if (v === undefined) return;
    const c = t.binColumn(name, v);
    this.#put(c, cellFor(c, v));
  }

  #held(): number {
    let n = 0;
    for (const col of this.data) if (col) n += col.bytes;
    return n;
  }

  /** Column `index` with every row (all nulls for a column this buffer has no value of). */
  column(c: Column): ColumnValues {
    return this.#column(c);
  }

  /** A reader of column c's cells, row after row. */
  reader(c: Column): ColumnReader {
    return new ColumnReader(this.#column(c), columnLayout(c).cells);
  }

  /** Bytes the column arrays hold, used or not. */
  get capacity(): number {
    let n = 0;
    for (const col of this.data) if (col) n += col.capacity;
    return n;
  }

  /** Empties the buffer; its arrays stay for the next rows (no reallocation, no garbage). */
  clear(): void {
    for (const col of this.data) col?.reset();
    this.rows = 0;
    this.bytes = 0;
  }

  /** Empties the buffer and drops its arrays. */
  release(): void {
    this.data = [];
    this.rows = 0;
    this.bytes = 0;
  }
}
