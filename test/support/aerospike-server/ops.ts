/**
 * Single-record transactions: read, write (including operate), delete. Used by single
 * requests and by batch rows; the caller routes the partition and frames the reply.
 *
 * Order of checks and reply metadata follow the server's read.c, write.c and delete.c:
 *
 *   read    record lookup (2) → set name (4) → filter (27) → key (19) →
 *           GET_NOBINDATA / GET_ALL / per-op reads
 *   write   op policy checks (4, 21) → lookup (2 when the op must not create) →
 *           CREATE_ONLY (5) → generation EQ/GT, a missing record counting as 0 (3) →
 *           set name (4) → filter (27) → key (19) → ttl (4) → ops → empty record (2 or
 *           delete) → record size (13)
 *   delete  durable delete (25, enterprise only) → lookup (2) → generation (3) →
 *           filter (27) → key (19)
 *
 * A failed write replies with the existing record's generation and void time (0 when
 * there is none); a successful write replies with the new ones, and with ops only for
 * reads, CDT/HLL results, or every op when RESPOND_ALL_OPS is set (write ops echoed with
 * particle type 0 and no value). Deletes, and writes that delete the record, reply
 * generation 0 and void time 0.
 *
 * Written lists and maps are validated and stored in the server's form by cdt-rewrite.ts
 * (every map sorted by key, flags masked, msgpack compacted); a value the server refuses
 * (a key-ordered map or ordered list out of order, duplicate or invalid map keys,
 * malformed msgpack) fails the write with 1, as list_from_wire()/map_from_wire() do.
 *
 * Ops: read (1), write (2, particle type 0 deletes the bin), incr (5), append (9),
 * prepend (10), touch (11), delete-all (14), CDT map put/put_items (4, cdt.ts) and HLL
 * init/add (16, hll.ts). Every other op (CDT/bit/HLL reads, bit modify, expression
 * read/modify, list ops) is answered with 16 UNSUPPORTED_FEATURE, a divergence: the real
 * server implements them.
 */
import { Info1, Info2, Info3, OpType, type Op } from '../../../src/aerospike/wire/message.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ParticleType } from '../../../src/aerospike/types.js';
import { cdtModify } from './cdt.js';
import { CdtRewriteError, rewriteParticle } from './cdt-rewrite.js';
import { ResultError } from './errors.js';
import { compileFilter, type Filter } from './expressions.js';
import { geoJsonToStored } from './geo.js';
import { hllModify } from './hll.js';
import { flatRecordSize, type Namespace, type StoredBin, type StoredRecord } from './store.js';
import type { ServerClock } from './clock.js';

/** record_ttl values with a special meaning in requests. */
const TTL_NAMESPACE_DEFAULT = 0;
const TTL_NEVER_EXPIRE = 0xffffffff;
const TTL_DONT_UPDATE = 0xfffffffe;
/** Largest ordinary ttl the server accepts: 10 years. */
const MAX_ALLOWED_TTL = 10 * 365 * 24 * 3600;
/** Bin names are at most 15 bytes, set names at most 63. */
const BIN_NAME_MAX = 15;
const SET_NAME_MAX = 63;

/** A filter expression compiled on first use and shared by the rows of a batch. */
export class LazyFilter {
  private compiled: Filter | undefined;
  constructor(private readonly bytes: Buffer) {}
  get(): Filter {
    this.compiled ??= compileFilter(this.bytes);
    return this.compiled;
  }
}

export interface RecordRequest {
  info1: number;
  info2: number;
  info3: number;
  generation: number;
  recordTtl: number;
  namespace: Namespace;
  /** The set field's value; undefined when the field is absent. */
  set: string | undefined;
  digest: Buffer;
  /** The key field's data (particle type byte + key bytes), when sent. */
  key: Buffer | undefined;
  ops: Op[];
  filter: LazyFilter | undefined;
}

export interface RecordReply {
  resultCode: number;
  generation: number;
  voidTime: number;
  ops: Op[];
}

const EMPTY = Buffer.alloc(0);

/** Runs one single-record transaction against the namespace. Never throws. */
export function executeRecord(req: RecordRequest, clock: ServerClock): RecordReply {
  const meta = { generation: 0, voidTime: 0 };
  try {
    if (req.info2 & Info2.WRITE) {
      return req.info2 & Info2.DELETE ? executeDelete(req, clock) : executeWrite(req, clock, meta);
    }
    if (req.info1 & Info1.READ) return executeRead(req, clock, meta);
    throw new ResultError(ResultCode.PARAMETER, 'transaction is neither read nor write');
  } catch (err) {
    if (!(err instanceof ResultError)) throw err;
    return { resultCode: err.resultCode, generation: meta.generation, voidTime: meta.voidTime, ops: [] };
  }
}

// ------------------------------------------------------------------------------- read

function executeRead(req: RecordRequest, clock: ServerClock, meta: { generation: number; voidTime: number }): RecordReply {
  const rec = req.namespace.get(req.digest);
  if (!rec) throw new ResultError(ResultCode.KEY_NOT_FOUND, 'record not found');
  meta.generation = rec.generation;
  meta.voidTime = rec.voidTime;
  if (req.set !== undefined && req.set !== '' && req.set !== rec.set) {
    throw new ResultError(ResultCode.PARAMETER, 'set name does not match the record');
  }
  checkFilter(req, rec, clock);
  checkKey(req, rec);
  const done = (ops: Op[]): RecordReply => ({ resultCode: ResultCode.OK, generation: rec.generation, voidTime: rec.voidTime, ops });
  if (req.info1 & Info1.GET_NOBINDATA) return done([]);
  if (req.info1 & Info1.GET_ALL) return done(rec.bins.map(readOp));
  if (req.ops.length === 0) throw new ResultError(ResultCode.PARAMETER, 'read without bins or ops');
  const respondAll = (req.info2 & Info2.RESPOND_ALL_OPS) !== 0;
  const out: Op[] = [];
  for (const op of req.ops) {
    checkBinName(op.name);
    if (op.op !== OpType.READ) throw unsupportedOp(op.op);
    const bin = rec.bins.find((b) => b.name === op.name);
    if (bin) out.push(readOp(bin));
    else if (respondAll) out.push({ op: OpType.READ, particleType: 0, name: op.name, value: EMPTY });
  }
  return done(out);
}

function readOp(bin: StoredBin): Op {
  return { op: OpType.READ, particleType: bin.type, name: bin.name, value: bin.value };
}

// ----------------------------------------------------------------------------- delete

function executeDelete(req: RecordRequest, clock: ServerClock): RecordReply {
  checkDurableDelete(req);
  const rec = req.namespace.get(req.digest);
  if (!rec) throw new ResultError(ResultCode.KEY_NOT_FOUND, 'record not found');
  if (!generationAllows(req, rec.generation)) throw new ResultError(ResultCode.GENERATION, 'generation check failed');
  checkFilter(req, rec, clock);
  checkKey(req, rec);
  req.namespace.remove(req.digest);
  return { resultCode: ResultCode.OK, generation: 0, voidTime: 0, ops: [] };
}

// ------------------------------------------------------------------------------ write

const MODIFY_OPS: ReadonlySet<number> = new Set([OpType.INCR, OpType.APPEND, OpType.PREPEND]);

function executeWrite(req: RecordRequest, clock: ServerClock, meta: { generation: number; voidTime: number }): RecordReply {
  const respondAll = (req.info2 & Info2.RESPOND_ALL_OPS) !== 0;
  const getAll = (req.info1 & Info1.GET_ALL) !== 0;
  let mustNotCreate = (req.info3 & (Info3.UPDATE_ONLY | Info3.REPLACE_ONLY)) !== 0;
  const isReplace = (req.info3 & (Info3.CREATE_OR_REPLACE | Info3.REPLACE_ONLY)) !== 0;

  // write_master_policies()
  if (req.ops.length === 0) throw new ResultError(ResultCode.PARAMETER, 'write without ops');
  let hasReadOp = false;
  let hasReadAll = false;
  let generatesResponse = false;
  for (const op of req.ops) {
    if (op.op === OpType.TOUCH) {
      if (isReplace) throw new ResultError(ResultCode.PARAMETER, 'touch with a replace policy');
      mustNotCreate = true;
      continue;
    }
    const readAll = op.op === OpType.READ && op.name === '' && getAll;
    if (!readAll) checkBinName(op.name);
    if (isReplace && (MODIFY_OPS.has(op.op) || op.op === OpType.DELETE || op.op === OpType.CDT_MODIFY || op.op === OpType.HLL_MODIFY || op.op === OpType.BIT_MODIFY)) {
      throw new ResultError(ResultCode.PARAMETER, `op ${op.op} with a replace policy`);
    }
    if (isReplace && op.op === OpType.WRITE && op.particleType === ParticleType.NULL) {
      throw new ResultError(ResultCode.PARAMETER, 'bin delete with a replace policy');
    }
    if (readAll) {
      if (respondAll || hasReadAll) throw new ResultError(ResultCode.PARAMETER, 'misplaced read-all op');
      hasReadOp = hasReadAll = true;
    } else if (op.op === OpType.READ || op.op === OpType.CDT_READ || op.op === OpType.HLL_READ || op.op === OpType.BIT_READ || op.op === OpType.EXP_READ) {
      hasReadOp = generatesResponse = true;
    } else if (op.op === OpType.CDT_MODIFY || op.op === OpType.HLL_MODIFY) {
      generatesResponse = true;
    }
  }
  if (hasReadOp && !(req.info1 & Info1.READ)) throw new ResultError(ResultCode.PARAMETER, 'read op without the READ flag');
  if (hasReadAll && generatesResponse) throw new ResultError(ResultCode.PARAMETER, 'read-all op mixed with other results');
  if (getAll && !hasReadAll) throw new ResultError(ResultCode.PARAMETER, 'GET_ALL without a read-all op');

  const ns = req.namespace;
  const existing = ns.get(req.digest);
  if (existing) {
    meta.generation = existing.generation;
    meta.voidTime = existing.voidTime;
  }
  if (!existing && mustNotCreate) throw new ResultError(ResultCode.KEY_NOT_FOUND, 'record not found');
  if (existing && req.info2 & Info2.CREATE_ONLY) throw new ResultError(ResultCode.KEY_EXISTS, 'record exists');
  if (!generationAllows(req, existing?.generation ?? 0)) throw new ResultError(ResultCode.GENERATION, 'generation check failed');
  const set = req.set ?? '';
  if (!existing && Buffer.byteLength(set) > SET_NAME_MAX) throw new ResultError(ResultCode.PARAMETER, 'set name longer than 63 bytes');
  if (!existing && set !== '' && !ns.ensureSet(set)) throw new ResultError(ResultCode.FAIL_FORBIDDEN, 'too many sets');
  if (existing && set !== existing.set) throw new ResultError(ResultCode.PARAMETER, 'set name does not match the record');
  if (existing) {
    checkFilter(req, existing, clock);
    checkKey(req, existing);
  }
  const voidTime = newVoidTime(req.recordTtl, existing, ns, clock);

  let bins: StoredBin[] = existing && !isReplace ? existing.bins.slice() : [];
  const replyOps: Op[] = [];
  const echo = (op: Op): void => {
    if (respondAll) replyOps.push({ op: op.op, particleType: 0, name: op.name, value: EMPTY });
  };
  for (const op of req.ops) {
    const at = bins.findIndex((b) => b.name === op.name);
    const current = at >= 0 ? bins[at] : undefined;
    const store = (bin: StoredBin | undefined): void => {
      if (!bin) return;
      if (at >= 0) bins[at] = bin;
      else bins.push(bin);
    };
    switch (op.op) {
      case OpType.TOUCH:
        break;
      case OpType.WRITE:
        if (op.particleType === ParticleType.NULL) {
          if (at >= 0) bins.splice(at, 1);
        } else store({ name: op.name, type: op.particleType, value: particleFromClient(op) });
        echo(op);
        break;
      case OpType.INCR:
      case OpType.APPEND:
      case OpType.PREPEND:
        store(modifyParticle(op, current));
        echo(op);
        break;
      case OpType.DELETE:
        bins = [];
        echo(op);
        break;
      case OpType.CDT_MODIFY: {
        const r = cdtModify(op.name, op.value, current);
        store(r.bin);
        replyOps.push({ op: op.op, particleType: ParticleType.INTEGER, name: op.name, value: int64(r.reply) });
        break;
      }
      case OpType.HLL_MODIFY: {
        const r = hllModify(op.name, op.value, current);
        store(r.bin);
        if (r.reply !== undefined) replyOps.push({ op: op.op, particleType: ParticleType.INTEGER, name: op.name, value: int64(r.reply) });
        else echo(op);
        break;
      }
      case OpType.READ:
        if (op.name === '' && getAll) replyOps.push(...bins.map(readOp));
        else if (current) replyOps.push(readOp(current));
        else echo(op);
        break;
      default:
        throw unsupportedOp(op.op);
    }
  }

  if (bins.length === 0) {
    if (!existing) throw new ResultError(ResultCode.KEY_NOT_FOUND, 'write leaves a new record without bins');
    checkDurableDelete(req);
    ns.remove(req.digest);
    return { resultCode: ResultCode.OK, generation: 0, voidTime: 0, ops: replyOps };
  }
  const rec: StoredRecord = {
    digest: existing?.digest ?? Buffer.from(req.digest),
    set: existing?.set ?? set,
    key: existing?.key ?? (req.key ? Buffer.from(req.key) : undefined),
    bins,
    generation: existing ? (existing.generation % 0xffff) + 1 : 1,
    voidTime,
    lutMs: clock.nowClepochMs(),
  };
  if (flatRecordSize(rec) > ns.config.maxRecordSize) throw new ResultError(ResultCode.RECORD_TOO_BIG, 'record too big');
  ns.put(rec);
  return { resultCode: ResultCode.OK, generation: rec.generation, voidTime: rec.voidTime, ops: replyOps };
}

/** The void time a write gives the record (as_record_advance_void_time()). */
function newVoidTime(ttl: number, existing: StoredRecord | undefined, ns: Namespace, clock: ServerClock): number {
  const now = clock.nowClepochSeconds();
  const namespaceDefault = ns.config.defaultTtl === 0 ? 0 : now + ns.config.defaultTtl;
  switch (ttl) {
    case TTL_NAMESPACE_DEFAULT:
      return namespaceDefault;
    case TTL_NEVER_EXPIRE:
      return 0;
    case TTL_DONT_UPDATE:
      return existing ? existing.voidTime : namespaceDefault;
    default:
      if (ttl > MAX_ALLOWED_TTL) throw new ResultError(ResultCode.PARAMETER, `ttl ${ttl} exceeds 10 years`);
      return now + ttl;
  }
}

/** A written particle as the server stores it; throws on values the server rejects. */
function particleFromClient(op: Op): Buffer {
  const v = op.value;
  switch (op.particleType) {
    case ParticleType.INTEGER: {
      // integer_from_wire(): 1, 2, 4 or 8 bytes, big-endian, zero-extended to 64 bits.
      if (v.length !== 1 && v.length !== 2 && v.length !== 4 && v.length !== 8) {
        throw new ResultError(ResultCode.PARAMETER, `integer of ${v.length} bytes`);
      }
      const out = Buffer.alloc(8);
      v.copy(out, 8 - v.length);
      return out;
    }
    case ParticleType.FLOAT:
      if (v.length !== 8) throw new ResultError(ResultCode.PARAMETER, `double of ${v.length} bytes`);
      return Buffer.from(v);
    case ParticleType.BOOL:
      if (v.length !== 1 || v[0]! > 1) throw new ResultError(ResultCode.PARAMETER, 'boolean must be one byte, 0 or 1');
      return Buffer.from(v);
    case ParticleType.STRING:
    case ParticleType.BLOB:
    case ParticleType.JAVA_BLOB:
    case ParticleType.CSHARP_BLOB:
    case ParticleType.PYTHON_BLOB:
    case ParticleType.RUBY_BLOB:
    case ParticleType.PHP_BLOB:
    case ParticleType.ERLANG_BLOB:
      return Buffer.from(v);
    case ParticleType.LIST:
    case ParticleType.MAP:
      // Validated and stored in the server's form (flags masked, maps sorted by key,
      // msgpack compacted); the server refuses a bad value with AS_ERR_UNKNOWN (1).
      try {
        return Buffer.from(rewriteParticle(v, op.particleType));
      } catch (err) {
        if (!(err instanceof CdtRewriteError)) throw err;
        throw new ResultError(ResultCode.SERVER_ERROR, `invalid list or map: ${err.message}`);
      }
    case ParticleType.HLL:
      if (v.length < 11 || v.length !== 11 + Math.ceil(((6 + v[2]!) * (1 << v[1]!)) / 8)) {
        throw new ResultError(ResultCode.PARAMETER, 'malformed HLL value');
      }
      return Buffer.from(v);
    case ParticleType.GEOJSON:
      return geoJsonToStored(v);
    default:
      throw new ResultError(ResultCode.PARAMETER, `particle type ${op.particleType} cannot be written`);
  }
}

/** incr / append / prepend (as_bin_particle_modify_from_client()). */
function modifyParticle(op: Op, current: StoredBin | undefined): StoredBin {
  if (op.op === OpType.INCR) {
    if (op.particleType !== ParticleType.INTEGER && op.particleType !== ParticleType.FLOAT) {
      throw new ResultError(ResultCode.PARAMETER, 'incr by a non-number');
    }
    const delta = particleFromClient(op);
    if (!current) return { name: op.name, type: op.particleType, value: delta };
    if (current.type !== op.particleType) throw new ResultError(ResultCode.BIN_TYPE, 'incr of a bin of another type');
    const value = Buffer.allocUnsafe(8);
    if (op.particleType === ParticleType.INTEGER) value.writeBigInt64BE(BigInt.asIntN(64, current.value.readBigInt64BE(0) + delta.readBigInt64BE(0)), 0);
    else value.writeDoubleBE(current.value.readDoubleBE(0) + delta.readDoubleBE(0), 0);
    return { name: op.name, type: current.type, value };
  }
  if (op.particleType !== ParticleType.STRING && op.particleType !== ParticleType.BLOB) {
    throw new ResultError(ResultCode.PARAMETER, 'append/prepend of a non-string, non-blob value');
  }
  if (!current) return { name: op.name, type: op.particleType, value: Buffer.from(op.value) };
  if (current.type !== op.particleType) throw new ResultError(ResultCode.BIN_TYPE, 'append/prepend to a bin of another type');
  const parts = op.op === OpType.APPEND ? [current.value, op.value] : [op.value, current.value];
  return { name: op.name, type: current.type, value: Buffer.concat(parts) };
}

// ----------------------------------------------------------------------------- shared

function generationAllows(req: RecordRequest, recordGeneration: number): boolean {
  if (req.info2 & Info2.GENERATION) return req.generation === recordGeneration;
  if (req.info2 & Info2.GENERATION_GT) return req.generation > recordGeneration;
  return true;
}

function checkFilter(req: RecordRequest, rec: StoredRecord, clock: ServerClock): void {
  if (req.filter && !req.filter.get()({ record: rec, nowClepochMs: clock.nowClepochMs() })) {
    throw new ResultError(ResultCode.FILTERED_OUT, 'filtered out');
  }
}

function checkKey(req: RecordRequest, rec: StoredRecord): void {
  if (req.key && rec.key && !req.key.equals(rec.key)) throw new ResultError(ResultCode.KEY_MISMATCH, 'key does not match the stored key');
}

/** as_bin_name_check(): at most 15 bytes, no NUL (an empty name passes). */
export function validBinName(name: string): boolean {
  return Buffer.byteLength(name) <= BIN_NAME_MAX && !name.includes('\0');
}

function checkBinName(name: string): void {
  if (!validBinName(name)) throw new ResultError(ResultCode.BIN_NAME, `bad bin name '${name}'`);
}

/** Durable deletes are an enterprise feature: the community server answers 25. */
function checkDurableDelete(req: RecordRequest): void {
  if (req.info2 & Info2.DURABLE_DELETE) throw new ResultError(ResultCode.ENTERPRISE_ONLY, 'durable delete is an enterprise feature');
}

function unsupportedOp(op: number): ResultError {
  return new ResultError(ResultCode.UNSUPPORTED_FEATURE, `op ${op} is not supported by the test server`);
}

function int64(v: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(v, 0);
  return b;
}
