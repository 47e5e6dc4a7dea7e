/**
 * Record messages (scan replies) → RawRecord, without intermediate objects.
 *
 * A record message is the 22-byte header (generation at 6, void time at 10, n_fields at
 * 18, n_ops at 20), then fields (namespace 0, digest 4, set 1, key 2, in any order) and
 * one op per bin. The decoder copies the message's fields and ops out of the frame in one
 * piece, so the frame can be freed while the record lives on; the digest, key bytes and
 * bin values are views into that copy. Namespace, set and bin-name strings are cached
 * (compared byte by byte, decoded only when they change): a scan returns the same few
 * over and over.
 */
import type { RawBin, RawKey, RawRecord } from './types.js';
import { FieldType, MSG_HEADER_SIZE } from './wire/message.js';
import { ProtocolError } from './wire/proto.js';

const DIGEST_SIZE = 20;

export class RecordDecoder {
  private ns: CachedString = { bytes: Buffer.alloc(0), text: '' };
  private set: CachedString = { bytes: Buffer.alloc(0), text: '' };
  /** Bin names by op position: records of a set tend to repeat them in the same order. */
  private readonly binNames: CachedString[] = [];
  /** Offset just past the last decoded message. */
  end = 0;

  /** Decodes the record message that starts at `offset` of `body`; sets `end`. */
  decode(body: Buffer, offset: number): RawRecord {
    const nFields = body.readUInt16BE(offset + 18);
    const nOps = body.readUInt16BE(offset + 20);
    const start = offset + MSG_HEADER_SIZE;
    let at = start;
    for (let i = 0; i < nFields; i++) at = skip(body, at, 1);
    for (let i = 0; i < nOps; i++) at = skip(body, at, 4);
    this.end = at;

    const data = Buffer.allocUnsafe(at - start);
    body.copy(data, 0, start, at);

    let digest: Buffer | undefined;
    let userKey: RawKey | undefined;
    let set = '';
    let pos = 0;
    for (let i = 0; i < nFields; i++) {
      const size = data.readUInt32BE(pos);
      const type = data[pos + 4]!;
      const from = pos + 5;
      pos += 4 + size;
      switch (type) {
        case FieldType.NAMESPACE:
          this.ns = cached(this.ns, data, from, pos);
          break;
        case FieldType.SET:
          this.set = cached(this.set, data, from, pos);
          set = this.set.text;
          break;
        case FieldType.DIGEST:
          if (pos - from !== DIGEST_SIZE) throw new ProtocolError(`digest field of ${pos - from} bytes`);
          digest = data.subarray(from, pos);
          break;
        case FieldType.KEY:
          if (pos - from < 1) throw new ProtocolError('empty key field');
          userKey = { type: data[from]!, bytes: data.subarray(from + 1, pos) };
          break;
      }
    }
    if (!digest) throw new ProtocolError('record message without a digest field');

    const bins: RawBin[] = new Array(nOps);
    for (let i = 0; i < nOps; i++) {
      const size = data.readUInt32BE(pos);
      const nameEnd = pos + 8 + data[pos + 7]!;
      const end = pos + 4 + size;
      if (nameEnd > end) throw new ProtocolError(`op of size ${size} is shorter than its bin name`);
      const name = (this.binNames[i] = cached(this.binNames[i], data, pos + 8, nameEnd));
      bins[i] = { name: name.text, type: data[pos + 5]!, value: data.subarray(nameEnd, end) };
      pos = end;
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
    return record;
  }
}

interface CachedString {
  bytes: Buffer;
  text: string;
}

/** `entry` when it holds the bytes data[from, to); otherwise a new entry decoding them. */
function cached(entry: CachedString | undefined, data: Buffer, from: number, to: number): CachedString {
  if (entry && entry.bytes.length === to - from) {
    let i = 0;
    while (i < entry.bytes.length && entry.bytes[i] === data[from + i]) i++;
    if (i === entry.bytes.length) return entry;
  }
  const bytes = Buffer.from(data.subarray(from, to));
  return { bytes, text: bytes.toString('utf8') };
}

/** Offset after the field or op at `at`: a u32 size, then `size` bytes of which `min` are fixed. */
function skip(buf: Buffer, at: number, min: number): number {
  if (at + 4 > buf.length) throw new ProtocolError('field or op runs past the end of the frame');
  const end = at + 4 + buf.readUInt32BE(at);
  if (end > buf.length || end < at + 4 + min) throw new ProtocolError('field or op runs past the end of the frame');
  return end;
}
