/**
 * Backup records straight into batch write rows: what restore decodes data files with.
 * Each record goes from its Avro bytes to the bytes of its row (batch-request.ts) in one
 * pass, with no RawRecord, no bin objects and no JS strings in between: names and values
 * are copied as bytes, so decoding costs about one copy of the data, and the BatchWriter
 * sends a row with one more copy.
 *
 * Contract (test/avro/record-rows.test.ts):
 * - readRecordRow(rd, out, ns, filter) appends to `out` exactly the row appendRecordRow
 *   writes for the record readRecord(rd) returns, with namespace `ns` (the restore's
 *   target) and only the bins the filter keeps; its generation and void time go beside it.
 *   It reads and checks every byte readRecord does, and throws for the same inputs
 *   (plus a record of more than 65535 bins, which no batch write row holds).
 * - A record outside filter.sets, or without any bin left, is read but not appended; it
 *   counts in out.skipped. A record filter.digests refuses is read but not appended, and
 *   not counted.
 */
import { isUtf8 } from 'node:buffer';
import { FIELD_HEADER_SIZE, OP_HEADER_SIZE, ROW_HEADER_SIZE, WireRows, setRowOpCount, writeRowHeader, type RowBuffer, type RowsLender } from '../aerospike/batch-request.js';
import { ParticleType } from '../aerospike/types.js';
import { FieldType, OpType } from '../aerospike/wire/message.js';
import type { BlockReader } from './container.js';
import { RecordCodecError } from './errors.js';
import {
  BIN_BRANCHES,
  BinBranch,
  KEY_BRANCHES,
  KeyBranch,
  cachedString,
  pastEnd,
  readArrayCount,
  readDoubleInto,
  readGeoJson,
  readInt64Into,
  readLength,
  readLongBits,
  readParticleType,
  readUint32,
  readUnionIndex,
  type AvroReader,
} from './record-binary.js';

/** What a restore keeps (everything when absent): records of these sets, bins of these names. */
export interface RowFilter {
  sets?: ReadonlySet<string>;
  bins?: ReadonlySet<string>;
  /**
   * Asked about every record of a kept set, before its bins are filtered, with its digest
   * (20 bytes of `src` at `at`) and set name (UTF-8 at `setAt`); a record it refuses is read but neither appended nor
   * counted in out.skipped (the predicate counts what it refuses). Chain restores use it
   * to keep only the newest version of a record, and only records still live.
   */
  digests?: { keep(src: Buffer, at: number, setAt: number, setLength: number): boolean };
}

const DIGEST_BYTES = 20;
/** The Avro bytes of the smallest record: empty namespace and set, the digest, and a byte for each other field. */
const MIN_RECORD_BYTES = 2 + DIGEST_BYTES + 5;
/** Bytes of a key field before the key's bytes: size, field type, particle type. */
const KEY_HEADER_SIZE = FIELD_HEADER_SIZE + 1;
const MAX_OPS = 0xffff;
/**
 * Copies of up to this many bytes are done here, 4 bytes at a time through DataViews:
 * cheaper than a call into C++ (and the view of the source it makes).
 */
const SHORT_COPY = 128;
const V_LONG = BinBranch.LONG;
const V_DOUBLE = BinBranch.DOUBLE;
const V_STRING = BinBranch.STRING;
const V_BOOLEAN = BinBranch.BOOLEAN;
const V_BYTES = BinBranch.BYTES;
const V_LIST = BinBranch.LIST;
const V_MAP = BinBranch.MAP;
const V_HLL = BinBranch.HLL;
/** The particle type of a bin value whose branch holds bytes or a string. */
const BYTES_TYPES: number[] = [];
BYTES_TYPES[V_STRING] = ParticleType.STRING;
BYTES_TYPES[V_BYTES] = ParticleType.BLOB;
BYTES_TYPES[V_LIST] = ParticleType.LIST;
BYTES_TYPES[V_MAP] = ParticleType.MAP;
BYTES_TYPES[V_HLL] = ParticleType.HLL;

/** The input buffer of the last call, and a DataView of it. */
let srcBuf: Buffer | undefined;
let srcView: DataView = new DataView(new ArrayBuffer(0));

function viewOf(src: Buffer): DataView {
  if (src !== srcBuf) {
    srcBuf = src;
    srcView = new DataView(src.buffer, src.byteOffset, src.length);
  }
  return srcView;
}

/**
 * Copies src[from, from + n) (`sv` a DataView of src) to out.buf[at] (room ensured);
 * returns whether the bytes copied are all ASCII (always false past SHORT_COPY bytes).
 */
function copyBytes(src: Buffer, sv: DataView, from: number, n: number, out: RowBuffer, at: number): boolean {
  if (n > SHORT_COPY) {
    src.copy(out.buf, at, from, from + n);
    return false;
  }
  const dv = out.view;
  let all = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const w = sv.getInt32(from + i);
    all |= w;
    dv.setInt32(at + i, w);
  }
  const dst = out.buf;
  for (; i < n; i++) {
    const b = src[from + i]!;
    all |= b;
    dst[at + i] = b;
  }
  return (all & 0x8080_8080) === 0;
}

/**
 * Copies the string bytes src[from, from + n) to out.buf[at] (room for n ensured) as
 * readRecord's strings give them: the bytes when they are UTF-8, else what they decode
 * to, re-encoded. Returns the end.
 */
function copyString(out: WireRows, at: number, src: Buffer, from: number, n: number): number {
  if (copyBytes(src, viewOf(src), from, n, out, at) || isUtf8(src.subarray(from, from + n))) return at + n;
  const fixed = Buffer.from(src.toString('utf8', from, from + n), 'utf8');
  out.ensure(at, fixed.length);
  fixed.copy(out.buf, at);
  return at + fixed.length;
}

/** Reads Avro bytes or a string (`utf8`) at rd.pos and writes them at out.buf[at]; returns the end. */
function readValue(rd: AvroReader, out: WireRows, at: number, utf8: boolean): number {
  const n = readLength(rd);
  const from = rd.pos;
  rd.pos = from + n;
  out.ensure(at, n);
  if (utf8) return copyString(out, at, rd.buf, from, n);
  copyBytes(rd.buf, viewOf(rd.buf), from, n, out, at);
  return at + n;
}

/** Writes a key field from `at`, reading the key of union branch `branch` at rd.pos; returns the end. */
function readKeyField(rd: AvroReader, out: WireRows, at: number, branch: number): number {
  let type: number;
  let end: number;
  const data = at + KEY_HEADER_SIZE;
  switch (branch) {
    case KeyBranch.LONG:
      type = ParticleType.INTEGER;
      out.ensure(data, 8);
      readInt64Into(rd, out.buf, data);
      end = data + 8;
      break;
    case KeyBranch.STRING:
      type = ParticleType.STRING;
      end = readValue(rd, out, data, true);
      break;
    case KeyBranch.BYTES:
      type = ParticleType.BLOB;
      end = readValue(rd, out, data, false);
      break;
    default:
      type = readParticleType(rd);
      end = readValue(rd, out, data, false);
  }
  const buf = out.buf;
  buf.writeUInt32BE(end - at - 4, at);
  buf[at + 4] = FieldType.KEY;
  buf[at + 5] = type;
  return end;
}

/** The particle type of the value readOtherValue read. */
let otherType = 0;

/** A bin value of a branch readRecordRow has no fast path for (GeoJSON, Particle), at rd.pos, written at out.buf[at]; returns the end. */
function readOtherValue(rd: AvroReader, out: WireRows, at: number, branch: number): number {
  if (branch === BinBranch.GEOJSON) {
    otherType = ParticleType.GEOJSON;
    const value = readGeoJson(rd);
    out.ensure(at, value.length);
    return at + value.copy(out.buf, at);
  }
  otherType = readParticleType(rd);
  return readValue(rd, out, at, false);
}

/**
 * Reads the record at rd.pos into a row appended to `out` (see the contract above) and
 * moves rd.pos past it. `ns` is the UTF-8 of out.namespace.
 *
 * One function with its own cursor over the bytes: the usual case (one-byte lengths and
 * branches, short values) never leaves it; anything else goes through record-binary.ts's
 * readers, which check the bytes exactly as readRecord does.
 */
export function readRecordRow(rd: AvroReader, out: WireRows, ns: Buffer, filter: RowFilter): void {
  const src = rd.buf;
  const sv = viewOf(src);
  const end = rd.end;
  let pos = rd.pos;
  let b = 0;

  // The namespace is read (and checked) like readRecord's, but the row gets the target's.
  b = pos < end ? src[pos]! : 0x80;
  if ((b & 0x81) === 0) pos += 1 + (b >> 1);
  else {
    rd.pos = pos;
    const nsLen = readLength(rd);
    pos = rd.pos + nsLen;
  }
  if (pos > end) pastEnd();
  b = pos < end ? src[pos]! : 0x80;
  let setLen: number;
  if ((b & 0x81) === 0) {
    setLen = b >> 1;
    pos++;
  } else {
    rd.pos = pos;
    setLen = readLength(rd);
    pos = rd.pos;
  }
  const setAt = pos;
  pos += setLen;
  if (pos + DIGEST_BYTES > end) pastEnd();
  const digestAt = pos;
  pos += DIGEST_BYTES;
  b = pos < end ? src[pos]! : 0x80;
  let keyBranch: number;
  if ((b & 0x81) === 0 && b < 2 * KEY_BRANCHES) {
    keyBranch = b >> 1;
    pos++;
  } else {
    rd.pos = pos;
    keyBranch = readUnionIndex(rd, KEY_BRANCHES, 'user key');
    pos = rd.pos;
  }

  const start = out.end;
  out.ensure(start, ROW_HEADER_SIZE + 2 * FIELD_HEADER_SIZE + ns.length + setLen);
  let dst = out.buf;
  let at = writeRowHeader(out, start, sv, digestAt, keyBranch === KeyBranch.NONE ? 2 : 3);
  dst.writeUInt32BE(ns.length + 1, at);
  dst[at + 4] = FieldType.NAMESPACE;
  for (let i = 0; i < ns.length; i++) dst[at + FIELD_HEADER_SIZE + i] = ns[i]!;
  at += FIELD_HEADER_SIZE + ns.length;
  const setEnd = copyString(out, at + FIELD_HEADER_SIZE, src, setAt, setLen);
  dst = out.buf;
  dst.writeUInt32BE(setEnd - at - 4, at);
  dst[at + 4] = FieldType.SET;
  at = setEnd;
  if (keyBranch !== KeyBranch.NONE) {
    rd.pos = pos;
    at = readKeyField(rd, out, at, keyBranch);
    pos = rd.pos;
    dst = out.buf;
  }

  b = pos < end ? src[pos]! : 0x80;
  let generation: number;
  if ((b & 0x81) === 0) {
    generation = b >> 1;
    pos++;
  } else {
    rd.pos = pos;
    generation = readUint32(rd, 'generation');
    pos = rd.pos;
  }
  b = pos < end ? src[pos]! : 0x80;
  let voidTime: number;
  if ((b & 0x81) === 0) {
    voidTime = b >> 1;
    pos++;
  } else {
    rd.pos = pos;
    voidTime = readUint32(rd, 'void time');
    pos = rd.pos;
  }
  if (pos < end && src[pos] === 0) {
    pos++;
  } else {
    rd.pos = pos;
    if (readUnionIndex(rd, 2, 'last update time') === 1) readLongBits(rd);
    pos = rd.pos;
  }

  const wanted = filter.bins;
  let ops = 0;
  let index = 0;
  for (;;) {
    // The next block of the bins array: its count (a negative one comes with a byte size).
    b = pos < end ? src[pos]! : 0x80;
    let n: number;
    if ((b & 0x81) === 0) {
      n = b >> 1;
      pos++;
    } else {
      rd.pos = pos;
      n = readArrayCount(rd);
      pos = rd.pos;
    }
    if (n === 0) break;
    for (let i = 0; i < n; i++, index++) {
      // The name: copied after the op header, checked as UTF-8 on the way.
      b = pos < end ? src[pos]! : 0x80;
      let nameLen: number;
      if ((b & 0x81) === 0) {
        nameLen = b >> 1;
        pos++;
        if (pos + nameLen > end) pastEnd();
      } else {
        rd.pos = pos;
        nameLen = readLength(rd);
        pos = rd.pos;
      }
      const nameAt = pos;
      pos += nameLen;
      const op = at;
      // Room for the op header, the name and an 8-byte value (longer values ensure their own).
      if (op + OP_HEADER_SIZE + nameLen + 8 > dst.length) {
        out.ensure(op, OP_HEADER_SIZE + nameLen + 8);
        dst = out.buf;
      }
      const nameTo = op + OP_HEADER_SIZE;
      const valueAt = copyBytes(src, sv, nameAt, nameLen, out, nameTo) ? nameTo + nameLen : copyString(out, nameTo, src, nameAt, nameLen);
      // A name that was not UTF-8 may have grown: the 8 bytes for the value after it again.
      if (valueAt + 8 > out.buf.length) out.ensure(valueAt, 8);
      dst = out.buf;

      // The value's branch and bytes.
      b = pos < end ? src[pos]! : 0x80;
      let branch: number;
      if ((b & 0x81) === 0 && b < 2 * BIN_BRANCHES) {
        branch = b >> 1;
        pos++;
      } else {
        rd.pos = pos;
        branch = readUnionIndex(rd, BIN_BRANCHES, 'bin value');
        pos = rd.pos;
      }
      let type: number;
      let valueEnd: number;
      switch (branch) {
        case V_LONG:
          type = ParticleType.INTEGER;
          // Longs of up to 4 bytes (27 bits and a sign) are decoded here.
          if (pos + 4 <= end) {
            let z = src[pos]!;
            let k = 1;
            if (z >= 0x80) {
              z = (z & 0x7f) | (src[pos + 1]! << 7);
              k = 2;
              if (z >= 0x4000) {
                z = (z & 0x3fff) | (src[pos + 2]! << 14);
                k = 3;
                if (z >= 0x20_0000) {
                  z = (z & 0x1f_ffff) | (src[pos + 3]! << 21);
                  k = z >= 0x1000_0000 ? 0 : 4;
                }
              }
            }
            b = k;
            if (k > 0) {
              const v = (z >>> 1) ^ -(z & 1);
              const sign = v >> 31;
              dst[valueAt] = sign;
              dst[valueAt + 1] = sign;
              dst[valueAt + 2] = sign;
              dst[valueAt + 3] = sign;
              dst[valueAt + 4] = v >>> 24;
              dst[valueAt + 5] = v >>> 16;
              dst[valueAt + 6] = v >>> 8;
              dst[valueAt + 7] = v;
              pos += k;
            }
          } else {
            b = 0;
          }
          if (b === 0) {
            rd.pos = pos;
            readInt64Into(rd, dst, valueAt);
            pos = rd.pos;
          }
          valueEnd = valueAt + 8;
          break;
        case V_DOUBLE:
          type = ParticleType.FLOAT;
          if (pos + 8 > end) pastEnd();
          // Little-endian in Avro, big-endian on the wire.
          out.view.setInt32(valueAt, sv.getInt32(pos + 4, true));
          out.view.setInt32(valueAt + 4, sv.getInt32(pos, true));
          // A NaN other than the canonical one reads as the canonical one, as readRecord gives it.
          if ((dst[valueAt]! & 0x7f) === 0x7f && (dst[valueAt + 1]! & 0xf0) === 0xf0) {
            rd.pos = pos;
            readDoubleInto(rd, dst, valueAt);
          }
          pos += 8;
          valueEnd = valueAt + 8;
          break;
        case V_BOOLEAN:
          if (pos >= end) pastEnd();
          type = ParticleType.BOOL;
          dst[valueAt] = src[pos++] ? 1 : 0;
          valueEnd = valueAt + 1;
          break;
        case V_STRING:
        case V_BYTES:
        case V_LIST:
        case V_MAP:
        case V_HLL: {
          type = BYTES_TYPES[branch]!;
          b = pos < end ? src[pos]! : 0x80;
          let len: number;
          if ((b & 0x81) === 0) {
            len = b >> 1;
            pos++;
            if (pos + len > end) pastEnd();
          } else {
            rd.pos = pos;
            len = readLength(rd);
            pos = rd.pos;
          }
          if (valueAt + len > dst.length) {
            out.ensure(valueAt, len);
            dst = out.buf;
          }
          if (branch === V_STRING) {
            valueEnd = copyString(out, valueAt, src, pos, len);
            dst = out.buf;
          } else {
            copyBytes(src, sv, pos, len, out, valueAt);
            valueEnd = valueAt + len;
          }
          pos += len;
          break;
        }
        default:
          rd.pos = pos;
          valueEnd = readOtherValue(rd, out, valueAt, branch);
          type = otherType;
          pos = rd.pos;
          dst = out.buf;
      }
      if (wanted && !wanted.has(cachedString(src, nameAt, nameLen, index + 2))) continue;
      const size = valueEnd - op - 4;
      dst[op] = size >>> 24;
      dst[op + 1] = size >>> 16;
      dst[op + 2] = size >>> 8;
      dst[op + 3] = size;
      dst[op + 4] = OpType.WRITE;
      dst[op + 5] = type;
      dst[op + 6] = 0;
      dst[op + 7] = valueAt - op - OP_HEADER_SIZE;
      at = valueEnd;
      ops++;
    }
  }
  rd.pos = pos;
  const sets = filter.sets;
  if (sets && !sets.has(cachedString(src, setAt, setLen, 1))) {
    out.skipped++;
    return;
  }
  if (filter.digests && !filter.digests.keep(src, digestAt, setAt, setLen)) return;
  if (ops === 0) {
    out.skipped++;
    return;
  }
  if (ops > MAX_OPS) throw new RecordCodecError(`a record of ${ops} bins (a batch write row holds at most ${MAX_OPS})`);
  setRowOpCount(out.buf, start, ops);
  out.closeRow(at, generation, voidTime);
}

/** Larger row buffers are not kept once free: the rows of a rare huge block must not stay in memory. */
const MAX_KEPT_BYTES = 4 * 1024 * 1024;
/** A pooled chunk's room, in bytes and rows, is rounded up to these. */
const BYTES_GRAIN = 64 * 1024;
const ROWS_GRAIN = 256;

export interface RowsPoolStats {
  /** Chunks allocated because none free was large enough. */
  allocated: number;
  /** Chunks served by one that came back. */
  reused: number;
  /** Chunks that came back and are free now. */
  free: number;
}

/**
 * WireRows lent to RowsReaders and given back once released (the BatchWriter releases a
 * chunk when every row of it has its result): a restore's blocks are decoded into the
 * same few dozen buffers instead of ~1.1 GB of new ones per 2M records. Keeps at most
 * `maxFree` free chunks, none over 4 MiB.
 */
export class RowsPool implements RowsLender {
  readonly #free: WireRows[] = [];
  #allocated = 0;
  #reused = 0;

  constructor(private readonly maxFree = 16) {}

  get stats(): RowsPoolStats {
    return { allocated: this.#allocated, reused: this.#reused, free: this.#free.length };
  }

  /** Empty rows of `namespace` with room for `bytes` bytes and `rows` rows, and one hold. */
  take(namespace: string, bytes: number, rows: number): WireRows {
    const free = this.#free;
    while (free.length > 0) {
      const found = free.pop()!;
      // Too small (or of another namespace) for this block: left to the GC, so the free
      // chunks become the size of the blocks being read.
      if (found.namespace !== namespace || found.buf.length < bytes || found.starts.length <= rows) continue;
      found.reset();
      this.#reused++;
      return found;
    }
    this.#allocated++;
    // Rounded up, so blocks of about the same size share chunks.
    return new WireRows(namespace, Math.ceil(bytes / BYTES_GRAIN) * BYTES_GRAIN, Math.ceil(rows / ROWS_GRAIN) * ROWS_GRAIN, this);
  }

  give(rows: WireRows): void {
    if (this.#free.length < this.maxFree && rows.buf.length <= MAX_KEPT_BYTES) this.#free.push(rows);
  }
}

/**
 * ContainerDecoder's block reader for restore: each block of a data file becomes one
 * WireRows of the rows of its records, written into `namespace` (readRecordRow); taken
 * from `pool` when one is given (the rows' consumer must then release them, see
 * WireRows.release), else new.
 */
export class RowsReader implements BlockReader<WireRows> {
  readonly #ns: Buffer;
  #rows: WireRows | undefined;

  constructor(
    readonly namespace: string,
    readonly filter: RowFilter = {},
    private readonly pool?: RowsPool,
  ) {
    this.#ns = Buffer.from(namespace, 'utf8');
  }

  begin(count: number, bytes: number): void {
    // A row is about its record's Avro bytes plus a fixed overhead (header, namespace,
    // the 8-byte INTEGERs); a block that needs more grows its buffer. Room for no more
    // rows than the bytes can hold records: a corrupt count fails on the records.
    const rows = Math.min(count, Math.ceil(bytes / MIN_RECORD_BYTES));
    const size = Math.ceil(bytes * 1.25) + rows * (64 + this.#ns.length);
    this.#rows = this.pool ? this.pool.take(this.namespace, size, rows) : new WireRows(this.namespace, size, rows);
  }

  read(rd: AvroReader): void {
    readRecordRow(rd, this.#rows!, this.#ns, this.filter);
  }

  end(): WireRows {
    const rows = this.#rows!;
    this.#rows = undefined;
    return rows;
  }
}
