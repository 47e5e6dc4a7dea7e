/**
 * What the export sink needs of a file format: open a file for a set's columns, write
 * buffered rows to it (a Parquet row group, Avro blocks), finish it. parquet-file.ts and
 * avro-file.ts implement it; each is loaded only when an export uses it (loadFormat in
 * jobs/export.ts, so that this module imports neither).
 */
import type { ObjectStore } from '../storage/types.js';
import type { Column, RowBuffer, SetTable } from './table.js';

export type ExportFormatName = 'parquet' | 'avro';
export const EXPORT_FORMATS: readonly ExportFormatName[] = ['parquet', 'avro'];

/** Block or page compression, by format: the first is the default. */
export const EXPORT_CODECS = {
  parquet: ['snappy', 'zstd', 'gzip', 'none'],
  avro: ['deflate', 'zstandard', 'null'],
} as const satisfies Record<ExportFormatName, readonly string[]>;
export type ExportCodec = (typeof EXPORT_CODECS)[ExportFormatName][number];

export interface FileOpenOptions {
  store: ObjectStore;
  key: string;
  table: SetTable;
  /** The columns of this file: the set's columns when the file's first rows are written. */
  columns: readonly Column[];
  codec: ExportCodec;
  signal?: AbortSignal;
}

export interface ExportFileWriter {
  /** Bytes handed to the store so far. */
  readonly size: number;
  /** Writes the buffered rows (every one of them has cells only in `columns`). */
  writeRows(rows: RowBuffer): Promise<void>;
  /** Ends the file; resolves once it is stored. */
  finish(): Promise<{ size: number; sha256: string }>;
  /** Drops the file: nothing is left under its key. */
  abort(error: Error): Promise<void>;
}

export interface ExportFormat {
  readonly name: ExportFormatName;
  /** File name extension, with the dot. */
  readonly extension: string;
  open(opts: FileOpenOptions): ExportFileWriter;
  /** A description of a file's schema for the export manifest. */
  describe(columns: readonly Column[]): unknown;
}

/** The `aerospike.bins` map of a file: column name → bin name, for every column holding a bin. */
export function binsOf(columns: readonly Column[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of columns) if (c.role === 'bin') out[c.name] = c.bin!;
  return out;
}
