/**
 * Avro object container files, written and read block by block: data files of
 * aerobak.v1.Record, and the metadata file of aerobak.v1.Metadata.
 *
 * Layout (Avro 1.11 spec, "Object Container Files"): header = magic "Obj\x01", a map
 * of metadata (avro.schema = the writer schema JSON, avro.codec = "null"), a 16-byte
 * sync marker; then blocks = record count (long), byte size (long), the records, the
 * sync marker. aerobak writes codec "null" only: a whole file is gzipped instead
 * (DESIGN.md), which any tool can undo with gunzip before reading the Avro.
 *
 * ContainerWriter builds blocks (the data-file sink uses it to roll files over at
 * block boundaries); ContainerEncoder and ContainerDecoder are the stream forms.
 * The decoder never ends quietly on bad input: a truncated or corrupt stream errors
 * with a ContainerDecodeError that names the byte offset, block and record.
 */
import { randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import avro from 'avsc';
import type { RawRecord } from '../aerospike/types.js';
import { avroType } from './avro-type.js';
import { ContainerDecodeError, RecordCodecError, type ContainerErrorCode, type ContainerPosition } from './errors.js';
import { AvroReader, AvroWriter } from './record-binary.js';
import { RECORD_CODEC } from './record-codec.js';

/** What a container holds: the writer schema, its avsc Type, and the value mapping. */
export interface ContainerCodec<T> {
  /** The schema written into every header (with its docs). */
  schema: object;
  /** avroType(schema). */
  type: avro.Type;
  toAvro(value: T): unknown;
  /** Throws RecordCodecError for an Avro value that maps to no T. */
  fromAvro(value: unknown): T;
  /**
   * Optional hand-written encoder: appends exactly the bytes `type.toBuffer(toAvro(value))`
   * would be, or throws (RecordCodecError for an invalid value). Used instead of avsc.
   */
  write?(w: AvroWriter, value: T): void;
  /**
   * Optional hand-written decoder: `fromAvro(type.decode(...))` of the value at rd.pos,
   * moving rd.pos past it; throws for bytes that run past rd.end or hold no T.
   */
  read?(rd: AvroReader): T;
}

/** Target size of a block's records, before compression. */
export const DEFAULT_BLOCK_BYTES = 256 * 1024;

/** Block buffers a ContainerWriter keeps for reuse: as many as a sink has in flight, and one. */
const MAX_FREE_BLOCKS = 4;
/** A block larger than this is taken as corruption (aerobak writes blocks of at most DEFAULT_BLOCK_BYTES + one record). */
const MAX_BLOCK_BYTES = 256 * 1024 * 1024;
/** A header that does not decode within this many bytes is taken as not a container. */
const MAX_HEADER_BYTES = 1024 * 1024;

const MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
const SYNC_BYTES = 16;
/** The object container file header (Avro spec), shared with the export's Avro writer. */
export const HEADER_TYPE = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: SYNC_BYTES } },
  ],
});
/** Block counts and sizes: plain JS numbers (all below 2^53). */
const LONG_TYPE = avro.Type.forSchema('long');
/** Bytes kept free in front of a block's values for its count and size (two longs of at most 10 bytes). */
const BLOCK_HEAD_ROOM = 20;

interface ContainerHeader {
  magic: Buffer;
  meta: Record<string, Buffer>;
  sync: Buffer;
}

/**
 * Encodes values into blocks. Not a stream: the caller decides when a block ends
 * (`takeBlock`) and where the bytes go. Every file written with one writer shares its
 * header and (random) sync marker.
 */
export class ContainerWriter<T = RawRecord> {
  /** The file header: magic, writer schema, codec "null", sync marker. */
  readonly header: Buffer;
  readonly #codec: ContainerCodec<T>;
  readonly #sync = randomBytes(SYNC_BYTES);
  /** Room for a block's pending values: what the caller lets a block grow to, and one more value. */
  readonly #capacity: number;
  /** The pending values, from BLOCK_HEAD_ROOM on (the block's count and size go in front when it is taken). */
  #out: AvroWriter;
  #records = 0;
  /** Block buffers given back (`recycle`), for the next blocks. */
  readonly #free: Buffer[] = [];

  /** `blockBytes`: about how many bytes of values the caller puts in a block (sizes the buffers). */
  constructor(codec: ContainerCodec<T>, blockBytes = 48 * 1024) {
    this.#codec = codec;
    this.#capacity = BLOCK_HEAD_ROOM + blockBytes + 16 * 1024 + SYNC_BYTES;
    this.#out = this.#newBlock();
    const header: ContainerHeader = {
      magic: MAGIC,
      meta: { 'avro.schema': Buffer.from(JSON.stringify(codec.schema), 'utf8'), 'avro.codec': Buffer.from('null') },
      sync: this.#sync,
    };
    this.header = HEADER_TYPE.toBuffer(header);
  }

  /** Bytes of the records in the unfinished block. */
  get pendingBytes(): number {
    return this.#out.pos - BLOCK_HEAD_ROOM;
  }

  /** Values in the unfinished block. */
  get pendingRecords(): number {
    return this.#records;
  }

  /** Adds a value to the unfinished block. Throws RecordCodecError for an invalid value. */
  append(value: T): void {
    const out = this.#out;
    const start = out.pos;
    const write = this.#codec.write;
    if (write) {
      try {
        write(out, value);
      } catch (error) {
        out.pos = start;
        if (error instanceof RecordCodecError) throw error;
        throw new RecordCodecError(`${this.#codec.type.name} value cannot be encoded: ${(error as Error).message}`);
      }
      this.#records++;
      return;
    }
    const avroValue = this.#codec.toAvro(value);
    for (;;) {
      let end: number;
      try {
        end = this.#codec.type.encode(avroValue, out.buf, start);
      } catch (error) {
        throw new RecordCodecError(`${this.#codec.type.name} value cannot be encoded: ${(error as Error).message}`);
      }
      if (end >= 0) {
        out.pos = end;
        this.#records++;
        return;
      }
      // encode() returns minus the bytes missing; grow and encode the record again.
      out.ensure(out.buf.length - end - start);
    }
  }

  /**
   * Adds a value that `encoder` writes itself from other bytes (for data files: a scan
   * record straight from its wire message, see wire-record.ts). The encoder must append
   * exactly the Avro binary of one value of this writer's schema. If it throws, nothing
   * is added and its error passes as it is.
   */
  appendFrom(encoder: { write(w: AvroWriter, src: Buffer, at: number): unknown; readonly skipped?: boolean }, src: Buffer, at: number): void {
    const out = this.#out;
    const start = out.pos;
    try {
      encoder.write(out, src, at);
    } catch (error) {
      out.pos = start;
      throw error;
    }
    // An encoder may leave a record out (WireRecordEncoder.skipped): nothing was written.
    if (encoder.skipped === true) return;
    this.#records++;
  }

  /**
   * The framed block (count, size, values, sync) of the pending values, and resets.
   * Undefined when none are pending. The block is built in place, in front of and after
   * the values, with no copy of them; the writer then starts a new buffer, so the
   * returned bytes stay valid.
   */
  takeBlock(): { bytes: Buffer; records: number } | undefined {
    if (this.#records === 0) return undefined;
    const out = this.#out;
    const head = Buffer.concat([LONG_TYPE.toBuffer(this.#records), LONG_TYPE.toBuffer(out.pos - BLOCK_HEAD_ROOM)]);
    out.ensure(SYNC_BYTES);
    const start = BLOCK_HEAD_ROOM - head.length;
    head.copy(out.buf, start);
    this.#sync.copy(out.buf, out.pos);
    const bytes = out.buf.subarray(start, out.pos + SYNC_BYTES);
    const records = this.#records;
    this.#out = this.#newBlock();
    this.#records = 0;
    return { bytes, records };
  }

  /**
   * Gives back the buffer of a block from `takeBlock` that nothing reads any more (its
   * bytes were consumed, not queued: a compressor took them), for a later block. A block
   * that outgrew the usual buffer is left to the GC; so is one never given back.
   */
  recycle(block: Buffer): void {
    const whole = block.buffer;
    if (whole.byteLength !== this.#capacity || this.#free.length >= MAX_FREE_BLOCKS) return;
    this.#free.push(Buffer.from(whole, 0, whole.byteLength));
  }

  #newBlock(): AvroWriter {
    // A buffer of its own (not a slice of Node's shared pool), so that it can be recycled.
    const out = new AvroWriter(this.#capacity, this.#free.pop() ?? Buffer.allocUnsafeSlow(this.#capacity));
    out.pos = BLOCK_HEAD_ROOM;
    return out;
  }
}

/**
 * RawRecords in (object mode), one container file out (bytes). The header is written
 * even when no record comes, so an empty stream yields a valid empty file.
 */
export class ContainerEncoder extends Transform {
  readonly #writer: ContainerWriter;
  readonly #blockBytes: number;
  #started = false;

  constructor(opts: { blockBytes?: number } = {}) {
    super({ writableObjectMode: true, readableObjectMode: false });
    this.#blockBytes = opts.blockBytes ?? DEFAULT_BLOCK_BYTES;
    this.#writer = new ContainerWriter(RECORD_CODEC, this.#blockBytes);
  }

  override _transform(record: RawRecord, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#start();
      this.#writer.append(record);
      if (this.#writer.pendingBytes >= this.#blockBytes) this.push(this.#writer.takeBlock()!.bytes);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    this.#start();
    const block = this.#writer.takeBlock();
    if (block) this.push(block.bytes);
    callback();
  }

  #start(): void {
    if (this.#started) return;
    this.#started = true;
    this.push(this.#writer.header);
  }
}

type Decoded = { kind: 'need'; bytes: number } | { kind: 'done'; end: number };

/**
 * Decodes a block's records into one value (a batch), which ContainerDecoder then pushes
 * instead of one value per record: a block costs one stream hop, not one per record.
 */
export interface BlockReader<B> {
  /** A block of `count` records in `bytes` bytes starts. */
  begin(count: number, bytes: number): void;
  /**
   * Reads one record at rd.pos and moves rd.pos past it; throws for bytes that run past
   * rd.end or hold no record. It must copy what it keeps: rd.buf is reused.
   */
  read(rd: AvroReader): void;
  /** The value of the block's records (called once all of them were read). */
  end(): B;
}

/**
 * One container file in (bytes), its values out (object mode): RawRecords unless
 * another codec is given, or one value per block when a BlockReader is given (the
 * codec's schema is still the one the header must have). Only the "null" block codec.
 *
 * The writer schema must be the codec's schema (compared in Avro's Parsing Canonical
 * Form, so docs may differ). No Avro schema resolution: the spec resolves a writer's
 * union branch to the first reader branch it can be promoted to, so a `bytes` BLOB
 * could come back as a `string` STRING. A later schema version gets its own explicit
 * reader instead.
 *
 * Errors (ContainerDecodeError, with the position): AVRO_NOT_CONTAINER,
 * AVRO_UNSUPPORTED_CODEC, AVRO_SCHEMA_MISMATCH, AVRO_TRUNCATED (the input ended inside
 * the header or a block, or was empty), AVRO_CORRUPT_BLOCK, AVRO_BAD_RECORD.
 */
export class ContainerDecoder extends Transform {
  /** Input not yet decoded; its first byte is at offset #offset of the stream. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  #offset = 0;
  /** Decoding is retried once this many bytes are buffered. */
  #need = 1;
  #sync: Buffer | undefined;
  #blocks = 0;
  #records = 0;
  readonly #codec: ContainerCodec<unknown>;
  readonly #blockReader: BlockReader<unknown> | undefined;
  /** Where #join joins chunks, with a BlockReader. */
  #joined = Buffer.alloc(0);

  /** With a BlockReader, the readable side holds 2 blocks (of hundreds of records each) rather than 16 records. */
  constructor(codec: ContainerCodec<unknown> = RECORD_CODEC, opts: { blocks?: BlockReader<unknown> } = {}) {
    const blocks = opts.blocks;
    super({ writableObjectMode: false, readableObjectMode: true, readableHighWaterMark: blocks ? 2 : 16 });
    this.#codec = codec;
    this.#blockReader = blocks;
  }

  /** Records decoded so far (all of them once the stream has ended). */
  get records(): number {
    return this.#records;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    if (this.#buffered < this.#need) return callback();
    try {
      this.#decodeBuffered();
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.#sync === undefined) {
      return callback(this.#error('AVRO_TRUNCATED', { offset: 0 }, this.#buffered === 0 ? 'empty input, no Avro header' : `input ends inside the Avro header (${this.#buffered} bytes)`));
    }
    if (this.#buffered > 0) {
      return callback(this.#error('AVRO_TRUNCATED', { offset: this.#offset, block: this.#blocks }, `input ends inside a block (only ${this.#buffered} bytes of it)`));
    }
    callback();
  }

  /**
   * The buffered input as one buffer. A BlockReader keeps nothing of the block's bytes,
   * so with one the chunks are joined in a buffer reused from one block to the next
   * (instead of a new one per block).
   */
  #join(): Buffer {
    const chunks = this.#chunks;
    if (chunks.length === 1) return chunks[0]!;
    const n = this.#buffered;
    if (!this.#blockReader) return Buffer.concat(chunks, n);
    const old = this.#joined;
    const joined = old.length >= n ? old : Buffer.allocUnsafe(Math.max(n, 2 * old.length));
    let at = 0;
    // The first chunk may be what is left of the last join, a view of `joined`: copy moves it.
    for (const chunk of chunks) at += chunk.copy(joined, at);
    this.#joined = joined;
    return joined.subarray(0, n);
  }

  #decodeBuffered(): void {
    const buf = this.#join();
    let pos = 0;
    for (;;) {
      const step = this.#sync === undefined ? this.#decodeHeader(buf) : this.#decodeBlock(buf, pos);
      if (step.kind === 'need') {
        this.#need = step.bytes;
        break;
      }
      this.#offset += step.end - pos;
      pos = step.end;
    }
    const rest = buf.subarray(pos);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#buffered = rest.length;
  }

  #decodeHeader(buf: Buffer): Decoded {
    const magic = buf.subarray(0, MAGIC.length);
    if (!magic.equals(MAGIC.subarray(0, magic.length))) throw this.#error('AVRO_NOT_CONTAINER', { offset: 0 }, 'no Avro container magic "Obj\\x01"');
    let decoded: { meta: Map<string, Buffer>; sync: Buffer; end: number } | undefined;
    try {
      decoded = readHeader(buf);
    } catch (error) {
      throw this.#error('AVRO_NOT_CONTAINER', { offset: 0 }, 'malformed Avro header', error);
    }
    if (decoded === undefined) {
      if (buf.length >= MAX_HEADER_BYTES) throw this.#error('AVRO_NOT_CONTAINER', { offset: 0 }, `no complete Avro header in the first ${MAX_HEADER_BYTES} bytes`);
      return { kind: 'need', bytes: buf.length + 1 };
    }
    const { meta, sync } = decoded;
    const codec = meta.get('avro.codec')?.toString() ?? 'null';
    if (codec !== 'null') throw this.#error('AVRO_UNSUPPORTED_CODEC', { offset: 0 }, `block codec "${codec}" (aerobak reads only "null")`);
    const schema = meta.get('avro.schema');
    if (!schema) throw this.#error('AVRO_SCHEMA_MISMATCH', { offset: 0 }, 'no writer schema (avro.schema) in the header');
    const reader = this.#codec.type;
    let writer: avro.Type;
    try {
      writer = avroType(JSON.parse(schema.toString('utf8')));
    } catch (error) {
      throw this.#error('AVRO_SCHEMA_MISMATCH', { offset: 0 }, `unreadable writer schema: ${(error as Error).message}`, error);
    }
    if (!writer.equals(reader)) {
      throw this.#error('AVRO_SCHEMA_MISMATCH', { offset: 0 }, `the writer schema ${writer.name ?? writer.typeName} is not ${reader.name} (this aerobak reads that exact schema)`);
    }
    this.#sync = Buffer.from(sync);
    return { kind: 'done', end: decoded.end };
  }

  #decodeBlock(buf: Buffer, start: number): Decoded {
    const at: ContainerPosition = { offset: this.#offset, block: this.#blocks };
    const count = this.#readLong(buf, start, at);
    if (count.offset < 0) return { kind: 'need', bytes: buf.length - start + 1 };
    const size = this.#readLong(buf, count.offset, at);
    if (size.offset < 0) return { kind: 'need', bytes: buf.length - start + 1 };
    if (count.value < 0 || size.value < 0 || size.value > MAX_BLOCK_BYTES || count.value > size.value) {
      throw this.#error('AVRO_CORRUPT_BLOCK', at, `impossible block header (${count.value} records in ${size.value} bytes)`);
    }
    const dataStart = size.offset;
    const dataEnd = dataStart + size.value;
    const end = dataEnd + SYNC_BYTES;
    if (end > buf.length) return { kind: 'need', bytes: end - start };
    if (!buf.subarray(dataEnd, end).equals(this.#sync!)) throw this.#error('AVRO_CORRUPT_BLOCK', at, 'sync marker mismatch after the block');

    const block = buf.subarray(0, dataEnd);
    const read = this.#codec.read;
    const blocks = this.#blockReader;
    const reader = new AvroReader(block, dataStart, dataEnd);
    let pos = dataStart;
    blocks?.begin(count.value, size.value);
    for (let i = 0; i < count.value; i++) {
      let record: unknown;
      try {
        if (blocks) {
          blocks.read(reader);
          pos = reader.pos;
        } else if (read) {
          record = read(reader);
          pos = reader.pos;
        } else {
          // avsc reads an array's declared count of items even past the end of its input: check the counts first.
          if (valueEnd(this.#codec.type, block, pos, dataEnd) < 0) throw new Error('the record runs past the end of its block');
          const decoded = this.#codec.type.decode(block, pos);
          if (decoded.offset < 0) throw new Error('the record runs past the end of its block');
          record = this.#codec.fromAvro(decoded.value);
          pos = decoded.offset;
        }
      } catch (error) {
        const here: ContainerPosition = { offset: this.#offset + (pos - start), block: this.#blocks, record: this.#records };
        throw this.#error('AVRO_BAD_RECORD', here, `undecodable record: ${(error as Error).message}`, error);
      }
      this.#records++;
      if (!blocks) this.push(record);
    }
    if (pos !== dataEnd) throw this.#error('AVRO_CORRUPT_BLOCK', at, `${dataEnd - pos} bytes left over after the block's ${count.value} records`);
    if (blocks) this.push(blocks.end());
    this.#blocks++;
    return { kind: 'done', end };
  }

  /** A block's count or size; offset -1 when the buffer ends first. */
  #readLong(buf: Buffer, pos: number, at: ContainerPosition): { value: number; offset: number } {
    try {
      return LONG_TYPE.decode(buf, pos) as { value: number; offset: number };
    } catch (error) {
      throw this.#error('AVRO_CORRUPT_BLOCK', at, `unreadable block header: ${(error as Error).message}`, error);
    }
  }

  #error(code: ContainerErrorCode, position: ContainerPosition, detail: string, cause?: unknown): ContainerDecodeError {
    return new ContainerDecodeError(code, position, detail, cause === undefined ? undefined : { cause });
  }
}

/**
 * The header at buf[0] (after the magic, which the caller checked): its metadata map,
 * sync marker and end, or undefined when buf ends inside it. Throws for a malformed long
 * or a negative length. Read here rather than by avsc, which reads a map's declared count
 * of entries even past the end of its input (a corrupt count of 2^40 would spin for
 * days): here an entry takes 2 bytes at least, so no count reads past the bytes there are.
 */
function readHeader(buf: Buffer): { meta: Map<string, Buffer>; sync: Buffer; end: number } | undefined {
  let pos = MAGIC.length;
  const long = (): number | undefined => {
    let z = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) return undefined;
      const b = buf[pos++]!;
      z += (b & 0x7f) * scale;
      scale *= 128;
      // Zig-zag (beyond 2^53 only the magnitude matters: such a count or length is never there).
      if (b < 0x80) return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
    }
    throw new Error('an Avro long of more than 10 bytes');
  };
  const bytes = (): Buffer | undefined => {
    const n = long();
    if (n === undefined) return undefined;
    if (n < 0) throw new Error(`negative Avro length ${n}`);
    if (pos + n > buf.length) return undefined;
    pos += n;
    return buf.subarray(pos - n, pos);
  };
  const meta = new Map<string, Buffer>();
  for (;;) {
    let count = long();
    if (count === undefined) return undefined;
    if (count === 0) break;
    if (count < 0) {
      count = -count;
      if (long() === undefined) return undefined; // the block's byte size
    }
    for (let i = 0; i < count; i++) {
      const key = bytes();
      if (key === undefined) return undefined;
      const value = bytes();
      if (value === undefined) return undefined;
      meta.set(key.toString('utf8'), value);
    }
  }
  if (pos + SYNC_BYTES > buf.length) return undefined;
  return { meta, sync: buf.subarray(pos, pos + SYNC_BYTES), end: pos + SYNC_BYTES };
}

/**
 * The offset just past the value of `type` at buf[pos], or -1 when it would run past
 * `end`; throws for a malformed long or a negative length. What avsc reads, but bounded
 * by the bytes: an array or map declaring more items than bytes are left runs past the end
 * (every item of aerobak's schemas takes a byte at least), where avsc would read them all
 * (a corrupt count of 2^31 allocates and loops for minutes).
 */
function valueEnd(type: avro.Type, buf: Buffer, pos: number, end: number): number {
  const long = (): number => {
    let z = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= end) return NaN;
      const b = buf[pos++]!;
      z += (b & 0x7f) * scale;
      scale *= 128;
      if (b < 0x80) return z % 2 === 1 ? -(z + 1) / 2 : z / 2;
    }
    throw new Error('an Avro long of more than 10 bytes');
  };
  /** The item count of the next array or map block (0 at the end, NaN past `end`). */
  const blockCount = (): number => {
    const n = long();
    if (!(n < 0)) return n > end - pos ? NaN : n;
    if (Number.isNaN(long())) return NaN; // the block's byte size
    return -n > end - pos ? NaN : -n;
  };
  const t = type as avro.Type & { typeName: string; size?: number; types?: avro.Type[]; itemsType?: avro.Type; valuesType?: avro.Type; fields?: Array<{ type: avro.Type }>; underlyingType?: avro.Type };
  const name = t.typeName;
  switch (name) {
    case 'null':
      return pos;
    case 'boolean':
      return pos + 1 <= end ? pos + 1 : -1;
    case 'int':
    case 'long':
    case 'enum':
      return Number.isNaN(long()) ? -1 : pos;
    case 'float':
      return pos + 4 <= end ? pos + 4 : -1;
    case 'double':
      return pos + 8 <= end ? pos + 8 : -1;
    case 'fixed':
      return pos + t.size! <= end ? pos + t.size! : -1;
    case 'string':
    case 'bytes': {
      const n = long();
      if (Number.isNaN(n)) return -1;
      if (n < 0) throw new Error(`negative Avro length ${n}`);
      return pos + n <= end ? pos + n : -1;
    }
    case 'record':
    case 'error':
      for (const f of t.fields!) {
        pos = valueEnd(f.type, buf, pos, end);
        if (pos < 0) return -1;
      }
      return pos;
    case 'array':
    case 'map':
      for (let n = blockCount(); n !== 0; n = blockCount()) {
        if (Number.isNaN(n)) return -1;
        for (let i = 0; i < n; i++) {
          if (name === 'map') {
            pos = valueEnd(STRING_TYPE, buf, pos, end);
            if (pos < 0) return -1;
          }
          pos = valueEnd(name === 'map' ? t.valuesType! : t.itemsType!, buf, pos, end);
          if (pos < 0) return -1;
        }
      }
      return pos;
    default: {
      if (name.startsWith('union')) {
        const i = long();
        if (Number.isNaN(i)) return -1;
        const branch = t.types![i];
        if (branch === undefined) throw new Error(`union branch ${i} (only ${t.types!.length})`);
        return valueEnd(branch, buf, pos, end);
      }
      if (name.startsWith('logical') && t.underlyingType) return valueEnd(t.underlyingType, buf, pos, end);
      throw new Error(`Avro type ${name} has no bounded reader`);
    }
  }
}

const STRING_TYPE = avro.Type.forSchema('string');
