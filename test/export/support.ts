/**
 * Helpers of the export tests: DuckDB (an independent Parquet reader, through
 * @duckdb/node-api) over an export's Hive layout, and the values a record's bins should
 * read back as, worked out from the JS values the test wrote, not from aerobak's code.
 */
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { CdtList, CdtMap, Float, GeoJsonValue, type PackValue } from '../../src/aerospike/wire/msgpack.js';

let connection: Promise<DuckDBConnection> | undefined;

export function duck(): Promise<DuckDBConnection> {
  connection ??= DuckDBInstance.create(':memory:').then((db) => db.connect());
  return connection;
}

/** Rows of a query, as JS values (BIGINT → bigint, BLOB → Uint8Array, LIST → array, MAP → [{key, value}]). */
export async function query(sql: string): Promise<Record<string, unknown>[]> {
  const reader = await (await duck()).runAndReadAll(sql);
  return reader.getRowObjectsJS() as Record<string, unknown>[];
}

/** Every Parquet file of the export at `dir`, read as one table with its Hive partition columns. */
export function table(dir: string): string {
  return `read_parquet('${dir}/**/*.parquet', hive_partitioning = true, union_by_name = true)`;
}

/** What a JS bin value reads back as in DuckDB: the column kind it lands in and its value there. */
export interface Expected {
  kind: string;
  value: unknown;
}

const isInteger = (v: unknown): boolean => typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v) && !Object.is(v, -0));

function scalarKind(v: PackValue): string | undefined {
  if (isInteger(v)) return 'int64';
  if (typeof v === 'number' || v instanceof Float) return 'double';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'boolean') return 'boolean';
  if (Buffer.isBuffer(v)) return 'binary';
  if (v instanceof GeoJsonValue) return 'geojson';
  return undefined;
}

function scalarValue(v: PackValue): unknown {
  if (isInteger(v)) return BigInt(v as number);
  if (v instanceof Float) return v.value;
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  if (v instanceof GeoJsonValue) return v.json;
  return v;
}

/** The JSON text's value, as JSON.parse gives it, per docs/export.md's mapping. */
function jsonValue(v: PackValue): unknown {
  if (v === null || v === undefined) return null;
  if (isInteger(v)) {
    const n = BigInt(v as number);
    return n > -(2n ** 53n) && n < 2n ** 53n ? Number(n) : n.toString();
  }
  if (typeof v === 'number' || v instanceof Float) {
    const d = typeof v === 'number' ? v : v.value;
    return Number.isFinite(d) ? d : String(d);
  }
  if (Buffer.isBuffer(v)) return v.toString('base64');
  if (v instanceof GeoJsonValue) return v.json;
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v instanceof CdtList) return v.items.map(jsonValue);
  if (v instanceof CdtMap) return Object.fromEntries(v.entries.map(([k, x]) => [String(jsonValue(k as PackValue)), jsonValue(x as PackValue)]));
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, PackValue>).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}

/** The kind and DuckDB value of a bin value as the test wrote it. */
export function expected(v: PackValue): Expected {
  const s = scalarKind(v);
  if (s) return { kind: s, value: scalarValue(v) };
  const items = Array.isArray(v) ? v : v instanceof CdtList ? v.items : undefined;
  if (items) {
    const kinds = new Set(items.filter((x) => x !== null).map((x) => scalarKind(x as PackValue)));
    if (kinds.size === 1 && !kinds.has(undefined)) return { kind: `list_${[...kinds][0]}`, value: items.map((x) => (x === null ? null : scalarValue(x as PackValue))) };
    return { kind: 'json', value: jsonValue(v) };
  }
  const entries: Array<[PackValue, PackValue]> = v instanceof CdtMap ? (v.entries as Array<[PackValue, PackValue]>) : Object.entries(v as Record<string, PackValue>);
  const keyKinds = new Set(entries.map(([k]) => scalarKind(k)));
  const valueKinds = new Set(entries.filter(([, x]) => x !== null).map(([, x]) => scalarKind(x)));
  if (keyKinds.size === 1 && valueKinds.size === 1 && !valueKinds.has(undefined) && !keyKinds.has('boolean') && !keyKinds.has('geojson')) {
    return { kind: `map_${[...keyKinds][0]}_${[...valueKinds][0]}`, value: byKey(entries.map(([k, x]) => ({ key: scalarValue(k), value: x === null ? null : scalarValue(x) }))) };
  }
  return { kind: 'json', value: jsonValue(v) };
}

/** A cell as DuckDB gave it, comparable with Expected.value (JSON text parsed, Buffers as Uint8Array, map entries by key). */
export function actual(kind: string, cell: unknown): unknown {
  if (cell === null || cell === undefined) return null;
  if (kind === 'json') return JSON.parse(cell as string);
  return kind.startsWith('map_') ? byKey(normalize(cell) as MapEntry[]) : normalize(cell);
}

type MapEntry = { key: unknown; value: unknown };

/** Map entries in key order: a map's order is the server's business (it may keep maps key-ordered). */
export function byKey(entries: MapEntry[]): MapEntry[] {
  return [...entries].sort((a, b) => (String(a.key) < String(b.key) ? -1 : String(a.key) > String(b.key) ? 1 : 0));
}

function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalize(x)]));
  return v;
}
