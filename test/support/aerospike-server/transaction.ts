/**
 * AS_MSG requests (proto type 3): one message per request, routed as the server's
 * service.c and thr_tsvc.c route it:
 *
 *   info1 BATCH            → batch.ts
 *   no digest field        → scan/query, scan.ts
 *   otherwise              → single-record transaction, ops.ts
 *
 * A single-record request names its namespace (missing or unknown: 20) and a 20-byte
 * digest (4 otherwise); a UDF call (field 30) is answered with 16 UNSUPPORTED_FEATURE. Its partition is then reserved: a partition this node does not
 * own is served through its owner, as the server proxies it (waiting while the owner is
 * paused); a partition marked unavailable, or whose owner was killed, answers 11.
 *
 * With security (security.ts), a connection that has not logged in gets result 80 for
 * any message; a scan needs the read permission, a single-record request read or write
 * (info2 WRITE), and batch rows are checked one by one (batch.ts): 81 when refused.
 */
import { FieldType, Info1, Info2, Info3, encodeMessageFrame, findField, readMessage, type Field, type Message } from '../../../src/aerospike/wire/message.js';
import { partitionId } from '../../../src/aerospike/wire/digest.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { handleBatch } from './batch.js';
import { ResultError } from './errors.js';
import { executeRecord, LazyFilter, type RecordReply, type RecordRequest } from './ops.js';
import { handleScan } from './scan.js';
import { accessResult } from './security.js';
import type { Connection } from './connection.js';
import type { TestNode } from './node.js';
import type { Namespace } from './store.js';

export async function handleMessage(conn: Connection, body: Buffer): Promise<void> {
  let msg: Message;
  try {
    const { message, end } = readMessage(body, 0);
    if (end !== body.length) throw new Error('bytes after the message');
    msg = message;
  } catch {
    await conn.write(encodeMessageFrame({ resultCode: ResultCode.PARAMETER }));
    return;
  }
  const security = conn.node.server.security;
  const isBatch = (msg.info1 & Info1.BATCH) !== 0;
  const isScan = !isBatch && !findField(msg, FieldType.DIGEST);
  // Batches check each row's permission; scans and single records are checked here.
  const access = accessResult(security, conn, isBatch ? undefined : isScan || !(msg.info2 & Info2.WRITE) ? 'read' : 'write');
  if (access !== ResultCode.OK) {
    await conn.write(encodeMessageFrame({ resultCode: access, ...(isBatch ? { info3: Info3.LAST } : {}) }));
    return;
  }
  if (isBatch) return handleBatch(conn, msg);
  if (isScan) return handleScan(conn, msg);
  const reply = await handleSingle(conn.node, msg);
  await conn.write(encodeMessageFrame({ resultCode: reply.resultCode, generation: reply.generation, recordTtl: reply.voidTime, ops: reply.ops }));
}

async function handleSingle(node: TestNode, msg: Message): Promise<RecordReply> {
  try {
    const req = recordRequest(node, msg, msg.fields, undefined);
    if (!(await node.server.reservePartition(node, partitionId(req.digest)))) {
      return failure(ResultCode.PARTITION_UNAVAILABLE);
    }
    const injected = req.info2 & Info2.WRITE ? node.server.takeWriteFault() : undefined;
    if (injected !== undefined) return failure(injected);
    return executeRecord(req, node.server.clock);
  } catch (err) {
    if (err instanceof ResultError) return failure(err.resultCode);
    throw err;
  }
}

function failure(resultCode: number): RecordReply {
  return { resultCode, generation: 0, voidTime: 0, ops: [] };
}

/** The namespace a request names; 20 NAMESPACE_NOT_FOUND when the field is missing or unknown. */
export function requestNamespace(node: TestNode, fields: readonly Field[]): Namespace {
  const data = findField({ fields: fields as Field[] }, FieldType.NAMESPACE);
  const ns = data === undefined ? undefined : node.server.namespace(data.toString('utf8'));
  if (!ns) throw new ResultError(ResultCode.NAMESPACE_NOT_FOUND, 'unknown namespace');
  return ns;
}

/**
 * A single-record request from a message header and its fields (a batch row passes its
 * own fields and the batch's filter). Throws ResultError for a bad namespace or digest.
 */
export function recordRequest(
  node: TestNode,
  header: Pick<Message, 'info1' | 'info2' | 'info3' | 'generation' | 'recordTtl' | 'ops'>,
  fields: readonly Field[],
  inheritedFilter: LazyFilter | undefined,
  digestOverride?: Buffer,
): RecordRequest {
  const namespace = requestNamespace(node, fields);
  const f = { fields: fields as Field[] };
  if (findField(f, FieldType.UDF_PACKAGE_NAME)) throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, 'UDFs do not run on the test server');
  const digest = digestOverride ?? findField(f, FieldType.DIGEST);
  if (!digest || digest.length !== 20) throw new ResultError(ResultCode.PARAMETER, 'digest field must hold 20 bytes');
  const set = findField(f, FieldType.SET);
  const filter = findField(f, FieldType.FILTER_EXP);
  return {
    info1: header.info1,
    info2: header.info2,
    info3: header.info3,
    generation: header.generation,
    recordTtl: header.recordTtl,
    namespace,
    set: set?.toString('utf8'),
    digest,
    key: findField(f, FieldType.KEY),
    ops: header.ops,
    filter: filter ? new LazyFilter(filter) : inheritedFilter,
  };
}
