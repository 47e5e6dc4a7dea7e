/**
 * Partition planning: which of the 4096 partitions a backup scans, and how they are
 * split into groups that run concurrently. Each group is one scan (one ScanReader) and
 * one series of data files, so a group's files hold exactly its partitions.
 *
 * Groups are contiguous runs of partition ids of near-equal size. Records hash
 * uniformly over partitions, so equal counts are equal work; contiguity keeps a group's
 * range easy to read in the manifest and in messages.
 */
import { UsageError } from '../errors.js';
import { PARTITION_COUNT } from '../aerospike/types.js';

/** An inclusive range of partition ids. */
export interface PartitionRange {
  first: number;
  last: number;
}

export const ALL_PARTITIONS: readonly PartitionRange[] = [{ first: 0, last: PARTITION_COUNT - 1 }];

function partitionId(text: string, spec: string): number {
  if (!/^\d+$/.test(text)) throw new UsageError(`--partitions "${spec}": "${text}" is not a partition id (0-${PARTITION_COUNT - 1})`);
  const id = Number(text);
  if (id >= PARTITION_COUNT) throw new UsageError(`--partitions "${spec}": partition ${id} is out of range (0-${PARTITION_COUNT - 1})`);
  return id;
}

/**
 * Parses "first-last" (inclusive), a single id, or a comma-separated list of them:
 * "0-2047", "17", "0-99,200-299". Overlapping or out-of-order ranges are refused, so a
 * typo cannot silently scan a partition twice.
 */
export function parsePartitions(spec: string): PartitionRange[] {
  const ranges = spec.split(',').map((part): PartitionRange => {
    const m = /^\s*([^-\s]+)\s*(?:-\s*([^-\s]+)\s*)?$/.exec(part);
    if (!m) throw new UsageError(`--partitions "${spec}": expected first-last (for example 0-2047), a single id, or a comma list of them`);
    const first = partitionId(m[1]!, spec);
    const last = m[2] === undefined ? first : partitionId(m[2], spec);
    if (last < first) throw new UsageError(`--partitions "${spec}": range ${first}-${last} ends before it starts`);
    return { first, last };
  });
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i]!.first <= ranges[i - 1]!.last) {
      throw new UsageError(`--partitions "${spec}": ranges must be in ascending order and must not overlap`);
    }
  }
  return ranges;
}

export function partitionIds(ranges: readonly PartitionRange[]): number[] {
  const ids: number[] = [];
  for (const r of ranges) for (let id = r.first; id <= r.last; id++) ids.push(id);
  return ids;
}

export function formatRanges(ranges: readonly PartitionRange[]): string {
  return ranges.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`)).join(',');
}

/** Splits the partition ids into at most `groups` contiguous groups whose sizes differ by at most one. */
export function planGroups(ids: readonly number[], groups: number): number[][] {
  if (!Number.isInteger(groups) || groups < 1) throw new RangeError(`group count must be a positive integer, got ${groups}`);
  const n = Math.min(groups, ids.length);
  const out: number[][] = [];
  let start = 0;
  for (let g = 0; g < n; g++) {
    const size = Math.floor(ids.length / n) + (g < ids.length % n ? 1 : 0);
    out.push(ids.slice(start, start + size));
    start += size;
  }
  return out;
}
