import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ScanBatch } from '../../src/aerospike/scan-batch.js';
import { ConsumedProgress, PartitionProgress, PartitionTracker } from '../../src/aerospike/scan-partitions.js';

/** A random digest of partition `id`. */
function digestIn(id: number): Buffer {
  const d = randomBytes(20);
  d[0] = id & 0xff;
  d[1] = (d[1]! & 0xf0) | (id >> 8);
  return d;
}

/** A batch whose records are just their digests, laid out after a few bytes of padding each. */
function batchOf(digests: Buffer[]): ScanBatch {
  const body = Buffer.concat(digests.flatMap((d) => [Buffer.alloc(3), d]));
  const at = digests.map((_, i) => i * 23 + 3);
  return { body, count: digests.length, offsets: Int32Array.from(at), digests: Int32Array.from(at), bytes: body.length };
}

describe('partition progress of scan batches', () => {
  it('keeps the last digest of each partition in the batch', () => {
    const ds = [digestIn(7), digestIn(9), digestIn(7), digestIn(4095), digestIn(9)];
    const progress = new PartitionProgress([{ id: 7 }, { id: 9 }, { id: 4095 }, { id: 1 }]);
    progress.recordBatch(batchOf(ds));
    expect(progress.lastDigest(7)).toEqual(ds[2]);
    expect(progress.lastDigest(9)).toEqual(ds[4]);
    expect(progress.lastDigest(4095)).toEqual(ds[3]);
    expect(progress.lastDigest(1)).toBeUndefined();
    // A later batch overrides; partitions it does not hold keep theirs.
    const next = [digestIn(9)];
    progress.recordBatch(batchOf(next));
    expect(progress.lastDigest(9)).toEqual(next[0]);
    expect(progress.lastDigest(7)).toEqual(ds[2]);
  });

  it('resets the failure count of the partitions that yielded records, and only those', () => {
    const tracker = new PartitionTracker([{ id: 1 }, { id: 2 }]);
    tracker.takePending();
    expect(tracker.failed([1, 2])).toBe(1);
    tracker.takePending();
    expect(tracker.failed([1, 2])).toBe(2);
    tracker.takePending();
    tracker.producedBatch(batchOf([digestIn(1)]));
    // Partition 1 starts over; partition 2 fails for the third time in a row.
    expect(tracker.failed([1])).toBe(1);
    expect(tracker.failed([2])).toBe(3);
    expect(tracker.resumeDigest(1)).toBeDefined();
  });

  it('counts a batch as taken only once it left the stream buffer', () => {
    const consumed = new ConsumedProgress([{ id: 3 }]);
    const first = [digestIn(3)];
    const second = [digestIn(3)];
    consumed.pushedBatch(batchOf(first));
    consumed.pushedBatch(batchOf(second));
    consumed.pushedDone([3]);
    consumed.settle(2);
    expect(consumed.progress.lastDigest(3)).toBeUndefined();
    consumed.settle(1);
    expect(consumed.progress.lastDigest(3)).toEqual(first[0]);
    expect(consumed.progress.isPartitionDone(3)).toBe(false);
    consumed.settle(0);
    expect(consumed.progress.lastDigest(3)).toEqual(second[0]);
    expect(consumed.progress.isPartitionDone(3)).toBe(true);
  });
});
