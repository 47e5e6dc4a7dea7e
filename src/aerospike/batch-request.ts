/**
 * Batch write requests and replies, as the C client 7.x builds them
 * (aerospike_batch.c as_batch_records_write_new; checked against batch-write.jsonl).
 *
 * Request: one type-3 message, header info1 BATCH_INDEX, transaction ttl = server timeout
 * (ms), one field 41:
 *
 *   u32 row count, u8 flags 0x0d (0x08 | respond all keys 0x04 | allow inline 0x01)
 *   per row: u32 index, 20-byte digest, u8 row type 0x0e (INFO | GEN | TTL),
 *            u8 info1, u8 info2, u8 info3, u16 generation, u32 ttl,
 *            u16 n_fields, u16 n_ops, fields (namespace, set, key when sent), ops
 *
 * Every row is written in full (no REPEAT rows: rows differ in digest, key, ttl and
 * bins anyway). Each write row carries one WRITE op per bin: particle type and raw value.
 *
 * Rows are encoded before their request, into a RowBuffer: appendRecordRow for a
 * RawRecord, or restore's decoder straight from a data file (WireRows, record-rows.ts).
 * What the writer decides when it sends a row (info2, info3, generation, ttl) is filled
 * in then (patchRow), and encodeRowsRequest copies a batch's rows into one frame.
 *
 * Reply: one message per row (any order, any number of frames), its row index in the
 * header's transaction-ttl slot and its result in the result-code slot, then a message
 * with info3 LAST (whose result code, when not 0, applies to the rows not answered).
 */
import { CITRUSLEAF_EPOCH_UNIX_S, PARTITION_COUNT, type RawBin, type RawKey, type RawRecord } from './types.js';
import { FieldType, Info1, Info3, MSG_HEADER_SIZE, OpType, writeHeader } from './wire/message.js';
import { PROTO_HEADER_SIZE, ProtoType, ProtocolError, encodeProtoHeader } from './wire/proto.js';

const BATCH_FLAGS = 0x0d;
const ROW_INFO_GEN_TTL = 0x0e;

/** TTL value meaning "never expire" (a ttl of 0 would mean "the namespace default"). */
export const TTL_NEVER_EXPIRE = 0xffffffff;

export interface BatchWriteRow {
  digest: Buffer;
  namespace: string;
  set: string;
  /** Sent (and stored by the server) when present. */
  key?: RawKey;
  info2: number;
  info3: number;
  generation: number;
  ttl: number;
  bins: readonly RawBin[];
}

/** Entries a NameCache holds before it starts over (names of a restore repeat: a few sets and bins). */
const NAME_CACHE_MAX = 1024;

/**
 * UTF-8 encodings of the namespace, set and bin names of batch rows, by string: a
 * restore writes the same few names in every row, so each is encoded once and its bytes
 * copied. Bounded: past NAME_CACHE_MAX names it is cleared and fills again.
 */
export class NameCache {
  private readonly names = new Map<string, Buffer>();
  /** The last name seen in each slot (namespace, set, bin 0, bin 1, ...) and its bytes: rows repeat them in order. */
  private readonly slotNames: string[] = [];
  private readonly slotBytes: Buffer[] = [];

  /** The UTF-8 bytes of `name` (do not modify). */
  get(name: string): Buffer {
    let bytes = this.names.get(name);
    if (bytes === undefined) {
      if (this.names.size >= NAME_CACHE_MAX) this.names.clear();
      bytes = Buffer.from(name, 'utf8');
      this.names.set(name, bytes);
    }
    return bytes;
  }

  /** get(name), checking first the name last seen in `slot` (a string comparison, no hashing). */
  getAt(slot: number, name: string): Buffer {
    if (this.slotNames[slot] === name) return this.slotBytes[slot]!;
    const bytes = this.get(name);
    if (slot < 256) {
      this.slotNames[slot] = name;
      this.slotBytes[slot] = bytes;
    }
    return bytes;
  }
}

/** Copies `src` into `buf` at `at`; returns the offset after it. Short names are copied by hand (cheaper than a native call). */
function put(buf: Buffer, at: number, src: Buffer): number {
  const n = src.length;
  if (n > 32) return at + src.copy(buf, at);
  for (let i = 0; i < n; i++) buf[at + i] = src[i]!;
  return at + n;
}

// Offsets within a row of field 41.
const ROW_DIGEST = 4;
const ROW_TYPE = 24;
const ROW_INFO2 = 26;
const ROW_INFO3 = 27;
const ROW_GENERATION = 28;
const ROW_TTL = 30;
const ROW_N_FIELDS = 34;
const ROW_N_OPS = 36;
/** Bytes of a row before its fields. */
export const ROW_HEADER_SIZE = 38;
/** Bytes of a field or op before its data (field: size, type; op: size, op, particle type, version, name length). */
export const FIELD_HEADER_SIZE = 5;
export const OP_HEADER_SIZE = 8;

/**
 * Batch write rows encoded ahead of their request, back to back in one buffer: row i is
 * buf[starts[i], starts[i + 1]), exactly as field 41 carries it, except that its index,
 * info2, info3, generation and ttl are left for the writer to fill in (patchRow) when
 * it sends the row. A request is then the rows' bytes copied (encodeRowsRequest).
 */
export class RowBuffer {
  buf: Buffer;
  /** A DataView of buf (for copies 4 bytes at a time). */
  view: DataView;
  /** Where each row starts, and starts[count] where the next one does (typed: offsets never change the array's kind). */
  starts: Uint32Array;
  count = 0;

  /** Room for `bytes` bytes and `rows` rows to start with; both grow. */
  constructor(bytes: number, rows: number) {
    this.buf = Buffer.allocUnsafe(bytes);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.length);
    this.starts = new Uint32Array(rows + 1);
  }

  /** Where the next row starts (the end of the last). */
  get end(): number {
    return this.starts[this.count]!;
  }

  /** Makes room for `n` bytes from `at`, keeping the bytes before `at`. */
  ensure(at: number, n: number): void {
    if (at + n <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(2 * this.buf.length, at + n));
    this.buf.copy(grown, 0, 0, at);
    this.buf = grown;
    this.view = new DataView(grown.buffer, grown.byteOffset, grown.length);
  }

  /** Makes buf[end, `end`) the next row. */
  close(end: number): void {
    if (this.count + 1 === this.starts.length) this.grow(2 * this.starts.length);
    this.starts[++this.count] = end;
  }

  /** Drops every row (the buffer is reused). */
  clear(): void {
    this.count = 0;
  }

  /** The row's op count: the bins it writes. */
  opCount(i: number): number {
    const at = this.starts[i]! + ROW_N_OPS;
    return (this.buf[at]! << 8) | this.buf[at + 1]!;
  }

  /** Room for `rows` rows in all. */
  protected grow(rows: number): void {
    const starts = new Uint32Array(rows + 1);
    starts.set(this.starts);
    this.starts = starts;
  }
}

/** Takes back the buffers of WireRows whose last hold was released (record-rows.ts's RowsPool). */
export interface RowsLender {
  give(rows: WireRows): void;
}

/**
 * Rows of backup records for the BatchWriter, decoded straight from a data file (see
 * src/avro/record-rows.ts): every row writes into `namespace`, with the record's key
 * when it has one, and keeps the backup's generation and void time beside it (the write
 * policy and the TTL are decided when the row is sent).
 */
export class WireRows extends RowBuffer {
  /** Records read into this batch and left out by a filter: counted, not written. */
  skipped = 0;
  /** The backup's generation and void time of each row. */
  generations: Uint32Array;
  voidTimes: Uint32Array;
  /** The BatchWriter's count of this chunk's rows without a result yet. */
  unsettled = 0;
  /** The rows whose buffers this chunk reads (itself, or what it is a slice of). */
  #root: WireRows = this;
  /** Holds on the root's buffers (see release). */
  #holds = 1;
  /** How often the root's buffers were reused: a result built before then must not read them. */
  #reuses = 0;
  #lender: RowsLender | undefined;

  constructor(
    /** The namespace of every row (their namespace field). */
    readonly namespace: string,
    bytes: number,
    rows: number,
    /** Where the buffers go back once the last hold is released (none: the GC frees them). */
    lender?: RowsLender,
  ) {
    super(bytes, rows);
    this.generations = new Uint32Array(rows);
    this.voidTimes = new Uint32Array(rows);
    this.#lender = lender;
  }

  /** How often the buffers these rows read were reused (see release). */
  get reuses(): number {
    return this.#root.#reuses;
  }

  /** Whether the buffers go back to a lender once released (to be reused). */
  get lent(): boolean {
    return this.#root.#lender !== undefined;
  }

  /**
   * Lets go of a hold on the rows' buffers. A chunk comes with one hold, its receiver's,
   * passed on with the chunk down a pipeline; a slice takes one of its own. The holder
   * releases once it no longer reads the rows, nor results built from them (the
   * BatchWriter: once every row has its result). When the last hold goes, a lent chunk's
   * buffers go back to its lender for the rows of a later block. A hold never released
   * only keeps the buffers from being reused: a consumer that drops chunks is safe.
   */
  release(): void {
    const root = this.#root;
    if (root.#holds <= 0) throw new Error('WireRows released more often than held');
    if (--root.#holds === 0 && root.#lender) root.#lender.give(root);
  }

  /** A lent chunk back from its lender, for new rows: empty, with one hold. */
  reset(): void {
    if (this.#holds !== 0 || this.#root !== this) throw new Error('WireRows reset while held');
    this.count = 0;
    this.skipped = 0;
    this.unsettled = 0;
    this.#holds = 1;
    this.#reuses++;
  }

  /** Makes buf[end, `end`) the next row: a record's of that generation and void time. */
  closeRow(end: number, generation: number, voidTime: number): void {
    const i = this.count;
    this.close(end);
    this.generations[i] = generation;
    this.voidTimes[i] = voidTime;
  }

  /** Rows [from, to) as a batch of their own, sharing this one's bytes (to read, not to add rows to), with a hold of its own on them. */
  slice(from: number, to: number): WireRows {
    const rows = new WireRows(this.namespace, 0, 0);
    const root = this.#root;
    if (root.#holds <= 0) throw new Error('WireRows sliced after its last hold was released');
    root.#holds++;
    rows.#root = root;
    rows.buf = this.buf;
    rows.view = this.view;
    rows.starts = this.starts.subarray(from, to + 1);
    rows.generations = this.generations.subarray(from, to);
    rows.voidTimes = this.voidTimes.subarray(from, to);
    rows.count = to - from;
    return rows;
  }

  /** The partition of row i (from its digest). */
  partition(i: number): number {
    const at = this.starts[i]! + ROW_DIGEST;
    return (this.buf[at]! | (this.buf[at + 1]! << 8)) & (PARTITION_COUNT - 1);
  }

  /** The record row i writes, its values views of the row or (`copy`) copies (for results and error messages). */
  record(i: number, copy = false): RawRecord {
    const buf = this.buf;
    let at = this.starts[i]!;
    const bytes = copy ? (from: number, to: number) => Buffer.from(buf.subarray(from, to)) : (from: number, to: number) => buf.subarray(from, to);
    const digest = bytes(at + ROW_DIGEST, at + ROW_DIGEST + 20);
    const nFields = buf.readUInt16BE(at + ROW_N_FIELDS);
    const nOps = buf.readUInt16BE(at + ROW_N_OPS);
    at += ROW_HEADER_SIZE;
    let set = '';
    let userKey: RawKey | undefined;
    for (let f = 0; f < nFields; f++) {
      const end = at + 4 + buf.readUInt32BE(at);
      if (buf[at + 4] === FieldType.SET) set = buf.toString('utf8', at + FIELD_HEADER_SIZE, end);
      else if (buf[at + 4] === FieldType.KEY) userKey = { type: buf[at + FIELD_HEADER_SIZE]!, bytes: bytes(at + FIELD_HEADER_SIZE + 1, end) };
      at = end;
    }
    const bins: RawBin[] = [];
    for (let o = 0; o < nOps; o++) {
      const end = at + 4 + buf.readUInt32BE(at);
      const nameEnd = at + OP_HEADER_SIZE + buf[at + 7]!;
      bins.push({ name: buf.toString('utf8', at + OP_HEADER_SIZE, nameEnd), type: buf[at + 5]!, value: bytes(nameEnd, end) });
      at = end;
    }
    const r: RawRecord = { namespace: this.namespace, set, digest, generation: this.generations[i]!, voidTime: this.voidTimes[i]!, bins };
    if (userKey) r.userKey = userKey;
    return r;
  }

  protected override grow(rows: number): void {
    super.grow(rows);
    const generations = new Uint32Array(rows);
    generations.set(this.generations);
    this.generations = generations;
    const voidTimes = new Uint32Array(rows);
    voidTimes.set(this.voidTimes);
    this.voidTimes = voidTimes;
  }
}

/**
 * Writes the header of a row at out.buf[at] (room ensured), its digest the 20 bytes at
 * `digestAt` of what `digest` views, with index, info2, info3, generation and ttl 0;
 * returns the offset of its fields.
 */
export function writeRowHeader(out: RowBuffer, at: number, digest: DataView, digestAt: number, nFields: number): number {
  const dv = out.view;
  dv.setInt32(at, 0);
  for (let i = 0; i < 20; i += 4) dv.setInt32(at + ROW_DIGEST + i, digest.getInt32(digestAt + i));
  // Row type, info1, info2, info3; generation, ttl; field count (12 bytes up to the op count).
  dv.setInt32(at + ROW_TYPE, ROW_INFO_GEN_TTL << 24);
  dv.setInt32(at + ROW_TYPE + 4, 0);
  dv.setInt32(at + ROW_TYPE + 8, nFields);
  return at + ROW_HEADER_SIZE;
}

/** Sets the op count of the row at `at`. */
export function setRowOpCount(buf: Buffer, at: number, nOps: number): void {
  buf.writeUInt16BE(nOps, at + ROW_N_OPS);
}

/** Fills in what the writer decides when it sends row i: its info2, info3, generation (low 16 bits) and ttl. */
export function patchRow(rows: RowBuffer, i: number, info2: number, info3: number, generation: number, ttl: number): void {
  const buf = rows.buf;
  const at = rows.starts[i]!;
  buf[at + ROW_INFO2] = info2;
  buf[at + ROW_INFO3] = info3;
  buf[at + ROW_GENERATION] = generation >> 8;
  buf[at + ROW_GENERATION + 1] = generation;
  buf.writeUInt32BE(ttl >>> 0, at + ROW_TTL);
}

/**
 * Appends the row that writes a record into `namespace` (with `key` when given); its
 * info2, info3, generation and ttl are patchRow's. `names` caches name encodings.
 */
export function appendRecordRow(out: RowBuffer, digest: Buffer, namespace: string, setName: string, key: RawKey | undefined, bins: readonly RawBin[], names: NameCache): void {
  const ns = names.getAt(0, namespace);
  const set = names.getAt(1, setName);
  if (digest.length < 20) throw new RangeError(`record digest of ${digest.length} bytes (expected 20)`);
  let size = ROW_HEADER_SIZE + FIELD_HEADER_SIZE + ns.length + FIELD_HEADER_SIZE + set.length;
  if (key) size += FIELD_HEADER_SIZE + 1 + key.bytes.length;
  for (let i = 0; i < bins.length; i++) size += OP_HEADER_SIZE + names.getAt(2 + i, bins[i]!.name).length + bins[i]!.value.length;
  let at = out.end;
  out.ensure(at, size);
  const buf = out.buf;
  at = buf.writeUInt32BE(0, at);
  at = put(buf, at, digest.length > 20 ? digest.subarray(0, 20) : digest);
  buf[at++] = ROW_INFO_GEN_TTL;
  buf.fill(0, at, at + 9);
  at += 9;
  at = buf.writeUInt16BE(key ? 3 : 2, at);
  at = buf.writeUInt16BE(bins.length, at);
  at = writeField(buf, at, FieldType.NAMESPACE, ns);
  at = writeField(buf, at, FieldType.SET, set);
  if (key) {
    at = buf.writeUInt32BE(2 + key.bytes.length, at);
    buf[at++] = FieldType.KEY;
    buf[at++] = key.type;
    at = put(buf, at, key.bytes);
  }
  for (let i = 0; i < bins.length; i++) {
    const bin = bins[i]!;
    const name = names.getAt(2 + i, bin.name);
    const nameLen = name.length;
    buf.writeUInt32BE(4 + nameLen + bin.value.length, at);
    buf[at + 4] = OpType.WRITE;
    buf[at + 5] = bin.type;
    buf[at + 6] = 0;
    buf[at + 7] = nameLen;
    at = put(buf, at + OP_HEADER_SIZE, name);
    at = put(buf, at, bin.value);
  }
  out.close(at);
}

/**
 * The whole proto frame of a batch write of rows `rows[k]` of `sources[k]` (already
 * patched), in that order: row k gets index k. Runs of consecutive rows of one buffer
 * are copied at once. Written at the start of `into` when it is large enough (a
 * request buffer reused once its reply is in), else into a new buffer.
 */
export function encodeRowsRequest(sources: readonly RowBuffer[], rows: readonly number[], timeoutMs: number, into?: Buffer): Buffer {
  const n = rows.length;
  let fieldData = 4 + 1;
  for (let k = 0; k < n; k++) {
    const starts = sources[k]!.starts;
    fieldData += starts[rows[k]! + 1]! - starts[rows[k]!]!;
  }
  const bodySize = MSG_HEADER_SIZE + FIELD_HEADER_SIZE + fieldData;
  const size = PROTO_HEADER_SIZE + bodySize;
  const buf = into && into.length >= size ? into.subarray(0, size) : Buffer.allocUnsafe(size);
  encodeProtoHeader(ProtoType.MESSAGE, bodySize, buf, 0);
  let at = writeHeader(buf, PROTO_HEADER_SIZE, { info1: Info1.BATCH, transactionTtl: timeoutMs }, 1, 0);
  buf.writeUInt32BE(fieldData + 1, at);
  buf[at + 4] = FieldType.BATCH_INDEX;
  buf.writeUInt32BE(n, at + 5);
  buf[at + 9] = BATCH_FLAGS;
  at += 10;
  for (let k = 0; k < n; ) {
    const src = sources[k]!;
    const starts = src.starts;
    const first = rows[k]!;
    let last = first;
    let j = k + 1;
    while (j < n && sources[j] === src && rows[j] === last + 1) {
      last++;
      j++;
    }
    const from = starts[first]!;
    const to = starts[last + 1]!;
    src.buf.copy(buf, at, from, to);
    for (let r = first; r <= last; r++, k++) buf.writeUInt32BE(k, at + starts[r]! - from);
    at += to - from;
  }
  if (at !== buf.length) throw new Error(`batch encoder wrote ${at} of ${buf.length} bytes`);
  return buf;
}

/**
 * The whole proto frame of a batch write; row i gets index i. `names` caches the
 * encodings of names across calls (a writer keeps one); a fresh one when absent.
 */
export function encodeBatchWrite(rows: readonly BatchWriteRow[], timeoutMs: number, names: NameCache = new NameCache()): Buffer {
  const out = new RowBuffer(256 * rows.length, rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!;
    appendRecordRow(out, row.digest, row.namespace, row.set, row.key, row.bins, names);
    patchRow(out, i, row.info2, row.info3, row.generation, row.ttl);
  }
  return encodeRowsRequest(new Array<RowBuffer>(rows.length).fill(out), Array.from({ length: rows.length }, (_, i) => i), timeoutMs);
}

function writeField(buf: Buffer, at: number, type: number, value: Buffer): number {
  buf.writeUInt32BE(value.length + 1, at);
  buf[at + 4] = type;
  return put(buf, at + 5, value);
}

export interface BatchRowResult {
  index: number;
  resultCode: number;
  generation: number;
  /** Void time after the write (seconds since 2010; 0 = never expires). */
  voidTime: number;
}

/**
 * Reads the row results of one reply frame body. Returns the LAST message's result code
 * once LAST is seen, undefined when more frames follow.
 */
export function readBatchReply(body: Buffer, onRow: (row: BatchRowResult) => void): number | undefined {
  let at = 0;
  while (at < body.length) {
    if (body.length - at < MSG_HEADER_SIZE || body[at] !== MSG_HEADER_SIZE) throw new ProtocolError('bad message header in a batch reply');
    if (body[at + 3]! & Info3.LAST) return body[at + 5]!;
    onRow({
      index: body.readUInt32BE(at + 14),
      resultCode: body[at + 5]!,
      generation: body.readUInt32BE(at + 6),
      voidTime: body.readUInt32BE(at + 10),
    });
    let pos = at + MSG_HEADER_SIZE;
    const n = body.readUInt16BE(at + 18) + body.readUInt16BE(at + 20);
    for (let i = 0; i < n; i++) {
      if (pos + 4 > body.length) throw new ProtocolError('batch reply message runs past the end of the frame');
      pos += 4 + body.readUInt32BE(pos);
    }
    if (pos > body.length) throw new ProtocolError('batch reply message runs past the end of the frame');
    at = pos;
  }
  return undefined;
}

/** Seconds since the citrusleaf epoch (2010-01-01T00:00:00Z). */
export function citrusleafNow(nowMs = Date.now()): number {
  return Math.floor(nowMs / 1000) - CITRUSLEAF_EPOCH_UNIX_S;
}

/**
 * The TTL that restores a record's void time: never-expiring records (void time 0) get
 * TTL_NEVER_EXPIRE, others the seconds left until their void time plus `extraSeconds`.
 * Undefined when that is not positive: the record has expired and must not be written.
 */
export function restoreTtl(voidTime: number, nowCl: number, extraSeconds = 0): number | undefined {
  if (voidTime === 0) return TTL_NEVER_EXPIRE;
  const ttl = voidTime - nowCl + extraSeconds;
  return ttl > 0 ? Math.min(ttl, TTL_NEVER_EXPIRE - 1) : undefined;
}
