/**
 * AS_MSG: the 22-byte message header, fields and ops (C client as_proto.h / as_command.c).
 *
 *   header  u8 header size (22), u8 info1, u8 info2, u8 info3, u8 info4, u8 result code,
 *           u32 generation, u32 record ttl (void time in replies), u32 transaction ttl
 *           (timeout in requests; row index in batch replies), u16 n_fields, u16 n_ops
 *   field   u32 size (counts the type byte), u8 type, data
 *   op      u32 size (counts the 4 bytes below, the name and the value), u8 op,
 *           u8 particle type, u8 version (0), u8 name length, name, value
 */
import { PROTO_HEADER_SIZE, ProtoType, ProtocolError, encodeProtoHeader } from './proto.js';

export const MSG_HEADER_SIZE = 22;

export const Info1 = {
  READ: 0x01,
  GET_ALL: 0x02,
  SHORT_QUERY: 0x04,
  BATCH: 0x08,
  XDR: 0x10,
  GET_NOBINDATA: 0x20,
  READ_MODE_AP_ALL: 0x40,
  COMPRESS_RESPONSE: 0x80,
} as const;

export const Info2 = {
  WRITE: 0x01,
  DELETE: 0x02,
  GENERATION: 0x04,
  GENERATION_GT: 0x08,
  DURABLE_DELETE: 0x10,
  CREATE_ONLY: 0x20,
  RELAX_AP_LONG_QUERY: 0x40,
  RESPOND_ALL_OPS: 0x80,
} as const;

export const Info3 = {
  LAST: 0x01,
  COMMIT_MASTER: 0x02,
  PARTITION_DONE: 0x04,
  UPDATE_ONLY: 0x08,
  CREATE_OR_REPLACE: 0x10,
  REPLACE_ONLY: 0x20,
  SC_READ_TYPE: 0x40,
  SC_READ_RELAX: 0x80,
} as const;

export const FieldType = {
  NAMESPACE: 0,
  SET: 1,
  KEY: 2,
  RECORD_VERSION: 3,
  DIGEST: 4,
  TASK_ID: 7,
  SOCKET_TIMEOUT: 9,
  RECORDS_PER_SECOND: 10,
  PID_ARRAY: 11,
  DIGEST_ARRAY: 12,
  MAX_RECORDS: 13,
  BVAL_ARRAY: 15,
  INDEX_NAME: 21,
  INDEX_RANGE: 22,
  INDEX_CONTEXT: 23,
  INDEX_TYPE: 26,
  UDF_PACKAGE_NAME: 30,
  UDF_FUNCTION: 31,
  UDF_ARGLIST: 32,
  UDF_OP: 33,
  QUERY_BINLIST: 40,
  BATCH_INDEX: 41,
  FILTER_EXP: 43,
} as const;

export const OpType = {
  READ: 1,
  WRITE: 2,
  CDT_READ: 3,
  CDT_MODIFY: 4,
  INCR: 5,
  EXP_READ: 7,
  EXP_MODIFY: 8,
  APPEND: 9,
  PREPEND: 10,
  TOUCH: 11,
  BIT_READ: 12,
  BIT_MODIFY: 13,
  DELETE: 14,
  HLL_READ: 15,
  HLL_MODIFY: 16,
} as const;

export interface MessageHeader {
  info1: number;
  info2: number;
  info3: number;
  info4: number;
  resultCode: number;
  generation: number;
  recordTtl: number;
  transactionTtl: number;
}

export interface Field {
  type: number;
  data: Buffer;
}

export interface Op {
  op: number;
  particleType: number;
  name: string;
  value: Buffer;
}

export interface Message extends MessageHeader {
  fields: Field[];
  ops: Op[];
}

export type MessageInit = Partial<MessageHeader> & { fields?: Field[]; ops?: Op[] };

export function fieldSize(field: Field): number {
  return 5 + field.data.length;
}

export function opSize(op: Op): number {
  return 8 + Buffer.byteLength(op.name) + op.value.length;
}

export function writeHeader(buf: Buffer, offset: number, h: MessageInit, nFields: number, nOps: number): number {
  buf[offset] = MSG_HEADER_SIZE;
  buf[offset + 1] = h.info1 ?? 0;
  buf[offset + 2] = h.info2 ?? 0;
  buf[offset + 3] = h.info3 ?? 0;
  buf[offset + 4] = h.info4 ?? 0;
  buf[offset + 5] = h.resultCode ?? 0;
  buf.writeUInt32BE((h.generation ?? 0) >>> 0, offset + 6);
  buf.writeUInt32BE((h.recordTtl ?? 0) >>> 0, offset + 10);
  buf.writeUInt32BE((h.transactionTtl ?? 0) >>> 0, offset + 14);
  buf.writeUInt16BE(nFields, offset + 18);
  buf.writeUInt16BE(nOps, offset + 20);
  return offset + MSG_HEADER_SIZE;
}

export function writeField(buf: Buffer, offset: number, field: Field): number {
  buf.writeUInt32BE(field.data.length + 1, offset);
  buf[offset + 4] = field.type;
  field.data.copy(buf, offset + 5);
  return offset + 5 + field.data.length;
}

export function writeOp(buf: Buffer, offset: number, op: Op): number {
  const nameLen = buf.write(op.name, offset + 8, 'utf8');
  buf.writeUInt32BE(4 + nameLen + op.value.length, offset);
  buf[offset + 4] = op.op;
  buf[offset + 5] = op.particleType;
  buf[offset + 6] = 0;
  buf[offset + 7] = nameLen;
  op.value.copy(buf, offset + 8 + nameLen);
  return offset + 8 + nameLen + op.value.length;
}

/** Size of a message (without proto header). */
export function messageSize(msg: MessageInit): number {
  let size = MSG_HEADER_SIZE;
  for (const f of msg.fields ?? []) size += fieldSize(f);
  for (const o of msg.ops ?? []) size += opSize(o);
  return size;
}

/** Writes a message at `offset`; returns the offset after it. */
export function writeMessage(buf: Buffer, offset: number, msg: MessageInit): number {
  const fields = msg.fields ?? [];
  const ops = msg.ops ?? [];
  let at = writeHeader(buf, offset, msg, fields.length, ops.length);
  for (const f of fields) at = writeField(buf, at, f);
  for (const o of ops) at = writeOp(buf, at, o);
  return at;
}

/** One message as a whole type-3 proto frame. */
export function encodeMessageFrame(msg: MessageInit): Buffer {
  return encodeMessagesFrame([msg]);
}

/** Several messages back to back in one type-3 proto frame (as scan and batch replies are sent). */
export function encodeMessagesFrame(msgs: MessageInit[]): Buffer {
  let size = 0;
  for (const m of msgs) size += messageSize(m);
  const buf = Buffer.allocUnsafe(PROTO_HEADER_SIZE + size);
  encodeProtoHeader(ProtoType.MESSAGE, size, buf, 0);
  let at = PROTO_HEADER_SIZE;
  for (const m of msgs) at = writeMessage(buf, at, m);
  return buf;
}

export function readHeader(buf: Buffer, offset: number): MessageHeader & { nFields: number; nOps: number } {
  if (buf.length - offset < MSG_HEADER_SIZE) throw new ProtocolError('message shorter than its 22-byte header');
  const headerSize = buf[offset];
  if (headerSize !== MSG_HEADER_SIZE) throw new ProtocolError(`bad message header size ${headerSize}`);
  return {
    info1: buf[offset + 1]!,
    info2: buf[offset + 2]!,
    info3: buf[offset + 3]!,
    info4: buf[offset + 4]!,
    resultCode: buf[offset + 5]!,
    generation: buf.readUInt32BE(offset + 6),
    recordTtl: buf.readUInt32BE(offset + 10),
    transactionTtl: buf.readUInt32BE(offset + 14),
    nFields: buf.readUInt16BE(offset + 18),
    nOps: buf.readUInt16BE(offset + 20),
  };
}

/**
 * Decodes the message at `offset` of a type-3 body. Field data and op values are views
 * into `buf` (no copies): copy them before `buf` is reused.
 */
export function readMessage(buf: Buffer, offset: number): { message: Message; end: number } {
  const h = readHeader(buf, offset);
  let at = offset + MSG_HEADER_SIZE;
  const fields: Field[] = new Array(h.nFields);
  for (let i = 0; i < h.nFields; i++) {
    if (at + 5 > buf.length) throw new ProtocolError('field runs past the end of the message');
    const size = buf.readUInt32BE(at);
    const end = at + 4 + size;
    if (size < 1 || end > buf.length) throw new ProtocolError(`field of size ${size} runs past the end of the message`);
    fields[i] = { type: buf[at + 4]!, data: buf.subarray(at + 5, end) };
    at = end;
  }
  const ops: Op[] = new Array(h.nOps);
  for (let i = 0; i < h.nOps; i++) {
    if (at + 8 > buf.length) throw new ProtocolError('op runs past the end of the message');
    const size = buf.readUInt32BE(at);
    const nameLen = buf[at + 7]!;
    const end = at + 4 + size;
    if (size < 4 + nameLen || end > buf.length) throw new ProtocolError(`op of size ${size} runs past the end of the message`);
    ops[i] = {
      op: buf[at + 4]!,
      particleType: buf[at + 5]!,
      name: buf.toString('utf8', at + 8, at + 8 + nameLen),
      value: buf.subarray(at + 8 + nameLen, end),
    };
    at = end;
  }
  const { nFields: _f, nOps: _o, ...header } = h;
  return { message: { ...header, fields, ops }, end: at };
}

/** Every message of a type-3 body, in order. */
export function* readMessages(body: Buffer): Generator<Message> {
  let offset = 0;
  while (offset < body.length) {
    const { message, end } = readMessage(body, offset);
    yield message;
    offset = end;
  }
}

export function field(type: number, data: Buffer | string): Field {
  return { type, data: typeof data === 'string' ? Buffer.from(data, 'utf8') : data };
}

export function u32Field(type: number, value: number): Field {
  const data = Buffer.allocUnsafe(4);
  data.writeUInt32BE(value >>> 0, 0);
  return { type, data };
}

export function u64Field(type: number, value: bigint): Field {
  const data = Buffer.allocUnsafe(8);
  data.writeBigUInt64BE(value, 0);
  return { type, data };
}

export function findField(msg: { fields: Field[] }, type: number): Buffer | undefined {
  for (const f of msg.fields) if (f.type === type) return f.data;
  return undefined;
}
