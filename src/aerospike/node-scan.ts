/**
 * One partition scan request on one node, read one record at a time.
 *
 * The owner pulls records with `read()`; nothing is decoded ahead of that call. A scan
 * holds at most the frame it is decoding plus what its Connection buffers (see
 * connection.ts), so a reader that stops calling `read()` stops the socket, and TCP
 * stops the server.
 *
 * Reply handling (C client as_scan_parse_records): a message with info3 LAST ends the
 * scan (result 0) or fails it; PARTITION_DONE with a non-zero result marks that
 * partition unavailable (its id is in the generation slot); any other non-zero result
 * fails the scan, except KEY_NOT_FOUND, which a node sends when the set does not exist
 * there and which ends the scan normally.
 */
import { randomBytes } from 'node:crypto';
import type { Connection } from './connection.js';
import { ServerError } from './errors.js';
import type { Node } from './node.js';
import { RecordDecoder } from './record-decoder.js';
import { DIGEST_SIZE, type ScanBatch } from './scan-batch.js';
import type { RawRecord } from './types.js';
import type { FrameLease } from './wire/frame-pool.js';
import { FieldType, Info3, MSG_HEADER_SIZE } from './wire/message.js';
import { ProtoType, ProtocolError } from './wire/proto.js';
import { ResultCode } from './wire/result-codes.js';

export type NodeScanOutcome = { kind: 'done'; unavailable: number[] } | { kind: 'failed'; error: Error };

export interface NodeScanEvents {
  /** `read()` has something to return again. */
  readable(scan: NodeScan): void;
  /** The scan ended; called once, after every record was returned by `read()`. */
  end(scan: NodeScan, outcome: NodeScanOutcome): void;
}

export function randomTaskId(): bigint {
  return randomBytes(8).readBigUInt64BE(0);
}

export class NodeScan {
  private conn: Connection | undefined;
  private frame: Buffer | undefined;
  /**
   * The scan's hold on a pooled frame (frame-pool.ts), let go once the scan is past it.
   * Batches hold it too (ScanBatch.release); `read()` drops it without letting go, since
   * its RawRecords are views into the frame that nobody releases.
   */
  private lease: FrameLease | undefined;
  private at = 0;
  private fetching = false;
  private ended = false;
  private readonly unavailable: number[] = [];
  /** A malformed message found after some records of a batch: raised by the next readBatch. */
  private malformed: Error | undefined;
  private readonly decoder = new RecordDecoder();
  /** Size on the wire of the record `read()` returned last. */
  lastRecordBytes = 0;
  /** Scratch offsets of the batch being walked (copied out at its end). */
  private batchOffsets = new Int32Array(1024);
  private batchDigests = new Int32Array(1024);

  constructor(
    readonly node: Node,
    /** Every partition this request covers (from the start or resumed). */
    readonly partitions: readonly number[],
    private readonly request: Buffer,
    private readonly socketTimeoutMs: number,
    private readonly events: NodeScanEvents,
  ) {}

  /** Connects and sends the request; failures are reported through `events.end`. */
  start(): void {
    this.node
      .acquire()
      .then((conn) => {
        if (this.ended) return this.node.release(conn);
        this.conn = conn;
        conn.write(this.request);
        this.fetch();
      })
      .catch((err: Error) => this.fail(err));
  }

  /** Bytes this scan holds: the frame being decoded and the connection's buffer. */
  get bufferedBytes(): number {
    return (this.frame ? this.frame.length - this.at : 0) + (this.conn?.bufferedBytes ?? 0);
  }

  get isSocketPaused(): boolean {
    return this.conn?.isPaused ?? false;
  }

  /** The next record, or undefined when none is decoded yet (then `readable` follows) or the scan ended. */
  read(): RawRecord | undefined {
    try {
      return this.next();
    } catch (err) {
      return this.fail(err as Error);
    }
  }

  private next(): RawRecord | undefined {
    while (this.frame && !this.ended) {
      const body = this.frame;
      if (this.at >= body.length) {
        this.dropFrame();
        this.fetch();
        return undefined;
      }
      const at = this.at;
      if (body.length - at < MSG_HEADER_SIZE) throw new ProtocolError('truncated message in a scan reply');
      const info3 = body[at + 3]!;
      const rc = body[at + 5]!;
      if (info3 & Info3.LAST) {
        if (rc !== ResultCode.OK) throw new ServerError(rc, `scan on node ${this.node}`);
        return this.finish();
      }
      if (info3 & Info3.PARTITION_DONE) {
        if (rc !== ResultCode.OK) this.unavailable.push(body.readUInt32BE(at + 6));
        this.at = skipMessage(body, at);
        continue;
      }
      if (rc === ResultCode.KEY_NOT_FOUND) return this.finish();
      if (rc !== ResultCode.OK) throw new ServerError(rc, `scan on node ${this.node}`);
      // The record's values are views into the frame: it must never be reused.
      this.lease = undefined;
      const record = this.decoder.decode(body, at);
      this.lastRecordBytes = this.decoder.end - at;
      this.at = this.decoder.end;
      return record;
    }
    return undefined;
  }

  /**
   * The next records of the current frame (at most `max`) as one ScanBatch, or undefined
   * when none is ready (then `readable` follows) or the scan ended. Records are checked
   * (every field and op inside the message, a 20-byte digest) but not decoded. A batch
   * ends before a message that ends or fails the scan, so its records are delivered
   * first, exactly as `read()` would deliver them one by one.
   */
  readBatch(max: number): ScanBatch | undefined {
    if (this.malformed) {
      // The records before the malformed message went out in the last batch; now the failure.
      const err = this.malformed;
      this.malformed = undefined;
      return this.fail(err);
    }
    try {
      return this.nextBatch(max);
    } catch (err) {
      return this.fail(err as Error);
    }
  }

  private nextBatch(max: number): ScanBatch | undefined {
    while (this.frame && !this.ended) {
      const body = this.frame;
      let at = this.at;
      if (at >= body.length) {
        this.dropFrame();
        this.fetch();
        return undefined;
      }
      let count = 0;
      let bytes = 0;
      while (at < body.length && count < max) {
        let end: number;
        try {
          if (body.length - at < MSG_HEADER_SIZE) throw new ProtocolError('truncated message in a scan reply');
          const info3 = body[at + 3]!;
          const rc = body[at + 5]!;
          if (info3 & Info3.LAST || (rc !== ResultCode.OK && !(info3 & Info3.PARTITION_DONE))) break;
          if (info3 & Info3.PARTITION_DONE) {
            if (rc !== ResultCode.OK) this.unavailable.push(body.readUInt32BE(at + 6));
            at = skipMessage(body, at);
            continue;
          }
          if (count === this.batchOffsets.length) this.growBatch();
          end = this.walkRecord(body, at, count);
        } catch (err) {
          // A malformed message fails the scan, but the records before it are delivered
          // first (as read() delivers them), the failure on the next call.
          if (count === 0) throw err;
          this.malformed = err as Error;
          break;
        }
        this.batchOffsets[count++] = at;
        bytes += end - at;
        at = end;
      }
      this.at = at;
      if (count > 0) {
        const batch: ScanBatch = { body, count, offsets: this.batchOffsets.slice(0, count), digests: this.batchDigests.slice(0, count), bytes };
        const lease = this.lease;
        return lease ? { ...batch, release: lease.hold(), hold: () => lease.hold() } : batch;
      }
      if (at < body.length && count < max) {
        // A message that ends (LAST, KEY_NOT_FOUND) or fails the scan: next() handles it.
        this.next();
        return undefined;
      }
    }
    return undefined;
  }

  /** Checks the record message at `at` (fields and ops inside the body, a 20-byte digest), notes its digest; returns its end. */
  private walkRecord(body: Buffer, at: number, index: number): number {
    const nFields = body.readUInt16BE(at + 18);
    const nOps = body.readUInt16BE(at + 20);
    let pos = at + MSG_HEADER_SIZE;
    let digest = -1;
    for (let i = 0; i < nFields; i++) {
      const end = skipPart(body, pos, 1);
      if (body[pos + 4] === FieldType.DIGEST) {
        if (end - pos - 5 !== DIGEST_SIZE) throw new ProtocolError(`digest field of ${end - pos - 5} bytes`);
        digest = pos + 5;
      }
      pos = end;
    }
    if (digest < 0) throw new ProtocolError('record message without a digest field');
    for (let i = 0; i < nOps; i++) pos = skipPart(body, pos, 4);
    this.batchDigests[index] = digest;
    return pos;
  }

  private growBatch(): void {
    const offsets = new Int32Array(this.batchOffsets.length * 2);
    offsets.set(this.batchOffsets);
    this.batchOffsets = offsets;
    const digests = new Int32Array(this.batchDigests.length * 2);
    digests.set(this.batchDigests);
    this.batchDigests = digests;
  }

  /** Abandons the scan (its connection is closed); no `end` event follows. */
  cancel(): void {
    this.ended = true;
    this.dropFrame();
    if (this.conn) this.node.discard(this.conn);
  }

  /** The scan is past its frame: lets go of its hold. */
  private dropFrame(): void {
    this.frame = undefined;
    const lease = this.lease;
    this.lease = undefined;
    lease?.release();
  }

  private fetch(): void {
    const conn = this.conn;
    if (!conn || this.fetching || this.ended) return;
    this.fetching = true;
    conn.readFrame(this.socketTimeoutMs).then(
      (frame) => {
        this.fetching = false;
        if (this.ended) return void frame.lease?.release();
        if (frame.type !== ProtoType.MESSAGE) return void this.fail(new ProtocolError(`unexpected proto type ${frame.type} in a scan reply`));
        this.frame = frame.body;
        this.lease = frame.lease;
        this.at = 0;
        this.events.readable(this);
      },
      (err: Error) => {
        this.fetching = false;
        this.fail(err);
      },
    );
  }

  private finish(): undefined {
    this.ended = true;
    this.dropFrame();
    const conn = this.conn;
    // The server sends nothing after LAST: the connection can serve another request.
    if (conn) this.node.release(conn);
    this.events.end(this, { kind: 'done', unavailable: this.unavailable });
    return undefined;
  }

  private fail(error: Error): undefined {
    if (this.ended) return undefined;
    this.ended = true;
    this.dropFrame();
    if (this.conn) this.node.discard(this.conn);
    this.events.end(this, { kind: 'failed', error });
    return undefined;
  }
}

/** Offset after the field or op at `at`: a u32 size, then `size` bytes of which `min` are fixed. */
function skipPart(body: Buffer, at: number, min: number): number {
  if (at + 4 > body.length) throw new ProtocolError('field or op runs past the end of the frame');
  const end = at + 4 + body.readUInt32BE(at);
  if (end > body.length || end < at + 4 + min) throw new ProtocolError('field or op runs past the end of the frame');
  return end;
}

function skipMessage(body: Buffer, at: number): number {
  let pos = at + MSG_HEADER_SIZE;
  const n = body.readUInt16BE(at + 18) + body.readUInt16BE(at + 20);
  for (let i = 0; i < n; i++) {
    if (pos + 4 > body.length) throw new ProtocolError('message runs past the end of the frame');
    pos += 4 + body.readUInt32BE(pos);
  }
  if (pos > body.length) throw new ProtocolError('message runs past the end of the frame');
  return pos;
}
