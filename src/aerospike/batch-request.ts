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
 * Reply: one message per row (any order, any number of frames), its row index in the
 * header's transaction-ttl slot and its result in the result-code slot, then a message
 * with info3 LAST (whose result code, when not 0, applies to the rows not answered).
 */
import { CITRUSLEAF_EPOCH_UNIX_S, type RawBin, type RawKey } from './types.js';
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

/** Size of a row in field 41; pushes the encoded namespace, set and bin names of the row onto `out`. */
function rowSize(row: BatchWriteRow, names: NameCache, out: Buffer[]): number {
  const ns = names.getAt(0, row.namespace);
  const set = names.getAt(1, row.set);
  out.push(ns, set);
  let size = 4 + 20 + 1 + 3 + 2 + 4 + 2 + 2 + 5 + ns.length + 5 + set.length;
  if (row.key) size += 5 + 1 + row.key.bytes.length;
  const bins = row.bins;
  for (let i = 0; i < bins.length; i++) {
    const bin = bins[i]!;
    const name = names.getAt(2 + i, bin.name);
    out.push(name);
    size += 8 + name.length + bin.value.length;
  }
  return size;
}

/**
 * The whole proto frame of a batch write; row i gets index i. `names` caches the
 * encodings of names across calls (a writer keeps one); a fresh one when absent.
 */
export function encodeBatchWrite(rows: readonly BatchWriteRow[], timeoutMs: number, names: NameCache = new NameCache()): Buffer {
  /** The encoded names of every row, in the order they are written. */
  const encoded: Buffer[] = [];
  let fieldData = 4 + 1;
  for (let r = 0; r < rows.length; r++) fieldData += rowSize(rows[r]!, names, encoded);
  const bodySize = MSG_HEADER_SIZE + 5 + fieldData;
  const buf = Buffer.allocUnsafe(PROTO_HEADER_SIZE + bodySize);
  encodeProtoHeader(ProtoType.MESSAGE, bodySize, buf, 0);
  let at = writeHeader(buf, PROTO_HEADER_SIZE, { info1: Info1.BATCH, transactionTtl: timeoutMs }, 1, 0);
  buf.writeUInt32BE(fieldData + 1, at);
  buf[at + 4] = FieldType.BATCH_INDEX;
  buf.writeUInt32BE(rows.length, at + 5);
  buf[at + 9] = BATCH_FLAGS;
  at += 10;
  let n = 0;
  for (let index = 0; index < rows.length; index++) {
    const row = rows[index]!;
    at = buf.writeUInt32BE(index, at);
    const digest = row.digest;
    at = put(buf, at, digest.length > 20 ? digest.subarray(0, 20) : digest);
    buf[at++] = ROW_INFO_GEN_TTL;
    buf[at++] = 0;
    buf[at++] = row.info2;
    buf[at++] = row.info3;
    at = buf.writeUInt16BE(row.generation & 0xffff, at);
    at = buf.writeUInt32BE(row.ttl >>> 0, at);
    const key = row.key;
    const bins = row.bins;
    at = buf.writeUInt16BE(key ? 3 : 2, at);
    at = buf.writeUInt16BE(bins.length, at);
    at = writeField(buf, at, FieldType.NAMESPACE, encoded[n++]!);
    at = writeField(buf, at, FieldType.SET, encoded[n++]!);
    if (key) {
      at = buf.writeUInt32BE(2 + key.bytes.length, at);
      buf[at++] = FieldType.KEY;
      buf[at++] = key.type;
      at = put(buf, at, key.bytes);
    }
    for (let i = 0; i < bins.length; i++) {
      const bin = bins[i]!;
      const name = encoded[n++]!;
      const nameLen = name.length;
      buf.writeUInt32BE(4 + nameLen + bin.value.length, at);
      buf[at + 4] = OpType.WRITE;
      buf[at + 5] = bin.type;
      buf[at + 6] = 0;
      buf[at + 7] = nameLen;
      at = put(buf, at + 8, name);
      at = put(buf, at, bin.value);
    }
  }
  if (at !== buf.length) throw new Error(`batch encoder wrote ${at} of ${buf.length} bytes`);
  return buf;
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
