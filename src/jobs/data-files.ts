/**
 * Data files: the bridge between record streams and the object store.
 *
 * Writing: DataFileSink takes RawRecords and stores them as a series of Avro container
 * files `<prefix>/<baseName>_<seq>.avro.gz` (gzip), `.avro.zst` (zstd) or `.avro` (none),
 * each rolled over at a block boundary before it would pass maxFileBytes stored bytes,
 * and reports each file's size, SHA-256, record count and partitions for the manifest.
 *
 *   records ─> ContainerWriter (blocks) ─> gzip | zstd ─> meter (SHA-256, size) ─> store.write
 *
 * Blocks are queued into the compressor without waiting for each (up to 3 in flight), so
 * encoding overlaps compression, hashing and upload. The compressor is flushed only when
 * a file nears maxFileBytes, to learn its exact size before deciding whether the next
 * block fits. The codecs (extensions, levels, worst cases, flushes) are compression.ts.
 *
 * Reading: readDataFile streams a file's records back (or, for restore, each block's
 * records as one chunk of batch write rows) and checks the file against its manifest
 * entry (size, SHA-256, record count); checkDataFile reads a file to the end with
 * restore's decoder and reports every problem instead of throwing (for verify).
 *
 *   store.read ─> meter ─> gunzip | unzstd ─> ContainerDecoder ─> check (count, size, SHA-256) ─> records
 *
 * Every chain is one stream.pipeline: a failure anywhere tears the whole chain down,
 * and a slow store or a slow consumer slows the other end (each stage holds at most
 * its highWaterMark; the sink has at most 3 blocks in flight per file).
 */
import { createHash } from 'node:crypto';
import { Readable, Transform, Writable, addAbortSignal, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { partitionIdAt } from '../aerospike/wire/digest.js';
import { DIGEST_SIZE, isScanBatch, type ScanBatch } from '../aerospike/scan-batch.js';
import { PARTITION_COUNT, type RawRecord } from '../aerospike/types.js';
import { ContainerDecoder, ContainerWriter, DEFAULT_BLOCK_BYTES, type BlockReader } from '../avro/container.js';
import { RECORD_CODEC } from '../avro/record-codec.js';
import { WireRows } from '../aerospike/batch-request.js';
import { RowsReader } from '../avro/record-rows.js';
import { WireRecordEncoder } from '../avro/wire-record.js';
import { ContainerDecodeError, type ContainerPosition } from '../avro/errors.js';
import { AerobakError } from '../errors.js';
import { objectName } from '../storage/keys.js';
import type { ObjectStore } from '../storage/types.js';
import { checkLevel, codecOf, decompressor, requireCompression, type Codec, type Compression, type Compressor } from './compression.js';
import { collectSoon } from './gc-pacer.js';
import { Sha256Thread } from './sha256-thread.js';
import type { FileCrypto } from '../crypto/backup-keys.js';
import { DecryptError, encryptedSize, type EncryptStream } from '../crypto/stream-aead.js';

export type { Compression } from './compression.js';

/** Partitions as an inclusive range, or as a list of ids in ascending order. */
export type PartitionSet = { first: number; last: number } | number[];

/** One data file as the manifest lists it. */
export interface DataFileEntry {
  /** The file name, relative to the backup's prefix: `<baseName>_<seq>.avro.gz`, `.avro.zst` or `.avro`. */
  name: string;
  /** Stored bytes (the compressed size). */
  size: number;
  /** SHA-256 of the stored bytes, lowercase hex. */
  sha256: string;
  /** Records in the file. */
  records: number;
  /** Every record of the file is in one of these partitions. */
  partitions: PartitionSet;
}

/** Stored bytes after which a sink starts a new file, unless told otherwise. */
export const DEFAULT_MAX_FILE_BYTES = 256 * 1024 * 1024;

export type DataFileErrorCode =
  /** The manifest lists a file that is not in the store. */
  | 'DATA_FILE_MISSING'
  /** The stored object's size differs from the manifest's (truncated, or bytes appended). */
  | 'DATA_FILE_SIZE_MISMATCH'
  /** The stored bytes' SHA-256 differs from the manifest's. */
  | 'DATA_FILE_CHECKSUM_MISMATCH'
  /** The file decodes, but to another number of records than the manifest's. */
  | 'DATA_FILE_RECORD_COUNT_MISMATCH'
  /** Decompression (gunzip, zstd) failed: the compressed stream is truncated or corrupt. */
  | 'DATA_FILE_DECOMPRESS'
  /** The Avro container cannot be decoded; `position` says where. */
  | 'DATA_FILE_UNDECODABLE'
  /** An encrypted file's segment did not authenticate (altered, truncated, renamed, another backup's, or the wrong key). */
  | 'DATA_FILE_DECRYPT'
  /** A sink was given a record outside the partitions it was declared to hold. */
  | 'DATA_FILE_PARTITION_OUT_OF_SCOPE';

/** A data file that is not what its manifest entry says, or that cannot be written as declared. */
export class DataFileError extends AerobakError {
  constructor(
    code: DataFileErrorCode,
    /** The file's name relative to the backup prefix (its manifest name). */
    readonly file: string,
    message: string,
    options?: { cause?: unknown; position?: ContainerPosition },
  ) {
    super('failed', code, message, options);
    this.position = options?.position;
  }

  declare readonly code: DataFileErrorCode;
  /** For DATA_FILE_UNDECODABLE: where in the (uncompressed) container decoding failed. */
  readonly position: ContainerPosition | undefined;
}

/** The store key of `name` under a backup prefix ('' for the store's root; a trailing '/' is optional). */
export function objectKey(prefix: string, name: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p === '' ? name : `${p}/${name}`;
}

/** The name of the `seq`-th data file of a series (seq from 0, zero-padded to 5 digits so names sort). */
export function dataFileName(baseName: string, seq: number, compress: Compression): string {
  return `${baseName}_${String(seq).padStart(5, '0')}${codecOf(compress).extension}`;
}

/** Throws RangeError unless `set` is a well-formed PartitionSet; returns its ids. */
export function partitionSetIds(set: PartitionSet): number[] {
  const isId = (n: unknown): n is number => Number.isInteger(n) && (n as number) >= 0 && (n as number) < PARTITION_COUNT;
  if (Array.isArray(set)) {
    if (!set.every(isId)) throw new RangeError(`partition list holds a value that is not a partition id (0-${PARTITION_COUNT - 1})`);
    for (let i = 1; i < set.length; i++) {
      if (set[i]! <= set[i - 1]!) throw new RangeError('partition list is not in strictly ascending order');
    }
    return set.slice();
  }
  if (!isId(set.first) || !isId(set.last) || set.first > set.last) {
    throw new RangeError(`partition range ${JSON.stringify(set)} is not first <= last within 0-${PARTITION_COUNT - 1}`);
  }
  return Array.from({ length: set.last - set.first + 1 }, (_, i) => set.first + i);
}

/** The set of marked partitions: a range when contiguous, else the list. Undefined when none is marked. */
function partitionSetOf(marked: Uint8Array): PartitionSet | undefined {
  const ids: number[] = [];
  marked.forEach((m, id) => {
    if (m) ids.push(id);
  });
  if (ids.length === 0) return undefined;
  const first = ids[0]!;
  const last = ids[ids.length - 1]!;
  return last - first + 1 === ids.length ? { first, last } : ids;
}

/**
 * Bytes a Meter holds on each side before it pushes back. Explicit: Node 22 raised the
 * default highWaterMark of byte streams from 16 KiB to 64 KiB, which would loosen every
 * memory bound of the chain with the runtime.
 */
const METER_HIGH_WATER_MARK = 16 * 1024;

/** Passes bytes through unchanged, counting them and hashing them with SHA-256. */
class Meter extends Transform {
  bytes = 0;
  readonly #hash = createHash('sha256');

  constructor() {
    super({ highWaterMark: METER_HIGH_WATER_MARK });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  /** The SHA-256 of everything that passed, lowercase hex. Call once, after the end. */
  sha256(): string {
    return this.#hash.digest('hex');
  }
}

/**
 * A Meter that hashes on the process's SHA-256 thread (sha256-thread.ts), off the backup's
 * main thread: what a data file being written uses when there is one. A chunk is passed on
 * once the thread has its copy (or waits for a free slot: backpressure).
 */
class ThreadMeter extends Transform {
  bytes = 0;
  readonly #id: number;
  #digested = false;

  constructor(private readonly thread: Sha256Thread) {
    super({ highWaterMark: METER_HIGH_WATER_MARK });
    this.#id = thread.open();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    this.thread.update(this.#id, chunk).then(() => callback(null, chunk), callback);
  }

  /** The SHA-256 of everything that passed, lowercase hex. Call once, after the end. */
  sha256(): Promise<string> {
    this.#digested = true;
    return this.thread.digest(this.#id);
  }

  // A file torn down (destroyed with a reason) is never digested: drop its state. A clean
  // end destroys the stream too (autoDestroy), before close() asks for the digest.
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (error && !this.#digested) this.thread.discard(this.#id);
    callback(error);
  }
}

/** The meter of a data file being written: on the SHA-256 thread when there is one. */
function meterFor(thread: Sha256Thread | undefined): Meter | ThreadMeter {
  return thread ? new ThreadMeter(thread) : new Meter();
}

/** A Writable that drops what it is given: the end of a chain read only for its checks or side effects. */
export function discard(): Writable {
  return new Writable({ objectMode: true, write: (_chunk, _encoding, callback) => callback() });
}

/** Blocks a data file may have written but not yet taken by the compressor (or the meter): encoding runs ahead of compression by this much. */
const MAX_BLOCKS_IN_FLIGHT = 3;

/**
 * One data file being stored: head ─> [compressor ─>] meter ─> store.write(key).
 *
 * Writes are queued without waiting (at most MAX_BLOCKS_IN_FLIGHT at a time), so the
 * sink encodes the next block while the compressor works on the last ones. The
 * compressor is flushed only when the sink needs an exact size to decide a rollover
 * (`flush`).
 */
class OutputFile {
  records = 0;
  /** Partitions of the file's records (when the sink tracks them). */
  readonly partitions = new Uint8Array(PARTITION_COUNT);
  /** Settles once the whole chain has: the first cause of failure, or undefined on success. */
  readonly settled: Promise<unknown>;
  readonly #codec: Codec;
  readonly #compressor: Compressor | undefined;
  /** Encrypts what the compressor (or the head) produces, for an encrypted backup. */
  readonly #encryptor: (Transform & { bytesIn?: number }) | undefined;
  readonly #meter: Meter | ThreadMeter = meterFor(Sha256Thread.shared());
  /** Writes not yet taken by the head of the chain, oldest first. */
  readonly #inFlight: Promise<void>[] = [];
  /** Rejects of the steps being waited for (see the constructor), and how the chain ended. */
  readonly #waiting = new Set<(error: unknown) => void>();
  #ended: { failure: unknown } | undefined;
  /** Uncompressed bytes written. */
  #written = 0;
  /** Stored bytes as of the last compressor flush, and uncompressed bytes written since. */
  #sizeAtFlush = 0;
  #unflushed = 0;

  constructor(
    readonly name: string,
    store: ObjectStore,
    key: string,
    compress: Compression,
    level: number | undefined,
    signal: AbortSignal | undefined,
    crypto?: FileCrypto,
  ) {
    this.#codec = codecOf(compress);
    this.#compressor = this.#codec.streams?.compressor(level);
    this.#encryptor = crypto?.encrypt(name);
    const stored = store.write(key, this.#meter, { signal });
    const stages: Transform[] = [...(this.#compressor ? [this.#compressor.stream as Transform] : []), ...(this.#encryptor ? [this.#encryptor] : [])];
    const piped = stages.length > 0 ? pipeline([...stages, this.#meter]) : finished(this.#meter, { readable: false });
    // The store's error first: when the chain breaks because the store failed, the
    // pipeline only sees a premature close.
    this.settled = Promise.allSettled([stored, piped]).then(([s, p]) =>
      s.status === 'rejected' ? s.reason : p.status === 'rejected' ? p.reason : undefined,
    );
    // A step still waiting when the chain settles will never complete: a stream destroyed
    // while it holds a write's callback (a Transform whose output is not being read, when
    // the store fails under backpressure: ENOSPC mid-file) never calls it. Fail the waiters.
    void this.settled.then((failure) => {
      this.#ended = { failure: failure ?? new Error(`data file ${name}: the write chain ended with a step pending`) };
      for (const fail of this.#waiting) fail(this.#ended.failure);
      this.#waiting.clear();
    });
  }

  get #head(): Writable {
    return this.#compressor?.stream ?? this.#encryptor ?? this.#meter;
  }

  /**
   * An upper bound of the stored size once `more` bytes are written after everything
   * written so far and the file is ended. Exact (for `more` = 0) without compression;
   * compressed, the size at the last flush plus the codec's worst case for the bytes since.
   */
  sizeBoundWith(more: number): number {
    const streams = this.#codec.streams;
    const plain = streams ? this.#sizeAtFlush + streams.bound(this.#unflushed + more) + streams.endBytes : this.#written + more;
    // Encrypted, the stored size follows from the compressed size exactly.
    return this.#encryptor ? encryptedSize(plain) : plain;
  }

  /**
   * Queues `bytes`; resolves once fewer than MAX_BLOCKS_IN_FLIGHT writes are pending.
   * `consumed` is called once nothing reads `bytes` any more: when a compressor heads the
   * chain and has taken them (its output is other buffers). Without one the bytes are
   * queued as they are further down, so it is never called.
   */
  async write(bytes: Buffer, consumed?: () => void): Promise<void> {
    const onTaken = this.#compressor ? consumed : undefined;
    const written = new Promise<void>((resolve, reject) =>
      this.#head.write(bytes, (e) => {
        if (e) return reject(e);
        onTaken?.();
        resolve();
      }),
    );
    written.catch(() => undefined); // observed by #wait
    this.#inFlight.push(written);
    this.#written += bytes.length;
    this.#unflushed += bytes.length;
    while (this.#inFlight.length >= MAX_BLOCKS_IN_FLIGHT) await this.#wait(this.#inFlight.shift()!);
  }

  /** Waits until every queued write has been taken, then flushes the compressor: sizeBoundWith is then tight. */
  async flush(): Promise<void> {
    await this.#drain();
    const compressor = this.#compressor;
    if (!compressor) return;
    await this.#wait(compressor.flush());
    // Compressed bytes so far: those the encryptor took (and holds), or those that reached the meter.
    const encryptor = this.#encryptor as EncryptStream | undefined;
    const taken = encryptor ? encryptor.bytesIn + encryptor.writableLength : this.#meter.bytes + this.#meter.writableLength;
    this.#sizeAtFlush = taken + compressor.stream.readableLength;
    this.#unflushed = 0;
  }

  /** Ends the file and waits until the store holds it. */
  async close(): Promise<{ size: number; sha256: string }> {
    await this.#drain();
    this.#head.end();
    const failure = await this.settled;
    if (failure !== undefined) throw failure;
    return { size: this.#meter.bytes, sha256: await this.#meter.sha256() };
  }

  /** Tears the chain down; the store keeps nothing of the file (ObjectStore.write is atomic). */
  async abort(reason: Error): Promise<void> {
    this.#head.destroy(reason);
    await this.settled;
  }

  async #drain(): Promise<void> {
    while (this.#inFlight.length > 0) await this.#wait(this.#inFlight.shift()!);
  }

  /** Waits for `step`; if it (or the chain) fails, throws the chain's first failure. */
  async #wait(step: Promise<void>): Promise<void> {
    try {
      await this.#orChainEnd(step);
    } catch (error) {
      throw (await this.settled) ?? error;
    }
  }

  /** `step`, or a rejection as soon as the chain has settled while it is still pending. */
  #orChainEnd(step: Promise<void>): Promise<void> {
    if (this.#ended) {
      step.catch(() => undefined);
      return Promise.reject(this.#ended.failure);
    }
    return new Promise<void>((resolve, reject) => {
      this.#waiting.add(reject);
      step.then(
        () => {
          this.#waiting.delete(reject);
          resolve();
        },
        (error: unknown) => {
          this.#waiting.delete(reject);
          reject(error);
        },
      );
    });
  }
}

export interface DataFileSinkOptions {
  store: ObjectStore;
  /** The backup's prefix in the store ('' for its root). */
  prefix: string;
  /** Names the series: files are `<baseName>_<seq>.avro[.gz|.zst]`, e.g. baseName `<namespace>_<group>`. */
  baseName: string;
  compress: Compression;
  /** A level of the codec (gzip 0-9, zstd 1-22); its default (gzip 6, zstd 1) when absent. None takes no level. */
  compressLevel?: number;
  /** Stored bytes a file may reach (DEFAULT_MAX_FILE_BYTES when absent); see DataFileSink. */
  maxFileBytes?: number;
  /**
   * The partitions the records come from (the sink's group). When given, every entry
   * lists them (as a range when they are contiguous) and a record from another
   * partition fails the sink (DATA_FILE_PARTITION_OUT_OF_SCOPE). When absent, each
   * entry lists the partitions of the records it actually holds.
   */
  partitions?: PartitionSet;
  /** Aborting destroys the sink with an AbortError; the file being written is not stored. */
  signal?: AbortSignal;
  /** Records or batches the Writable buffers (its highWaterMark); default 16. Keep it small for batches (a frame each). */
  highWaterMark?: number;
  /** Sequence number of the first file (a resumed backup continues a series); default 0. */
  firstSeq?: number;
  /**
   * Called when a file is stored, before the next one is started, with its entry and, for
   * each partition with records in the file, the digest of its last record in scan order
   * (`last[id]` is a 20-byte copy, or undefined): what a resumable backup persists. The
   * sink waits for the returned promise.
   */
  onSealed?: (entry: DataFileEntry, last: ReadonlyArray<Buffer | undefined>) => Promise<void>;
  /** Encrypts every file (after compression) for an encrypted backup. */
  crypto?: FileCrypto;
}

/**
 * Writable (object mode) of RawRecords, or of ScanBatches (scan records as the server
 * sent them, encoded straight from their wire bytes by a WireRecordEncoder: the same
 * Avro bytes as their RawRecords would give), that stores them as a series of data files.
 *
 * Contract:
 * - Files are `<prefix>/<baseName>_00000.avro.gz` (`.avro.zst`, `.avro`), `_00001`, ...;
 *   a sink that gets no record writes no file.
 * - A file is started at a block boundary when the next block could take it past
 *   maxFileBytes, so every file is at most maxFileBytes, except a file of a single
 *   block that alone is bigger (a record larger than the limit).
 * - `files()` lists the files stored so far, in order; after 'finish' it is the whole
 *   series, every record in exactly one file, and every file complete in the store.
 * - On error or abort the file in progress is not stored (ObjectStore.write is
 *   atomic); files already finished stay (a backup without its manifest is incomplete).
 * - Backpressure: at most MAX_BLOCKS_IN_FLIGHT (3) blocks are queued ahead of the
 *   compressor (or the store); `write()` returns false while the store is behind.
 * - The constructor throws RangeError for an unknown compression or a level outside the
 *   codec's, and ZstdUnavailableError (ZSTD_UNAVAILABLE) for zstd on a runtime without it.
 */
export class DataFileSink extends Writable {
  readonly #store: ObjectStore;
  readonly #prefix: string;
  readonly #baseName: string;
  readonly #compress: Compression;
  readonly #level: number | undefined;
  readonly #maxFileBytes: number;
  readonly #signal: AbortSignal | undefined;
  readonly #declared: PartitionSet | undefined;
  /** Declared partitions: scope[id] = 1. */
  readonly #scope: Uint8Array | undefined;
  readonly #blockBytes: number;
  readonly #writer: ContainerWriter;
  readonly #encoder = new WireRecordEncoder();
  /** Partitions of the records in the unfinished block (when not declared). */
  readonly #blockPartitions = new Uint8Array(PARTITION_COUNT);
  readonly #files: DataFileEntry[] = [];
  #file: OutputFile | undefined;
  #seq = 0;
  readonly #onSealed: DataFileSinkOptions['onSealed'];
  /** With onSealed: the last digest per partition of the unfinished block, and of the current file. */
  readonly #blockLast: LastDigests | undefined;
  readonly #fileLast: LastDigests | undefined;
  readonly #crypto: FileCrypto | undefined;

  constructor(opts: DataFileSinkOptions) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? 16 });
    if (opts.baseName === '' || opts.baseName.includes('/')) throw new RangeError(`data file base name "${opts.baseName}" must be non-empty and contain no '/'`);
    codecOf(opts.compress);
    const level = opts.compressLevel;
    if (level !== undefined) checkLevel(opts.compress, level);
    requireCompression(opts.compress, 'usage', `data file series ${opts.baseName}`);
    const max = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
    if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`maxFileBytes ${max} is not a positive integer`);
    this.#store = opts.store;
    this.#prefix = opts.prefix;
    this.#baseName = opts.baseName;
    this.#compress = opts.compress;
    this.#level = level;
    this.#maxFileBytes = max;
    this.#signal = opts.signal;
    // Blocks of at most 1/16 of a file keep files at least ~15/16 full.
    this.#blockBytes = Math.min(DEFAULT_BLOCK_BYTES, Math.max(1, Math.floor(max / 16)));
    this.#writer = new ContainerWriter(RECORD_CODEC, this.#blockBytes);
    if (opts.partitions !== undefined) {
      this.#scope = new Uint8Array(PARTITION_COUNT);
      for (const id of partitionSetIds(opts.partitions)) this.#scope[id] = 1;
      this.#declared = partitionSetOf(this.#scope) ?? [];
    }
    this.#seq = opts.firstSeq ?? 0;
    this.#crypto = opts.crypto;
    this.#onSealed = opts.onSealed;
    if (opts.onSealed) {
      this.#blockLast = new LastDigests();
      this.#fileLast = new LastDigests();
    }
    if (opts.signal) addAbortSignal(opts.signal, this);
  }

  /** The files stored so far, in order (all of them once the sink has finished). */
  files(): DataFileEntry[] {
    return this.#files.map((f) => ({ ...f }));
  }

  override _write(chunk: RawRecord | ScanBatch, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (isScanBatch(chunk)) {
      this.#appendBatch(chunk).then(() => callback(), callback);
      return;
    }
    try {
      const pid = this.#checkScope(chunk.digest, 0);
      this.#blockLast?.note(pid, chunk.digest, 0);
      this.#writer.append(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    if (this.#writer.pendingBytes < this.#blockBytes) return callback();
    this.#emitBlock().then(() => callback(), callback);
  }

  async #appendBatch(batch: ScanBatch): Promise<void> {
    const { body, offsets, digests, count } = batch;
    const writer = this.#writer;
    for (let i = 0; i < count; i++) {
      const pid = this.#checkScope(body, digests[i]!);
      this.#blockLast?.note(pid, body, digests[i]!);
      writer.appendFrom(this.#encoder, body, offsets[i]!);
      if (writer.pendingBytes >= this.#blockBytes) await this.#emitBlock();
    }
    // Every record was copied into the block (and the digests into #blockLast): the
    // frame can be reused (ScanBatch.release). Not on a failure above: then it is only
    // not reused. Without a pool the frame is garbage soon (gc-pacer.ts).
    if (batch.release) batch.release();
    else collectSoon(batch.bytes);
  }

  /** Notes the partition of the digest at buf[from] and returns it, or throws if it is outside the declared ones. */
  #checkScope(buf: Buffer, from: number): number {
    const pid = partitionIdAt(buf, from);
    if (!this.#scope) {
      this.#blockPartitions[pid] = 1;
      return pid;
    }
    if (this.#scope[pid]) return pid;
    throw new DataFileError(
      'DATA_FILE_PARTITION_OUT_OF_SCOPE',
      this.#file?.name ?? dataFileName(this.#baseName, this.#seq, this.#compress),
      `record ${buf.toString('hex', from, from + DIGEST_SIZE)} is in partition ${pid}, outside the partitions of data file series ${this.#baseName}`,
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#finish().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const file = this.#file;
    this.#file = undefined;
    if (!file) return callback(error);
    const reason = error ?? new Error(`data file sink ${this.#baseName} was destroyed before it finished`);
    file.abort(reason).then(() => callback(error));
  }

  async #finish(): Promise<void> {
    if (this.#writer.pendingRecords > 0) await this.#emitBlock();
    if (this.#file) await this.#close(this.#file);
  }

  /** Stores the pending block, in the current file or, if it might not fit, in a new one. */
  async #emitBlock(): Promise<void> {
    const block = this.#writer.takeBlock()!;
    let file = this.#file;
    if (file && file.records > 0 && file.sizeBoundWith(block.bytes.length) > this.#maxFileBytes) {
      // Near the limit: flush the compressor for an exact size, and start a new file if the block may still not fit.
      await file.flush();
      if (file.sizeBoundWith(block.bytes.length) > this.#maxFileBytes) {
        await this.#close(file);
        file = undefined;
      }
    }
    if (!file) {
      if (this.destroyed) throw new Error(`data file sink ${this.#baseName} was destroyed`);
      const name = dataFileName(this.#baseName, this.#seq++, this.#compress);
      file = new OutputFile(name, this.#store, objectKey(this.#prefix, name), this.#compress, this.#level, this.#signal, this.#crypto);
      this.#file = file;
      await file.write(this.#writer.header);
    }
    file.records += block.records;
    if (this.#blockLast) this.#fileLast!.takeFrom(this.#blockLast);
    if (!this.#scope) {
      this.#blockPartitions.forEach((m, id) => {
        if (m) file.partitions[id] = 1;
      });
      this.#blockPartitions.fill(0);
    }
    // Once a compressor has taken the block its buffer serves a later block, and its
    // output of it is garbage soon; without one, the block is (gc-pacer.ts).
    const writer = this.#writer;
    await file.write(block.bytes, () => writer.recycle(block.bytes));
    collectSoon(block.bytes.length);
  }

  async #close(file: OutputFile): Promise<void> {
    const { size, sha256 } = await file.close();
    this.#file = undefined;
    const entry: DataFileEntry = { name: file.name, size, sha256, records: file.records, partitions: this.#declared ?? partitionSetOf(file.partitions)! };
    this.#files.push(entry);
    if (this.#onSealed) {
      await this.#onSealed({ ...entry }, this.#fileLast!.views());
      this.#fileLast!.clear();
    }
  }
}

/** The digest of the last record seen per partition: 20 bytes a partition, copied in place. */
class LastDigests {
  readonly #bytes = Buffer.alloc(PARTITION_COUNT * DIGEST_SIZE);
  readonly #has = new Uint8Array(PARTITION_COUNT);

  /** The record in partition `pid` whose digest is at buf[from] is the latest seen of its partition. */
  note(pid: number, buf: Buffer, from: number): void {
    buf.copy(this.#bytes, pid * DIGEST_SIZE, from, from + DIGEST_SIZE);
    this.#has[pid] = 1;
  }

  /** Moves `other`'s digests over these (they are later in scan order) and clears it. */
  takeFrom(other: LastDigests): void {
    for (let id = 0; id < PARTITION_COUNT; id++) {
      if (other.#has[id] === 0) continue;
      other.#bytes.copy(this.#bytes, id * DIGEST_SIZE, id * DIGEST_SIZE, (id + 1) * DIGEST_SIZE);
      this.#has[id] = 1;
      other.#has[id] = 0;
    }
  }

  views(): Array<Buffer | undefined> {
    return Array.from({ length: PARTITION_COUNT }, (_, id) => (this.#has[id] ? Buffer.from(this.#bytes.subarray(id * DIGEST_SIZE, (id + 1) * DIGEST_SIZE)) : undefined));
  }

  clear(): void {
    this.#has.fill(0);
  }
}

export interface ReadDataFileOptions {
  store: ObjectStore;
  prefix: string;
  entry: DataFileEntry;
  compress: Compression;
  /** For an encrypted backup: decrypts the file (its segments are authenticated before anything is decoded). */
  crypto?: FileCrypto;
  /** Aborting tears the read down; the stream errors with an AbortError. */
  signal?: AbortSignal;
}

/** The chain from a stored file's bytes to its decoder: meter ─> [decompressor ─>] decoder. */
function decodeChain(source: Readable, meter: Meter, compress: Compression, decoder: ContainerDecoder, decrypt?: Transform): Array<Readable | Writable> {
  const decompress = decompressor(compress);
  return [source, meter, ...(decrypt ? [decrypt] : []), ...(decompress ? [decompress] : []), decoder];
}

function sizeMismatch(where: string, entry: DataFileEntry, size: number): DataFileError {
  const how = size < entry.size ? 'truncated' : 'longer than written';
  return new DataFileError('DATA_FILE_SIZE_MISMATCH', entry.name, `data file ${where} is ${size} bytes but the manifest says ${entry.size} (${how})`);
}

function checksumMismatch(where: string, entry: DataFileEntry, sha256: string): DataFileError {
  return new DataFileError('DATA_FILE_CHECKSUM_MISMATCH', entry.name, `data file ${where} has SHA-256 ${sha256} but the manifest says ${entry.sha256} (the file is corrupt)`);
}

function countMismatch(where: string, entry: DataFileEntry, records: number): DataFileError {
  return new DataFileError('DATA_FILE_RECORD_COUNT_MISMATCH', entry.name, `data file ${where} holds ${records} records but the manifest says ${entry.records}`);
}

function missing(where: string, entry: DataFileEntry, cause?: unknown): DataFileError {
  return new DataFileError('DATA_FILE_MISSING', entry.name, `data file ${where} is missing`, cause === undefined ? undefined : { cause });
}

/** The DataFileError a decompression or decode failure of a stored file becomes; other errors pass as they are. */
function readFailure(error: unknown, compress: Compression, name: string, where: string, meter: Meter): unknown {
  if (error instanceof DecryptError) {
    return new DataFileError('DATA_FILE_DECRYPT', name, `data file ${error.message}`, { cause: error });
  }
  if (error instanceof ContainerDecodeError) {
    return new DataFileError('DATA_FILE_UNDECODABLE', name, `data file ${where} cannot be decoded: ${error.message}`, { cause: error, position: error.position });
  }
  if (codecOf(compress).streams?.isDamage(error)) {
    return new DataFileError('DATA_FILE_DECOMPRESS', name, `data file ${where} cannot be decompressed (${compress}) after ${meter.bytes} stored bytes: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return error;
}

/** store.read(key), with a missing object as DATA_FILE_MISSING. */
async function readStored(store: ObjectStore, key: string, where: string, entry: DataFileEntry): Promise<Readable> {
  try {
    return await store.read(key);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'NOT_FOUND') throw missing(where, entry, error);
    throw error;
  }
}

/**
 * The tail of a data file's read chain: passes the decoder's chunks through, and once
 * it has ended checks the size, SHA-256 and record count against the entry.
 */
class VerifiedRecords extends Transform {
  meter: Meter | undefined;
  decoder: ContainerDecoder | undefined;

  constructor(
    readonly entry: DataFileEntry,
    readonly where: string,
    highWaterMark: number,
  ) {
    super({ objectMode: true, highWaterMark });
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, callback: TransformCallback): void {
    // A block's rows: the decompressed block and the file chunks it came from are garbage
    // soon (gc-pacer.ts), and so are the rows unless they are lent (reused).
    if (chunk instanceof WireRows) collectSoon(chunk.lent ? chunk.buf.length : 2 * chunk.buf.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const { entry, where } = this;
    const size = this.meter!.bytes;
    if (size !== entry.size) return callback(sizeMismatch(where, entry, size));
    const sha256 = this.meter!.sha256();
    if (sha256 !== entry.sha256) return callback(checksumMismatch(where, entry, sha256));
    const records = this.decoder!.records;
    if (records !== entry.records) return callback(countMismatch(where, entry, records));
    callback();
  }
}

/** Stats the file and starts its chain into `out`: store.read ─> meter ─> [decompressor ─>] decoder ─> out. */
async function startRead(opts: ReadDataFileOptions, blocks: BlockReader<unknown> | undefined, out: VerifiedRecords): Promise<void> {
  const { store, entry } = opts;
  const key = objectKey(opts.prefix, entry.name);
  const where = out.where;
  requireCompression(opts.compress, 'failed', `data file ${where}`);
  const info = await store.stat(key);
  if (info === null) throw missing(where, entry);
  if (info.size !== entry.size) throw sizeMismatch(where, entry, info.size);
  const source = await readStored(store, key, where, entry);
  if (out.destroyed) {
    source.destroy();
    return;
  }
  const meter = new Meter();
  const decoder = new ContainerDecoder(RECORD_CODEC, { blocks });
  out.meter = meter;
  out.decoder = decoder;
  // The consumer stopping early (or an abort) tears the chain down.
  out.once('close', () => {
    if (!decoder.readableEnded) source.destroy();
  });
  pipeline(decodeChain(source, meter, opts.compress, decoder, opts.crypto?.decrypt(entry.name, where))).catch((error: unknown) => {
    if (!out.destroyed) out.destroy(readFailure(error, opts.compress, entry.name, where, meter) as Error);
  });
  decoder.pipe(out);
}

/**
 * Readable (object mode) of the RawRecords of one data file, checked against its entry;
 * with `blocks`, of one chunk per block of the file instead: what the BlockReader makes
 * of the block's records (restore's RowsReader: the rows to write).
 *
 * A missing file or a size that differs from the entry fails before the first record.
 * The SHA-256 and the record count can only be known at the end: records stream as
 * they decode, and the stream errors after the last one if either differs, so a
 * consumer that must not act on a corrupt file runs verifyBackup first. Errors are
 * DataFileErrors naming the file (with the position for decode failures), a
 * ZstdUnavailableError for zstd on a runtime without it, or the store's own errors.
 *
 * One chain of streams, store.read ─> meter ─> [decompressor ─>] decoder ─> check, with no
 * async iteration between them; destroying the returned stream tears it all down.
 */
export function readDataFile(opts: ReadDataFileOptions, blocks?: BlockReader<unknown>): Readable {
  const out = new VerifiedRecords(opts.entry, objectName(opts.store.location, objectKey(opts.prefix, opts.entry.name)), blocks ? 2 : 16);
  if (opts.signal) addAbortSignal(opts.signal, out);
  if (!out.destroyed) {
    startRead(opts, blocks, out).catch((error: unknown) => {
      if (!out.destroyed) out.destroy(error as Error);
    });
  }
  return out;
}

/** What checkDataFile found: every problem, and how much it read. */
export interface DataFileCheck {
  problems: DataFileError[];
  /** Stored bytes read. */
  bytes: number;
  /** Records decoded (up to the failure, if decoding failed). */
  records: number;
}

export async function sha256Of(store: ObjectStore, key: string, signal: AbortSignal | undefined): Promise<{ size: number; sha256: string }> {
  const meter = new Meter();
  await pipeline(await store.read(key), meter, discard(), { signal });
  return { size: meter.bytes, sha256: meter.sha256() };
}

/**
 * Reads a data file to the end and lists what is wrong with it, instead of stopping at
 * the first problem: a missing file; a size, SHA-256 or record count that differs from
 * the entry; a decompression or decode failure (with its position). Storage failures
 * other than a missing object reject, and so does ZstdUnavailableError (zstd on a
 * runtime without it: the runtime's problem, not the file's).
 *
 * Records are decoded as restore decodes them (RowsReader, into batch write rows that
 * are then dropped), so a file that verifies is one restore can read.
 */
export async function checkDataFile(opts: ReadDataFileOptions): Promise<DataFileCheck> {
  const { store, entry } = opts;
  const key = objectKey(opts.prefix, entry.name);
  const where = objectName(store.location, key);
  requireCompression(opts.compress, 'failed', `data file ${where}`);
  const problems: DataFileError[] = [];
  const info = await store.stat(key);
  if (info === null) return { problems: [missing(where, entry)], bytes: 0, records: 0 };
  if (info.size !== entry.size) problems.push(sizeMismatch(where, entry, info.size));

  const meter = new Meter();
  // The rows' namespace does not matter: they are dropped.
  const decoder = new ContainerDecoder(RECORD_CODEC, { blocks: new RowsReader('') });
  let measured: { size: number; sha256: string };
  try {
    const source = await readStored(store, key, where, entry);
    await pipeline([...decodeChain(source, meter, opts.compress, decoder, opts.crypto?.decrypt(entry.name, where)), discard()], { signal: opts.signal });
    measured = { size: meter.bytes, sha256: meter.sha256() };
  } catch (error) {
    const failure = readFailure(error, opts.compress, entry.name, where, meter);
    if (!(failure instanceof DataFileError)) throw failure;
    problems.push(failure);
    if (failure.code === 'DATA_FILE_MISSING') return { problems, bytes: 0, records: 0 };
    // Decoding stopped part way: hash the whole object for the checksum verdict.
    measured = await sha256Of(store, key, opts.signal);
  }
  if (measured.sha256 !== entry.sha256) problems.push(checksumMismatch(where, entry, measured.sha256));
  const decodedAll = !problems.some((p) => p.code === 'DATA_FILE_UNDECODABLE' || p.code === 'DATA_FILE_DECOMPRESS');
  if (decodedAll && decoder.records !== entry.records) problems.push(countMismatch(where, entry, decoder.records));
  return { problems, bytes: measured.size, records: decoder.records };
}
