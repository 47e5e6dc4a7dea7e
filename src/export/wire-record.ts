/**
 * A scan record read where it lies, in its reply frame (a ScanBatch, scan-batch.ts), for
 * the export: the sink copies its values straight into the column buffers (columns.ts),
 * so no RawRecord, bin objects or value views are built per record (record-decoder.ts
 * does that for consumers that keep records). The node scan has checked the message's
 * structure (every field and op inside it, a 20-byte digest).
 *
 * The message: a 22-byte header (generation at 6, void time at 10, n_fields at 18, n_ops
 * at 20), then fields (u32 size, type, data) and ops (u32 size, op type, particle type,
 * version, name length, name, value).
 */
import { lastUpdateOf } from '../aerospike/record-decoder.js';
import { FieldType, MSG_HEADER_SIZE, OpType } from '../aerospike/wire/message.js';
import { ProtocolError } from '../aerospike/wire/proto.js';

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

export class WireRecord {
  data: Buffer = Buffer.alloc(0);
  generation = 0;
  voidTime = 0;
  digestAt = 0;
  /** The key field's particle type and bytes [keyFrom, keyTo), or keyFrom -1. */
  keyType = 0;
  keyFrom = -1;
  keyTo = -1;
  lastUpdateTime: bigint | undefined;
  /** Bins: how many, and for bin i its name, particle type and value [valueFrom[i], valueTo[i]). */
  bins = 0;
  names: string[] = [];
  types = new Uint8Array(64);
  valueFrom = new Int32Array(64);
  valueTo = new Int32Array(64);
  #set: CachedString = { bytes: Buffer.alloc(0), text: '' };
  readonly #binNames: CachedString[] = [];

  get set(): string {
    return this.#set.text;
  }

  /** Reads the record message at body[offset]. */
  read(body: Buffer, offset: number): void {
    this.data = body;
    this.generation = body.readUInt32BE(offset + 6);
    this.voidTime = body.readUInt32BE(offset + 10);
    const nFields = body.readUInt16BE(offset + 18);
    const nOps = body.readUInt16BE(offset + 20);
    let at = offset + MSG_HEADER_SIZE;
    let set = false;
    this.keyFrom = -1;
    this.lastUpdateTime = undefined;
    for (let i = 0; i < nFields; i++) {
      const end = at + 4 + body.readUInt32BE(at);
      const from = at + 5;
      switch (body[at + 4]) {
        case FieldType.SET:
          this.#set = cached(this.#set, body, from, end);
          set = true;
          break;
        case FieldType.DIGEST:
          this.digestAt = from;
          break;
        case FieldType.KEY:
          if (end - from < 1) throw new ProtocolError('empty key field');
          this.keyType = body[from]!;
          this.keyFrom = from + 1;
          this.keyTo = end;
          break;
      }
      at = end;
    }
    if (!set) this.#set = { bytes: Buffer.alloc(0), text: '' };
    if (this.types.length < nOps) {
      this.types = new Uint8Array(2 * nOps);
      this.valueFrom = new Int32Array(2 * nOps);
      this.valueTo = new Int32Array(2 * nOps);
    }
    let bins = 0;
    for (let i = 0; i < nOps; i++) {
      const end = at + 4 + body.readUInt32BE(at);
      const nameEnd = at + 8 + body[at + 7]!;
      if (nameEnd > end) throw new ProtocolError(`op of size ${end - at - 4} is shorter than its bin name`);
      if (body[at + 4] === OpType.EXP_READ) {
        // An expression read is the last-update time a scan asked for, not a bin.
        this.lastUpdateTime = lastUpdateOf(body, at, nameEnd, end);
      } else {
        const name = (this.#binNames[bins] = cached(this.#binNames[bins], body, at + 8, nameEnd));
        this.names[bins] = name.text;
        this.types[bins] = body[at + 5]!;
        this.valueFrom[bins] = nameEnd;
        this.valueTo[bins] = end;
        bins++;
      }
      at = end;
    }
    this.bins = bins;
  }

  /** The digest (a copy, for messages). */
  digest(): Buffer {
    return Buffer.from(this.data.subarray(this.digestAt, this.digestAt + 20));
  }
}
