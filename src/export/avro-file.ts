/**
 * Avro object container files of an export: one record schema per set (the same
 * columns as Parquet), blocks compressed with a standard Avro codec (deflate,
 * zstandard or null) and separated by sync markers, so Spark and Hive split them; no
 * outer compression. Written with avsc's BlockEncoder.
 *
 * Types (docs/export.md, "Type mapping"): every field is a union of null and its type,
 * default null; int64 → long; double → double; string, geojson, json → string; boolean
 * → boolean; blobs, HLL, vectors → bytes; _digest → fixed(20); timestamps → long with
 * logicalType timestamp-micros; list_<x> → array of [null, x]; map_string_<v> → map of
 * [null, v]; map_<k>_<v> for other keys → array of records {key: k, value: [null, v]}.
 * Every field that holds a bin has the attribute `aerospikeBin`: the bin's name.
 */
import { randomBytes } from 'node:crypto';
import { deflateRaw, zstdCompress } from 'node:zlib';
import avro from 'avsc';
import { avroTypeUnwrapped } from '../avro/avro-type.js';
import { HEADER_TYPE } from '../avro/container.js';
import { Upload } from './upload.js';
import type { ExportFileWriter, ExportFormat, FileOpenOptions } from './format.js';
import type { Column, RowBuffer } from './table.js';
import { listElement, mapParts, type Cell, type ScalarCell, type ScalarKind } from './values.js';

/** Uncompressed bytes of an Avro block. */
const BLOCK_BYTES = 512 * 1024;

type Codec = (buf: Buffer, cb: (err: Error | null, out?: Buffer) => void) => void;
const CODECS: Record<string, Codec> = {
  null: (buf, cb) => cb(null, buf),
  deflate: (buf, cb) => deflateRaw(buf, cb),
  zstandard: (buf, cb) => zstdCompress(buf, cb),
};

function scalarSchema(kind: ScalarKind | 'digest' | 'timestamp'): unknown {
  switch (kind) {
    case 'int64':
      return 'long';
    case 'double':
      return 'double';
    case 'boolean':
      return 'boolean';
    case 'string':
    case 'geojson':
      return 'string';
    case 'digest':
      return { type: 'fixed', name: 'Digest', size: 20 };
    case 'timestamp':
      return { type: 'long', logicalType: 'timestamp-micros' };
    default:
      return 'bytes';
  }
}

/** The Avro type of a column, without its null branch. */
function columnSchema(c: Column, seen: { digest: boolean }): unknown {
  if (c.kind === 'json') return 'string';
  if (c.kind === 'digest' || c.kind === 'timestamp') {
    // A named type is defined once, then referred to by name.
    if (c.kind === 'digest' && seen.digest) return 'Digest';
    if (c.kind === 'digest') seen.digest = true;
    return scalarSchema(c.kind);
  }
  const element = listElement(c.kind);
  if (element) return { type: 'array', items: ['null', scalarSchema(element)] };
  const map = mapParts(c.kind);
  if (map && map.key === 'string') return { type: 'map', values: ['null', scalarSchema(map.value)] };
  if (map) {
    return {
      type: 'array',
      items: {
        type: 'record',
        name: `${c.name}__entry`,
        fields: [
          { name: 'key', type: scalarSchema(map.key) },
          { name: 'value', type: ['null', scalarSchema(map.value)] },
        ],
      },
    };
  }
  return scalarSchema(c.kind as ScalarKind);
}

/** The record schema of a file with these columns. */
export function recordSchema(columns: readonly Column[]): { type: 'record'; name: string; namespace: string; fields: unknown[] } {
  const seen = { digest: false };
  return {
    type: 'record',
    name: 'Record',
    namespace: 'aerobak.export',
    fields: columns.map((c) => ({
      name: c.name,
      type: ['null', columnSchema(c, seen)],
      default: null,
      ...(c.role === 'bin' ? { aerospikeBin: c.bin } : {}),
    })),
  };
}

/** A cell as avsc writes it for its column. */
function avroValue(c: Column, cell: Cell | null): unknown {
  if (cell === null || c.kind === 'json' || c.kind === 'digest' || c.kind === 'timestamp') return cell;
  const map = mapParts(c.kind);
  if (!map) return cell;
  const pairs = cell as Array<[ScalarCell, ScalarCell | null]>;
  if (map.key === 'string') {
    const out: Record<string, ScalarCell | null> = {};
    for (const [k, v] of pairs) out[k as string] = v;
    return out;
  }
  return pairs.map(([key, value]) => ({ key, value }));
}

class AvroFileWriter implements ExportFileWriter {
  readonly #upload: Upload;
  readonly #encoder: avro.streams.BlockEncoder;
  readonly #columns: readonly Column[];
  readonly #drained: Promise<void>;

  constructor(opts: FileOpenOptions) {
    this.#columns = opts.columns;
    this.#upload = new Upload(opts.store, opts.key, opts.signal);
    const schema = recordSchema(opts.columns);
    const type = avroTypeUnwrapped(schema);
    const sync = randomBytes(16);
    const codec = String(opts.codec);
    const header = HEADER_TYPE.toBuffer({
      magic: Buffer.from('Obj\x01', 'latin1'),
      meta: { 'avro.schema': Buffer.from(JSON.stringify(schema)), 'avro.codec': Buffer.from(codec) },
      sync,
    });
    this.#encoder = new avro.streams.BlockEncoder(type, { codec, codecs: CODECS, writeHeader: 'never', syncMarker: sync, blockSize: BLOCK_BYTES } as never);
    const first = this.#upload.put(header);
    this.#drained = new Promise<void>((resolve, reject) => {
      let chain = first;
      this.#encoder.on('data', (chunk: Buffer) => {
        this.#encoder.pause();
        chain = chain.then(() => this.#upload.put(chunk));
        chain.then(
          () => this.#encoder.resume(),
          (err: unknown) => this.#encoder.destroy(err as Error),
        );
      });
      this.#encoder.on('end', () => chain.then(resolve, reject));
      this.#encoder.on('error', reject);
    });
    this.#drained.catch(() => undefined);
  }

  /** Bytes stored so far (the encoder may hold up to a block more). */
  get size(): number {
    return this.#upload.size;
  }

  async writeRows(rows: RowBuffer): Promise<void> {
    // One record object at a time, its cells read back from the buffer's bytes.
    const cols = this.#columns;
    const readers = cols.map((c) => rows.reader(c));
    for (let r = 0; r < rows.rows; r++) {
      const record: Record<string, unknown> = {};
      for (let i = 0; i < cols.length; i++) record[cols[i]!.name] = avroValue(cols[i]!, readers[i]!.next());
      if (!this.#encoder.write(record)) {
        await new Promise<void>((resolve, reject) => {
          this.#encoder.once('drain', resolve);
          this.#drained.catch(reject);
        });
      }
    }
  }

  async finish(): Promise<{ size: number; sha256: string }> {
    this.#encoder.end();
    await this.#drained;
    return this.#upload.end();
  }

  async abort(error: Error): Promise<void> {
    this.#encoder.destroy(error);
    await this.#upload.abort(error);
  }
}

export const AVRO: ExportFormat = {
  name: 'avro',
  extension: '.avro',
  open: (opts) => new AvroFileWriter(opts),
  describe: (columns) => recordSchema(columns),
};
