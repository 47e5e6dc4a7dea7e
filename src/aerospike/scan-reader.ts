/**
 * A partition scan of one namespace as an object-mode Readable of RawRecords.
 *
 * Each node that masters some of the wanted partitions gets one scan request for them
 * (see scan-request.ts). Records are decoded only when the stream wants more: `_read`
 * pulls records round-robin from the node scans and pushes while `push()` returns true.
 * When it returns false nothing is decoded, each node scan's connection pauses its
 * socket once one more frame is queued, and TCP makes the server wait.
 *
 * Buffering bound, whatever the size of the namespace: `highWaterMark` records (default
 * 256) in the stream's buffer, plus, per running node scan (one per node, a few more
 * only while retries overlap), the rest of the frame being decoded, one queued frame and
 * one socket read (64 KiB). The server cuts scan replies into frames of 1 MiB plus at
 * most one record, so that is at most 2 × (1 MiB + one record) + 64 KiB per node scan.
 * `bufferState()` reports the current figures (scan-reader and scan-cluster tests check
 * them against this bound with a stalled consumer). In batch mode (`batches`) the
 * stream buffers `highWaterMark` batches (default 2), each at most one frame's records.
 *
 * Failures: a node scan that fails (socket error, timeout, server error with a transient
 * result code, a partition reported unavailable) puts its unfinished partitions back;
 * after a backoff the partition map is refreshed and they are scanned again on their
 * current masters, each from the last digest delivered downstream (the server resumes
 * strictly below it, so nothing is delivered twice). A partition that fails more than
 * `maxRetries` times in a row without delivering a record ends the stream with a
 * ScanError naming the unfinished partitions: a scan is never silently short. A server
 * error that retrying cannot fix (bad namespace, bad parameter) or a protocol error ends
 * it at once, with the same ScanError.
 *
 * Progress: `cursors()` lists unfinished partitions with the digest of the last record
 * the consumer took out of this stream (records still in its buffer do not count, so a
 * scan stopped by `destroy()` or a failure loses nothing); `donePartitions()` lists the
 * partitions all of whose records were taken. `new ScanReader(cluster, { ..., partitions:
 * cursors })` continues from there. A consumer that buffers further (a Writable) must
 * checkpoint what it has stored itself.
 */
import { Readable } from 'node:stream';
import type { Cluster } from './cluster.js';
import { ClusterError, ConnectionError, ScanError, ServerError } from './errors.js';
import { NamespaceNotFoundError } from '../errors.js';
import type { Node } from './node.js';
import { NodeScan, randomTaskId, type NodeScanEvents, type NodeScanOutcome } from './node-scan.js';
import { RateLimiter } from './rate-limiter.js';
import type { ScanBatch } from './scan-batch.js';
import { encodeScanRequest } from './scan-request.js';
import { ConsumedProgress, PartitionTracker, type PartitionCursor } from './scan-partitions.js';
import { PARTITION_COUNT, type RawRecord } from './types.js';
import type { Expr } from './wire/exp.js';
import { ResultCode, isTransientResultCode } from './wire/result-codes.js';

export type { PartitionCursor } from './scan-partitions.js';

export interface ScanOptions {
  namespace: string;
  /** undefined or [] = every set. */
  sets?: string[];
  /** Bins to return (default all). */
  bins?: string[];
  /** Return metadata only (digest, key, generation, void time). */
  noBins?: boolean;
  /**
   * Also return each record's last-update time (server 8.1.2.0 or newer; needs `bins`):
   * an op of type 7 after the bins (scan-request.ts).
   */
  lastUpdate?: boolean;
  /** Partitions to scan, optionally resumed below a digest; default all 4096. */
  partitions?: PartitionCursor[];
  filter?: Expr;
  /** Cluster-wide limit of records pushed per second. */
  recordsPerSecond?: number;
  /**
   * A node that sends nothing for this long while records are wanted has failed; default
   * 30000 ms. Also sent to the server (field 9), which drops a scan whose client has not
   * read for that long: after a longer stall of the consumer, the scan resumes from the
   * last digests like after any other failure.
   */
  socketTimeoutMs?: number;
  /** Failures in a row without progress allowed per partition before giving up; default 5. */
  maxRetries?: number;
  /**
   * Deliver ScanBatches (the records of a reply frame as the server sent them, see
   * scan-batch.ts) instead of RawRecords: no per-record decoding or stream hop, for
   * consumers that re-encode records (the backup). Progress (`cursors()`, `stats`) is the
   * same, counted in records; a batch counts as taken once it left the stream's buffer.
   */
  batches?: boolean;
  /** Records (batches in batch mode) buffered in the stream; default 256 (2 in batch mode). */
  highWaterMark?: number;
}

export interface ScanBufferState {
  /** Records in the stream's buffer, pushed and not yet read. */
  records: number;
  /** Reply bytes held by node scans (frames being decoded, queued, or partially received). */
  bytes: number;
  /** Node scans running, and how many of their sockets are paused. */
  scans: number;
  pausedSockets: number;
}

const RETRY_BASE_MS = 250;
const RETRY_MAX_MS = 5000;

export class ScanReader extends Readable {
  readonly stats = { records: 0, bytes: 0, retries: 0 };
  /** What node scans produced: drives retries. */
  private readonly tracker: PartitionTracker;
  /** What the consumer took: drives cursors(), donePartitions() and ScanError. */
  private readonly consumed: ConsumedProgress;
  /** Set once destroyed: the buffer's records were never consumed. */
  private frozen = false;
  private readonly scans = new Set<NodeScan>();
  private readonly sets: string[];
  private readonly limiter: RateLimiter | undefined;
  private started = false;
  private finished = false;
  private wanting = false;
  private pumping = false;
  /** A record or batch read while the rate limit said wait; pushed first when the timer fires. */
  private held: { item: RawRecord | ScanBatch; scan: NodeScan } | undefined;
  /** Records per batch at most (batch mode): the rate limiter's burst when there is a limit. */
  private readonly maxBatch: number;
  private rateTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly events: NodeScanEvents = {
    readable: () => this.pump(),
    end: (scan, outcome) => this.onScanEnd(scan, outcome),
  };

  constructor(
    private readonly cluster: Cluster,
    private readonly opts: ScanOptions,
  ) {
    super({ objectMode: true, highWaterMark: opts.highWaterMark ?? (opts.batches ? 2 : 256) });
    const known = cluster.namespaces();
    if (!known.includes(opts.namespace)) throw new NamespaceNotFoundError(opts.namespace, known);
    if (opts.noBins && opts.bins && opts.bins.length > 0) throw new TypeError('ScanOptions: bins and noBins exclude each other');
    if (opts.lastUpdate && !(opts.bins && opts.bins.length > 0)) throw new TypeError('ScanOptions: lastUpdate needs bins');
    this.sets = opts.sets ?? [];
    const partitions = opts.partitions ?? Array.from({ length: PARTITION_COUNT }, (_, id) => ({ id }));
    this.tracker = new PartitionTracker(partitions);
    this.consumed = new ConsumedProgress(partitions);
    this.limiter = opts.recordsPerSecond ? new RateLimiter(opts.recordsPerSecond) : undefined;
    this.maxBatch = this.limiter ? this.limiter.burst : Number.MAX_SAFE_INTEGER;
  }

  /** Unfinished partitions, each with the digest of the last record the consumer took. */
  cursors(): PartitionCursor[] {
    this.settle();
    return this.consumed.progress.cursors();
  }

  /** Partitions all of whose records the consumer took. */
  donePartitions(): number[] {
    this.settle();
    return this.consumed.progress.donePartitions();
  }

  bufferState(): ScanBufferState {
    let bytes = 0;
    let pausedSockets = 0;
    for (const scan of this.scans) {
      bytes += scan.bufferedBytes;
      if (scan.isSocketPaused) pausedSockets++;
    }
    return { records: this.readableLength, bytes, scans: this.scans.size, pausedSockets };
  }

  override _read(): void {
    this.settle();
    if (!this.started) {
      this.started = true;
      this.launch();
    }
    this.wanting = true;
    this.pump();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.settle();
    this.frozen = true;
    this.finished = true;
    for (const scan of this.scans) scan.cancel();
    this.scans.clear();
    clearTimeout(this.rateTimer);
    clearTimeout(this.retryTimer);
    callback(err);
  }

  /** Starts a node scan per master node for every pending partition. */
  private launch(): void {
    const byNode = new Map<Node, number[]>();
    const orphans: number[] = [];
    for (const id of this.tracker.takePending()) {
      const owner = this.cluster.ownerOf(this.opts.namespace, id);
      if (!owner) orphans.push(id);
      else if (byNode.has(owner)) byNode.get(owner)!.push(id);
      else byNode.set(owner, [id]);
    }
    for (const [node, ids] of byNode) this.startScan(node, ids);
    if (orphans.length > 0) this.retry(orphans, new ClusterError(`no node is master of ${orphans.length} partition(s) of namespace "${this.opts.namespace}"`));
    this.maybeEnd();
  }

  private startScan(node: Node, ids: number[]): void {
    const fromStart: number[] = [];
    const resumeAfter: Buffer[] = [];
    for (const id of ids) {
      const digest = this.tracker.resumeDigest(id);
      if (digest) resumeAfter.push(digest);
      else fromStart.push(id);
    }
    const rps = this.opts.recordsPerSecond;
    const request = encodeScanRequest({
      namespace: this.opts.namespace,
      sets: this.sets,
      bins: this.opts.bins,
      noBins: this.opts.noBins,
      ...(this.opts.lastUpdate ? { lastUpdate: true } : {}),
      filter: this.opts.filter,
      partitions: fromStart,
      resumeAfter,
      // This node's share of the rate, so the server paces itself; the client limiter is exact.
      recordsPerSecond: rps ? Math.max(1, Math.ceil((rps * ids.length) / this.tracker.unfinishedCount)) : undefined,
      socketTimeoutMs: this.opts.socketTimeoutMs ?? 30_000,
      taskId: randomTaskId(),
    });
    const scan = new NodeScan(node, ids, request, this.opts.socketTimeoutMs ?? 30_000, this.events);
    this.scans.add(scan);
    scan.start();
  }

  private pump(): void {
    if (this.pumping || !this.wanting || this.finished) return;
    this.pumping = true;
    try {
      if (this.held) {
        const { item, scan } = this.held;
        this.held = undefined;
        if (!this.deliver(item, scan)) return;
      }
      const batches = this.opts.batches === true;
      for (let progressed = true; progressed && this.wanting && !this.finished; ) {
        progressed = false;
        for (const scan of this.scans) {
          const item = batches ? scan.readBatch(this.maxBatch) : scan.read();
          if (!item) continue;
          progressed = true;
          if (!this.deliver(item, scan) || !this.wanting) return;
        }
      }
    } finally {
      this.pumping = false;
      // Once per pass (a frame's worth of records at most), not per record: cursors() settles too.
      this.settle();
    }
  }

  /** Pushes a record or batch unless the rate limit says wait; false when it was held back. */
  private deliver(item: RawRecord | ScanBatch, scan: NodeScan): boolean {
    const isBatch = 'offsets' in item;
    const wait = this.limiter?.take(isBatch ? item.count : 1) ?? 0;
    if (wait > 0) {
      this.held = { item, scan };
      clearTimeout(this.rateTimer);
      this.rateTimer = setTimeout(() => this.pump(), wait);
      return false;
    }
    if (isBatch) {
      this.tracker.producedBatch(item);
      this.consumed.pushedBatch(item);
      this.stats.records += item.count;
      this.stats.bytes += item.bytes;
    } else {
      this.tracker.producedAt(item.digest, 0);
      this.consumed.pushedRecord(item.digest);
      this.stats.records++;
      this.stats.bytes += scan.lastRecordBytes;
    }
    if (!this.push(item)) this.wanting = false;
    return true;
  }

  private settle(): void {
    if (!this.frozen) this.consumed.settle(this.readableLength);
  }

  private onScanEnd(scan: NodeScan, outcome: NodeScanOutcome): void {
    this.scans.delete(scan);
    if (this.finished) return;
    // A record held back by the rate limit was not produced: the retry reads it again.
    if (this.held?.scan === scan) this.held = undefined;
    if (outcome.kind === 'done') {
      const unavailable = new Set(outcome.unavailable);
      const done = scan.partitions.filter((id) => !unavailable.has(id));
      this.tracker.done(done);
      this.consumed.pushedDone(done);
      this.settle();
      const retry = scan.partitions.filter((id) => unavailable.has(id));
      if (retry.length > 0) {
        this.retry(retry, new ServerError(ResultCode.PARTITION_UNAVAILABLE, `scan on node ${scan.node}: ${retry.length} partition(s) unavailable`));
      }
    } else if (isRetryable(outcome.error)) {
      this.retry(scan.partitions, outcome.error);
    } else {
      this.giveUp(outcome.error);
    }
    this.maybeEnd();
  }

  /** Puts partitions back and schedules one retry pass (after a map refresh) for all pending ones. */
  private retry(ids: readonly number[], cause: Error): void {
    const failures = this.tracker.failed(ids);
    if (failures > (this.opts.maxRetries ?? 5)) {
      this.giveUp(cause, `a partition failed ${failures} times in a row`);
      return;
    }
    this.stats.retries++;
    if (this.retryTimer) return;
    const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (failures - 1));
    this.retryTimer = setTimeout(() => {
      this.cluster
        .refresh()
        .catch(() => undefined)
        .then(() => {
          this.retryTimer = undefined;
          if (!this.finished) this.launch();
        });
    }, delay);
  }

  private giveUp(cause: Error, why?: string): void {
    const reason = why ? `${why}; last error: ${cause.message}` : cause.message;
    this.settle();
    this.destroy(new ScanError(this.opts.namespace, this.consumed.progress.unfinishedPartitions(), reason, { cause }));
  }

  private maybeEnd(): void {
    if (this.finished || !this.tracker.isComplete || this.scans.size > 0) return;
    this.finished = true;
    this.push(null);
  }
}

/** Network failures and transient server results are worth another try; the rest are not. */
function isRetryable(err: Error): boolean {
  if (err instanceof ServerError) return isTransientResultCode(err.resultCode);
  return err instanceof ConnectionError || err instanceof ClusterError;
}
