/**
 * Per-partition bookkeeping of a scan (the C client's partition tracker), in two parts:
 *
 * - PartitionProgress: for each requested partition, the digest of the last record seen
 *   and whether the partition is done. Digests are copied into one preallocated buffer,
 *   so recording progress allocates nothing per record.
 * - PartitionTracker: schedules partitions onto node scans. A partition is pending,
 *   running (handed to exactly one node scan) or done; a retry resumes it strictly below
 *   the last digest its scans produced. A partition is done only when the node scan that
 *   carried it ended normally (LAST with result 0) without reporting it unavailable.
 *   Failures are counted per partition and reset whenever the partition yields a record,
 *   so a partition that keeps making progress is never given up on.
 */
import type { ScanBatch } from './scan-batch.js';
import { PARTITION_COUNT } from './types.js';
import { partitionId, partitionIdAt } from './wire/digest.js';

const DIGEST_SIZE = 20;

export interface PartitionCursor {
  id: number;
  /** Resume strictly below this digest (records are returned in descending digest order). */
  lastDigest?: Buffer;
}

export class PartitionProgress {
  readonly requested: readonly number[];
  private readonly isRequested = new Uint8Array(PARTITION_COUNT);
  private readonly hasDigest = new Uint8Array(PARTITION_COUNT);
  private readonly isDone = new Uint8Array(PARTITION_COUNT);
  private readonly digests = Buffer.alloc(PARTITION_COUNT * DIGEST_SIZE);
  private doneCount = 0;
  /** recordBatch: seenInBatch[id] === batchStamp once partition id's last digest of the batch is recorded. */
  private readonly seenInBatch = new Uint32Array(PARTITION_COUNT);
  private batchStamp = 0;

  /** Validates the cursors: ids in range, each once, a digest of its own partition. */
  constructor(cursors: readonly PartitionCursor[]) {
    const ids: number[] = [];
    for (const c of cursors) {
      if (!Number.isInteger(c.id) || c.id < 0 || c.id >= PARTITION_COUNT) throw new RangeError(`partition id ${c.id} is not in 0..${PARTITION_COUNT - 1}`);
      if (this.isRequested[c.id]) throw new RangeError(`partition ${c.id} is listed twice`);
      this.isRequested[c.id] = 1;
      ids.push(c.id);
      if (c.lastDigest) {
        if (c.lastDigest.length !== DIGEST_SIZE || partitionId(c.lastDigest) !== c.id) {
          throw new RangeError(`lastDigest of partition ${c.id} is not a 20-byte digest of that partition`);
        }
        c.lastDigest.copy(this.digests, c.id * DIGEST_SIZE);
        this.hasDigest[c.id] = 1;
      }
    }
    this.requested = ids;
  }

  get isComplete(): boolean {
    return this.doneCount === this.requested.length;
  }

  get unfinishedCount(): number {
    return this.requested.length - this.doneCount;
  }

  /** The last digest of a partition (a view: copy it to keep it), or undefined. */
  lastDigest(id: number): Buffer | undefined {
    return this.hasDigest[id] ? this.digests.subarray(id * DIGEST_SIZE, (id + 1) * DIGEST_SIZE) : undefined;
  }

  /** Records the digest of a record, the 20 bytes at buf[from]; returns its partition id. */
  record(buf: Buffer, from = 0): number {
    const id = partitionIdAt(buf, from);
    // 20 bytes: a loop is cheaper than Buffer.copy's native call.
    const digests = this.digests;
    const at = id * DIGEST_SIZE;
    for (let i = 0; i < DIGEST_SIZE; i++) digests[at + i] = buf[from + i]!;
    this.hasDigest[id] = 1;
    return id;
  }

  /**
   * Records the digests of a batch's records. A partition's records come in scan order,
   * so only the last of each partition in the batch counts: walking the batch backwards,
   * each partition's digest is copied once. `failures`, when given, is zeroed for every
   * partition that had a record.
   */
  recordBatch(batch: ScanBatch, failures?: Uint16Array): void {
    const { body, digests } = batch;
    const stamp = ++this.batchStamp;
    const seen = this.seenInBatch;
    for (let i = batch.count - 1; i >= 0; i--) {
      const d = digests[i]!;
      const id = partitionIdAt(body, d);
      if (seen[id] === stamp) continue;
      seen[id] = stamp;
      this.record(body, d);
      if (failures) failures[id] = 0;
    }
  }

  markDone(ids: readonly number[]): void {
    for (const id of ids) {
      if (this.isRequested[id] && !this.isDone[id]) {
        this.isDone[id] = 1;
        this.doneCount++;
      }
    }
  }

  isPartitionDone(id: number): boolean {
    return this.isDone[id] === 1;
  }

  /** Unfinished partitions with copies of their last digests. */
  cursors(): PartitionCursor[] {
    const out: PartitionCursor[] = [];
    for (const id of this.requested) {
      if (this.isDone[id]) continue;
      const d = this.lastDigest(id);
      out.push(d ? { id, lastDigest: Buffer.from(d) } : { id });
    }
    return out;
  }

  donePartitions(): number[] {
    return this.requested.filter((id) => this.isDone[id]);
  }

  unfinishedPartitions(): number[] {
    return this.requested.filter((id) => !this.isDone[id]);
  }
}

export class PartitionTracker {
  /** What the node scans produced: the resume points of retries. */
  readonly progress: PartitionProgress;
  private readonly running = new Uint8Array(PARTITION_COUNT);
  private readonly failures = new Uint16Array(PARTITION_COUNT);

  constructor(cursors: readonly PartitionCursor[]) {
    this.progress = new PartitionProgress(cursors);
  }

  get isComplete(): boolean {
    return this.progress.isComplete;
  }

  get unfinishedCount(): number {
    return this.progress.unfinishedCount;
  }

  /** Partitions neither done nor running, now marked running. */
  takePending(): number[] {
    const out: number[] = [];
    for (const id of this.progress.requested) {
      if (!this.running[id] && !this.progress.isPartitionDone(id)) {
        this.running[id] = 1;
        out.push(id);
      }
    }
    return out;
  }

  /** Where a retry of the partition starts: below this digest, or from the start. */
  resumeDigest(id: number): Buffer | undefined {
    return this.progress.lastDigest(id);
  }

  /** A node scan produced the record whose digest is at buf[from]. */
  producedAt(buf: Buffer, from: number): void {
    this.failures[this.progress.record(buf, from)] = 0;
  }

  /** A node scan produced the records of this batch. */
  producedBatch(batch: ScanBatch): void {
    this.progress.recordBatch(batch, this.failures);
  }

  done(ids: readonly number[]): void {
    for (const id of ids) this.running[id] = 0;
    this.progress.markDone(ids);
  }

  /**
   * Puts running partitions back to pending after a failure; returns the largest count of
   * failures in a row among them (the caller gives up past its retry limit).
   */
  failed(ids: readonly number[]): number {
    let worst = 0;
    for (const id of ids) {
      if (!this.running[id]) continue;
      this.running[id] = 0;
      worst = Math.max(worst, ++this.failures[id]!);
    }
    return worst;
  }
}

/**
 * Progress as the consumer sees it: a record counts once it left the stream's buffer,
 * and a partition is done once every record pushed before its end left it. Pushed
 * records and partition ends wait in a FIFO until then (at most the records buffered in
 * the stream plus a few end markers).
 */
export class ConsumedProgress {
  readonly progress: PartitionProgress;
  /**
   * Pushed, not yet applied: a record's digest, a batch (with the log's own hold on its
   * pooled frame, ScanBatch.hold, let go once applied), or the ids of partitions that ended.
   */
  private log: Array<Buffer | LoggedBatch | readonly number[] | null> = [];
  private head = 0;
  private pushed = 0;
  private applied = 0;

  constructor(cursors: readonly PartitionCursor[]) {
    this.progress = new PartitionProgress(cursors);
  }

  pushedRecord(digest: Buffer): void {
    this.log.push(digest);
    this.pushed++;
  }

  pushedBatch(batch: ScanBatch): void {
    // The consumer may release the batch before it is applied here, where its digests are read.
    this.log.push({ batch, release: batch.hold?.() });
    this.pushed++;
  }

  pushedDone(ids: readonly number[]): void {
    this.log.push(ids);
  }

  /** Applies what the consumer took, given how many records the stream still buffers. */
  settle(buffered: number): void {
    const consumed = this.pushed - buffered;
    while (this.head < this.log.length) {
      const entry = this.log[this.head]!;
      if (Array.isArray(entry)) {
        this.progress.markDone(entry as readonly number[]);
      } else {
        if (this.applied >= consumed) break;
        if (Buffer.isBuffer(entry)) {
          this.progress.record(entry);
        } else {
          const logged = entry as LoggedBatch;
          this.progress.recordBatch(logged.batch);
          logged.release?.();
        }
        this.applied++;
      }
      // Applied: a batch must not keep its frame alive until the log is compacted.
      this.log[this.head++] = null;
    }
    if (this.head > 1024 && this.head * 2 > this.log.length) {
      this.log = this.log.slice(this.head);
      this.head = 0;
    }
  }
}

interface LoggedBatch {
  batch: ScanBatch;
  release: (() => void) | undefined;
}
