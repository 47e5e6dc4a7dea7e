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
import { cellBytes, classifyBin, classifyKey, listElement, mapParts, type Cell, type Classified, type Kind } from './values.js';

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

  binColumn(bin: string, v: Classified): Column {
    return this.#localOf(this.registry.binColumn(bin, v));
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

/**
 * The rows of one file not yet written, column by column: `data[c][r]` is row r's cell
 * of column c (null when it has none). Columns the set gains while rows are buffered
 * join with nulls for the rows before.
 */
export class RowBuffer {
  readonly data: Array<Array<Cell | null>> = [];
  rows = 0;
  /** Approximate bytes of the buffered cells. */
  bytes = 0;

  constructor(readonly table: SetTable) {}

  #put(c: Column, cell: Cell | null): void {
    let col = this.data[c.index];
    if (!col) {
      col = this.data[c.index] = [];
    }
    while (col.length < this.rows) col.push(null);
    col.push(cell);
    if (cell !== null) this.bytes += cellBytes(cell);
  }

  add(r: RawRecord): void {
    const t = this.table;
    const cols = t.columns;
    // A copy: the record's digest is a view into the decoder's block, which it would keep alive.
    this.#put(cols[0]!, Buffer.from(r.digest));
    this.#put(cols[1]!, r.set);
    this.#put(cols[2]!, BigInt(r.generation));
    this.#put(cols[3]!, expiresMicros(r.voidTime));
    this.#put(cols[4]!, r.lastUpdateTime === undefined ? null : r.lastUpdateTime / 1000n);
    // The row's slots in the column arrays.
    this.bytes += 8 * (5 + r.bins.length);
    if (r.userKey) {
      const k = classifyKey(r.userKey.type, r.userKey.bytes);
      this.#put(t.keyColumn(k), k.cell);
    }
    for (const bin of r.bins) {
      const v = classifyBin(bin.type, bin.value);
      if (v === undefined) continue;
      const c = t.binColumn(bin.name, v);
      this.#put(c, cellFor(c, v));
    }
    this.rows++;
  }

  /** Every column of the table, padded with nulls to `rows` (columns this buffer never saw are all null). */
  columnsOut(): Array<Array<Cell | null>> {
    return this.table.columns.map((c) => {
      const col = this.data[c.index] ?? [];
      while (col.length < this.rows) col.push(null);
      return col;
    });
  }

  clear(): void {
    this.data.length = 0;
    this.rows = 0;
    this.bytes = 0;
  }
}
