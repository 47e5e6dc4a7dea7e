/**
 * Batch index requests (info1 BATCH, field 41), as the server's batch.c parses them.
 *
 * Field 41: u32 row count, u8 flags (0x04 REPORT_ALL_ERRORS, 0x08 REPORT_ERROR_REC;
 * 0x01/0x02 inline hints are irrelevant here), then per row: u32 index, 20-byte digest,
 * u8 row type. Row type bit 0x01 REPEAT reuses the previous row's header, namespace,
 * set, fields and ops. Otherwise: u8 info1, then info2 and info3 if 0x02 INFO, u8 info4
 * if 0x10 INFO4, u16 generation if 0x04 GEN, u32 ttl if 0x08 TTL, then u16 n_fields,
 * u16 n_ops, the fields (namespace first) and the ops. A filter expression on the batch
 * message (field 43) applies to rows that carry none of their own.
 *
 * Reply: one message per row in row order (transaction_ttl = row index; result code,
 * generation, void time; ops of successful rows, none for failed rows), packed into
 * frames, then a frame holding only the LAST message. Rows run one after another.
 *
 * Errors: a batch without field 41 or with zero rows gets only LAST with 4. A row that
 * cannot be parsed (unknown namespace, REPEAT first, truncated) ends the batch: the
 * rows before it are answered and LAST carries 4, as the server's as_batch_terminate()
 * does. Without REPORT_ALL_ERRORS, a row failing with anything but 0, 2 or 27 also ends
 * the batch (its own message is sent, LAST carries its code). The real server runs rows
 * in parallel and may still answer some rows after such a failure; this server does not.
 *
 * With security, each row needs the read permission, or write when its info2 has WRITE;
 * a refused row answers 81 ROLE_VIOLATION (and so, without REPORT_ALL_ERRORS, ends the
 * batch like any other failure).
 */
import { partitionId } from '../../../src/aerospike/wire/digest.js';
import { FieldType, Info2, Info3, encodeMessageFrame, findField, type Field, type Message, type Op } from '../../../src/aerospike/wire/message.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ResultError } from './errors.js';
import { executeRecord, LazyFilter, type RecordReply } from './ops.js';
import { FrameWriter } from './reply.js';
import { accessResult } from './security.js';
import { recordRequest } from './transaction.js';
import type { Connection } from './connection.js';

const ROW_REPEAT = 0x01;
const ROW_INFO = 0x02;
const ROW_GEN = 0x04;
const ROW_TTL = 0x08;
const ROW_INFO4 = 0x10;

const REPORT_ALL_ERRORS = 0x04;

interface RowHeader {
  info1: number;
  info2: number;
  info3: number;
  generation: number;
  recordTtl: number;
  fields: Field[];
  ops: Op[];
}

export async function handleBatch(conn: Connection, msg: Message): Promise<void> {
  const data = findField(msg, FieldType.BATCH_INDEX);
  if (!data || data.length < 5 || data.readUInt32BE(0) === 0) {
    await conn.write(encodeMessageFrame({ info3: Info3.LAST, resultCode: ResultCode.PARAMETER }));
    return;
  }
  const count = data.readUInt32BE(0);
  const flags = data[4]!;
  const parentFilterBytes = findField(msg, FieldType.FILTER_EXP);
  const parentFilter = parentFilterBytes ? new LazyFilter(parentFilterBytes) : undefined;
  const node = conn.node;
  const writer = new FrameWriter(conn, node.server.settings.frameBytes);

  let at = 5;
  let prev: RowHeader | undefined;
  let batchResult: number = ResultCode.OK;
  for (let row = 0; row < count; row++) {
    if (at + 25 > data.length) {
      batchResult = ResultCode.PARAMETER;
      break;
    }
    const index = data.readUInt32BE(at);
    const digest = data.subarray(at + 4, at + 24);
    const type = data[at + 24]!;
    at += 25;
    let header: RowHeader;
    if (type & ROW_REPEAT) {
      if (!prev) {
        batchResult = ResultCode.PARAMETER;
        break;
      }
      header = prev;
    } else {
      const parsed = parseRowHeader(data, at, type);
      if (!parsed) {
        batchResult = ResultCode.PARAMETER;
        break;
      }
      header = parsed.header;
      at = parsed.end;
      prev = header;
    }

    let reply: RecordReply;
    const access = accessResult(node.server.security, conn, header.info2 & Info2.WRITE ? 'write' : 'read');
    try {
      const req = recordRequest(node, header, header.fields, parentFilter, digest);
      const injected = access === ResultCode.OK && header.info2 & Info2.WRITE ? node.server.takeWriteFault() : undefined;
      reply = access !== ResultCode.OK
        ? { resultCode: access, generation: 0, voidTime: 0, ops: [] }
        : injected !== undefined
        ? { resultCode: injected, generation: 0, voidTime: 0, ops: [] }
        : (await node.server.reservePartition(node, partitionId(digest)))
        ? executeRecord(req, node.server.clock)
        : { resultCode: ResultCode.PARTITION_UNAVAILABLE, generation: 0, voidTime: 0, ops: [] };
    } catch (err) {
      if (!(err instanceof ResultError)) throw err;
      if (err.resultCode === ResultCode.NAMESPACE_NOT_FOUND) {
        // A row naming an unknown namespace stops the batch on the real server too.
        batchResult = ResultCode.PARAMETER;
        break;
      }
      reply = { resultCode: err.resultCode, generation: 0, voidTime: 0, ops: [] };
    }
    writer.add({
      resultCode: reply.resultCode,
      generation: reply.generation,
      recordTtl: reply.voidTime,
      transactionTtl: index,
      ops: reply.resultCode === ResultCode.OK ? reply.ops : [],
    });
    if (writer.hasSealed) {
      await writer.sendSealed();
      if (!writer.isOpen) return;
    }
    const rc = reply.resultCode;
    if (!(flags & REPORT_ALL_ERRORS) && rc !== ResultCode.OK && rc !== ResultCode.KEY_NOT_FOUND && rc !== ResultCode.FILTERED_OUT) {
      batchResult = rc;
      break;
    }
  }
  await writer.flush();
  if (writer.isOpen) await conn.write(encodeMessageFrame({ info3: Info3.LAST, resultCode: batchResult }));
}

/** Parses a non-REPEAT row's header, fields and ops; undefined when the row is truncated. */
function parseRowHeader(data: Buffer, start: number, type: number): { header: RowHeader; end: number } | undefined {
  let at = start;
  const need = (n: number): boolean => at + n <= data.length;
  if (!need(1)) return undefined;
  const info1 = data[at++]!;
  let info2 = 0;
  let info3 = 0;
  if (type & ROW_INFO) {
    if (!need(2)) return undefined;
    info2 = data[at++]!;
    info3 = data[at++]!;
  }
  if (type & ROW_INFO4) {
    if (!need(1)) return undefined;
    at++; // info4 (transaction flags): not used by this server
  }
  let generation = 0;
  if (type & ROW_GEN) {
    if (!need(2)) return undefined;
    generation = data.readUInt16BE(at);
    at += 2;
  }
  let recordTtl = 0;
  if (type & ROW_TTL) {
    if (!need(4)) return undefined;
    recordTtl = data.readUInt32BE(at);
    at += 4;
  }
  if (!need(4)) return undefined;
  // Older clients sent 0 fields but always sent the namespace.
  const nFields = Math.max(1, data.readUInt16BE(at));
  const nOps = data.readUInt16BE(at + 2);
  at += 4;
  const fields: Field[] = [];
  for (let i = 0; i < nFields; i++) {
    if (!need(5)) return undefined;
    const size = data.readUInt32BE(at);
    if (size < 1 || !need(4 + size)) return undefined;
    fields.push({ type: data[at + 4]!, data: data.subarray(at + 5, at + 4 + size) });
    at += 4 + size;
  }
  const ops: Op[] = [];
  for (let i = 0; i < nOps; i++) {
    if (!need(8)) return undefined;
    const size = data.readUInt32BE(at);
    const nameLen = data[at + 7]!;
    if (size < 4 + nameLen || !need(4 + size)) return undefined;
    ops.push({
      op: data[at + 4]!,
      particleType: data[at + 5]!,
      name: data.toString('utf8', at + 8, at + 8 + nameLen),
      value: data.subarray(at + 8 + nameLen, at + 4 + size),
    });
    at += 4 + size;
  }
  return { header: { info1, info2, info3, generation, recordTtl, fields, ops }, end: at };
}
