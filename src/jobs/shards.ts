/**
 * Sharded backups (docs/distributed.md): N workers, each a process of its own (a pod of a
 * Kubernetes Indexed Job), back up one share of the partitions each into one location,
 * and together make one backup.
 *
 *   LOC/shards/<i>/<attempt>/...                 worker i's files (each start a new attempt)
 *   LOC/shards/<i>/<attempt>/shard-manifest.json its manifest, with {shard: {index, count}}
 *   LOC/shards/<i>/accepted.json                 the accepted attempt: taken with the exclusive create
 *   LOC/manifest.json                            written by finalize: the backup is complete
 *
 * Exactly once: a worker's attempt counts only once its shard's accepted.json names it, and
 * that object is made with the store's exclusive create, so of two workers that ran the same
 * shard (a duplicated pod) exactly one is accepted; the other removes its attempt. A worker
 * restarted after a crash starts a new attempt; attempts never accepted are removed by
 * finalize. Every worker tries finalize when its shard is done: the last one succeeds, the
 * others see shards missing and leave it; finalize is idempotent (the top manifest is made
 * with the exclusive create too).
 *
 * The split: shard i takes the contiguous range [floor(4096 i / N), floor(4096 (i+1) / N) - 1]
 * (the same number of partitions, within one, for every shard; partitions are spread over
 * the nodes by the cluster's own hash, so each shard's load spreads over the nodes too).
 */
import { randomBytes } from 'node:crypto';
import { AerobakError, UsageError } from '../errors.js';
import { openStore } from '../storage/index.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { joinLocation } from '../catalog/repository.js';
import { PARTITION_COUNT } from '../aerospike/types.js';
import type { BackupDeps, BackupOptions, BackupSummary } from './backup-options.js';
// backup.ts imports this module lazily (for --shard); runBackup is only called at run time.
import { runBackup } from './backup.js';
import { compactTimestamp } from './backup-plan.js';
import { objectKey } from './data-files.js';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT_VERSION,
  SHARDS_DIRECTORY,
  readManifestAndHash,
  requiredFeatures,
  writeManifest,
  type Manifest,
} from './manifest.js';
import type { PartitionRange } from './plan.js';

export const SHARD_MANIFEST = 'shard-manifest.json';
export const ACCEPTED_FILE = 'accepted.json';

export interface ShardSpec {
  index: number;
  count: number;
}

interface Accepted {
  attempt: string;
  shard: ShardSpec;
  manifestSha256: string;
  acceptedAt: string;
}

export type FinalizeResult =
  | { status: 'complete'; location: string; records: number; files: number; removedAttempts: number }
  | { status: 'already-complete'; location: string }
  | { status: 'waiting'; location: string; missing: number[]; count: number };

/** A sharded run that cannot be finalized: a shard missing, or shards that disagree. */
export class ShardError extends AerobakError {
  constructor(code: 'SHARDS_MISSING' | 'SHARDS_CONFLICT' | 'SHARDS_COVERAGE', message: string) {
    super('failed', code, message);
  }
}

/** The partitions of shard `index` of `count`. */
export function shardPartitions(s: ShardSpec): PartitionRange {
  return { first: Math.floor((PARTITION_COUNT * s.index) / s.count), last: Math.floor((PARTITION_COUNT * (s.index + 1)) / s.count) - 1 };
}

export function checkShard(s: ShardSpec): void {
  if (!Number.isInteger(s.count) || s.count < 1 || s.count > PARTITION_COUNT) throw new UsageError(`--shards ${s.count}: expected 1 to ${PARTITION_COUNT}`);
  if (!Number.isInteger(s.index) || s.index < 0 || s.index >= s.count) throw new UsageError(`shard ${s.index} of ${s.count}: the index must be 0 to ${s.count - 1}`);
}

const shardDir = (index: number) => `${SHARDS_DIRECTORY}/${index}`;

async function readJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  if ((await store.stat(key)) === null) return undefined;
  return JSON.parse((await readAll(await store.read(key))).toString('utf8')) as T;
}

async function removePrefix(store: ObjectStore, prefix: string): Promise<void> {
  const keys: string[] = [];
  for await (const o of store.list(`${prefix}/`)) keys.push(o.key);
  await store.deleteMany(keys);
}

/** One worker of a sharded run: its attempt, its acceptance, then an attempt at finalize. */
export async function runShard(opts: BackupOptions, deps: BackupDeps): Promise<BackupSummary & { shard: ShardSpec & { attempt: string; accepted: boolean; finalize: FinalizeResult } }> {
  const shard = opts.shard!;
  checkShard(shard);
  if (opts.to === undefined) throw new UsageError('a sharded backup needs --to LOCATION: every worker writes into the same one');
  if (opts.partitions) throw new UsageError('--shard chooses the partitions itself: --partitions does not combine with it');
  if (opts.encrypt) throw new UsageError('--encrypt does not combine with --shard yet (each shard would have a data key of its own)');
  if (opts.resume !== undefined) throw new UsageError('a restarted shard starts a new attempt: --resume does not combine with --shard');
  const open = deps.openStore ?? openStore;
  const now = deps.now ?? (() => new Date());
  const root = await open(opts.to, 'write');
  const note = deps.note ?? (() => undefined);
  const attempt = `${compactTimestamp(now())}-${randomBytes(3).toString('hex')}`;
  const prefix = `${shardDir(shard.index)}/${attempt}`;
  const done = await readJson<Accepted>(root, objectKey(shardDir(shard.index), ACCEPTED_FILE));
  if (done) note(`shard ${shard.index} of ${shard.count} was accepted before (attempt ${done.attempt}): nothing to back up`);

  let summary: BackupSummary | undefined;
  let accepted = false;
  if (!done) {
    note(`shard ${shard.index} of ${shard.count}: partitions ${shardPartitions(shard).first}-${shardPartitions(shard).last}, attempt ${attempt}`);
    summary = await runBackup({
      ...opts,
      shard: undefined,
      to: joinLocation(root.location, prefix),
      partitions: [shardPartitions(shard)],
      // Rate limits are for the whole run; indexes and UDFs are saved once, by shard 0.
      ...(opts.recordsPerSecond !== undefined ? { recordsPerSecond: Math.max(1, Math.floor(opts.recordsPerSecond / shard.count)) } : {}),
      noIndexes: opts.noIndexes === true || shard.index > 0,
      noUdfs: opts.noUdfs === true || shard.index > 0,
      shardManifest: { name: SHARD_MANIFEST, shard },
    }, deps);
    const { sha256 } = await readManifestAndHash(root, prefix, SHARD_MANIFEST);
    const record: Accepted = { attempt, shard, manifestSha256: sha256, acceptedAt: now().toISOString() };
    try {
      await root.create(objectKey(shardDir(shard.index), ACCEPTED_FILE), [Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
      accepted = true;
    } catch (error) {
      if ((error as { code?: string }).code !== 'ALREADY_EXISTS') throw error;
      note(`shard ${shard.index} was accepted from another attempt meanwhile (a duplicated worker): removing attempt ${attempt}`);
      await removePrefix(root, prefix);
    }
  }
  const finalize = await finalizeShards(opts.to, { openStore: open, tolerateMissing: true, now });
  if (finalize.status === 'waiting') note(`finalize: shards ${finalize.missing.join(', ')} of ${finalize.count} are not done yet; the last worker to finish completes the backup`);
  const base: BackupSummary = summary ?? {
    location: root.location,
    kind: 'full',
    namespace: opts.namespace,
    sets: opts.sets ?? [],
    partitions: `${shardPartitions(shard).first}-${shardPartitions(shard).last}`,
    records: 0,
    recordsScanned: 0,
    bytes: 0,
    files: 0,
    indexes: 0,
    udfs: 0,
    startedAt: now().toISOString(),
    durationMs: 0,
  };
  return { ...base, location: root.location, shard: { ...shard, attempt: done?.attempt ?? attempt, accepted: accepted || done !== undefined, finalize } };
}

/** The fields every shard of one run must agree on, as text. */
function runParameters(m: Manifest): string {
  return JSON.stringify({
    namespace: m.namespace,
    sets: m.filters.sets ?? [],
    bins: m.filters.bins ?? [],
    modifiedAfter: m.filters.modifiedAfter,
    modifiedBefore: m.filters.modifiedBefore,
    noTtlOnly: m.filters.noTtlOnly,
    compression: m.compression,
    kind: m.kind ?? 'full',
    parent: m.parent,
    since: m.since,
    tracksDeletes: m.liveDigests !== undefined,
  });
}

/**
 * `backup --finalize LOC`: checks that every shard of the run is accepted, that their
 * manifests agree and cover every partition exactly once, that their files are stored
 * with the listed sizes, then writes the top manifest (exclusive create) and removes
 * attempts that were never accepted. Idempotent.
 */
export async function finalizeShards(
  location: string,
  deps: { openStore?: StoreOpener; tolerateMissing?: boolean; now?: () => Date; count?: number } = {},
): Promise<FinalizeResult> {
  const open = deps.openStore ?? openStore;
  const now = deps.now ?? (() => new Date());
  const store = await open(location, 'write');
  if ((await store.stat(MANIFEST_FILE)) !== null) return { status: 'already-complete', location: store.location };
  const accepted = new Map<number, Accepted>();
  for await (const o of store.list(`${SHARDS_DIRECTORY}/`)) {
    const m = new RegExp(`^${SHARDS_DIRECTORY}/(\\d+)/${ACCEPTED_FILE.replace('.', '\\.')}$`).exec(o.key);
    if (m) accepted.set(Number(m[1]), (await readJson<Accepted>(store, o.key))!);
  }
  const counts = new Set([...accepted.values()].map((a) => a.shard.count));
  if (deps.count !== undefined) counts.add(deps.count);
  if (counts.size > 1) throw new ShardError('SHARDS_CONFLICT', `the shards at ${store.location} disagree on how many there are (${[...counts].join(', ')})`);
  const count = [...counts][0];
  if (count === undefined) {
    if (deps.tolerateMissing) return { status: 'waiting', location: store.location, missing: [], count: 0 };
    throw new ShardError('SHARDS_MISSING', `${store.location} holds no accepted shard: nothing to finalize`);
  }
  const missing = Array.from({ length: count }, (_, i) => i).filter((i) => !accepted.has(i));
  if (missing.length > 0) {
    if (deps.tolerateMissing) return { status: 'waiting', location: store.location, missing, count };
    throw new ShardError('SHARDS_MISSING', `shard(s) ${missing.join(', ')} of ${count} at ${store.location} are not done: no manifest written`);
  }

  const shards: Array<{ index: number; prefix: string; manifest: Manifest }> = [];
  for (let i = 0; i < count; i++) {
    const a = accepted.get(i)!;
    const prefix = `${shardDir(i)}/${a.attempt}`;
    const { manifest, sha256 } = await readManifestAndHash(store, prefix, SHARD_MANIFEST);
    if (sha256 !== a.manifestSha256) throw new ShardError('SHARDS_CONFLICT', `shard ${i}'s manifest (${prefix}/${SHARD_MANIFEST}) is not the one its ${ACCEPTED_FILE} accepted`);
    if (manifest.shard?.index !== i || manifest.shard.count !== count) throw new ShardError('SHARDS_CONFLICT', `${prefix}/${SHARD_MANIFEST} says it is shard ${manifest.shard?.index} of ${manifest.shard?.count}, not ${i} of ${count}`);
    shards.push({ index: i, prefix, manifest });
  }
  const params = runParameters(shards[0]!.manifest);
  for (const s of shards) {
    if (runParameters(s.manifest) !== params) throw new ShardError('SHARDS_CONFLICT', `shard ${s.index} (${s.prefix}) was run with other parameters than shard 0: ${runParameters(s.manifest)} vs ${params}`);
  }
  // Every partition in exactly one shard.
  const cover = new Uint8Array(PARTITION_COUNT);
  for (const s of shards) {
    for (const r of s.manifest.filters.partitions ?? [{ first: 0, last: PARTITION_COUNT - 1 }]) for (let p = r.first; p <= r.last; p++) cover[p]!++;
  }
  const twice = cover.findIndex((c) => c > 1);
  if (twice >= 0) throw new ShardError('SHARDS_COVERAGE', `partition ${twice} is in more than one shard`);
  const none = cover.findIndex((c) => c === 0);
  if (none >= 0) throw new ShardError('SHARDS_COVERAGE', `partition ${none} is in no shard`);
  // Their files are there, whole.
  const named = (s: { prefix: string }, name: string) => `${s.prefix}/${name}`;
  for (const s of shards) {
    for (const f of [...s.manifest.files, ...(s.manifest.liveDigests ?? []), ...(s.manifest.metadata ? [s.manifest.metadata] : [])]) {
      const info = await store.stat(named(s, f.name));
      if (info === null || info.size !== f.size) throw new ShardError('SHARDS_CONFLICT', `${named(s, f.name)} of shard ${s.index} is ${info === null ? 'missing' : `${info.size} bytes, not ${f.size}`}`);
    }
  }
  const first = shards[0]!.manifest;
  const metadataShard = shards.find((s) => s.manifest.metadata !== undefined);
  const files = shards.flatMap((s) => s.manifest.files.map((f) => ({ ...f, name: named(s, f.name) })));
  const liveDigests = first.liveDigests ? shards.flatMap((s) => (s.manifest.liveDigests ?? []).map((l) => ({ ...l, name: named(s, l.name) }))) : undefined;
  const times = (pick: (m: Manifest) => string | undefined) => shards.map((s) => pick(s.manifest)).filter((t): t is string => t !== undefined).sort();
  const clusterTimes = times((m) => m.clusterTime);
  const { partitions: _all, ...filters } = first.filters;
  const thresholds: Record<string, number> = {};
  for (const s of shards) for (const [k, v] of Object.entries(s.manifest.truncateThresholds ?? {})) thresholds[k] = Math.max(thresholds[k] ?? 0, v);
  const top: Manifest = {
    ...first,
    formatVersion: MANIFEST_FORMAT_VERSION,
    createdAt: now().toISOString(),
    startedAt: times((m) => m.startedAt)[0]!,
    finishedAt: times((m) => m.finishedAt).at(-1)!,
    filters,
    records: files.reduce((n, f) => n + f.records, 0),
    bytes: files.reduce((n, f) => n + f.size, 0),
    files,
    truncateThresholds: thresholds,
  };
  delete top.shard;
  delete top.metadata;
  delete top.liveDigests;
  delete top.clusterTime;
  if (metadataShard) top.metadata = { ...metadataShard.manifest.metadata!, name: named(metadataShard, metadataShard.manifest.metadata!.name) };
  if (liveDigests) top.liveDigests = liveDigests;
  // An incremental of this backup starts from the earliest shard's clock: nothing is missed.
  if (clusterTimes.length === shards.length) top.clusterTime = clusterTimes[0]!;
  top.requires = requiredFeatures(top);
  try {
    await writeManifest(store, '', top, { exclusive: true });
  } catch (error) {
    if ((error as { code?: string }).code === 'ALREADY_EXISTS') return { status: 'already-complete', location: store.location };
    throw error;
  }
  // Attempts never accepted (crashed or duplicated workers) go.
  let removedAttempts = 0;
  const keep = new Set(shards.map((s) => s.prefix));
  const attempts = new Set<string>();
  for await (const o of store.list(`${SHARDS_DIRECTORY}/`)) {
    const m = new RegExp(`^(${SHARDS_DIRECTORY}/\\d+/[^/]+)/`).exec(o.key);
    if (m && !keep.has(m[1]!)) attempts.add(m[1]!);
  }
  for (const a of attempts) {
    await removePrefix(store, a);
    removedAttempts++;
  }
  return { status: 'complete', location: store.location, records: top.records, files: files.length, removedAttempts };
}
