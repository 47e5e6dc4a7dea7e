/**
 * Parquet files of an export, written with hyparquet-writer (docs/parquet-libraries.md
 * says why that library): each writeRows is one row group, encoded into the writer's
 * buffer and handed to the store before the next is encoded, so a file in progress holds
 * one row group in memory, never the file.
 *
 * Types (docs/export.md, "Type mapping"): int64 → INT64; double → DOUBLE; string,
 * geojson, json → BYTE_ARRAY UTF8; boolean → BOOLEAN; blobs, HLL, vectors → BYTE_ARRAY;
 * _digest → FIXED_LEN_BYTE_ARRAY(20); timestamps → INT64 TIMESTAMP(MICROS, UTC);
 * list_<x> → the standard 3-level LIST of optional <x>; map_<k>_<v> → the standard MAP
 * of required <k> keys and optional <v> values. Every top-level column is optional.
 */
import { zstdCompressSync, gzipSync } from 'node:zlib';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import type { SchemaElement } from 'hyparquet';
import pkg from '../../package.json' with { type: 'json' };
import { Upload } from './upload.js';
import { binsOf, type ExportCodec, type ExportFileWriter, type ExportFormat, type FileOpenOptions } from './format.js';
import type { Column, RowBuffer } from './table.js';
import { listElement, mapParts, type ScalarKind } from './values.js';

/** A writer buffer bigger than this is dropped after its row group is stored, not kept for the next. */
const KEEP_BUFFER_BYTES = 4 * 1024 * 1024;

function scalarElement(name: string, kind: ScalarKind | 'digest' | 'timestamp', repetition: 'OPTIONAL' | 'REQUIRED'): SchemaElement {
  switch (kind) {
    case 'int64':
      return { name, type: 'INT64', repetition_type: repetition };
    case 'double':
      return { name, type: 'DOUBLE', repetition_type: repetition };
    case 'boolean':
      return { name, type: 'BOOLEAN', repetition_type: repetition };
    case 'string':
    case 'geojson':
      return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' }, repetition_type: repetition };
    case 'digest':
      return { name, type: 'FIXED_LEN_BYTE_ARRAY', type_length: 20, repetition_type: repetition };
    case 'timestamp':
      return {
        name,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MICROS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
        repetition_type: repetition,
      };
    default:
      return { name, type: 'BYTE_ARRAY', repetition_type: repetition };
  }
}

/** The schema elements of one column (a group and its children for lists and maps). */
export function columnElements(c: Column): SchemaElement[] {
  if (c.kind === 'json') return [{ ...scalarElement(c.name, 'string', 'OPTIONAL') }];
  const element = c.kind === 'digest' || c.kind === 'timestamp' ? undefined : listElement(c.kind);
  if (element) {
    return [
      { name: c.name, repetition_type: 'OPTIONAL', converted_type: 'LIST', logical_type: { type: 'LIST' }, num_children: 1 },
      { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
      scalarElement('element', element, 'OPTIONAL'),
    ];
  }
  const map = c.kind === 'digest' || c.kind === 'timestamp' ? undefined : mapParts(c.kind);
  if (map) {
    return [
      { name: c.name, repetition_type: 'OPTIONAL', converted_type: 'MAP', logical_type: { type: 'MAP' }, num_children: 1 },
      { name: 'key_value', repetition_type: 'REPEATED', num_children: 2 },
      scalarElement('key', map.key, 'REQUIRED'),
      scalarElement('value', map.value, 'OPTIONAL'),
    ];
  }
  return [scalarElement(c.name, c.kind as ScalarKind | 'digest' | 'timestamp', 'OPTIONAL')];
}

/** The Parquet type of a column as the export manifest and docs write it. */
export function parquetTypeName(c: Column): string {
  const scalar = (k: string): string => {
    const e = scalarElement('x', k as ScalarKind, 'OPTIONAL');
    if (e.logical_type?.type === 'TIMESTAMP') return 'TIMESTAMP(MICROS,UTC)';
    if (e.type === 'FIXED_LEN_BYTE_ARRAY') return `FIXED_LEN_BYTE_ARRAY(${e.type_length})`;
    return e.converted_type === 'UTF8' ? 'STRING' : e.type!;
  };
  if (c.kind === 'json') return 'STRING';
  const element = c.kind === 'digest' || c.kind === 'timestamp' ? undefined : listElement(c.kind);
  if (element) return `LIST<${scalar(element)}>`;
  const map = c.kind === 'digest' || c.kind === 'timestamp' ? undefined : mapParts(c.kind);
  if (map) return `MAP<${scalar(map.key)},${scalar(map.value)}>`;
  return scalar(c.kind);
}

const CODECS: Record<string, 'SNAPPY' | 'ZSTD' | 'GZIP' | 'UNCOMPRESSED'> = { snappy: 'SNAPPY', zstd: 'ZSTD', gzip: 'GZIP', none: 'UNCOMPRESSED' };

/** hyparquet-writer's buffer, emptied into the upload after each row group. */
class UploadWriter extends ByteWriter {
  constructor(private readonly upload: Upload) {
    super(64 * 1024);
  }

  flush(): Promise<void> {
    const chunk = Buffer.from(new Uint8Array(this.buffer, 0, this.index));
    this.index = 0;
    if (this.buffer.byteLength > KEEP_BUFFER_BYTES) {
      this.buffer = new ArrayBuffer(64 * 1024);
      this.view = new DataView(this.buffer);
    }
    return this.upload.put(chunk);
  }

  override finish(): Promise<void> {
    return this.flush();
  }
}

class ParquetFileWriter implements ExportFileWriter {
  readonly #upload: Upload;
  readonly #writer: UploadWriter;
  readonly #parquet: ParquetWriter;
  readonly #columns: readonly Column[];

  constructor(opts: FileOpenOptions) {
    this.#columns = opts.columns;
    this.#upload = new Upload(opts.store, opts.key, opts.signal);
    this.#writer = new UploadWriter(this.#upload);
    const schema: SchemaElement[] = [{ name: 'schema', num_children: opts.columns.length }, ...opts.columns.flatMap(columnElements)];
    this.#parquet = new ParquetWriter({
      writer: this.#writer,
      schema,
      codec: CODECS[opts.codec as string]!,
      compressors: { ZSTD: (b: Uint8Array) => zstdCompressSync(b), GZIP: (b: Uint8Array) => gzipSync(b) },
      kvMetadata: [
        { key: 'aerospike.bins', value: JSON.stringify(binsOf(opts.columns)) },
        { key: 'aerospike.namespace', value: opts.table.namespace },
        { key: 'aerospike.set', value: opts.table.set },
      ],
      createdBy: `aerobak version ${pkg.version}`,
    });
    // The file starts with its magic bytes, written into the buffer by the constructor.
  }

  get size(): number {
    return this.#upload.size + this.#writer.index;
  }

  async writeRows(rows: RowBuffer): Promise<void> {
    const data = rows.columnsOut();
    const columnData = this.#columns.map((c) => ({ name: c.name, data: data[c.index]! as never[] }));
    await this.#parquet.write({ columnData, rowGroupSize: Math.max(1, rows.rows) });
  }

  async finish(): Promise<{ size: number; sha256: string }> {
    await this.#parquet.finish();
    return this.#upload.end();
  }

  abort(error: Error): Promise<void> {
    return this.#upload.abort(error);
  }
}

export const PARQUET: ExportFormat = {
  name: 'parquet',
  extension: '.parquet',
  open: (opts) => new ParquetFileWriter(opts),
  describe: (columns) => columns.map((c) => ({ name: c.name, type: parquetTypeName(c), ...(c.bin !== undefined ? { bin: c.bin } : {}) })),
};

export type { ExportCodec };
