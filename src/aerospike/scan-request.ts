/**
 * The partition scan request, byte for byte as the C client 7.x builds it
 * (aerospike_scan.c as_scan_command_init; checked against scan-all.jsonl and
 * scan-paginate.jsonl):
 *
 *   header  info1 READ (| GET_NOBINDATA), info3 PARTITION_DONE, record_ttl 0xFFFFFFFF,
 *           transaction timeout 0, one READ op per selected bin name
 *   fields  0 namespace, 1 set (only when exactly one set), 10 records per second,
 *           9 socket timeout (u32 ms), 7 task id (u64), 43 filter expression,
 *           11 partition ids (u16 little-endian) of partitions scanned from the start,
 *           12 digests (20 bytes each) of partitions resumed strictly below that digest
 *
 * A partition goes either in field 11 or in field 12, never both: the server derives a
 * resumed partition's id from its digest.
 *
 * Last-update time (`lastUpdate`, with a bin list only; server 8.1.2.0 or newer): after
 * the READ ops, one expression read op (type 7) named "lut" whose value is msgpack
 * [[LAST_UPDATE], 0]: each record's reply then carries its last-update time (nanoseconds
 * since the Unix epoch, an INTEGER) as an op of type 7 after its bins. A scan that
 * carries any op returns only what the ops produce, so without a bin list this would
 * lose every bin: it is refused (docs/data-plane.md, "Last-update time").
 *
 * Several sets: one scan with a set-name filter expression
 * (set_name() == "a" or set_name() == "b", AND-ed with the caller's filter). One pass over
 * each partition yields all wanted sets in one digest order, so a partition's progress
 * stays a single digest (see PartitionCursor); one scan per set would need a cursor per
 * set and per partition, and would walk every partition once per set.
 */
import { ParticleType } from './types.js';
import { ExpOp, encodeExpression, type Expr } from './wire/exp.js';
import { FieldType, Info1, Info3, OpType, encodeMessageFrame, u32Field, u64Field, field, type Field, type Op } from './wire/message.js';
import { Packer } from './wire/msgpack.js';

export interface ScanRequest {
  namespace: string;
  /** Empty = every set. */
  sets: readonly string[];
  bins?: readonly string[];
  noBins?: boolean;
  /** Ask for each record's last-update time (needs `bins`). */
  lastUpdate?: boolean;
  filter?: Expr;
  /** Partitions scanned from their start (field 11). */
  partitions: readonly number[];
  /** Last digests of partitions resumed strictly below them (field 12). */
  resumeAfter: readonly Buffer[];
  /** Server-side rate limit for this node (field 10); omitted when undefined. */
  recordsPerSecond?: number;
  socketTimeoutMs: number;
  taskId: bigint;
}

export function encodeScanRequest(r: ScanRequest): Buffer {
  const fields: Field[] = [field(FieldType.NAMESPACE, r.namespace)];
  if (r.sets.length === 1) fields.push(field(FieldType.SET, r.sets[0]!));
  if (r.recordsPerSecond !== undefined) fields.push(u32Field(FieldType.RECORDS_PER_SECOND, r.recordsPerSecond));
  fields.push(u32Field(FieldType.SOCKET_TIMEOUT, r.socketTimeoutMs));
  fields.push(u64Field(FieldType.TASK_ID, r.taskId));
  const filter = filterBytes(r.filter, r.sets.length > 1 ? r.sets : []);
  if (filter) fields.push(field(FieldType.FILTER_EXP, filter));
  if (r.partitions.length > 0) {
    const ids = Buffer.allocUnsafe(2 * r.partitions.length);
    r.partitions.forEach((id, i) => ids.writeUInt16LE(id, 2 * i));
    fields.push(field(FieldType.PID_ARRAY, ids));
  }
  if (r.resumeAfter.length > 0) fields.push(field(FieldType.DIGEST_ARRAY, Buffer.concat(r.resumeAfter)));

  const ops: Op[] = r.noBins ? [] : (r.bins ?? []).map((name) => ({ op: OpType.READ, particleType: 0, name, value: Buffer.alloc(0) }));
  if (r.lastUpdate) {
    if (ops.length === 0) throw new TypeError('a scan asks for the last-update time only with a bin list: an op makes the server send nothing else');
    ops.push(lastUpdateOp());
  }
  return encodeMessageFrame({
    info1: Info1.READ | (r.noBins ? Info1.GET_NOBINDATA : 0),
    info3: Info3.PARTITION_DONE,
    recordTtl: 0xffffffff,
    fields,
    ops,
  });
}

/** The name of the expression read op that carries the last-update time. */
export const LAST_UPDATE_OP_NAME = 'lut';

/** EXP_READ of last_update(): value msgpack [[LAST_UPDATE], 0] (no flags). */
function lastUpdateOp(): Op {
  const value = new Packer().packArrayHeader(2).packArrayHeader(1).packInt(ExpOp.LAST_UPDATE).packInt(0).finish();
  return { op: OpType.EXP_READ, particleType: ParticleType.BLOB, name: LAST_UPDATE_OP_NAME, value };
}

/** Field 43: the caller's filter, the set-name filter, or both AND-ed. */
function filterBytes(filter: Expr | undefined, sets: readonly string[]): Buffer | undefined {
  const parts: Buffer[] = [];
  if (filter) parts.push(encodeExpression(filter));
  if (sets.length > 0) parts.push(setNameFilter(sets));
  if (parts.length < 2) return parts[0];
  return Buffer.concat([new Packer().packArrayHeader(3).packInt(ExpOp.AND).finish(), ...parts]);
}

/**
 * set_name() == s1 or set_name() == s2 ...: [OR, [EQ, [SET_NAME], "s1"], ...]. A string
 * value in an expression is a msgpack str holding the STRING particle type byte and then
 * the UTF-8 text (as_exp.c, _AS_EXP_CODE_VAL_STR).
 */
export function setNameFilter(sets: readonly string[]): Buffer {
  const p = new Packer();
  if (sets.length > 1) p.packArrayHeader(1 + sets.length).packInt(ExpOp.OR);
  for (const set of sets) {
    p.packArrayHeader(3).packInt(ExpOp.EQ);
    p.packArrayHeader(1).packInt(ExpOp.SET_NAME);
    p.packTypedBytes(ParticleType.STRING, Buffer.from(set, 'utf8'));
  }
  return p.finish();
}
