/**
 * Bin values as table cells: what column kind a particle becomes, and its value in that
 * kind (docs/export.md, "Type mapping").
 *
 * A kind names both a column's type and, for a bin whose values change type, the suffix
 * of the sibling column that holds the other type (`<column>__<kind>`):
 *
 *   int64  double  string  boolean  binary  geojson  hll  vector  java_blob ... erlang_blob
 *   list_<scalar>          a list whose non-null elements all have one scalar kind
 *   map_<key>_<scalar>     a map whose keys have one kind (int64, string, binary, double)
 *                          and whose non-null values have one scalar kind
 *   json                   any other list or map, as JSON text (jsonText below)
 *
 * Cells: int64 → bigint, double → number, string / geojson / json → string, boolean,
 * binary kinds → Buffer, list → array of element cells (null allowed), map → array of
 * [key, value] pairs in the server's order. The export's buffers put the common cases
 * (scalars, typed lists and maps, JSON text) straight from the particle bytes
 * (table.ts, msgpack-cells.ts), with the same results as these functions.
 */
import { ParticleType } from '../aerospike/types.js';
import { CdtList, CdtMap, GeoJsonValue, MsgExt, MsgpackError, unpack, type MsgValue } from '../aerospike/wire/msgpack.js';
import { ParticleError, geoJsonText } from '../aerospike/wire/values.js';

export const SCALAR_KINDS = [
  'int64',
  'double',
  'string',
  'boolean',
  'binary',
  'geojson',
  'hll',
  'vector',
  'java_blob',
  'csharp_blob',
  'python_blob',
  'ruby_blob',
  'php_blob',
  'erlang_blob',
] as const;
export type ScalarKind = (typeof SCALAR_KINDS)[number];
export type MapKeyKind = 'int64' | 'string' | 'binary' | 'double';
export type Kind = ScalarKind | `list_${ScalarKind}` | `map_${MapKeyKind}_${ScalarKind}` | 'json';

export type ScalarCell = bigint | number | string | boolean | Buffer;
export type Cell = ScalarCell | Array<ScalarCell | null> | Array<[ScalarCell, ScalarCell | null]>;

/**
 * A bin value ready for a column: its kind and cell. `untyped` marks a list or map with
 * no typed element (empty, or only null elements or values): it fits any list column
 * (map column with keys of `untyped.keyKind`, when it has keys) that the bin already
 * has, as `untyped.cell`, and is JSON text (`cell`, kind json) when the bin has none.
 */
export interface Classified {
  kind: Kind;
  cell: Cell;
  untyped?: { collection: 'list' | 'map'; cell: Cell; keyKind?: MapKeyKind };
}

const BLOB_KINDS: Record<number, ScalarKind> = {
  [ParticleType.BLOB]: 'binary',
  [ParticleType.HLL]: 'hll',
  [ParticleType.VECTOR]: 'vector',
  [ParticleType.JAVA_BLOB]: 'java_blob',
  [ParticleType.CSHARP_BLOB]: 'csharp_blob',
  [ParticleType.PYTHON_BLOB]: 'python_blob',
  [ParticleType.RUBY_BLOB]: 'ruby_blob',
  [ParticleType.PHP_BLOB]: 'php_blob',
  [ParticleType.ERLANG_BLOB]: 'erlang_blob',
};

/** The column kind of a blob-like particle type (BLOB, HLL, VECTOR, the language blobs), else undefined. */
export function blobKind(type: number): ScalarKind | undefined {
  return BLOB_KINDS[type];
}

export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
  }
}

/** The kind and cell of one bin; undefined for a NULL particle (no value: the column stays null). */
export function classifyBin(type: number, value: Buffer): Classified | undefined {
  switch (type) {
    case ParticleType.NULL:
      return undefined;
    case ParticleType.INTEGER:
      if (value.length !== 8) throw new ValueError(`INTEGER value of ${value.length} bytes (expected 8)`);
      return { kind: 'int64', cell: value.readBigInt64BE(0) };
    case ParticleType.FLOAT:
      if (value.length !== 8) throw new ValueError(`FLOAT value of ${value.length} bytes (expected 8)`);
      return { kind: 'double', cell: value.readDoubleBE(0) };
    case ParticleType.STRING:
      return { kind: 'string', cell: value.toString('utf8') };
    case ParticleType.BOOL:
      if (value.length !== 1) throw new ValueError(`BOOL value of ${value.length} bytes (expected 1)`);
      return { kind: 'boolean', cell: value[0] !== 0 };
    case ParticleType.GEOJSON:
      return { kind: 'geojson', cell: decoded('GEOJSON', () => geoJsonText(value)) };
    case ParticleType.LIST:
      return classifyList(decoded('LIST', () => unpack(value, true)), value);
    case ParticleType.MAP:
      return classifyMap(decoded('MAP', () => unpack(value, true)), value);
    default: {
      const kind = BLOB_KINDS[type];
      if (kind === undefined) throw new ValueError(`particle type ${type} is not one aerobak knows how to export`);
      return { kind, cell: Buffer.from(value) };
    }
  }
}

/** What `decode` makes of a value's bytes; their decoder's error (malformed msgpack, a cut GeoJSON prefix) as a ValueError. */
function decoded<T>(what: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof MsgpackError || err instanceof ParticleError) throw new ValueError(`${what} value: ${err.message}`);
    throw err;
  }
}

/** The kind and cell of a stored user key (integer, string or blob). */
export function classifyKey(type: number, bytes: Buffer): Classified {
  if (type === ParticleType.INTEGER) {
    if (bytes.length !== 8) throw new ValueError(`INTEGER user key of ${bytes.length} bytes (expected 8)`);
    return { kind: 'int64', cell: bytes.readBigInt64BE(0) };
  }
  if (type === ParticleType.STRING) return { kind: 'string', cell: bytes.toString('utf8') };
  return { kind: 'binary', cell: Buffer.from(bytes) };
}

/** The scalar kind and cell of an element inside a list or map, or undefined if it is not a scalar. */
function scalarOf(v: MsgValue): { kind: ScalarKind; cell: ScalarCell } | undefined {
  switch (typeof v) {
    case 'bigint':
      return { kind: 'int64', cell: v };
    case 'number':
      return { kind: 'double', cell: v };
    case 'string':
      return { kind: 'string', cell: v };
    case 'boolean':
      return { kind: 'boolean', cell: v };
    default:
      if (Buffer.isBuffer(v)) return { kind: 'binary', cell: v };
      if (v instanceof GeoJsonValue) return { kind: 'geojson', cell: v.json };
      return undefined;
  }
}

function classifyList(v: MsgValue, raw: Buffer): Classified {
  const items = v instanceof CdtList ? v.items : Array.isArray(v) ? v : undefined;
  if (!items) throw new ValueError('LIST bin does not hold a msgpack array');
  let kind: ScalarKind | undefined;
  const cells: Array<ScalarCell | null> = new Array(items.length);
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!;
    if (item === null) {
      cells[i] = null;
      continue;
    }
    const s = scalarOf(item);
    if (!s || (kind !== undefined && s.kind !== kind)) return { kind: 'json', cell: jsonText(v, raw) };
    kind = s.kind;
    cells[i] = s.cell;
  }
  if (kind === undefined) return { kind: 'json', cell: jsonText(v, raw), untyped: { collection: 'list', cell: cells } };
  return { kind: `list_${kind}`, cell: cells };
}

const MAP_KEY_KINDS: ReadonlySet<string> = new Set(['int64', 'string', 'binary', 'double']);

function classifyMap(v: MsgValue, raw: Buffer): Classified {
  if (!(v instanceof CdtMap)) throw new ValueError('MAP bin does not hold a msgpack map');
  let keyKind: ScalarKind | undefined;
  let valueKind: ScalarKind | undefined;
  const pairs: Array<[ScalarCell, ScalarCell | null]> = new Array(v.entries.length);
  for (let i = 0; i < v.entries.length; i++) {
    const [k, val] = v.entries[i]!;
    const key = scalarOf(k);
    if (!key || !MAP_KEY_KINDS.has(key.kind) || (keyKind !== undefined && key.kind !== keyKind)) return { kind: 'json', cell: jsonText(v, raw) };
    keyKind = key.kind;
    if (val === null) {
      pairs[i] = [key.cell, null];
      continue;
    }
    const value = scalarOf(val);
    if (!value || (valueKind !== undefined && value.kind !== valueKind)) return { kind: 'json', cell: jsonText(v, raw) };
    valueKind = value.kind;
    pairs[i] = [key.cell, value.cell];
  }
  if (valueKind === undefined) {
    return { kind: 'json', cell: jsonText(v, raw), untyped: { collection: 'map', cell: pairs, ...(keyKind ? { keyKind: keyKind as MapKeyKind } : {}) } };
  }
  return { kind: `map_${keyKind as MapKeyKind}_${valueKind}`, cell: pairs };
}

/** The element kind of a list kind, or undefined. */
export function listElement(kind: Kind): ScalarKind | undefined {
  return kind.startsWith('list_') ? (kind.slice(5) as ScalarKind) : undefined;
}

/** The key and value kinds of a map kind, or undefined. */
export function mapParts(kind: Kind): { key: MapKeyKind; value: ScalarKind } | undefined {
  if (!kind.startsWith('map_')) return undefined;
  const rest = kind.slice(4);
  for (const key of MAP_KEY_KINDS) {
    if (rest.startsWith(`${key}_`)) return { key: key as MapKeyKind, value: rest.slice(key.length + 1) as ScalarKind };
  }
  return undefined;
}

// ---------------------------------------------------------------------------- JSON text

const SAFE = 2n ** 53n;

/**
 * A list or map as JSON text (docs/export.md, "JSON"): integers as numbers within ±2^53
 * and as strings beyond; doubles always with a fraction or exponent (1.0, -0.0), NaN and
 * ±Infinity as the strings "NaN", "Infinity", "-Infinity"; strings as strings; bytes as
 * base64 strings; GeoJSON as its text, a string; map keys as strings (integers in
 * decimal, doubles as above, bytes in base64); order flags dropped; any other msgpack
 * ext as {"$ext": type, "data": base64}.
 */
export function jsonText(v: MsgValue, raw?: Buffer): string {
  const out: string[] = [];
  try {
    writeJson(v, out);
  } catch (err) {
    throw new ValueError(`cannot write ${raw ? `${raw.length}-byte ` : ''}collection as JSON: ${(err as Error).message}`);
  }
  return out.join('');
}

/** A double as JSON text: always with a fraction or an exponent; NaN and the infinities as strings. */
export function doubleText(n: number): string {
  if (Number.isNaN(n)) return '"NaN"';
  if (n === Infinity) return '"Infinity"';
  if (n === -Infinity) return '"-Infinity"';
  if (Object.is(n, -0)) return '-0.0';
  const s = String(n);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

function keyText(k: MsgValue): string {
  if (typeof k === 'string') return k;
  if (typeof k === 'bigint') return k.toString();
  if (typeof k === 'number') return doubleText(k).replace(/^"|"$/g, '');
  if (Buffer.isBuffer(k)) return k.toString('base64');
  if (k instanceof GeoJsonValue) return k.json;
  return jsonText(k);
}

function writeJson(v: MsgValue, out: string[]): void {
  if (v === null) out.push('null');
  else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
  else if (typeof v === 'bigint') out.push(v > -SAFE && v < SAFE ? v.toString() : `"${v.toString()}"`);
  else if (typeof v === 'number') out.push(doubleText(v));
  else if (typeof v === 'string') out.push(JSON.stringify(v));
  else if (Buffer.isBuffer(v)) out.push(`"${v.toString('base64')}"`);
  else if (v instanceof GeoJsonValue) out.push(JSON.stringify(v.json));
  else if (v instanceof MsgExt) out.push(`{"$ext":${v.type},"data":"${v.data.toString('base64')}"}`);
  else if (v instanceof CdtMap) {
    out.push('{');
    v.entries.forEach(([k, val], i) => {
      if (i > 0) out.push(',');
      out.push(JSON.stringify(keyText(k)), ':');
      writeJson(val, out);
    });
    out.push('}');
  } else {
    const items = v instanceof CdtList ? v.items : v;
    out.push('[');
    items.forEach((item, i) => {
      if (i > 0) out.push(',');
      writeJson(item, out);
    });
    out.push(']');
  }
}

/**
 * Approximate bytes a cell takes in memory as a JS value (the export buffers bytes, not
 * cells, since columns.ts; this is what a cell would cost held as one): its
 * data plus V8's object overhead (a Buffer is a ~100-byte object of its own, a bigint
 * about 40 bytes, a boxed double 16, a string's header 16 bytes and up to 2 bytes per character).
 */
export function cellBytes(cell: Cell): number {
  switch (typeof cell) {
    case 'bigint':
      return 40;
    case 'number':
      return 16;
    case 'boolean':
      return 8;
    case 'string':
      return 2 * cell.length + 24;
    default:
      if (Buffer.isBuffer(cell)) return cell.length + 100;
      let n = 32 + 8 * (cell as Array<unknown>).length;
      for (const item of cell as Array<unknown>) {
        if (Array.isArray(item)) n += 32 + scalarBytes(item[0] as ScalarCell) + scalarBytes(item[1] as ScalarCell | null);
        else n += scalarBytes(item as ScalarCell | null);
      }
      return n;
  }
}

function scalarBytes(c: ScalarCell | null): number {
  return c === null ? 0 : cellBytes(c);
}
