/**
 * Scan record messages → Avro binary of aerobak.v1.Record, straight from the reply
 * frame: no RawRecord, no Buffer view per bin, no string decoded per record. The backup
 * encodes each record once from the server's bytes instead of building the RawRecord
 * (record-decoder.ts) that writeRecord (record-binary.ts) then takes apart again.
 *
 * Contract (test/avro/wire-record.test.ts): `write(w, body, at)` appends exactly the
 * bytes `writeRecord(w, new RecordDecoder().decode(body, at))` appends, for every message
 * the decoder accepts, and throws what the decoder throws (same class, same message) for
 * every message it refuses, with `w` untouched.
 *
 * Namespace, set and bin names are cached as their Avro encoding, next to the wire bytes
 * they came from (bin names by op position, as the decoder caches them): a name seen in
 * the previous record costs a compare and a copy. A name that changes is decoded once, as
 * the decoder decodes it (invalid UTF-8 becomes U+FFFD), and encoded by writeString, so
 * both paths agree on every name by construction.
 *
 * This is the hot loop of a backup, written for V8:
 * - the writer grows at most once per record, to a bound of the record's size, and the
 *   output offset lives in a local;
 * - bytes move 4 at a time through DataViews of the frame and of the writer's buffer (on
 *   Node 20 a JS loop over bytes costs about 3.5 times more, and a native copy, with the
 *   view it needs, as much as 128 bytes of the DataView loop);
 * - the common values are written here (INTEGER, FLOAT, BOOL, STRING up to 128 bytes,
 *   BLOB, LIST, MAP, HLL; INTEGER, short STRING and BLOB keys), the others by
 *   record-binary's putBinValue / putKey, whose rules these fast paths repeat;
 * - the helpers are kept small, and the header is read without Buffer#readUInt16BE,
 *   so that TurboFan can inline the ones the loops call (it inlines about 900 bytes of
 *   bytecode into a function, no more).
 */
import { isUtf8 } from 'node:buffer';
import { ParticleType } from '../aerospike/types.js';
import { lastUpdateOf } from '../aerospike/record-decoder.js';
import { FieldType, MSG_HEADER_SIZE, OpType } from '../aerospike/wire/message.js';
import { ProtocolError } from '../aerospike/wire/proto.js';
import {
  AvroWriter,
  isExactBits,
  K_BYTES,
  K_LONG,
  K_STRING,
  putBinValue,
  putCount,
  putKey,
  putLongBits,
  V_BOOLEAN,
  V_BYTES,
  V_DOUBLE,
  V_HLL,
  V_LIST,
  V_LONG,
  V_MAP,
  V_STRING,
  valueBound,
  writeString,
} from './record-binary.js';

const DIGEST_SIZE = 20;

/**
 * Most Avro bytes of a record besides its namespace, set, user key and bins' names and
 * values: the digest (20), generation and void time (uint32 varints: 5 each), the last
 * update time (its union branch and a long: 11), the bin count (under 2^16: 3) and the
 * end of the bins (1).
 */
const FIXED_BOUND = DIGEST_SIZE + 5 + 5 + 11 + 3 + 1;

/** Longest copy made by the DataView loop; longer ones are native. */
const COPY_WORDS_MAX = 128;

/** The union branch of the bin values written as Avro bytes (BLOB, LIST, MAP, HLL), by particle type; 0 for the others. */
const BYTES_BRANCH = new Uint8Array(256);
BYTES_BRANCH[ParticleType.BLOB] = V_BYTES;
BYTES_BRANCH[ParticleType.LIST] = V_LIST;
BYTES_BRANCH[ParticleType.MAP] = V_MAP;
BYTES_BRANCH[ParticleType.HLL] = V_HLL;

const NO_VIEW: DataView = new DataView(new ArrayBuffer(0));

/** A name as last seen: its wire bytes, and the Avro string of what they decode to. */
interface CachedName {
  wire: DataView;
  wireLength: number;
  avro: DataView;
  avroLength: number;
}

export class WireRecordEncoder {
  private ns: CachedName | undefined;
  private set: CachedName | undefined;
  private readonly binNames: CachedName[] = [];
  /** Where cache misses are encoded before their bytes are copied into the cache. */
  private readonly scratch = new AvroWriter(256);
  /** DataViews of the last frame and of the last output buffer: records come a frame at a time, into one buffer. */
  private body: Buffer | undefined;
  private bodyView = NO_VIEW;
  private outBuf: Buffer | undefined;
  private outView = NO_VIEW;

  /**
   * Appends the Avro binary of the record message at `body[at]`; returns the offset just
   * past the message.
   *
   * A first pass makes the decoder's checks, in the decoder's order (sizes of every field
   * and op; then the fields: digest length, empty key; then a missing digest; then op
   * names), so every throw comes before the first byte is written. It also looks the
   * names up in the caches, which gives their exact Avro sizes, and so a bound of the
   * record's: FIXED_BOUND, the names, and valueBound of the key and of each bin value
   * (the most bytes putKey / putBinValue write, and so the fast paths, which write the
   * same bytes). The second pass makes room for that bound once and writes.
   */
  /**
   * True when the last write() wrote nothing: the message carried the last-update op and
   * no bin. With a bin list the server sends a record that holds none of the bins only
   * because of that op (without it, it would not send the record), so it is left out, as
   * the scan without the op would leave it out.
   */
  skipped = false;

  write(w: AvroWriter, body: Buffer, at: number): number {
    // The decoder reads the counts with readUInt16BE: its RangeError for a short body.
    if ((at >>> 0) !== at || at + MSG_HEADER_SIZE > body.length) {
      body.readUInt16BE(at + 18);
      body.readUInt16BE(at + 20);
    }
    const nFields = (body[at + 18]! << 8) | body[at + 19]!;
    const nOps = (body[at + 20]! << 8) | body[at + 21]!;
    let src = this.bodyView;
    if (body !== this.body) {
      src = this.bodyView = new DataView(body.buffer, body.byteOffset, body.length);
      this.body = body;
    }
    let pos = at + MSG_HEADER_SIZE;
    // The last field of each kind wins, as in the decoder; -1 = none.
    let ns = -1;
    let nsEnd = 0;
    let set = -1;
    let setEnd = 0;
    let digest = -1;
    let key = -1;
    let keyEnd = 0;
    /** The first field the decoder refuses (a digest that is not 20 bytes, an empty key), thrown after the size checks. */
    let badField = -1;
    let badFieldEnd = 0;
    for (let i = 0; i < nFields; i++) {
      const end = skip(body, src, pos, 1);
      const from = pos + 5;
      switch (body[pos + 4]) {
        case FieldType.NAMESPACE:
          ns = from;
          nsEnd = end;
          break;
        case FieldType.SET:
          set = from;
          setEnd = end;
          break;
        case FieldType.DIGEST:
          if (end - from === DIGEST_SIZE) {
            digest = from;
          } else if (badField < 0) {
            badField = pos;
            badFieldEnd = end;
          }
          break;
        case FieldType.KEY:
          if (end > from) {
            key = from;
            keyEnd = end;
          } else if (badField < 0) {
            badField = pos;
            badFieldEnd = end;
          }
          break;
      }
      pos = end;
    }
    const opsStart = pos;
    const binNames = this.binNames;
    let bound = FIXED_BOUND;
    /** Size of the first op shorter than its name, or -1. */
    let badOpSize = -1;
    /** The last-update op (an expression read, not a bin): where it starts and its value, or -1. */
    let lut = -1;
    let lutValue = 0;
    let lutEnd = 0;
    let nBins = 0;
    for (let i = 0; i < nOps; i++) {
      const end = skip(body, src, pos, 4);
      const nameEnd = pos + 8 + body[pos + 7]!;
      if (nameEnd > end) {
        if (badOpSize < 0) badOpSize = end - pos - 4;
      } else if (body[pos + 4] === OpType.EXP_READ) {
        lut = pos;
        lutValue = nameEnd;
        lutEnd = end;
      } else {
        const name = (binNames[nBins] = cached(binNames[nBins], body, src, pos + 8, nameEnd, this.scratch));
        bound += name.avroLength + valueBound(end - nameEnd);
        nBins++;
      }
      pos = end;
    }
    if (badField >= 0) {
      if (body[badField + 4] === FieldType.DIGEST) throw new ProtocolError(`digest field of ${badFieldEnd - badField - 5} bytes`);
      throw new ProtocolError('empty key field');
    }
    if (digest < 0) throw new ProtocolError('record message without a digest field');
    if (badOpSize >= 0) throw new ProtocolError(`op of size ${badOpSize} is shorter than its bin name`);
    if (lut >= 0) lastUpdateOf(body, lut, lutValue, lutEnd);
    const end = pos;
    this.skipped = lut >= 0 && nBins === 0;
    if (this.skipped) return end;

    // No namespace (set) field: "", as a fresh decoder gives (a reused one gives the namespace of the message before).
    const nsName = ns < 0 ? undefined : (this.ns = cached(this.ns, body, src, ns, nsEnd, this.scratch));
    const setName = set < 0 ? undefined : (this.set = cached(this.set, body, src, set, setEnd, this.scratch));
    bound += (nsName ? nsName.avroLength : 1) + (setName ? setName.avroLength : 1) + (key < 0 ? 1 : valueBound(keyEnd - key - 1));
    w.ensure(bound);
    const buf = w.buf;
    let out = this.outView;
    if (buf !== this.outBuf) {
      out = this.outView = new DataView(buf.buffer, buf.byteOffset, buf.length);
      this.outBuf = buf;
    }

    let o = w.pos;
    if (nsName) {
      copy(out, o, nsName.avro, 0, nsName.avroLength);
      o += nsName.avroLength;
    } else {
      buf[o++] = 0;
    }
    if (setName) {
      copy(out, o, setName.avro, 0, setName.avroLength);
      o += setName.avroLength;
    } else {
      buf[o++] = 0;
    }
    copy(out, o, src, digest, DIGEST_SIZE);
    o += DIGEST_SIZE;
    if (key < 0) {
      buf[o++] = 0;
    } else {
      o = putUserKey(buf, out, o, body, src, key, keyEnd);
    }
    o = putCount(buf, o, src.getUint32(at + 6));
    o = putCount(buf, o, src.getUint32(at + 10));
    if (lut < 0) {
      buf[o++] = 0; // no last-update time: the scan did not ask for it
    } else {
      buf[o] = 2; // union branch 1: long
      o = putLongBits(buf, o + 1, src.getInt32(lutValue), src.getInt32(lutValue + 4));
    }
    if (nBins > 0) {
      o = putCount(buf, o, nBins);
      pos = opsStart;
      for (let i = 0; i < nBins; i++) {
        if (pos === lut) pos = lutEnd;
        const opEnd = pos + 4 + src.getUint32(pos);
        const type = body[pos + 5]!;
        const from = pos + 8 + body[pos + 7]!;
        const n = opEnd - from;
        pos = opEnd;
        const name = binNames[i]!;
        copy(out, o, name.avro, 0, name.avroLength);
        o += name.avroLength;
        // The common values; -1 sends the others to putBinValue.
        let next = -1;
        switch (type) {
          case ParticleType.INTEGER:
            if (n === 8) {
              buf[o] = V_LONG << 1;
              next = putLongBits(buf, o + 1, src.getInt32(from), src.getInt32(from + 4));
            }
            break;
          case ParticleType.FLOAT:
            if (n === 8) {
              const hi = src.getInt32(from);
              const lo = src.getInt32(from + 4);
              if (isExactBits(hi, lo)) {
                // An Avro double is the 8 bytes little-endian: reversed.
                buf[o] = V_DOUBLE << 1;
                out.setInt32(o + 1, lo, true);
                out.setInt32(o + 5, hi, true);
                next = o + 9;
              }
            }
            break;
          case ParticleType.STRING:
            next = putShortString(buf, out, o, V_STRING, body, src, from, n);
            break;
          case ParticleType.BOOL:
            if (n === 1 && body[from]! <= 1) {
              buf[o] = V_BOOLEAN << 1;
              buf[o + 1] = body[from]!;
              next = o + 2;
            }
            break;
          default: {
            const branch = BYTES_BRANCH[type]!;
            if (branch !== 0) next = putBranchBytes(buf, out, o, branch, src, from, n);
          }
        }
        o = next >= 0 ? next : putBinValue(buf, o, type, body, from, opEnd);
      }
    }
    buf[o++] = 0;
    w.pos = o;
    return end;
  }
}

/** `entry` when it holds the wire bytes body[from, to); otherwise a new entry for them. */
function cached(entry: CachedName | undefined, body: Buffer, src: DataView, from: number, to: number, scratch: AvroWriter): CachedName {
  if (entry !== undefined && entry.wireLength === to - from && equal(entry.wire, src, from, to - from)) return entry;
  return newName(body, from, to, scratch);
}

/** The cache entry of the name body[from, to), encoded through `scratch`. */
function newName(body: Buffer, from: number, to: number, scratch: AvroWriter): CachedName {
  scratch.pos = 0;
  writeString(scratch, body.toString('utf8', from, to));
  const wire = Buffer.from(body.subarray(from, to));
  const avro = Buffer.from(scratch.buf.subarray(0, scratch.pos));
  return {
    wire: new DataView(wire.buffer, wire.byteOffset, wire.length),
    wireLength: wire.length,
    avro: new DataView(avro.buffer, avro.byteOffset, avro.length),
    avroLength: avro.length,
  };
}

/** The user key body[key, keyEnd) (particle type, then bytes): INTEGER, short STRING and BLOB here, the others by putKey. */
function putUserKey(buf: Buffer, out: DataView, pos: number, body: Buffer, src: DataView, key: number, keyEnd: number): number {
  const type = body[key]!;
  const from = key + 1;
  const n = keyEnd - from;
  let next = -1;
  if (type === ParticleType.INTEGER && n === 8) {
    buf[pos] = K_LONG << 1;
    next = putLongBits(buf, pos + 1, src.getInt32(from), src.getInt32(from + 4));
  } else if (type === ParticleType.STRING) {
    next = putShortString(buf, out, pos, K_STRING, body, src, from, n);
  } else if (type === ParticleType.BLOB) {
    next = putBranchBytes(buf, out, pos, K_BYTES, src, from, n);
  }
  return next >= 0 ? next : putKey(buf, pos, type, body, from, keyEnd);
}

/** Union branch `branch`, then Avro bytes: the length, then src[from, from + n). */
function putBranchBytes(buf: Buffer, out: DataView, pos: number, branch: number, src: DataView, from: number, n: number): number {
  buf[pos] = branch << 1;
  const start = putCount(buf, pos + 1, n);
  copy(out, start, src, from, n);
  return start + n;
}

/**
 * Union branch `branch`, then the Avro string of body[from, from + n) if it is UTF-8 and
 * at most COPY_WORDS_MAX bytes (copied and checked in one loop); else -1, maybe with bytes
 * written past `pos` (the caller writes the value another way over them).
 */
function putShortString(buf: Buffer, out: DataView, pos: number, branch: number, body: Buffer, src: DataView, from: number, n: number): number {
  if (n > COPY_WORDS_MAX) return -1;
  const start = putCount(buf, pos + 1, n);
  if (!copyAscii(out, start, src, from, n) && !isUtf8(new Uint8Array(body.buffer, body.byteOffset + from, n))) return -1;
  buf[pos] = branch << 1;
  return start + n;
}

/**
 * Copies src[from, from + n) to dst[pos]: 4 bytes at a time, the last 4 overlapping the
 * ones before, so that nothing outside the two ranges is read or written.
 */
function copy(dst: DataView, pos: number, src: DataView, from: number, n: number): void {
  if (n > COPY_WORDS_MAX) {
    copyNative(dst, pos, src, from, n);
  } else if (n >= 4) {
    const last = n - 4;
    for (let i = 0; i < last; i += 4) dst.setInt32(pos + i, src.getInt32(from + i));
    dst.setInt32(pos + last, src.getInt32(from + last));
  } else {
    for (let i = 0; i < n; i++) dst.setUint8(pos + i, src.getUint8(from + i));
  }
}

function copyNative(dst: DataView, pos: number, src: DataView, from: number, n: number): void {
  new Uint8Array(dst.buffer, dst.byteOffset + pos, n).set(new Uint8Array(src.buffer, src.byteOffset + from, n));
}

/** copy() of at most COPY_WORDS_MAX bytes; whether they are all ASCII. */
function copyAscii(dst: DataView, pos: number, src: DataView, from: number, n: number): boolean {
  let bits = 0;
  if (n >= 4) {
    const last = n - 4;
    for (let i = 0; i < last; i += 4) {
      const word = src.getInt32(from + i);
      dst.setInt32(pos + i, word);
      bits |= word;
    }
    const word = src.getInt32(from + last);
    dst.setInt32(pos + last, word);
    bits |= word;
  } else {
    for (let i = 0; i < n; i++) {
      const byte = src.getUint8(from + i);
      dst.setUint8(pos + i, byte);
      bits |= byte;
    }
  }
  return (bits & 0x80808080) === 0;
}

/** Whether a[0, n) holds the bytes b[from, from + n) (compared as copy() copies). */
function equal(a: DataView, b: DataView, from: number, n: number): boolean {
  if (n >= 4) {
    const last = n - 4;
    for (let i = 0; i < last; i += 4) if (a.getInt32(i) !== b.getInt32(from + i)) return false;
    return a.getInt32(last) === b.getInt32(from + last);
  }
  for (let i = 0; i < n; i++) if (a.getUint8(i) !== b.getUint8(from + i)) return false;
  return true;
}

/** Offset after the field or op at `at`: a u32 size, then `size` bytes of which `min` are fixed (the decoder's check and message). */
function skip(body: Buffer, src: DataView, at: number, min: number): number {
  if (at + 4 > body.length) throw new ProtocolError('field or op runs past the end of the frame');
  const end = at + 4 + src.getUint32(at);
  if (end > body.length || end < at + 4 + min) throw new ProtocolError('field or op runs past the end of the frame');
  return end;
}
