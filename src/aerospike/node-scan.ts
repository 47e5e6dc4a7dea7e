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
import type { RawRecord } from './types.js';
import { Info3, MSG_HEADER_SIZE } from './wire/message.js';
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
  private at = 0;
  private fetching = false;
  private ended = false;
  private readonly unavailable: number[] = [];
  private readonly decoder = new RecordDecoder();
  /** Size on the wire of the record `read()` returned last. */
  lastRecordBytes = 0;

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
        this.frame = undefined;
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
      const record = this.decoder.decode(body, at);
      this.lastRecordBytes = this.decoder.end - at;
      this.at = this.decoder.end;
      return record;
    }
    return undefined;
  }

  /** Abandons the scan (its connection is closed); no `end` event follows. */
  cancel(): void {
    this.ended = true;
    this.frame = undefined;
    if (this.conn) this.node.discard(this.conn);
  }

  private fetch(): void {
    const conn = this.conn;
    if (!conn || this.fetching || this.ended) return;
    this.fetching = true;
    conn.readFrame(this.socketTimeoutMs).then(
      (frame) => {
        this.fetching = false;
        if (this.ended) return;
        if (frame.type !== ProtoType.MESSAGE) return void this.fail(new ProtocolError(`unexpected proto type ${frame.type} in a scan reply`));
        this.frame = frame.body;
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
    this.frame = undefined;
    const conn = this.conn;
    // The server sends nothing after LAST: the connection can serve another request.
    if (conn) this.node.release(conn);
    this.events.end(this, { kind: 'done', unavailable: this.unavailable });
    return undefined;
  }

  private fail(error: Error): undefined {
    if (this.ended) return undefined;
    this.ended = true;
    this.frame = undefined;
    if (this.conn) this.node.discard(this.conn);
    this.events.end(this, { kind: 'failed', error });
    return undefined;
  }
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
