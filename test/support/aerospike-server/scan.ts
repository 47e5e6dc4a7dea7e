/**
 * Scans: "basic" queries without a secondary index, by partition (query.c).
 *
 * Request: namespace (0), optional set (1; empty = whole namespace), partition ids (11,
 * u16 little-endian each) and/or resume digests (12, 20 bytes each: scan that digest's
 * partition strictly below it), max records (13, u64), records per second (10, u32),
 * socket timeout (9, u32), filter expression (43), bin selection by READ ops or the
 * legacy bin list (40), or no bins at all (info1 GET_NOBINDATA). info3 PARTITION_DONE
 * is required (16 otherwise, as on 8.x servers), so are fields 11 or 12 (16 otherwise).
 *
 * Reply: for each requested partition in ascending id, the live records of the set in
 * descending digest order, one message each (fields namespace, digest, set, key when
 * stored; header generation and void time; bins as READ ops, or none and info1
 * GET_NOBINDATA), packed into frames of about `frameBytes`; a partition this node does
 * not serve (not its own, or unavailable) gets a partition-done message (info3 0x04,
 * result 11, partition id in the generation slot). Last, a frame holding only the LAST
 * message (info3 0x01). Request errors are one message with the result code.
 *
 * Records per second are paced from the start of the scan, the pending frame flushed
 * before each pause.
 *
 * Divergences: the real server walks partitions on several threads, so its record order
 * across partitions varies; here it is always ascending partition id. It sends frames of
 * up to 1 MiB (and buffers throttled records until then); here frames are `frameBytes`
 * (128 KiB by default) and flushed before each throttling pause. Queries on a
 * secondary index (fields 21/22), background ops/UDF queries (info2 WRITE, fields 30-33)
 * and read ops other than READ are answered with 16 UNSUPPORTED_FEATURE.
 */
import { PARTITION_COUNT } from '../../../src/aerospike/types.js';
import { FieldType, Info1, Info2, Info3, OpType, encodeMessageFrame, findField, type Message } from '../../../src/aerospike/wire/message.js';
import { partitionId } from '../../../src/aerospike/wire/digest.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ResultError } from './errors.js';
import { compileFilter, type Filter } from './expressions.js';
import { validBinName } from './ops.js';
import { FrameWriter } from './reply.js';
import { Namespace } from './store.js';
import { requestNamespace } from './transaction.js';
import type { Connection } from './connection.js';

interface ScanPlan {
  namespace: Namespace;
  /** undefined: every set. */
  set: string | undefined;
  /** Requested partitions, ascending, each with its resume digest if any. */
  partitions: Array<{ pid: number; below: Buffer | undefined }>;
  maxRecords: number;
  recordsPerSecond: number;
  filter: Filter | undefined;
  bins: 'all' | 'none' | ReadonlySet<string>;
  /** The name of the expression read op of last_update(), when the scan asked for it (server 8.1.2+). */
  lastUpdateOp: string | undefined;
}

export async function handleScan(conn: Connection, msg: Message): Promise<void> {
  let plan: ScanPlan;
  try {
    plan = parseScan(conn, msg);
  } catch (err) {
    if (!(err instanceof ResultError)) throw err;
    await conn.write(encodeMessageFrame({ resultCode: err.resultCode }));
    return;
  }
  const node = conn.node;
  const server = node.server;
  const writer = new FrameWriter(conn, server.settings.frameBytes);
  const nsName = Buffer.from(plan.namespace.name, 'utf8');
  const started = Date.now();
  let sent = 0;
  scan: for (const { pid, below } of plan.partitions) {
    if (!server.servesPartition(node, pid)) {
      writer.add({ info3: Info3.PARTITION_DONE, resultCode: ResultCode.PARTITION_UNAVAILABLE, generation: pid });
      continue;
    }
    // A snapshot: writes during the scan must not shift what is left to send.
    const list = plan.namespace.partition(pid);
    const records = list.slice(below ? Namespace.startBelow(list, below) : 0);
    for (const rec of records) {
      if (plan.set !== undefined && rec.set !== plan.set) continue;
      if (plan.namespace.isDoomed(rec)) continue;
      if (plan.filter && !plan.filter({ record: rec, nowClepochMs: server.clock.nowClepochMs() })) continue;
      writer.addRecord(nsName, rec, plan.bins, plan.lastUpdateOp);
      node.scannedRecords++;
      if (writer.hasSealed) {
        await writer.sendSealed();
        // A paused node stops mid-scan; a killed one, or a vanished client, ends it.
        if (!writer.isOpen || !(await node.gate())) return;
      }
      sent++;
      if (plan.maxRecords > 0 && sent >= plan.maxRecords) break scan;
      if (plan.recordsPerSecond > 0) {
        const wait = started + (sent * 1000) / plan.recordsPerSecond - Date.now();
        if (wait > 1) {
          // Throttled: let the client have what is ready before sleeping.
          await writer.flush();
          if (!writer.isOpen) return;
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
      }
    }
  }
  await writer.flush();
  if (!writer.isOpen) return;
  await conn.write(encodeMessageFrame({ info3: Info3.LAST }));
  node.lastScan = { records: sent, ms: Date.now() - started };
}

function param(message: string): ResultError {
  return new ResultError(ResultCode.PARAMETER, `scan: ${message}`);
}

function unsupported(message: string): ResultError {
  return new ResultError(ResultCode.UNSUPPORTED_FEATURE, `scan: ${message} is not supported by the test server`);
}

function parseScan(conn: Connection, msg: Message): ScanPlan {
  const namespace = requestNamespace(conn.node, msg.fields);
  if (msg.info2 & Info2.WRITE) throw unsupported('a background ops query');
  if (findField(msg, FieldType.UDF_PACKAGE_NAME) || findField(msg, FieldType.UDF_OP)) throw unsupported('a UDF query');
  if (!(msg.info3 & Info3.PARTITION_DONE)) throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, 'scan without PARTITION_DONE');
  if (findField(msg, FieldType.INDEX_NAME) || findField(msg, FieldType.INDEX_RANGE)) throw unsupported('a secondary-index query');

  const setField = findField(msg, FieldType.SET);
  const set = setField && setField.length > 0 ? setField.toString('utf8') : undefined;

  const requested = new Map<number, Buffer | undefined>();
  const pids = findField(msg, FieldType.PID_ARRAY);
  const digests = findField(msg, FieldType.DIGEST_ARRAY);
  if (!pids && !digests) throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, 'scan without partitions or digests');
  if (pids) {
    const n = pids.length >> 1;
    if (n === 0 || n > PARTITION_COUNT) throw param('pid array empty or too big');
    for (let i = 0; i < n; i++) {
      const pid = pids.readUInt16LE(i * 2);
      if (pid >= PARTITION_COUNT || requested.has(pid)) throw param(`bad or duplicate pid ${pid}`);
      requested.set(pid, undefined);
    }
  }
  if (digests) {
    const n = Math.floor(digests.length / 20);
    if (n === 0 || n > PARTITION_COUNT) throw param('digest array empty or too big');
    for (let i = 0; i < n; i++) {
      const digest = Buffer.from(digests.subarray(i * 20, i * 20 + 20));
      const pid = partitionId(digest);
      if (requested.has(pid)) throw param(`duplicate digest partition ${pid}`);
      requested.set(pid, digest);
    }
  }

  const maxRecords = u64Field(msg, FieldType.MAX_RECORDS, 'max records');
  const recordsPerSecond = u32Field(msg, FieldType.RECORDS_PER_SECOND, 'records per second');
  u32Field(msg, FieldType.SOCKET_TIMEOUT, 'socket timeout');
  const filterBytes = findField(msg, FieldType.FILTER_EXP);

  return {
    namespace,
    set,
    partitions: [...requested.entries()].sort((a, b) => a[0] - b[0]).map(([pid, below]) => ({ pid, below })),
    maxRecords,
    recordsPerSecond,
    filter: filterBytes ? compileFilter(filterBytes) : undefined,
    bins: msg.info1 & Info1.GET_NOBINDATA ? 'none' : binSelection(msg),
    // As the server: GET_NOBINDATA drops the ops (basic_query_job_start).
    lastUpdateOp: msg.info1 & Info1.GET_NOBINDATA ? undefined : lastUpdateSelection(msg),
  };
}

function u32Field(msg: Message, type: number, what: string): number {
  const data = findField(msg, type);
  if (!data) return 0;
  if (data.length !== 4) throw param(`${what} field size ${data.length}`);
  return data.readUInt32BE(0);
}

function u64Field(msg: Message, type: number, what: string): number {
  const data = findField(msg, type);
  if (!data) return 0;
  if (data.length !== 8) throw param(`${what} field size ${data.length}`);
  return Number(data.readBigUInt64BE(0));
}

/** msgpack [[LAST_UPDATE]] or [[LAST_UPDATE], 0]: the one expression read this server evaluates in a scan. */
const LAST_UPDATE_EXPRS = [Buffer.from([0x91, 0x91, 0x42]), Buffer.from([0x92, 0x91, 0x42, 0x00])];

/** The name of the scan's last_update() expression read op, if it has one; any other expression read is refused. */
function lastUpdateSelection(msg: Message): string | undefined {
  let name: string | undefined;
  for (const op of msg.ops) {
    if (op.op !== OpType.EXP_READ) continue;
    if (!LAST_UPDATE_EXPRS.some((e) => e.equals(op.value))) throw unsupported('an expression read in a scan other than last_update()');
    name = op.name;
  }
  return name;
}

/**
 * READ ops (expression reads aside: lastUpdateSelection) or the legacy bin list (u8
 * count, then u8 length + name each); neither = all bins. As server 8.1.2, a scan that
 * carries any op returns only what its ops produce: with only an expression read, no bin.
 */
function binSelection(msg: Message): 'all' | ReadonlySet<string> {
  const binList = findField(msg, FieldType.QUERY_BINLIST);
  if (binList && msg.ops.length > 0) throw param('both a bin list and ops');
  if (binList) {
    const names = new Set<string>();
    let at = 1;
    for (let i = 0; i < (binList[0] ?? 0) && at < binList.length; i++) {
      const len = binList[at]!;
      names.add(binList.toString('utf8', at + 1, at + 1 + len));
      at += 1 + len;
    }
    return names;
  }
  if (msg.ops.length === 0) return 'all';
  const names = new Set<string>();
  for (const op of msg.ops) {
    if (op.op === OpType.EXP_READ) continue;
    if (!validBinName(op.name)) throw param(`bad bin name '${op.name}'`);
    if (op.op !== OpType.READ) throw unsupported(`read op ${op.op} in a scan`);
    names.add(op.name);
  }
  return names;
}
