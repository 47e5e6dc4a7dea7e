/**
 * Writes RawRecords back to the cluster, byte for byte, as an object-mode Writable. It
 * also takes WireRows (batch-request.ts): rows of backup records decoded straight from a
 * data file, which go to the request with one copy (restore writes those); `namespace`
 * and `sendKey` are for RawRecords only (WireRows carry their namespace and keys).
 *
 * Records are grouped by the master node of their partition and sent as batch writes
 * (batch-request.ts) of up to `batchSize` rows and `maxBatchBytes` bytes of rows (a
 * larger row goes alone). Each node has at most `maxInFlightPerNode` batches in flight;
 * when a node's queue holds a whole batch as well, the Writable's callback is held until
 * a batch of that node completes, so a fast source waits instead of filling memory. The
 * callback is held too while maxInFlightPerNode × batchSize rows wait for a retry (a
 * node down, a partition without master). Bound: per node, maxInFlightPerNode batches
 * in flight plus a batch queued (or the rows of the last WireRows chunk, which are
 * queued at once); as many rows waiting for a retry; plus the Writable's own
 * highWaterMark (in chunks).
 *
 * Partial batches go out on the next turn of the event loop when the node has a free
 * slot: a slow source sees low latency, a fast one full batches.
 *
 * Results: every record written to the stream, and every row of WireRows, gets exactly
 * one `onResult` call (unless the stream is destroyed first), and `final` waits for all
 * of them. The writer owns the hold each WireRows chunk comes with, and releases it once
 * every row of the chunk has its result (so lent rows are reused only then).
 *   written  the server applied the write
 *   fresher  policy generation-greater, and the stored record's generation is not lower
 *            than the backup's (result GENERATION)
 *   exists   policy create-only, and the record exists (result KEY_EXISTS)
 *   expired  the record's void time has passed (plus extraTtlSeconds): not sent
 *   failed   anything else; `resultCode` is the server's, or a client code:
 *            -10 connection failed, -8 no node masters the partition, 9 timeout,
 *            20 NAMESPACE_NOT_FOUND when the cluster has no such namespace, and
 *            4 PARAMETER for a record without bins (not sent: the server stores no
 *            empty records, and a backup record without bins has nothing to restore)
 * A row whose result is transient (isTransientResultCode) and a batch lost to a network
 * error are retried with backoff, re-routed on a refreshed partition map, up to
 * `maxRetries` times. A retried write may have been applied before the failure: with
 * create-only it then reports 'exists', with generation-greater possibly 'fresher'.
 *
 * Write policies (info2 / info3 of each row). Unlike the C client, rows do not ask for
 * RESPOND_ALL_OPS: the writer reads only each row's result code, and the server's reply
 * to every written bin cost it ~10 % of its CPU and the reply ~5x the bytes (a 2M-record
 * restore at 512 rows a batch, docs/performance.md):
 *   generation-greater  WRITE|GENERATION_GT with the backup's generation; a missing record
 *                       counts as generation 0, so a backup record (generation >= 1) is
 *                       written unless the stored one is at least as fresh. Bins merge.
 *   create-only         WRITE|CREATE_ONLY
 *   replace             WRITE, info3 CREATE_OR_REPLACE: bins not in the backup are removed
 *   ignore-generation   WRITE: bins merge into an existing record
 * TTL: the original void time is restored (see restoreTtl); the record's generation on
 * the server is the server's own (a write increments it), as with asrestore.
 */
import { Writable } from 'node:stream';
import {
  NameCache,
  RowBuffer,
  WireRows,
  appendRecordRow,
  citrusleafNow,
  encodeRowsRequest,
  patchRow,
  readBatchReply,
  restoreTtl,
} from './batch-request.js';
import type { Cluster } from './cluster.js';
import { NamespaceNotFoundError } from '../errors.js';
import { ClusterError, ConnectionError } from './errors.js';
import type { Node } from './node.js';
import type { RawRecord } from './types.js';
import { partitionId } from './wire/digest.js';
import { Info2, Info3 } from './wire/message.js';
import { ProtoType, ProtocolError } from './wire/proto.js';
import { ResultCode, isTransientResultCode } from './wire/result-codes.js';

/**
 * How rows are written. `delete` removes the records instead (by digest: bins, key, TTL
 * and generation of what it is given are ignored): `written` then means deleted, and a
 * record that was not there is `absent`.
 */
export type WritePolicy = 'generation-greater' | 'create-only' | 'replace' | 'ignore-generation' | 'delete';
export type WriteOutcome = 'written' | 'fresher' | 'exists' | 'expired' | 'absent' | 'failed';

export interface WriteResult {
  /**
   * The record written; for a row of WireRows, built from the row's bytes when read
   * (without lastUpdateTime), and for lent rows (RowsPool) only during the onResult call.
   */
  readonly record: RawRecord;
  outcome: WriteOutcome;
  resultCode: number;
}

export interface BatchWriterOptions {
  /** Write every record into this namespace instead of its own. */
  namespace?: string;
  /** Default generation-greater. */
  policy?: WritePolicy;
  /** Added to the TTL of records that expire. */
  extraTtlSeconds?: number;
  /** Rows per batch; default 512. */
  batchSize?: number;
  /** Bytes of rows per batch (a larger row goes alone); default 4 MiB. */
  maxBatchBytes?: number;
  /** Batches in flight per node; default 2. */
  maxInFlightPerNode?: number;
  /** Store the user key: default when the record has one; false never sends it. */
  sendKey?: boolean;
  onResult?: (r: WriteResult) => void;
  /** Server timeout of a batch (ms); the client waits 1 s longer. Default 10000. */
  timeoutMs?: number;
  /** Retries of a row after transient failures; default 5. */
  maxRetries?: number;
  /** Chunks (records or WireRows) the Writable buffers; default 16. */
  highWaterMark?: number;
}

/** Client-side result codes (the C client's values) for rows the server never answered. */
export const ClientResultCode = {
  CONNECTION: -10,
  INVALID_NODE: -8,
  TIMEOUT: ResultCode.TIMEOUT,
} as const;

/** A record or row accepted and not yet reported. */
interface Pending {
  /** The record, or undefined for row `row` of `rows`. */
  record: RawRecord | undefined;
  rows: WireRows | undefined;
  row: number;
  namespace: string;
  partition: number;
  attempts: number;
  /** The row's size in a request (for a record, about it). */
  bytes: number;
}

/**
 * The result of a row of WireRows: its record is built from the row's bytes only if
 * asked for. Rows that are lent (reused once they all have results) give a copy, and
 * only until they are reused: read `record` during the onResult call.
 */
class RowResult implements WriteResult {
  readonly #rows: WireRows;
  readonly #row: number;
  readonly #reuses: number;
  #record: RawRecord | undefined;

  constructor(rows: WireRows, row: number, readonly outcome: WriteOutcome, readonly resultCode: number) {
    this.#rows = rows;
    this.#row = row;
    this.#reuses = rows.reuses;
  }

  get record(): RawRecord {
    if (this.#record === undefined) {
      const rows = this.#rows;
      if (rows.reuses !== this.#reuses) throw new Error('the rows of this write result were reused since: read its record during the onResult call');
      this.#record = rows.record(this.#row, rows.lent);
    }
    return this.#record;
  }
}

interface NodeQueue {
  node: Node;
  rows: Pending[];
  /** The bytes of `rows`. */
  bytes: number;
  inFlight: number;
}

/** Rows per batch write (see docs/performance.md, "Tuning"). */
export const DEFAULT_BATCH_SIZE = 512;
export const DEFAULT_BATCH_BYTES = 4 * 1024 * 1024;

/** About the bytes of a record's row: header, namespace, set, key, and each bin's op. */
function recordBytes(r: RawRecord): number {
  let n = 64 + r.namespace.length + r.set.length + (r.userKey ? r.userKey.bytes.length : 0);
  for (const b of r.bins) n += 8 + b.name.length + b.value.length;
  return n;
}

const RETRY_BASE_MS = 100;
const RETRY_MAX_MS = 3000;

const POLICY_ATTRS: Record<WritePolicy, { info2: number; info3: number; sendGeneration: boolean }> = {
  'generation-greater': { info2: Info2.WRITE | Info2.GENERATION_GT, info3: 0, sendGeneration: true },
  'create-only': { info2: Info2.WRITE | Info2.CREATE_ONLY, info3: 0, sendGeneration: false },
  replace: { info2: Info2.WRITE, info3: Info3.CREATE_OR_REPLACE, sendGeneration: false },
  'ignore-generation': { info2: Info2.WRITE, info3: 0, sendGeneration: false },
  delete: { info2: Info2.WRITE | Info2.DELETE, info3: 0, sendGeneration: false },
};

export class BatchWriter extends Writable {
  readonly stats: Record<WriteOutcome, number> & { failedByCode: Record<number, number> } = {
    written: 0,
    fresher: 0,
    exists: 0,
    expired: 0,
    absent: 0,
    failed: 0,
    failedByCode: {},
  };
  private readonly queues = new Map<Node, NodeQueue>();
  private readonly policy: WritePolicy;
  private readonly batchSize: number;
  private readonly maxBatchBytes: number;
  private readonly maxInFlight: number;
  private readonly maxRetries: number;
  private readonly timeoutMs: number;
  /** Records accepted and not yet reported. */
  private outstanding = 0;
  /** The write callback held for backpressure, and the queue its record went to. */
  private held: { queue: NodeQueue | undefined; callback: (error?: Error | null) => void } | undefined;
  /** Rows waiting for a retry timer. */
  private retrying = 0;
  private finalCallback: ((error?: Error | null) => void) | undefined;
  private flushScheduled = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;
  /** Encoded names (namespace, sets, bins) reused across batches. */
  private readonly names = new NameCache();
  /** The rows of the RawRecords of the batch being encoded (copied into its request at once). */
  private readonly scratch: RowBuffer;
  /**
   * Request buffers whose reply is in, to encode the next requests into: once the server
   * has answered, it has read the whole request, so the socket no longer needs its bytes.
   */
  private readonly spareRequests: Buffer[] = [];

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: BatchWriterOptions = {},
  ) {
    super({ objectMode: true, ...(opts.highWaterMark !== undefined ? { highWaterMark: opts.highWaterMark } : {}) });
    this.policy = opts.policy ?? 'generation-greater';
    if (!(this.policy in POLICY_ATTRS)) throw new TypeError(`unknown write policy "${this.policy}"`);
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.maxBatchBytes = opts.maxBatchBytes ?? DEFAULT_BATCH_BYTES;
    this.scratch = new RowBuffer(64 * 1024, this.batchSize);
    this.maxInFlight = opts.maxInFlightPerNode ?? 2;
    this.maxRetries = opts.maxRetries ?? 5;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    if (!(this.batchSize >= 1 && this.maxInFlight >= 1 && this.maxBatchBytes >= 1)) throw new RangeError('batchSize, maxBatchBytes and maxInFlightPerNode must be at least 1');
    const known = cluster.namespaces();
    if (opts.namespace !== undefined && !known.includes(opts.namespace)) throw new NamespaceNotFoundError(opts.namespace, known);
  }

  override _write(chunk: RawRecord | WireRows, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    if (chunk instanceof WireRows) {
      const refused = this.refuse(chunk);
      if (refused) return callback(refused);
      this.hold(this.acceptRows(chunk, citrusleafNow()), callback);
      return;
    }
    const queue = this.accept(chunk, citrusleafNow());
    if (this.isBlocked(queue)) this.held = { queue, callback };
    else callback();
  }

  /** Chunks at once (what the Writable buffered while the callback was held). */
  override _writev(chunks: Array<{ chunk: RawRecord | WireRows; encoding: BufferEncoding }>, callback: (error?: Error | null) => void): void {
    const nowCl = citrusleafNow();
    let blocked: NodeQueue | undefined | null = null;
    for (let i = 0; i < chunks.length; i++) {
      const chunk = chunks[i]!.chunk;
      if (chunk instanceof WireRows) {
        const refused = this.refuse(chunk);
        if (refused) return callback(refused);
        const queue = this.acceptRows(chunk, nowCl);
        if (blocked === null) blocked = queue;
      } else {
        const queue = this.accept(chunk, nowCl);
        if (blocked === null && this.isBlocked(queue)) blocked = queue;
      }
    }
    this.hold(blocked, callback);
  }

  /** Holds the callback while `blocked` (the first node a chunk saturated, or null) is still saturated, or too many rows wait for a retry. */
  private hold(blocked: NodeQueue | undefined | null, callback: (error?: Error | null) => void): void {
    if (blocked !== null && this.isBlocked(blocked)) this.held = { queue: blocked, callback };
    else if (this.retrying >= this.batchSize * this.maxInFlight) this.held = { queue: undefined, callback };
    else callback();
  }

  /** Why WireRows cannot be written as this writer is configured, if so. */
  private refuse(rows: WireRows): Error | undefined {
    if (this.policy === 'delete') return new TypeError('a deleting batch writer takes records (digests) only');
    if (this.opts.namespace !== undefined && this.opts.namespace !== rows.namespace) {
      return new TypeError(`rows of namespace ${rows.namespace} written to a batch writer for namespace ${this.opts.namespace}`);
    }
    if (this.opts.sendKey === false) return new TypeError('rows carry their keys: a batch writer that never sends keys takes records only');
    return undefined;
  }

  /** Counts a record in and routes it (or reports it at once); returns the queue it went to. */
  private accept(record: RawRecord, nowCl: number): NodeQueue | undefined {
    const p: Pending = { record, rows: undefined, row: 0, namespace: this.opts.namespace ?? record.namespace, partition: 0, attempts: 0, bytes: recordBytes(record) };
    this.outstanding++;
    if (this.policy !== 'delete' && record.bins.length === 0) {
      this.report(p, 'failed', ResultCode.PARAMETER);
      return undefined;
    }
    if (this.policy !== 'delete' && restoreTtl(record.voidTime, nowCl, this.opts.extraTtlSeconds) === undefined) {
      this.report(p, 'expired', ResultCode.OK);
      return undefined;
    }
    p.partition = partitionId(record.digest);
    return this.enqueue(p);
  }

  /** Counts the rows in and routes them (or reports them at once); returns the first queue they saturated, or null. */
  private acceptRows(rows: WireRows, nowCl: number): NodeQueue | undefined | null {
    let blocked: NodeQueue | undefined | null = null;
    const extra = this.opts.extraTtlSeconds;
    // Released (for reuse) once every row has its result (report).
    rows.unsettled = rows.count;
    if (rows.count === 0) rows.release();
    const starts = rows.starts;
    for (let i = 0; i < rows.count; i++) {
      const p: Pending = { record: undefined, rows, row: i, namespace: rows.namespace, partition: 0, attempts: 0, bytes: starts[i + 1]! - starts[i]! };
      this.outstanding++;
      if (rows.opCount(i) === 0) {
        this.report(p, 'failed', ResultCode.PARAMETER);
        continue;
      }
      if (restoreTtl(rows.voidTimes[i]!, nowCl, extra) === undefined) {
        this.report(p, 'expired', ResultCode.OK);
        continue;
      }
      p.partition = rows.partition(i);
      const queue = this.enqueue(p);
      if (blocked === null && this.isBlocked(queue)) blocked = queue;
    }
    return blocked;
  }

  /** True while a writer should wait: the record's node is saturated, or too many rows wait for a retry. */
  private isBlocked(queue: NodeQueue | undefined): boolean {
    if (this.retrying >= this.batchSize * this.maxInFlight) return true;
    return queue !== undefined && this.isFull(queue) && queue.inFlight >= this.maxInFlight;
  }

  /** Whether a node's queue holds a whole batch: batchSize rows, or maxBatchBytes. */
  private isFull(queue: NodeQueue): boolean {
    return queue.rows.length >= this.batchSize || queue.bytes >= this.maxBatchBytes;
  }

  private releaseHeld(): void {
    const held = this.held;
    if (held && !this.isBlocked(held.queue)) {
      this.held = undefined;
      held.callback();
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.finalCallback = callback;
    this.flush();
    this.checkFinal();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    callback(err);
  }

  /** Routes a record to its master's queue and sends what can go; undefined when it has no master. */
  private enqueue(p: Pending): NodeQueue | undefined {
    const namespace = p.namespace;
    const node = this.cluster.ownerOf(namespace, p.partition);
    if (!node) {
      if (this.cluster.namespaces().includes(namespace)) this.retryLater([p], ClientResultCode.INVALID_NODE);
      else this.report(p, 'failed', ResultCode.NAMESPACE_NOT_FOUND);
      return undefined;
    }
    let queue = this.queues.get(node);
    if (!queue) {
      queue = { node, rows: [], bytes: 0, inFlight: 0 };
      this.queues.set(node, queue);
    }
    queue.rows.push(p);
    queue.bytes += p.bytes;
    while (queue.inFlight < this.maxInFlight && this.isFull(queue)) this.send(queue);
    this.scheduleFlush();
    return queue;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends partial batches on nodes with a free slot. */
  private flush(): void {
    if (this.stopped) return;
    for (const queue of this.queues.values()) {
      while (queue.inFlight < this.maxInFlight && queue.rows.length > 0) this.send(queue);
    }
  }

  private send(queue: NodeQueue): void {
    // Up to batchSize rows and maxBatchBytes (at least one row, however large).
    const rows = queue.rows;
    let n = 0;
    let bytes = 0;
    while (n < rows.length && n < this.batchSize && (n === 0 || bytes + rows[n]!.bytes <= this.maxBatchBytes)) bytes += rows[n++]!.bytes;
    const batch = rows.splice(0, n);
    queue.bytes -= bytes;
    queue.inFlight++;
    this.sendBatch(queue.node, batch)
      .catch((err: Error) => this.destroy(err))
      .finally(() => {
        queue.inFlight--;
        this.afterBatch(queue);
      });
  }

  private afterBatch(queue: NodeQueue): void {
    if (this.stopped) return;
    while (queue.inFlight < this.maxInFlight && this.isFull(queue)) this.send(queue);
    if (queue.rows.length > 0) this.scheduleFlush();
    this.releaseHeld();
    if (queue.rows.length === 0 && queue.inFlight === 0) this.queues.delete(queue.node);
    this.checkFinal();
  }

  /** One batch round trip; rows without a final result are retried. Throws only on protocol errors. */
  private async sendBatch(node: Node, batch: Pending[]): Promise<void> {
    const nowCl = citrusleafNow();
    const { info2, info3, sendGeneration } = POLICY_ATTRS[this.policy];
    const sources: RowBuffer[] = [];
    const rows: number[] = [];
    const sent: Pending[] = [];
    const scratch = this.scratch;
    scratch.clear();
    const deleting = this.policy === 'delete';
    for (const p of batch) {
      const r = p.record;
      const ttl = deleting ? 0 : restoreTtl(r ? r.voidTime : p.rows!.voidTimes[p.row]!, nowCl, this.opts.extraTtlSeconds);
      if (ttl === undefined) {
        this.report(p, 'expired', ResultCode.OK);
        continue;
      }
      let source: RowBuffer;
      let row: number;
      let generation: number;
      if (r) {
        if (deleting) appendRecordRow(scratch, r.digest, p.namespace, r.set, undefined, [], this.names);
        else appendRecordRow(scratch, r.digest, p.namespace, r.set, this.opts.sendKey === false ? undefined : r.userKey, r.bins, this.names);
        source = scratch;
        row = scratch.count - 1;
        generation = r.generation;
      } else {
        source = p.rows!;
        row = p.row;
        generation = p.rows!.generations[row]!;
      }
      patchRow(source, row, info2, info3, sendGeneration ? generation : 0, ttl);
      sources.push(source);
      rows.push(row);
      sent.push(p);
    }
    if (sent.length === 0) return;
    const spare = this.spareRequests.pop();
    const request = encodeRowsRequest(sources, rows, this.timeoutMs, spare);

    const answered = new Array<boolean>(sent.length).fill(false);
    let lastCode: number | undefined;
    let conn;
    try {
      conn = await node.acquire();
      conn.write(request);
      while (lastCode === undefined) {
        const frame = await conn.readFrame(this.timeoutMs + 1000);
        try {
          if (frame.type !== ProtoType.MESSAGE) throw new ProtocolError(`unexpected proto type ${frame.type} in a batch reply`);
          lastCode = readBatchReply(frame.body, (row) => {
            const p = sent[row.index];
            if (!p || answered[row.index]) throw new ProtocolError(`batch reply names row ${row.index} of ${sent.length}`);
            answered[row.index] = true;
            this.settle(p, row.resultCode);
          });
        } finally {
          // Nothing keeps a view of the reply: a large one's buffer serves the next (frame-pool.ts).
          frame.lease?.release();
        }
      }
      node.release(conn);
      this.spareRequests.push(spare && request.buffer === spare.buffer ? spare : request);
    } catch (err) {
      if (conn) node.discard(conn);
      if (err instanceof ConnectionError) lastCode = err.isTimeout ? ClientResultCode.TIMEOUT : ClientResultCode.CONNECTION;
      else if (err instanceof ClusterError) lastCode = ClientResultCode.INVALID_NODE; // the node left the cluster
      else throw err;
    }
    const unanswered: Pending[] = [];
    for (let i = 0; i < sent.length; i++) if (!answered[i]) unanswered.push(sent[i]!);
    if (unanswered.length === 0) return;
    // The server or the network dropped these rows: a batch-level error applies to each.
    const code = lastCode === ResultCode.OK ? ClientResultCode.CONNECTION : lastCode;
    if (code < 0 || isTransientResultCode(code)) this.retryLater(unanswered, code);
    else for (const p of unanswered) this.report(p, 'failed', code);
  }

  /** Turns a row's result code into its outcome, or a retry. */
  private settle(p: Pending, code: number): void {
    if (code === ResultCode.OK) this.report(p, 'written', code);
    else if (code === ResultCode.KEY_NOT_FOUND && this.policy === 'delete') this.report(p, 'absent', code);
    else if (code === ResultCode.GENERATION && this.policy === 'generation-greater') this.report(p, 'fresher', code);
    else if (code === ResultCode.KEY_EXISTS && this.policy === 'create-only') this.report(p, 'exists', code);
    else if (isTransientResultCode(code)) this.retryLater([p], code);
    else this.report(p, 'failed', code);
  }

  private retryLater(rows: Pending[], code: number): void {
    const retry: Pending[] = [];
    for (const p of rows) {
      if (++p.attempts > this.maxRetries) this.report(p, 'failed', code);
      else retry.push(p);
    }
    if (retry.length === 0) return;
    this.retrying += retry.length;
    const attempts = Math.max(...retry.map((p) => p.attempts));
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempts - 1));
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      this.cluster
        .refresh()
        .catch(() => undefined)
        .then(() => {
          if (this.stopped) return;
          this.retrying -= retry.length;
          for (const p of retry) this.enqueue(p);
          this.releaseHeld();
          this.checkFinal();
        });
    }, delay);
    this.timers.add(timer);
  }

  private report(p: Pending, outcome: WriteOutcome, resultCode: number): void {
    this.outstanding--;
    this.stats[outcome]++;
    if (outcome === 'failed') this.stats.failedByCode[resultCode] = (this.stats.failedByCode[resultCode] ?? 0) + 1;
    const onResult = this.opts.onResult;
    if (onResult) {
      try {
        onResult(p.record ? { record: p.record, outcome, resultCode } : new RowResult(p.rows!, p.row, outcome, resultCode));
      } catch (err) {
        this.destroy(err as Error);
      }
    }
    const rows = p.rows;
    if (rows && --rows.unsettled === 0) rows.release();
  }

  private checkFinal(): void {
    if (this.finalCallback && this.outstanding === 0) {
      const cb = this.finalCallback;
      this.finalCallback = undefined;
      cb();
    }
  }
}
