/**
 * How a chain is restored: which data files are read, in which order, and which of
 * their records are written, so that every record ends as its version in the newest
 * link that holds it, records deleted before the newest link (when it tracked deletes)
 * are not written at all, and each record is written once.
 *
 * The decision is by link order, never by generation: a record deleted and written
 * again restarts at generation 1, so "the higher generation wins" would keep a stale
 * version from an older link.
 *
 * Memory stays bounded by working through the partitions in chunks. For each chunk:
 *
 *   live  = digests of the chunk's partitions in the newest link's live-digest lists
 *   seen  = {}
 *   for each link, newest first:
 *     read the link's data files that hold partitions of the chunk; a record is written
 *     if its partition is in the chunk, its digest is not in `seen` (a newer link had
 *     it), and it is in `live` (when the newest link tracked deletes); it joins `seen`
 *
 * A chunk holds at most about `budget` digests (live ones plus the records of the
 * incrementals), estimated from the manifests' counts. A chain that fits in one chunk
 * (the usual case) reads every data file once; a bigger one reads the files that span
 * several chunks once per chunk (docs/format.md, "Restoring a chain").
 */
import { PARTITION_COUNT } from '../aerospike/types.js';
import { partitionIdAt } from '../aerospike/wire/digest.js';
import { DigestSet } from '../catalog/digest-set.js';
import { readDigestList, type DigestListEntry } from '../catalog/digest-list.js';
import type { ChainLink } from './chain.js';
import { objectKey, partitionSetIds, type DataFileEntry, type PartitionSet } from './data-files.js';

/** Digests one chunk may hold in memory, by estimate: ~70-140 MB of DigestSet. */
export const DEFAULT_CHAIN_DIGEST_BUDGET = 2_000_000;

/** Counts of one link of a restored chain. */
export interface LinkCounts {
  location: string;
  /** Records of this link that were written (or sent to be written). */
  restored: number;
  /** Records left out because a newer link holds a newer version. */
  superseded: number;
  /** Records left out because they were deleted before the newest link. */
  deleted: number;
}

/** One step of a chain restore: some data files of one link, and the filter for their records. */
export interface ChainPass {
  link: ChainLink;
  /** Index of the link in the chain (0 = the full). */
  linkIndex: number;
  /** Index of the partition chunk (0 when the chain fits in one). */
  chunk: number;
  files: DataFileEntry[];
  /** Undefined when every record of the files is wanted (a lone full backup). */
  filter: ChainFilter | undefined;
}

/** The digest predicate of one pass (RowFilter.digests). */
export class ChainFilter {
  superseded = 0;
  deleted = 0;
  /** With `collectDeleted`: the records left out as deleted (set and digest), for the restore to delete in the target. */
  readonly deletedRecords: Array<{ set: string; digest: Buffer }> = [];

  constructor(
    /** 1 for each partition of the chunk. */
    private readonly chunk: Uint8Array,
    private readonly seen: DigestSet,
    private readonly live: DigestSet | undefined,
    /** False for the oldest link: nothing older is left to skip. */
    private readonly remember: boolean,
    private readonly collectDeleted = false,
  ) {}

  keep(src: Buffer, at: number, setAt: number, setLength: number): boolean {
    if (this.chunk[partitionIdAt(src, at)] === 0) return false;
    if (this.seen.has(src, at)) {
      this.superseded++;
      return false;
    }
    if (this.live && !this.live.has(src, at)) {
      this.deleted++;
      // Seen, so that an older version of the same record is not counted (or deleted) again.
      if (this.remember) this.seen.add(src, at);
      if (this.collectDeleted) this.deletedRecords.push({ set: src.toString('utf8', setAt, setAt + setLength), digest: Buffer.from(src.subarray(at, at + 20)) });
      return false;
    }
    if (this.remember) this.seen.add(src, at);
    return true;
  }
}

function idsOf(set: PartitionSet): number[] {
  return partitionSetIds(set);
}

/** Per partition: digests a chunk needs in memory for it (live ones and the incrementals' records), by estimate. */
function estimateDigests(links: readonly ChainLink[], live: readonly DigestListEntry[]): Float64Array {
  const per = new Float64Array(PARTITION_COUNT);
  for (const entry of live) {
    const ids = idsOf(entry.partitions);
    for (const p of ids) per[p]! += entry.digests / ids.length;
  }
  for (const link of links.slice(1)) {
    for (const file of link.manifest.files) {
      const ids = idsOf(file.partitions);
      for (const p of ids) per[p]! += file.records / ids.length;
    }
  }
  return per;
}

/** Consecutive partition chunks, each estimated to hold at most `budget` digests (and at least one partition). */
export function planChunks(links: readonly ChainLink[], budget: number): Uint8Array[] {
  const newest = links[links.length - 1]!;
  const per = estimateDigests(links, newest.manifest.liveDigests ?? []);
  const chunks: Uint8Array[] = [];
  let current = new Uint8Array(PARTITION_COUNT);
  let load = 0;
  let used = false;
  for (let p = 0; p < PARTITION_COUNT; p++) {
    if (used && load + per[p]! > budget) {
      chunks.push(current);
      current = new Uint8Array(PARTITION_COUNT);
      load = 0;
      used = false;
    }
    current[p] = 1;
    load += per[p]!;
    used = true;
  }
  chunks.push(current);
  return chunks;
}

/** The fraction of the partitions of `set` that are in the chunk. */
function chunkShare(set: PartitionSet, chunk: Uint8Array): number {
  const ids = idsOf(set);
  return ids.length === 0 ? 0 : ids.filter((p) => chunk[p] === 1).length / ids.length;
}

function intersects(set: PartitionSet, chunk: Uint8Array): boolean {
  if (Array.isArray(set)) return set.some((p) => chunk[p] === 1);
  for (let p = set.first; p <= set.last; p++) if (chunk[p] === 1) return true;
  return false;
}

/**
 * The passes that restore `links` (oldest first), chunk by chunk. The live digests of a
 * chunk are read (and checked: size, order, count, SHA-256) before its first pass is
 * handed out, so nothing is written from a list that fails its checks.
 */
export async function* chainPasses(
  links: readonly ChainLink[],
  opts: { budget?: number; signal?: AbortSignal; collectDeleted?: boolean; partitions?: Uint8Array } = {},
): AsyncGenerator<ChainPass> {
  const newest = links[links.length - 1]!;
  const liveLists = links.length > 1 ? (newest.manifest.liveDigests ?? []) : [];
  const only = opts.partitions;
  if (links.length === 1) {
    // A restore of some partitions only (a shard of a sharded restore): their files, their records.
    if (only) yield { link: newest, linkIndex: 0, chunk: 0, files: newest.manifest.files.filter((f) => intersects(f.partitions, only)), filter: new ChainFilter(only, new DigestSet(), undefined, false) };
    else yield { link: newest, linkIndex: 0, chunk: 0, files: newest.manifest.files, filter: undefined };
    return;
  }
  const chunks = planChunks(links, opts.budget ?? DEFAULT_CHAIN_DIGEST_BUDGET)
    .map((chunk) => (only ? chunk.map((v, p) => v & only[p]!) : chunk))
    .filter((chunk) => chunk.some((v) => v === 1));
  for (let c = 0; c < chunks.length; c++) {
    const chunk = chunks[c]!;
    let live: DigestSet | undefined;
    if (newest.manifest.liveDigests !== undefined) {
      const lists = liveLists.filter((l) => intersects(l.partitions, chunk));
      // Sized for this chunk's share of each list (it grows if the share is uneven), not for the whole lists.
      live = new DigestSet(lists.reduce((n, l) => n + chunkShare(l.partitions, chunk) * l.digests, 0));
      for (const list of lists) {
        await readDigestList(
          newest.store,
          objectKey(newest.prefix, list.name),
          list,
          (p) => chunk[p] === 1,
          (_p, bytes, at) => live!.add(bytes, at),
          opts.signal,
          newest.crypto?.decrypt(list.name, `${newest.location}/${list.name}`),
        );
      }
    }
    const seen = new DigestSet();
    for (let i = links.length - 1; i >= 0; i--) {
      const link = links[i]!;
      const files = link.manifest.files.filter((f) => intersects(f.partitions, chunk));
      if (files.length === 0) continue;
      yield { link, linkIndex: i, chunk: c, files, filter: new ChainFilter(chunk, seen, live, i > 0, opts.collectDeleted === true && live !== undefined) };
    }
  }
}
