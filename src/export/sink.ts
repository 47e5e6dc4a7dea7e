/**
 * The export sink: RawRecords (from backups) or ScanBatches (scan reply frames, read in
 * place by wire-record.ts) in, table files out, laid out as Hive partitions (layout.ts).
 * One sink per source lane (a scan group, a reader of backup files); all lanes share the
 * sets' columns (ExportTables), so a column has one type in every file of the export.
 *
 *   record ─> its set's RowBuffer ─(row group full, or the lane's buffers over budget)─>
 *   the set's open file (one row group / Avro blocks) ─(file at target size)─> sealed
 *
 * Memory: a RowBuffer holds its values as bytes (columns.ts), not JS objects. The lanes
 * share `bufferBytes` of them (each buffers at most its share across its sets); when a
 * set's buffer reaches `rowGroupBytes` (at most the lane's share), or all of a lane's
 * together pass its share, the biggest is written out. An emptied buffer keeps its arrays
 * for the next rows (up to twice the lane's share in all). An open file holds one encoded
 * row group at a time. Most records are taken synchronously: no promise per record.
 *
 * A file's columns are the set's columns when its first rows are written. Rows that
 * carry a column the open file lacks (the set gained one since) are written to a new
 * file, so every file's schema holds all of its rows, and later files only add columns.
 */
import { Writable } from 'node:stream';
import { isScanBatch, type ScanBatch } from '../aerospike/scan-batch.js';
import type { RawRecord } from '../aerospike/types.js';
import { AerobakError } from '../errors.js';
import type { ObjectStore } from '../storage/types.js';
import type { ExportCodec, ExportFileWriter, ExportFormat } from './format.js';
import { partFileName, setPrefix } from './layout.js';
import { ColumnRegistry, RowBuffer, SetTable, type Column } from './table.js';
import { ValueError } from './values.js';
import { WireRecord } from './wire-record.js';

/** A row group's values in memory (V8 overhead included); encoding one takes about as much again. */
export const DEFAULT_ROW_GROUP_BYTES = 4 * 1024 * 1024;
/** Values buffered by all the lanes of an export together (in memory, V8 overhead included). */
export const DEFAULT_EXPORT_BUFFER_BYTES = 24 * 1024 * 1024;
export const DEFAULT_EXPORT_FILE_BYTES = 128 * 1024 * 1024;

/** One stored file, as the export manifest lists it. */
export interface ExportFileEntry {
  /** Key relative to the export's location. */
  path: string;
  set: string;
  rows: number;
  size: number;
  sha256: string;
  /** The file's columns (the format's own description). */
  schema: unknown;
}

/** The columns of every set, shared by the lanes of one export (names and types shared by all sets). */
export class ExportTables {
  readonly #tables = new Map<string, SetTable>();
  readonly #registry: ColumnRegistry;
  constructor(
    readonly namespace: string,
    avro: boolean,
  ) {
    this.#registry = new ColumnRegistry(avro);
  }

  of(set: string): SetTable {
    let t = this.#tables.get(set);
    if (!t) this.#tables.set(set, (t = new SetTable(this.namespace, set, this.#registry)));
    return t;
  }

  all(): SetTable[] {
    return [...this.#tables.values()];
  }
}

export interface ExportSinkOptions {
  store: ObjectStore;
  tables: ExportTables;
  format: ExportFormat;
  codec: ExportCodec;
  /** The lane's number, in its files' names. */
  lane: number;
  lanes: number;
  /** Snapshot level of the layout (compact UTC time), if any. */
  snapshot?: string;
  rowGroupBytes?: number;
  /** Values buffered by all lanes together (this lane takes 1/lanes of it). */
  bufferBytes?: number;
  fileBytes?: number;
  /** Called for every file stored (the caller lists them in the manifest). */
  onFile: (entry: ExportFileEntry) => void;
  signal?: AbortSignal;
}

interface OpenFile {
  writer: ExportFileWriter;
  path: string;
  columns: readonly Column[];
  rows: number;
}

interface SetLane {
  table: SetTable;
  buffer: RowBuffer;
  file: OpenFile | undefined;
  seq: number;
}

/** A record whose value cannot be exported (a malformed particle): names the record. */
export class ExportValueError extends AerobakError {
  constructor(r: Pick<RawRecord, 'digest' | 'set'>, cause: ValueError) {
    super('failed', 'EXPORT_BAD_VALUE', `record ${r.digest.toString('hex')} of set "${r.set}": ${cause.message}`, { cause });
  }
}

export class ExportSink extends Writable {
  readonly #o: ExportSinkOptions;
  readonly #lanes = new Map<string, SetLane>();
  readonly #rowGroupBytes: number;
  readonly #bufferBytes: number;
  readonly #fileBytes: number;
  #buffered = 0;
  /** Reads the records of scan batches in their frames. */
  readonly #wire = new WireRecord();
  /** Records taken. */
  records = 0;
  /** Files opened and not yet stored or given up (for cleanup after a failure). */
  readonly #open = new Set<OpenFile>();

  constructor(opts: ExportSinkOptions) {
    super({ objectMode: true, highWaterMark: 16 });
    this.#o = opts;
    // The lanes share the buffer; a row group is never bigger than a lane's share.
    this.#bufferBytes = Math.max(64 * 1024, Math.floor((opts.bufferBytes ?? DEFAULT_EXPORT_BUFFER_BYTES) / Math.max(1, opts.lanes)));
    this.#rowGroupBytes = Math.min(opts.rowGroupBytes ?? DEFAULT_ROW_GROUP_BYTES, this.#bufferBytes);
    this.#fileBytes = opts.fileBytes ?? DEFAULT_EXPORT_FILE_BYTES;
  }

  #lane(set: string): SetLane {
    let lane = this.#lanes.get(set);
    if (!lane) {
      const table = this.#o.tables.of(set);
      this.#lanes.set(set, (lane = { table, buffer: new RowBuffer(table), file: undefined, seq: 0 }));
    }
    return lane;
  }

  override _write(r: RawRecord | ScanBatch, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let writing: Promise<void> | undefined;
    try {
      writing = isScanBatch(r) ? this.#takeBatch(r, 0) : this.#take(r);
    } catch (err) {
      callback(err as Error);
      return;
    }
    // Most records only join a buffer: no promise, the callback at once.
    if (writing) writing.then(() => callback(), callback);
    else callback();
  }

  /** Buffers the record; returns the writing of row groups when a buffer is full. */
  #take(r: RawRecord): Promise<void> | undefined {
    const lane = this.#lane(r.set);
    const before = lane.buffer.bytes;
    try {
      lane.buffer.add(r);
    } catch (err) {
      if (err instanceof ValueError) throw new ExportValueError(r, err);
      throw err;
    }
    this.records++;
    this.#buffered += lane.buffer.bytes - before;
    if (lane.buffer.bytes < this.#rowGroupBytes && this.#buffered <= this.#bufferBytes) return undefined;
    return this.#writeFull(lane);
  }

  /** Buffers the batch's records from `from` on; returns the writing of row groups (then the rest) when a buffer is full. */
  #takeBatch(batch: ScanBatch, from: number): Promise<void> | undefined {
    const w = this.#wire;
    for (let i = from; i < batch.count; i++) {
      w.read(batch.body, batch.offsets[i]!);
      const lane = this.#lane(w.set);
      const before = lane.buffer.bytes;
      try {
        lane.buffer.addWire(w);
      } catch (err) {
        if (err instanceof ValueError) throw new ExportValueError({ digest: w.digest(), set: w.set }, err);
        throw err;
      }
      this.records++;
      this.#buffered += lane.buffer.bytes - before;
      if (lane.buffer.bytes >= this.#rowGroupBytes || this.#buffered > this.#bufferBytes) {
        return this.#writeFull(lane).then(() => this.#takeBatch(batch, i + 1));
      }
    }
    return undefined;
  }

  async #writeFull(lane: SetLane): Promise<void> {
    if (lane.buffer.bytes >= this.#rowGroupBytes) await this.#writeRowGroup(lane);
    while (this.#buffered > this.#bufferBytes) await this.#writeRowGroup(this.#biggest());
  }

  #biggest(): SetLane {
    let best: SetLane | undefined;
    for (const lane of this.#lanes.values()) if (!best || lane.buffer.bytes > best.buffer.bytes) best = lane;
    return best!;
  }

  async #writeRowGroup(lane: SetLane): Promise<void> {
    const buffer = lane.buffer;
    if (buffer.rows === 0) return;
    // Rows with a column the open file lacks start a new file.
    if (lane.file && buffer.data.length > lane.file.columns.length) await this.#seal(lane);
    if (!lane.file) lane.file = this.#openFile(lane);
    const file = lane.file;
    await file.writer.writeRows(buffer);
    file.rows += buffer.rows;
    this.#buffered -= buffer.bytes;
    buffer.clear();
    this.#trim();
    if (file.writer.size >= this.#fileBytes) await this.#seal(lane);
  }

  /**
   * Emptied buffers keep their arrays for their next rows; when the lane's buffers hold
   * more than twice its share that way (many sets), the empty ones let theirs go.
   */
  #trim(): void {
    let held = 0;
    for (const lane of this.#lanes.values()) held += lane.buffer.capacity;
    if (held <= 2 * this.#bufferBytes) return;
    for (const lane of this.#lanes.values()) if (lane.buffer.rows === 0) lane.buffer.release();
  }

  #openFile(lane: SetLane): OpenFile {
    const o = this.#o;
    const path = `${setPrefix(o.tables.namespace, lane.table.set, o.snapshot)}/${partFileName(o.lane, o.lanes, lane.seq++, o.format.extension)}`;
    const columns = lane.table.columns.slice();
    const writer = o.format.open({ store: o.store, key: path, table: lane.table, columns, codec: o.codec, ...(o.signal ? { signal: o.signal } : {}) });
    const file: OpenFile = { writer, path, columns, rows: 0 };
    this.#open.add(file);
    return file;
  }

  async #seal(lane: SetLane): Promise<void> {
    const file = lane.file!;
    lane.file = undefined;
    const { size, sha256 } = await file.writer.finish();
    this.#open.delete(file);
    this.#o.onFile({ path: file.path, set: lane.table.set, rows: file.rows, size, sha256, schema: this.#o.format.describe(file.columns) });
  }

  override _final(callback: (error?: Error | null) => void): void {
    (async () => {
      for (const lane of this.#lanes.values()) {
        await this.#writeRowGroup(lane);
        if (lane.file) await this.#seal(lane);
      }
    })().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const open = [...this.#open];
    this.#open.clear();
    Promise.all(open.map((f) => f.writer.abort(error ?? new Error('export stopped')))).then(
      () => callback(error),
      () => callback(error),
    );
  }
}
