/**
 * Multi-message replies (scans, batches): messages are packed back to back into type-3
 * frames of about `frameBytes`. Adding a message is synchronous; a frame that cannot
 * take the next message is sealed, and the producer sends sealed frames with
 * `sendSealed()`, which honours socket backpressure (it waits for 'drain'), so a slow
 * reader stops the producer instead of letting replies pile up in memory.
 */
import { PROTO_HEADER_SIZE, ProtoType, encodeProtoHeader } from '../../../src/aerospike/wire/proto.js';
import { FieldType, Info1, MSG_HEADER_SIZE, OpType, messageSize, writeField, writeHeader, writeMessage, writeOp, type MessageInit } from '../../../src/aerospike/wire/message.js';
import { ParticleType } from '../../../src/aerospike/types.js';
import { clepochMsToUnixNs } from './clock.js';
import type { StoredRecord } from './store.js';

/** Where frames go; resolves false when the peer is gone (the writer then stops). */
export interface FrameSink {
  write(frame: Buffer): Promise<boolean>;
}

export class FrameWriter {
  private buf: Buffer<ArrayBuffer>;
  private at = PROTO_HEADER_SIZE;
  private sealed: Buffer[] = [];
  private open = true;

  constructor(
    private readonly sink: FrameSink,
    private readonly frameBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(frameBytes);
  }

  /** False once the peer has gone; producers stop. */
  get isOpen(): boolean {
    return this.open;
  }

  /** True when frames are waiting for sendSealed(). */
  get hasSealed(): boolean {
    return this.sealed.length > 0;
  }

  /** Reserves `size` bytes for one message, sealing the current frame when it is full. */
  private reserve(size: number): number {
    if (this.at + size > this.buf.length && this.at > PROTO_HEADER_SIZE) this.seal();
    if (this.at + size > this.buf.length) {
      // A message larger than a frame gets a frame of its own size.
      this.buf = Buffer.allocUnsafe(PROTO_HEADER_SIZE + size);
    }
    const start = this.at;
    this.at += size;
    return start;
  }

  private seal(): void {
    if (this.at === PROTO_HEADER_SIZE) return;
    const frame = this.buf.subarray(0, this.at);
    encodeProtoHeader(ProtoType.MESSAGE, this.at - PROTO_HEADER_SIZE, this.buf, 0);
    this.sealed.push(frame);
    // The socket keeps a frame until it is written: buffers are never reused.
    this.buf = Buffer.allocUnsafe(this.frameBytes);
    this.at = PROTO_HEADER_SIZE;
  }

  add(msg: MessageInit): void {
    const start = this.reserve(messageSize(msg));
    writeMessage(this.buf, start, msg);
  }

  /** A scan record message: fields namespace, digest, set, key, then the bins as READ ops. */
  /** `lastUpdateOp`: the name of an expression read of last_update() to answer after the bins (op type 7, INTEGER ns). */
  addRecord(namespace: Buffer, rec: StoredRecord, bins: 'all' | 'none' | ReadonlySet<string>, lastUpdateOp?: string): void {
    const setLen = rec.set === '' ? 0 : Buffer.byteLength(rec.set);
    let size = MSG_HEADER_SIZE + 5 + namespace.length + 5 + 20;
    let nFields = 2;
    if (setLen > 0) {
      size += 5 + setLen;
      nFields++;
    }
    if (rec.key) {
      size += 5 + rec.key.length;
      nFields++;
    }
    let nOps = 0;
    if (bins !== 'none') {
      for (const bin of rec.bins) {
        if (bins !== 'all' && !bins.has(bin.name)) continue;
        size += 8 + Buffer.byteLength(bin.name) + bin.value.length;
        nOps++;
      }
    }
    if (lastUpdateOp !== undefined) {
      size += 8 + Buffer.byteLength(lastUpdateOp) + 8;
      nOps++;
    }
    const start = this.reserve(size);
    const b = this.buf;
    let at = writeHeader(b, start, { info1: bins === 'none' ? Info1.GET_NOBINDATA : 0, generation: rec.generation, recordTtl: rec.voidTime }, nFields, nOps);
    at = writeField(b, at, { type: FieldType.NAMESPACE, data: namespace });
    at = writeField(b, at, { type: FieldType.DIGEST, data: rec.digest });
    if (setLen > 0) {
      b.writeUInt32BE(setLen + 1, at);
      b[at + 4] = FieldType.SET;
      b.write(rec.set, at + 5, 'utf8');
      at += 5 + setLen;
    }
    if (rec.key) at = writeField(b, at, { type: FieldType.KEY, data: rec.key });
    if (bins === 'none') return;
    for (const bin of rec.bins) {
      if (bins !== 'all' && !bins.has(bin.name)) continue;
      at = writeOp(b, at, { op: OpType.READ, particleType: bin.type, name: bin.name, value: bin.value });
    }
    if (lastUpdateOp !== undefined) {
      const value = Buffer.alloc(8);
      value.writeBigInt64BE(clepochMsToUnixNs(rec.lutMs));
      at = writeOp(b, at, { op: OpType.EXP_READ, particleType: ParticleType.INTEGER, name: lastUpdateOp, value });
    }
  }

  /** Writes the sealed frames, waiting for the socket to drain between them. */
  async sendSealed(): Promise<void> {
    const frames = this.sealed;
    this.sealed = [];
    for (const frame of frames) {
      if (!this.open) return;
      this.open = await this.sink.write(frame);
    }
  }

  /** Seals the current frame and writes everything. */
  async flush(): Promise<void> {
    this.seal();
    await this.sendSealed();
  }
}

