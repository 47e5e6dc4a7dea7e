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
 *   recreate them) and scans. Truncated records are removed at once (truncate()) and
 *   expired ones lazily, when a read, write or delete touches them.
 * - Statistics (`objects`, `data_used_bytes`, `non_expirable_objects` of the info
 *   commands namespace/<ns>, sets, sets/<ns>[/<set>], statistics) come from counters
 *   kept per partition and set as records are written, replaced, deleted and
 *   truncated, so a reply costs O(sets), or O(partitions x sets) for a node that owns
 *   only part of the partitions, never a walk over the records. An expired record
 *   stays counted until it is removed (touched, replaced or truncated), as the real
 *   server counts expired records until its nsup thread deletes them; a truncated one
 *   is never counted. liveStats() walks the records for the exact live count.
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
  /**
   * Counters of the stored records that are not truncated (isTruncated()), expired ones
   * included: per partition and set name ('' for no set; an entry is dropped when its
   * partition holds no more records of the set), and per set over all partitions.
   */
  private readonly partitionCounts: Map<string, SetStats>[] = Array.from({ length: PARTITION_COUNT }, () => new Map());
  private readonly setCounts = new Map<string, SetStats>();
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
    return this.isTruncated(rec);
  }

  /** True for a record last updated before a truncate of its namespace or set. */
  private isTruncated(rec: StoredRecord): boolean {
    if (rec.lutMs < this.truncateLutMs) return true;
    const set = rec.set === '' ? undefined : this.sets.get(rec.set);
    return set !== undefined && rec.lutMs < set.truncateLutMs;
  }

  /** The live record with this digest, or undefined (doomed records are dropped here). */
  get(digest: Buffer): StoredRecord | undefined {
    const pid = partitionId(digest);
    const list = this.partitions[pid]!;
    const at = findIndex(list, digest);
    if (at < 0) return undefined;
    const rec = list[at]!;
    if (!this.isDoomed(rec)) return rec;
    list.splice(at, 1);
    this.uncount(pid, rec);
    return undefined;
  }

  /** Inserts or replaces (by digest) a record; registers its set. */
  put(rec: StoredRecord): void {
    if (rec.set !== '') this.ensureSet(rec.set);
    const pid = partitionId(rec.digest);
    const list = this.partitions[pid]!;
    const at = findIndex(list, rec.digest);
    if (at >= 0) {
      this.uncount(pid, list[at]!);
      list[at] = rec;
    } else list.splice(-at - 1, 0, rec);
    this.count(pid, rec);
  }

  remove(digest: Buffer): boolean {
    const pid = partitionId(digest);
    const list = this.partitions[pid]!;
    const at = findIndex(list, digest);
    if (at < 0) return false;
    const rec = list[at]!;
    const doomed = this.isDoomed(rec);
    list.splice(at, 1);
    this.uncount(pid, rec);
    return !doomed;
  }

  /** Adds a record that was just stored to the counters, unless it is truncated. */
  private count(pid: number, rec: StoredRecord): void {
    if (this.isTruncated(rec)) return;
    const size = flatRecordSize(rec);
    const nonExpirable = rec.voidTime === 0 ? 1 : 0;
    const counts = this.partitionCounts[pid]!;
    let s = counts.get(rec.set);
    if (!s) counts.set(rec.set, (s = zeroStats()));
    addStats(s, 1, size, nonExpirable);
    let total = this.setCounts.get(rec.set);
    if (!total) this.setCounts.set(rec.set, (total = zeroStats()));
    addStats(total, 1, size, nonExpirable);
  }

  /**
   * Takes a record that was just removed out of the counters. Call it with the
   * truncate thresholds under which the record was stored: a record that was
   * truncated then was never counted.
   */
  private uncount(pid: number, rec: StoredRecord): void {
    if (this.isTruncated(rec)) return;
    const size = flatRecordSize(rec);
    const nonExpirable = rec.voidTime === 0 ? 1 : 0;
    const counts = this.partitionCounts[pid]!;
    const s = counts.get(rec.set)!;
    addStats(s, -1, -size, -nonExpirable);
    if (s.objects === 0) counts.delete(rec.set);
    addStats(this.setCounts.get(rec.set)!, -1, -size, -nonExpirable);
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
    if (set !== undefined) this.ensureSet(set);
    // Records go first, under the old thresholds, so that uncount() knows which were counted.
    for (let pid = 0; pid < PARTITION_COUNT; pid++) {
      const list = this.partitions[pid]!;
      for (let i = list.length - 1; i >= 0; i--) {
        const rec = list[i]!;
        if ((set === undefined || rec.set === set) && rec.lutMs < lutMs) {
          list.splice(i, 1);
          this.uncount(pid, rec);
        }
      }
    }
    // Raising a threshold dooms no record still stored that was counted: those updated
    // before `lutMs` are gone, and those before an older, higher threshold were not counted.
    if (set === undefined) this.truncateLutMs = Math.max(this.truncateLutMs, lutMs);
    else {
      const info = this.sets.get(set);
      if (info) info.truncateLutMs = Math.max(info.truncateLutMs, lutMs);
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

  /**
   * Record count and storage bytes, for a set or the whole namespace, optionally of
   * some partitions only, from the counters: expired records not yet removed are
   * included (see the top of this file). O(sets), or O(partitions x sets) for a subset
   * of the partitions.
   */
  stats(set?: string, partitions?: ReadonlySet<number>): SetStats {
    const out = zeroStats();
    if (set === undefined) {
      for (const s of this.statsBySet(partitions).values()) addStats(out, s.objects, s.bytes, s.nonExpirable);
    } else if (coversAll(partitions)) {
      const s = this.setCounts.get(set);
      if (s) addStats(out, s.objects, s.bytes, s.nonExpirable);
    } else {
      for (const pid of partitions!) {
        const s = this.partitionCounts[pid]?.get(set);
        if (s) addStats(out, s.objects, s.bytes, s.nonExpirable);
      }
    }
    return out;
  }

  /** The same per set name ('' for records in no set); sets without records may be absent. */
  statsBySet(partitions?: ReadonlySet<number>): Map<string, SetStats> {
    const out = new Map<string, SetStats>();
    const add = (set: string, s: SetStats) => {
      let o = out.get(set);
      if (!o) out.set(set, (o = zeroStats()));
      addStats(o, s.objects, s.bytes, s.nonExpirable);
    };
    if (coversAll(partitions)) {
      for (const [set, s] of this.setCounts) if (s.objects > 0) add(set, s);
    } else {
      for (const pid of partitions!) {
        for (const [set, s] of this.partitionCounts[pid] ?? []) add(set, s);
      }
    }
    return out;
  }

  /** Live records (expired ones excluded), by walking them: O(records). For test assertions. */
  liveStats(set?: string): SetStats {
    const out = zeroStats();
    for (const rec of this.records(set)) addStats(out, 1, flatRecordSize(rec), rec.voidTime === 0 ? 1 : 0);
    return out;
  }

  /** Drops every record and set (for tests that reuse a server). */
  clear(): void {
    for (const list of this.partitions) list.length = 0;
    for (const counts of this.partitionCounts) counts.clear();
    this.setCounts.clear();
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

function zeroStats(): SetStats {
  return { objects: 0, bytes: 0, nonExpirable: 0 };
}

function addStats(s: SetStats, objects: number, bytes: number, nonExpirable: number): void {
  s.objects += objects;
  s.bytes += bytes;
  s.nonExpirable += nonExpirable;
}

/** True when `partitions` is absent or names every partition. */
function coversAll(partitions: ReadonlySet<number> | undefined): boolean {
  return partitions === undefined || partitions.size >= PARTITION_COUNT;
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
