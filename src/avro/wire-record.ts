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
 * the previous record costs a byte compare and a copy. A name that changes is decoded
 * once, as the decoder decodes it (invalid UTF-8 becomes U+FFFD), and encoded by
 * writeString, so both paths agree on every name by construction.
 */
import { FieldType, MSG_HEADER_SIZE } from '../aerospike/wire/message.js';
import { ProtocolError } from '../aerospike/wire/proto.js';
import { AvroWriter, writeBinValue, writeByte, writeCount, writeKey, writeRaw, writeString } from './record-binary.js';

const DIGEST_SIZE = 20;

/** A name as last seen: its wire bytes, and the Avro string of what they decode to. */
interface CachedName {
  wire: Buffer;
  avro: Buffer;
}

export class WireRecordEncoder {
  private ns: CachedName | undefined;
  private set: CachedName | undefined;
  private readonly binNames: CachedName[] = [];
  /** Where cache misses are encoded before their bytes are copied into the cache. */
  private readonly scratch = new AvroWriter(256);

  /**
   * Appends the Avro binary of the record message at `body[at]`; returns the offset just
   * past the message.
   *
   * A first pass makes the decoder's checks, in the decoder's order (sizes of every field
   * and op; then the fields: digest length, empty key; then a missing digest; then op
   * names), so every throw comes before the first byte is written and `w.pos` is
   * unchanged. The second pass writes.
   */
  write(w: AvroWriter, body: Buffer, at: number): number {
    const nFields = body.readUInt16BE(at + 18);
    const nOps = body.readUInt16BE(at + 20);
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
      const end = skip(body, pos, 1);
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
    /** Size of the first op shorter than its name, or -1. */
    let badOpSize = -1;
    for (let i = 0; i < nOps; i++) {
      const end = skip(body, pos, 4);
      if (badOpSize < 0 && pos + 8 + body[pos + 7]! > end) badOpSize = end - pos - 4;
      pos = end;
    }
    if (badField >= 0) {
      if (body[badField + 4] === FieldType.DIGEST) throw new ProtocolError(`digest field of ${badFieldEnd - badField - 5} bytes`);
      throw new ProtocolError('empty key field');
    }
    if (digest < 0) throw new ProtocolError('record message without a digest field');
    if (badOpSize >= 0) throw new ProtocolError(`op of size ${badOpSize} is shorter than its bin name`);

    if (ns < 0) {
      // No namespace field: "", as a fresh decoder gives (a reused one gives the namespace of the message before).
      writeByte(w, 0);
    } else {
      const name = (this.ns = this.cached(this.ns, body, ns, nsEnd));
      writeRaw(w, name.avro, 0, name.avro.length);
    }
    if (set < 0) {
      writeByte(w, 0);
    } else {
      const name = (this.set = this.cached(this.set, body, set, setEnd));
      writeRaw(w, name.avro, 0, name.avro.length);
    }
    writeRaw(w, body, digest, digest + DIGEST_SIZE);
    if (key < 0) writeByte(w, 0);
    else writeKey(w, body[key]!, body, key + 1, keyEnd);
    writeCount(w, body.readUInt32BE(at + 6));
    writeCount(w, body.readUInt32BE(at + 10));
    writeByte(w, 0); // no last update time: scans do not send it
    if (nOps > 0) {
      writeCount(w, nOps);
      const binNames = this.binNames;
      pos = opsStart;
      for (let i = 0; i < nOps; i++) {
        const end = pos + 4 + body.readUInt32BE(pos);
        const nameEnd = pos + 8 + body[pos + 7]!;
        const name = (binNames[i] = this.cached(binNames[i], body, pos + 8, nameEnd));
        writeRaw(w, name.avro, 0, name.avro.length);
        writeBinValue(w, body[pos + 5]!, body, nameEnd, end);
        pos = end;
      }
    }
    writeByte(w, 0);
    return pos;
  }

  /** `entry` when it holds the wire bytes body[from, to); otherwise a new entry for them. */
  private cached(entry: CachedName | undefined, body: Buffer, from: number, to: number): CachedName {
    if (entry !== undefined) {
      const wire = entry.wire;
      const n = wire.length;
      if (n === to - from) {
        let i = 0;
        while (i < n && wire[i] === body[from + i]) i++;
        if (i === n) return entry;
      }
    }
    const scratch = this.scratch;
    scratch.pos = 0;
    writeString(scratch, body.toString('utf8', from, to));
    return { wire: Buffer.from(body.subarray(from, to)), avro: Buffer.from(scratch.buf.subarray(0, scratch.pos)) };
  }
}

/** Offset after the field or op at `at`: a u32 size, then `size` bytes of which `min` are fixed (the decoder's check and message). */
function skip(buf: Buffer, at: number, min: number): number {
  if (at + 4 > buf.length) throw new ProtocolError('field or op runs past the end of the frame');
  const end = at + 4 + (((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0);
  if (end > buf.length || end < at + 4 + min) throw new ProtocolError('field or op runs past the end of the frame');
  return end;
}
