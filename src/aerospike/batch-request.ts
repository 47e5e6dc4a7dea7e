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

/** Size of a row in field 41. */
function rowSize(row: BatchWriteRow): number {
  let size = 4 + 20 + 1 + 3 + 2 + 4 + 2 + 2;
  size += 5 + Buffer.byteLength(row.namespace) + 5 + Buffer.byteLength(row.set);
  if (row.key) size += 5 + 1 + row.key.bytes.length;
  for (const bin of row.bins) size += 8 + Buffer.byteLength(bin.name) + bin.value.length;
  return size;
}

/** The whole proto frame of a batch write; row i gets index i. */
export function encodeBatchWrite(rows: readonly BatchWriteRow[], timeoutMs: number): Buffer {
  let fieldData = 4 + 1;
  for (const row of rows) fieldData += rowSize(row);
  const bodySize = MSG_HEADER_SIZE + 5 + fieldData;
  const buf = Buffer.allocUnsafe(PROTO_HEADER_SIZE + bodySize);
  encodeProtoHeader(ProtoType.MESSAGE, bodySize, buf, 0);
  let at = writeHeader(buf, PROTO_HEADER_SIZE, { info1: Info1.BATCH, transactionTtl: timeoutMs }, 1, 0);
  buf.writeUInt32BE(fieldData + 1, at);
  buf[at + 4] = FieldType.BATCH_INDEX;
  buf.writeUInt32BE(rows.length, at + 5);
  buf[at + 9] = BATCH_FLAGS;
  at += 10;
  rows.forEach((row, index) => {
    at = buf.writeUInt32BE(index, at);
    at += row.digest.copy(buf, at, 0, 20);
    buf[at++] = ROW_INFO_GEN_TTL;
    buf[at++] = 0;
    buf[at++] = row.info2;
    buf[at++] = row.info3;
    at = buf.writeUInt16BE(row.generation & 0xffff, at);
    at = buf.writeUInt32BE(row.ttl >>> 0, at);
    at = buf.writeUInt16BE(row.key ? 3 : 2, at);
    at = buf.writeUInt16BE(row.bins.length, at);
    at = writeStringField(buf, at, FieldType.NAMESPACE, row.namespace);
    at = writeStringField(buf, at, FieldType.SET, row.set);
    if (row.key) {
      at = buf.writeUInt32BE(2 + row.key.bytes.length, at);
      buf[at++] = FieldType.KEY;
      buf[at++] = row.key.type;
      at += row.key.bytes.copy(buf, at);
    }
    for (const bin of row.bins) {
      const nameLen = buf.write(bin.name, at + 8, 'utf8');
      buf.writeUInt32BE(4 + nameLen + bin.value.length, at);
      buf[at + 4] = OpType.WRITE;
      buf[at + 5] = bin.type;
      buf[at + 6] = 0;
      buf[at + 7] = nameLen;
      at += 8 + nameLen;
      at += bin.value.copy(buf, at);
    }
  });
  if (at !== buf.length) throw new Error(`batch encoder wrote ${at} of ${buf.length} bytes`);
  return buf;
}

function writeStringField(buf: Buffer, at: number, type: number, value: string): number {
  const len = buf.write(value, at + 5, 'utf8');
  buf.writeUInt32BE(len + 1, at);
  buf[at + 4] = type;
  return at + 5 + len;
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
