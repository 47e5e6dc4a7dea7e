/**
 * Record messages (scan replies) → RawRecord, without intermediate objects.
 *
 * A record message is the 22-byte header (generation at 6, void time at 10, n_fields at
 * 18, n_ops at 20), then fields (namespace 0, digest 4, set 1, key 2, in any order) and
 * one op per bin. The decoder copies the records' bytes out of the frame a slab (16 KiB,
 * or one record when larger) at a time, so the frame can be freed while the records live
 * on; the digest, key bytes and bin values are views into that copy (a record keeps at
 * most its slab alive, a few dozen records' bytes). Namespace, set and bin-name strings are cached
 * (compared byte by byte, decoded only when they change): a scan returns the same few
 * over and over.
 */
import { ParticleType, type RawBin, type RawKey, type RawRecord } from './types.js';
import { FieldType, MSG_HEADER_SIZE, OpType } from './wire/message.js';
import { ProtocolError } from './wire/proto.js';

const DIGEST_SIZE = 20;
/** Bytes copied out of a frame at once for the records they hold. */
const SLAB_BYTES = 16 * 1024;

export class RecordDecoder {
  private ns: CachedString = { bytes: Buffer.alloc(0), text: '' };
  private set: CachedString = { bytes: Buffer.alloc(0), text: '' };
  /** Bin names by op position: records of a set tend to repeat them in the same order. */
  private readonly binNames: CachedString[] = [];
  /** Offset just past the last decoded message. */
  end = 0;

  /** A copy of body[slabFrom, slabFrom + slab.length) of the frame `slabOf`: the records' bytes. */
  private slab: Buffer | undefined;
  private slabOf: Buffer | undefined;
  private slabFrom = 0;
  /** Where each field / op of the message being decoded starts (offset of its u32 size), filled by the first pass. */
  private offsets = new Int32Array(64);

  /**
   * Decodes the record message that starts at `offset` of `body`; sets `end`.
   *
   * One pass over the frame checks the sizes and notes where each field and op starts;
   * the record is then built from views into a copy of its bytes. The copies are made a
   * slab (SLAB_BYTES, or one record when larger) at a time, shared by the records it
   * holds: one allocation and one native copy for dozens of records instead of one each,
   * and a record keeps at most one slab alive, never the frame.
   */
  decode(body: Buffer, offset: number): RawRecord {
    const nFields = body.readUInt16BE(offset + 18);
    const nOps = body.readUInt16BE(offset + 20);
    const n = nFields + nOps;
    if (this.offsets.length < n + 1) this.offsets = new Int32Array(Math.max(n + 1, this.offsets.length * 2));
    const offsets = this.offsets;
    const start = offset + MSG_HEADER_SIZE;
    let at = start;
    for (let i = 0; i < n; i++) {
      offsets[i] = at - start;
      at = skip(body, at, i < nFields ? 1 : 4);
    }
    offsets[n] = at - start;
    this.end = at;

    const data = this.copyOut(body, start, at);
    const base = start - this.slabFrom;
    if (base !== 0) for (let i = 0; i <= n; i++) offsets[i]! += base;

    let digest: Buffer | undefined;
    let userKey: RawKey | undefined;
    let set = '';
    for (let i = 0; i < nFields; i++) {
      const from = offsets[i]! + 5;
      const to = offsets[i + 1]!;
      switch (data[from - 1]) {
        case FieldType.NAMESPACE:
          this.ns = cached(this.ns, data, from, to);
          break;
        case FieldType.SET:
          this.set = cached(this.set, data, from, to);
          set = this.set.text;
          break;
        case FieldType.DIGEST:
          if (to - from !== DIGEST_SIZE) throw new ProtocolError(`digest field of ${to - from} bytes`);
          digest = data.subarray(from, to);
          break;
        case FieldType.KEY:
          if (to - from < 1) throw new ProtocolError('empty key field');
          userKey = { type: data[from]!, bytes: data.subarray(from + 1, to) };
          break;
      }
    }
    if (!digest) throw new ProtocolError('record message without a digest field');

    const bins: RawBin[] = [];
    const binNames = this.binNames;
    let lastUpdateTime: bigint | undefined;
    for (let i = 0; i < nOps; i++) {
      const pos = offsets[nFields + i]!;
      const end = offsets[nFields + i + 1]!;
      const nameEnd = pos + 8 + data[pos + 7]!;
      if (nameEnd > end) throw new ProtocolError(`op of size ${end - pos - 4} is shorter than its bin name`);
      // An expression read is the last-update time a scan asked for, not a bin.
      if (data[pos + 4] === OpType.EXP_READ) {
        lastUpdateTime = lastUpdateOf(data, pos, nameEnd, end);
        continue;
      }
      const name = (binNames[bins.length] = cached(binNames[bins.length], data, pos + 8, nameEnd));
      bins.push({ name: name.text, type: data[pos + 5]!, value: data.subarray(nameEnd, end) });
    }

    const record: RawRecord = {
      namespace: this.ns.text,
      set,
      digest,
      generation: body.readUInt32BE(offset + 6),
      voidTime: body.readUInt32BE(offset + 10),
      bins,
    };
    if (userKey) record.userKey = userKey;
    if (lastUpdateTime !== undefined) record.lastUpdateTime = lastUpdateTime;
    return record;
  }

  /** The bytes body[start, end) in a copy: the current slab when it holds them, else a new slab from `start`. */
  private copyOut(body: Buffer, start: number, end: number): Buffer {
    const slab = this.slab;
    if (slab !== undefined && this.slabOf === body && start >= this.slabFrom && end <= this.slabFrom + slab.length) return slab;
    const size = Math.max(end - start, Math.min(SLAB_BYTES, body.length - start));
    const copy = Buffer.allocUnsafeSlow(size);
    body.copy(copy, 0, start, start + size);
    this.slab = copy;
    this.slabOf = body;
    this.slabFrom = start;
    return copy;
  }
}

interface CachedString {
  bytes: Buffer;
  text: string;
}

/** `entry` when it holds the bytes data[from, to); otherwise a new entry decoding them. */
function cached(entry: CachedString | undefined, data: Buffer, from: number, to: number): CachedString {
  if (entry !== undefined) {
    const bytes = entry.bytes;
    const len = bytes.length;
    if (len === to - from) {
      let i = 0;
      while (i < len && bytes[i] === data[from + i]) i++;
      if (i === len) return entry;
    }
  }
  const bytes = Buffer.from(data.subarray(from, to));
  return { bytes, text: bytes.toString('utf8') };
}

/**
 * The last-update time an EXP_READ op at `pos` (value at [valueAt, end)) carries:
 * an INTEGER of 8 bytes, nanoseconds since the Unix epoch. Anything else is a protocol error.
 */
export function lastUpdateOf(buf: Buffer, pos: number, valueAt: number, end: number): bigint {
  if (buf[pos + 5] !== ParticleType.INTEGER || end - valueAt !== 8) {
    throw new ProtocolError(`expression read op of particle type ${buf[pos + 5]} and ${end - valueAt} bytes where the last-update time (an 8-byte integer) was expected`);
  }
  return buf.readBigInt64BE(valueAt);
}

/** Offset after the field or op at `at`: a u32 size, then `size` bytes of which `min` are fixed. */
function skip(buf: Buffer, at: number, min: number): number {
  if (at + 4 > buf.length) throw new ProtocolError('field or op runs past the end of the frame');
  const end = at + 4 + buf.readUInt32BE(at);
  if (end > buf.length || end < at + 4 + min) throw new ProtocolError('field or op runs past the end of the frame');
  return end;
}
