/**
 * In-memory namespaces: records kept per partition, ordered by digest.
 *
 * Contract:
 * - Each of the 4096 partitions holds its records in one array sorted by digest in
 *   DESCENDING byte order, which is the order the real server's index tree walks them
 *   (scans return them that way and resume strictly below a given digest). Inserts and
 *   lookups are binary searches; nothing is re-sorted when a scan runs.
 * - A bin is its particle type plus the raw value bytes as they travel on the wire
 *   (GeoJSON already carries its cell prefix, see geo.ts).
 * - Void time is seconds since 2010-01-01 (0 = never expires); the last-update time is
 *   kept, like the real server, in milliseconds since 2010-01-01.
 * - Expired and truncated records are "doomed": invisible to reads, writes (which
 *   recreate them), scans and statistics. They are removed lazily when touched.
 *   (The real server counts expired records in `objects` until its nsup thread
 *   deletes them; this store stops counting them at once.)
 *
 * Records are shared by every node of a test cluster: partition ownership (cluster.ts)
 * decides which node may serve a partition, so moving a partition is instantaneous and
 * loses nothing, as if migrations were instant.
 */
import { PARTITION_COUNT } from '../../../src/aerospike/types.js';
import { partitionId } from '../../../src/aerospike/wire/digest.js';
import type { ServerClock } from './clock.js';

export interface StoredBin {
  name: string;
  type: number;
  value: Buffer;
}

export interface StoredRecord {
  readonly digest: Buffer;
  /** '' when the record is in no set. */
  set: string;
  /** The key field's data as the client sent it (particle type byte, then key bytes), when stored. */
  key: Buffer | undefined;
  bins: StoredBin[];
  /** 1..65535, wrapping to 1 (the community edition's 16-bit generation). */
  generation: number;
  /** Seconds since 2010-01-01T00:00:00Z; 0 = never expires. */
  voidTime: number;
  /** Milliseconds since 2010-01-01T00:00:00Z. */
  lutMs: number;
}

export interface NamespaceConfig {
  /** Seconds; 0 = records written with ttl 0 never expire (namespace `default-ttl`). */
  defaultTtl: number;
  /** Bytes (namespace `max-record-size`). */
  maxRecordSize: number;
}

export interface SetInfo {
  /** Milliseconds since 2010-01-01 of the last truncate of this set; 0 = never truncated. */
  truncateLutMs: number;
}

/** Largest number of sets per namespace (the server's set-id space, AS_SET_MAX_COUNT). */
const MAX_SETS = 4095;

export class Namespace {
  private readonly partitions: StoredRecord[][] = Array.from({ length: PARTITION_COUNT }, () => []);
  /** Sets ever written, in creation order (the server never forgets a set name). */
  readonly sets = new Map<string, SetInfo>();
  /** Milliseconds since 2010-01-01 of the last truncate-namespace; 0 = never. */
  truncateLutMs = 0;

  constructor(
    readonly name: string,
    readonly config: NamespaceConfig,
    private readonly clock: ServerClock,
  ) {}

  /** True for an expired or truncated record: it must be treated as absent. */
  isDoomed(rec: StoredRecord): boolean {
    if (rec.voidTime !== 0 && rec.voidTime < this.clock.nowClepochSeconds()) return true;
    if (rec.lutMs < this.truncateLutMs) return true;
    const set = rec.set === '' ? undefined : this.sets.get(rec.set);
    return set !== undefined && rec.lutMs < set.truncateLutMs;
  }

  /** The live record with this digest, or undefined (doomed records are dropped here). */
  get(digest: Buffer): StoredRecord | undefined {
    const list = this.partitions[partitionId(digest)]!;
    const at = findIndex(list, digest);
    if (at < 0) return undefined;
    const rec = list[at]!;
    if (!this.isDoomed(rec)) return rec;
    list.splice(at, 1);
    return undefined;
  }

  /** Inserts or replaces (by digest) a record; registers its set. */
  put(rec: StoredRecord): void {
    if (rec.set !== '') this.ensureSet(rec.set);
    const list = this.partitions[partitionId(rec.digest)]!;
    const at = findIndex(list, rec.digest);
    if (at >= 0) list[at] = rec;
    else list.splice(-at - 1, 0, rec);
  }

  remove(digest: Buffer): boolean {
    const list = this.partitions[partitionId(digest)]!;
    const at = findIndex(list, digest);
    if (at < 0) return false;
    const doomed = this.isDoomed(list[at]!);
    list.splice(at, 1);
    return !doomed;
  }

  /** Registers a set name; false when the namespace already holds the maximum number of sets. */
  ensureSet(set: string): boolean {
    if (this.sets.has(set)) return true;
    if (this.sets.size >= MAX_SETS) return false;
    this.sets.set(set, { truncateLutMs: 0 });
    return true;
  }

  /**
   * The records of a partition in descending digest order, doomed ones included (callers
   * filter with isDoomed). The array is live: copy what you need before awaiting.
   */
  partition(pid: number): readonly StoredRecord[] {
    return this.partitions[pid]!;
  }

  /** Index of the first record of the partition whose digest is strictly below `digest`. */
  static startBelow(list: readonly StoredRecord[], digest: Buffer): number {
    const at = findIndex(list, digest);
    return at >= 0 ? at + 1 : -at - 1;
  }

  /**
   * Removes every record of the set (or of the namespace when set is undefined) last
   * updated before `lutMs`, and remembers the threshold so that records written
   * elsewhere in the cluster before it stay invisible. Done at once, where the real
   * server truncates in the background.
   */
  truncate(set: string | undefined, lutMs: number): void {
    if (set === undefined) this.truncateLutMs = Math.max(this.truncateLutMs, lutMs);
    else {
      this.ensureSet(set);
      const info = this.sets.get(set);
      if (info) info.truncateLutMs = Math.max(info.truncateLutMs, lutMs);
    }
    for (const list of this.partitions) {
      for (let i = list.length - 1; i >= 0; i--) {
        const rec = list[i]!;
        if ((set === undefined || rec.set === set) && rec.lutMs < lutMs) list.splice(i, 1);
      }
    }
  }

  /** Live records, all partitions, in partition then descending digest order. */
  *records(set?: string): Generator<StoredRecord> {
    for (const list of this.partitions) {
      for (const rec of list) {
        if ((set === undefined || rec.set === set) && !this.isDoomed(rec)) yield rec;
      }
    }
  }

  /** Live record count and storage bytes, for a set or the whole namespace, optionally of some partitions only. */
  stats(set?: string, partitions?: ReadonlySet<number>): SetStats {
    const out = { objects: 0, bytes: 0, nonExpirable: 0 };
    for (const rec of this.records(set)) {
      if (!partitions || partitions.has(partitionId(rec.digest))) countRecord(out, rec);
    }
    return out;
  }

  /** The same per set name ('' for records in no set), in one pass over the namespace. */
  statsBySet(partitions?: ReadonlySet<number>): Map<string, SetStats> {
    const out = new Map<string, SetStats>();
    for (const rec of this.records()) {
      if (partitions && !partitions.has(partitionId(rec.digest))) continue;
      let s = out.get(rec.set);
      if (!s) out.set(rec.set, (s = { objects: 0, bytes: 0, nonExpirable: 0 }));
      countRecord(s, rec);
    }
    return out;
  }

  /** Drops every record and set (for tests that reuse a server). */
  clear(): void {
    for (const list of this.partitions) list.length = 0;
    this.sets.clear();
    this.truncateLutMs = 0;
  }
}

export interface SetStats {
  objects: number;
  /** Storage size, as flatRecordSize() counts it. */
  bytes: number;
  /** Records that never expire. */
  nonExpirable: number;
}

function countRecord(s: SetStats, rec: StoredRecord): void {
  s.objects++;
  s.bytes += flatRecordSize(rec);
  if (rec.voidTime === 0) s.nonExpirable++;
}

/**
 * Binary search in a descending-digest array: the index of `digest`, or -(insertion
 * point) - 1 when absent.
 */
function findIndex(list: readonly StoredRecord[], digest: Buffer): number {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = Buffer.compare(list[mid]!.digest, digest);
    if (c === 0) return mid;
    // Descending: a larger digest sits before the target.
    if (c > 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

/**
 * The record's size as the server's storage layer counts it for `max-record-size`
 * (as_flat_record_size(): a 35-byte header, void time, set name, key, bin count, and per
 * bin its name and flat particle), plus the 4-byte end mark the limit check adds.
 * Particle flat sizes follow the server's particle tables: integers 2 + 4 or 8 bytes,
 * doubles 9, booleans 2, everything else 5 + value length.
 */
export function flatRecordSize(rec: Pick<StoredRecord, 'voidTime' | 'set' | 'key' | 'bins'>): number {
  let size = 35;
  if (rec.voidTime !== 0) size += 4;
  if (rec.set !== '') size += 1 + Buffer.byteLength(rec.set);
  if (rec.key) size += uintvarSize(rec.key.length) + rec.key.length;
  if (rec.bins.length > 0) size += uintvarSize(rec.bins.length);
  for (const bin of rec.bins) size += 1 + Buffer.byteLength(bin.name) + particleFlatSize(bin);
  return size + 4;
}

function particleFlatSize(bin: StoredBin): number {
  switch (bin.type) {
    case 1: {
      const v = bin.value.readBigUInt64BE(0);
      return 2 + (v >> 32n === 0n ? 4 : 8);
    }
    case 2:
      return 9;
    case 17:
      return 2;
    default:
      return 5 + bin.value.length;
  }
}

function uintvarSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n >>>= 7;
    size++;
  }
  return size;
}
