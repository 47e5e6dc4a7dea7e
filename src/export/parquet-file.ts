/**
 * Parquet files of an export. Each writeRows is one row group, encoded column chunk by
 * column chunk straight from the buffer's bytes (parquet-chunk.ts: levels and PLAIN
 * values are already laid out as Parquet wants them) and handed to the store before the
 * next is buffered, so a file in progress holds one row group in memory, never the file.
 * hyparquet-writer (docs/parquet-libraries.md says why that library) provides the thrift
 * of the page headers and of the footer, and the RLE/bit-packing of levels; its column
 * writer, which takes one JS value per cell, is not used.
 *
 * Types (docs/export.md, "Type mapping"): int64 → INT64; double → DOUBLE; string,
 * geojson, json → BYTE_ARRAY UTF8; boolean → BOOLEAN; blobs, HLL, vectors → BYTE_ARRAY;
 * _digest → FIXED_LEN_BYTE_ARRAY(20); timestamps → INT64 TIMESTAMP(MICROS, UTC);
 * list_<x> → the standard 3-level LIST of optional <x>; map_<k>_<v> → the standard MAP
 * of required <k> keys and optional <v> values. Every top-level column is optional.
 */
import { ByteWriter } from 'hyparquet-writer';
import { writeMetadata } from 'hyparquet-writer/src/metadata.js';
import type { ColumnChunk, FileMetaData, RowGroup, SchemaElement } from 'hyparquet';
import pkg from '../../package.json' with { type: 'json' };
import { Upload } from './upload.js';
import { binsOf, type ExportCodec, type ExportFileWriter, type ExportFormat, type FileOpenOptions } from './format.js';
import { writeChunk, type ChunkOutput, type ParquetCodec } from './parquet-chunk.js';
import { columnLayout, type Column, type RowBuffer } from './table.js';
import { listElement, mapParts, type ScalarKind } from './values.js';

/** "PAR1", little-endian: a Parquet file's first and last four bytes. */
const PAR1 = 0x31524150;

/** A writer buffer bigger than this (a big footer) is not kept. */
const KEEP_BUFFER_BYTES = 1024 * 1024;

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

const CODECS: Record<string, ParquetCodec> = { snappy: 'SNAPPY', zstd: 'ZSTD', gzip: 'GZIP', none: 'UNCOMPRESSED' };

/** The schema paths of a column's leaves (columns.ts: one, or a map's key and value). */
function leafPaths(c: Column): string[][] {
  const layout = columnLayout(c);
  if (layout.shape === 'list') return [[c.name, 'list', 'element']];
  if (layout.shape === 'map') return [[c.name, 'key_value', 'key'], [c.name, 'key_value', 'value']];
  return [[c.name]];
}

/**
 * The file's bytes on their way to the upload: small writes (page headers, levels, the
 * footer) gather in a buffer, compressed pages go as they are, without a copy; a row
 * group's pieces are handed to the upload once it is encoded.
 */
class PieceWriter extends ByteWriter implements ChunkOutput {
  readonly #pieces: Uint8Array[] = [];

  constructor(private readonly upload: Upload) {
    super(64 * 1024);
  }

  #cut(): void {
    if (this.index === 0) return;
    this.#pieces.push(new Uint8Array(this.buffer.slice(0, this.index)));
    this.index = 0;
    if (this.buffer.byteLength > KEEP_BUFFER_BYTES) {
      this.buffer = new ArrayBuffer(64 * 1024);
      this.view = new DataView(this.buffer);
    }
  }

  appendOwned(bytes: Uint8Array): void {
    if (bytes.byteLength < 16 * 1024) return this.appendBytes(bytes);
    this.#cut();
    this.#pieces.push(bytes);
    this.offset += bytes.byteLength;
  }

  async flush(): Promise<void> {
    this.#cut();
    const pieces = this.#pieces.splice(0);
    for (const piece of pieces) await this.upload.put(piece);
  }
}

class ParquetFileWriter implements ExportFileWriter {
  readonly #upload: Upload;
  readonly #writer: PieceWriter;
  readonly #columns: readonly Column[];
  readonly #paths: string[][][];
  readonly #schema: SchemaElement[];
  readonly #codec: ParquetCodec;
  readonly #kv: Array<{ key: string; value: string }>;
  readonly #rowGroups: RowGroup[] = [];
  #rows = 0n;

  constructor(opts: FileOpenOptions) {
    this.#columns = opts.columns;
    this.#paths = opts.columns.map(leafPaths);
    this.#upload = new Upload(opts.store, opts.key, opts.signal);
    this.#writer = new PieceWriter(this.#upload);
    this.#schema = [{ name: 'schema', num_children: opts.columns.length }, ...opts.columns.flatMap(columnElements)];
    this.#codec = CODECS[opts.codec as string]!;
    this.#kv = [
      { key: 'aerospike.bins', value: JSON.stringify(binsOf(opts.columns)) },
      { key: 'aerospike.namespace', value: opts.table.namespace },
      { key: 'aerospike.set', value: opts.table.set },
    ];
    // The file starts with its magic bytes.
    this.#writer.appendUint32(PAR1);
  }

  /** Bytes of the file so far (stored, or on their way). */
  get size(): number {
    return this.#writer.offset;
  }

  /** One row group: every column chunk, encoded from the buffer's bytes, then handed to the store. */
  async writeRows(rows: RowBuffer): Promise<void> {
    const out = this.#writer;
    const groupStart = out.offset;
    const chunks: ColumnChunk[] = [];
    let uncompressed = 0n;
    this.#columns.forEach((c, i) => {
      const values = rows.column(c);
      values.padTo(rows.rows);
      values.leaves.forEach((leaf, j) => {
        const chunk = writeChunk(out, leaf, this.#paths[i]![j]!, this.#codec);
        uncompressed += chunk.meta_data!.total_uncompressed_size;
        chunks.push(chunk);
      });
    });
    const n = BigInt(rows.rows);
    this.#rows += n;
    this.#rowGroups.push({ columns: chunks, total_byte_size: uncompressed, num_rows: n, total_compressed_size: BigInt(out.offset - groupStart) });
    await out.flush();
  }

  async finish(): Promise<{ size: number; sha256: string }> {
    const metadata = {
      version: 2,
      created_by: `aerobak version ${pkg.version}`,
      schema: this.#schema,
      num_rows: this.#rows,
      row_groups: this.#rowGroups,
      key_value_metadata: this.#kv,
    };
    writeMetadata(this.#writer, metadata as FileMetaData);
    this.#writer.appendUint32(PAR1);
    await this.#writer.flush();
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
