/**
 * The restore job: a backup's records (and its secondary indexes and UDF modules) back
 * into a cluster, optionally into another namespace, with asrestore's semantics.
 *
 *   manifest ─> connect ─> target namespace exists? ─> index plan (conflict = stop, before
 *   any write) ─> UDFs ─> indexes (unless --indexes-last) ─> records ─> [indexes]
 *
 *   records: `parallel` workers; each pulls the next data file from a shared queue:
 *     readDataFile (size, SHA-256, record count checked; RowsReader decodes each block
 *     straight into batch write rows, applying the set and bin filters and the namespace
 *     map) ─> RowCounter (counts, rate limit) ─> BatchWriter   (one stream.pipeline per
 *     data file; no async iterators between them: a block's rows flow as one chunk, by
 *     push/write, with backpressure)
 *
 * Order of metadata, as asrestore: UDFs, then indexes, then records, so the indexes are
 * usable as soon as the records are in; --indexes-last builds them after the records
 * instead (one bulk build, faster writes on big restores). Either way every index is
 * checked against the cluster's before the first write: an index that exists with the
 * same definition is kept, one that conflicts stops the restore before it starts.
 *
 * Per-record outcomes come from the BatchWriter: written, fresher (the database holds a
 * generation at least as new), exists (create-only), expired (void time passed; not
 * sent), failed. A failure aborts the restore, unless its result code is listed in
 * `ignoreCodes`: such records are skipped and counted.
 */
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { setMaxListeners } from 'node:events';
import { pipeline } from 'node:stream/promises';
import type { WireRows } from '../aerospike/batch-request.js';
import { BatchWriter, type WritePolicy, type WriteResult } from '../aerospike/batch-writer.js';
import { Cluster, type ClusterOptions } from '../aerospike/cluster.js';
import {
  createIndex,
  describeIndex,
  getUdf,
  listIndexes,
  planIndex,
  putUdf,
  waitForIndex,
  type IndexDefinition,
  type IndexPlan,
} from '../aerospike/metadata.js';
import { RateLimiter } from '../aerospike/rate-limiter.js';
import { PARTITION_COUNT, type RawRecord } from '../aerospike/types.js';
import { keyToValue } from '../aerospike/wire/digest.js';
import { resultCodeHint, resultCodeName } from '../aerospike/wire/result-codes.js';
import { ContainerDecoder } from '../avro/container.js';
import { RECORD_CODEC } from '../avro/record-codec.js';
import { RowsPool, RowsReader } from '../avro/record-rows.js';
import { AerobakError, InterruptedError, NamespaceNotFoundError, UsageError, abortReason } from '../errors.js';
import { objectName } from '../storage/keys.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { parseDataFileName } from './backup.js';
import { decompressor, requireCompression } from './compression.js';
import { discard, readDataFile, type Compression, type DataFileEntry } from './data-files.js';
import { describeChain, resolveChain, unlockChain, type ChainLink } from './chain.js';
import type { FileCrypto } from '../crypto/backup-keys.js';
import { KEYS_DIRECTORY, type Kek } from '../crypto/keys.js';
import { firstKey } from '../storage/small-objects.js';
import { shardPartitions } from './shards.js';
import { chainAt } from './chain-at.js';
import { chainPasses, type ChainFilter, type LinkCounts } from './chain-restore.js';
import { RestoreJournal, defaultJournalPath, journalId } from './restore-journal.js';
import { IncompleteBackupError, readMetadata, type BackupMetadata, type Manifest } from './manifest.js';
import { ProgressMeter, startProgress, type ProgressListener } from './progress.js';

export interface RestoreOptions {
  cluster: ClusterOptions;
  /** The backup's location. */
  from: string;
  /** Source namespace → target namespace. Unmapped namespaces restore into themselves. */
  namespaceMap?: ReadonlyMap<string, string>;
  /** Only records of these sets (default: all). */
  sets?: string[];
  /** Only these bins (default: all); a record left without bins is skipped. */
  bins?: string[];
  /** Default generation-greater. */
  mode?: WritePolicy;
  /** Seconds added to the void time of records that expire, before the expiry check (as asrestore). */
  extraTtlSeconds?: number;
  /** Overall write rate limit. */
  recordsPerSecond?: number;
  /** Data files restored at once; default 4. */
  parallel?: number;
  /** Result codes whose records are skipped and counted instead of aborting the restore. */
  ignoreCodes?: readonly number[];
  /** Build secondary indexes after the records instead of before. */
  indexesLast?: boolean;
  noIndexes?: boolean;
  noUdfs?: boolean;
  /** Restore a backup that has no manifest (interrupted): its complete data files, unverified. */
  force?: boolean;
  /** Rows per batch write (BatchWriter default when absent). */
  batchSize?: number;
  /**
   * Point in time: `from` is a repository, and the restore takes the newest complete
   * backup (chain point) of the source namespace that finished at or before this instant.
   */
  at?: Date;
  /** Skip the data files an earlier, interrupted run of the same restore finished (its journal says which). */
  resume?: boolean;
  /** Where the journal of finished files is kept; default $XDG_CACHE_HOME/aerobak/restore-<id>.json. */
  journalPath?: string;
  /**
   * For a chain whose newest link tracked deletes: also delete from the target the records
   * the chain shows were deleted (in an older link, not live in the newest). Without it a
   * restore only writes, and such records, if the target holds them, stay.
   */
  applyDeletes?: boolean;
  /** Digests a chain restore holds in memory per partition chunk (chain-restore.ts); default DEFAULT_CHAIN_DIGEST_BUDGET. */
  chainDigestBudget?: number;
  /** The key of an encrypted backup (every link of its chain). */
  key?: Kek;
  /**
   * One worker of a sharded restore (docs/distributed.md): only the records of this
   * shard's partitions are written; indexes and UDFs are checked for conflicts but left to
   * `restore --finalize`, which sums the shards' reports (`shardReports`).
   */
  shard?: { index: number; count: number };
  /** With `shard`: where the shard's report is stored; with `finalizeShards`, where they are read. */
  shardReports?: string;
  /** Only indexes and UDFs (a sharded restore's finalize): no record is read or written. */
  metadataOnly?: boolean;
}

export interface RestoreDeps {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  note?: (message: string) => void;
  openStore?: StoreOpener;
  now?: () => Date;
}

export interface RestoreSummary {
  location: string;
  /** Source namespace → target namespace, for every namespace restored. */
  namespaces: Record<string, string>;
  /** Records read from the backup. */
  read: number;
  written: number;
  /** Not written: the database holds the same or a newer generation (generation-greater). */
  fresher: number;
  /** Not written: the record exists (create-only). */
  existed: number;
  /** Not written: the record's void time has passed. */
  expired: number;
  /** Not written: outside --set, or no bin left after --bins. */
  skippedByFilter: number;
  /** Not written: failed with a result code listed in ignoreCodes; by result code name. */
  ignored: Record<string, number>;
  /** Failed, by result code name. */
  failed: Record<string, number>;
  indexes: { created: number; existing: number; skipped: number };
  udfs: { written: number; unchanged: number };
  /** The backup had no manifest and was restored with force (files unverified). */
  unverified: boolean;
  /** For a chain (an incremental and its parents): per link, oldest first. */
  links?: LinkCounts[];
  /** Records of older links left out because a newer link holds the record. */
  superseded: number;
  /** Records left out because they were deleted before the newest link (it tracked deletes). */
  deleted: number;
  /** With resume: data files an earlier run had finished, not written again (and their records). */
  resumedFiles: number;
  resumedRecords: number;
  /** With applyDeletes: records deleted from the target, and those it did not hold. */
  deletedInTarget: number;
  absentInTarget: number;
  durationMs: number;
}

/** A record the cluster refused, with a result code not listed in ignoreCodes. */
export class RecordWriteError extends AerobakError {
  /** The counts up to the moment the restore stopped. */
  summary?: RestoreSummary;

  constructor(
    readonly record: RawRecord,
    readonly resultCode: number,
  ) {
    const name = resultCodeName(resultCode);
    super(
      'failed',
      'RECORD_WRITE_FAILED',
      `record ${describeRecord(record)} failed with ${name} (${resultCode})${resultCodeHint(resultCode) ? `: ${resultCodeHint(resultCode)}` : ''}; the restore stopped (to skip and count such records: --ignore-codes ${resultCode})`,
    );
  }
}

export class IndexConflictError extends AerobakError {
  constructor(readonly conflicts: Extract<IndexPlan, { kind: 'conflict' }>[]) {
    super('failed', 'INDEX_CONFLICT', `the cluster's secondary indexes conflict with the backup's, nothing was restored: ${conflicts.map((c) => c.reason).join('; ')} (restore without them: --no-indexes)`);
  }
}

/** namespace/set/key, or the digest when the key was not stored. */
export function describeRecord(r: RawRecord): string {
  const where = `${r.namespace}/${r.set}`;
  if (!r.userKey) return `${where} digest ${r.digest.toString('hex')}`;
  const key = keyToValue(r.userKey);
  const shown = typeof key === 'string' ? JSON.stringify(key) : typeof key === 'bigint' ? key.toString() : `0x${key.toString('hex')}`;
  return `${where}/${shown} (digest ${r.digest.toString('hex')})`;
}

/** A data file to restore; `entry` is its manifest entry, to check it against, when there is a manifest. */
interface SourceFile {
  name: string;
  size: number;
  entry?: DataFileEntry;
}

/** The data files of a backup and what they hold, from its manifest or, with force, from a listing. */
interface Source {
  files: SourceFile[];
  compress: Compression;
  namespace: string;
  /** Present when the backup has a manifest: everything read is checked against it. */
  manifest?: Manifest;
}

/** Data files restored together (in parallel), all from one backup: a whole backup, or one step of a chain. */
interface Pass {
  store: ObjectStore;
  prefix: string;
  files: SourceFile[];
  compress: Compression;
  /** For a chain: which records of the files to write. */
  filter?: ChainFilter;
  /** The link's counts, for a chain. */
  counts?: LinkCounts;
  /** Names the pass in the journal (link and chunk). */
  step: string;
  /** For an encrypted backup. */
  crypto?: FileCrypto;
}

/** The chain to restore, from a backup's location or, with `at`, from a repository. */
async function chainToRestore(opts: RestoreOptions, open: StoreOpener): Promise<ChainLink[]> {
  if (opts.at === undefined) return resolveChain(opts.from, open);
  return chainAt(opts.from, opts.at, [...(opts.namespaceMap ?? new Map<string, string>()).keys()][0], open, '-n SRC:DST');
}

/** The data files of a backup that has no manifest, found by listing it (restore --force). */
async function unverifiedSource(store: ObjectStore, signal: AbortSignal | undefined, cause: IncompleteBackupError): Promise<Source> {
  const files: SourceFile[] = [];
  const namespaces = new Set<string>();
  const compressions = new Set<Compression>();
  for await (const o of store.list('', { signal })) {
    const parsed = parseDataFileName(o.key);
    if (!parsed) continue;
    namespaces.add(parsed.namespace);
    compressions.add(parsed.compress);
    files.push({ name: o.key, size: o.size });
  }
  if (files.length === 0) throw cause;
  if (namespaces.size !== 1 || compressions.size !== 1) {
    throw new AerobakError(
      'storage',
      'BACKUP_UNREADABLE',
      `${store.location} holds data files of several backups (namespaces ${[...namespaces].join(', ')}; compressions ${[...compressions].join(', ')}); restore them from separate locations`,
    );
  }
  return { files, compress: [...compressions][0]!, namespace: [...namespaces][0]! };
}

/** A data file's rows without checks, for a backup that has no manifest to check against. */
async function readUnverified(store: ObjectStore, name: string, compress: Compression, rows: RowsReader, signal: AbortSignal): Promise<Readable> {
  const decoder = new ContainerDecoder(RECORD_CODEC, { blocks: rows });
  const source = await store.read(name);
  const decompress = decompressor(compress);
  pipeline(decompress ? [source, decompress, decoder] : [source, decoder], { signal }).catch((err: unknown) => {
    if (signal.aborted) return;
    decoder.destroy(new AerobakError('failed', 'DATA_FILE_UNREADABLE', `data file ${objectName(store.location, name)} cannot be read: ${(err as Error).message}`, { cause: err }));
  });
  return decoder;
}

export async function runRestore(opts: RestoreOptions, deps: RestoreDeps = {}): Promise<RestoreSummary> {
  const now = deps.now ?? (() => new Date());
  const started = now().getTime();
  const note = deps.note ?? (() => undefined);
  const open = deps.openStore ?? openStore;
  const store = await open(opts.from, 'read');

  let source: Source;
  let chain: ChainLink[] | undefined;
  try {
    chain = await chainToRestore(opts, open);
    // Encrypted links: the key opens every one and their manifests authenticate, or nothing is written.
    await unlockChain(chain, opts.key);
    const newest = chain.at(-1)!;
    const manifest = newest.manifest;
    const files = manifest.files.map((entry) => ({ name: entry.name, size: entry.size, entry }));
    source = { files, compress: manifest.compression, namespace: manifest.namespace, manifest };
    if (chain.length > 1) note(`restoring ${describeChain(chain)}, ending at ${newest.location}`);
  } catch (err) {
    if (!(err instanceof IncompleteBackupError) || !opts.force || opts.at !== undefined) throw err;
    if ((await firstKey(store, `${KEYS_DIRECTORY}/`)) !== undefined) {
      throw new UsageError(`${store.location} is an encrypted backup without a manifest: it cannot be authenticated, so it is not restored with --force (finish it with backup --resume)`);
    }
    source = await unverifiedSource(store, deps.signal, err);
    note(
      `${store.location} has no manifest: restoring the records of its ${source.files.length} complete data file(s), unverified, and no indexes or UDFs (--force)`,
    );
  }
  // Before anything is written: this runtime must be able to read every link's data files.
  for (const link of chain ?? []) requireCompression(link.manifest.compression, 'failed', `the backup at ${link.location}`);
  if (!chain) requireCompression(source.compress, 'failed', `the backup at ${store.location}`);
  if ((opts.shard || opts.metadataOnly) && !chain) throw new UsageError('a sharded restore needs a complete backup: --force does not combine with --shard or --finalize');
  const map = opts.namespaceMap ?? new Map<string, string>();
  if (map.size > 0 && !map.has(source.namespace)) {
    // Restoring into the source namespace because of a typo in the map would be a nasty surprise.
    throw new UsageError(`--namespace-map maps ${[...map.keys()].join(', ')}, but the backup at ${store.location} holds namespace ${source.namespace}`);
  }
  const target = map.get(source.namespace) ?? source.namespace;

  const summary: RestoreSummary = {
    location: store.location,
    namespaces: { [source.namespace]: target },
    read: 0,
    written: 0,
    fresher: 0,
    existed: 0,
    expired: 0,
    skippedByFilter: 0,
    ignored: {},
    failed: {},
    indexes: { created: 0, existing: 0, skipped: 0 },
    udfs: { written: 0, unchanged: 0 },
    unverified: source.manifest === undefined,
    ...(chain && chain.length > 1 ? { links: chain.map((l) => ({ location: l.location, restored: 0, superseded: 0, deleted: 0 })) } : {}),
    superseded: 0,
    deleted: 0,
    resumedFiles: 0,
    resumedRecords: 0,
    deletedInTarget: 0,
    absentInTarget: 0,
    durationMs: 0,
  };
  if (opts.applyDeletes && chain?.at(-1)?.manifest.liveDigests === undefined) {
    throw new UsageError(`--apply-deletes needs a chain whose newest backup tracked deletes (backup --track-deletes); ${chain?.at(-1)?.location ?? store.location} did not`);
  }
  const id = journalId([store.location, chain?.at(-1)?.manifestSha256 ?? 'unverified', JSON.stringify([...map]), ...(opts.shard ? [`shard ${opts.shard.index}/${opts.shard.count}`] : [])]);
  const journal = await RestoreJournal.open(opts.journalPath ?? defaultJournalPath(id), id, opts.resume === true);
  journal.onError = (error) => note(`cannot keep the restore journal ${journal.path} (${error.message}): restore --resume will not be able to skip what this run finishes`);
  if (journal.earlier > 0) note(`resuming: ${journal.earlier} data file(s) finished by an earlier run are skipped (journal ${journal.path})`);

  const cluster = await Cluster.connect(opts.cluster);
  try {
    const namespaces = cluster.namespaces();
    if (!namespaces.includes(target)) throw new NamespaceNotFoundError(target, namespaces);

    const entry = source.manifest?.metadata;
    // Indexes and UDFs come from the newest link.
    const newest = chain?.at(-1);
    const metadata: BackupMetadata =
      entry && newest && !(opts.noIndexes && opts.noUdfs) ? await readMetadata(newest.store, newest.prefix, entry, newest.crypto) : { indexes: [], udfs: [] };
    const sets = new Set(opts.sets ?? []);
    const wanted = (opts.noIndexes ? [] : metadata.indexes).map((i): IndexDefinition => ({ ...i, namespace: target }));
    const indexes = wanted.filter((i) => sets.size === 0 || (i.set !== undefined && sets.has(i.set)));
    summary.indexes.skipped = wanted.length - indexes.length;
    const existing = indexes.length > 0 ? await listIndexes(cluster, target) : [];
    const plans = indexes.map((i) => planIndex(i, existing));
    const conflicts = plans.filter((p): p is Extract<IndexPlan, { kind: 'conflict' }> => p.kind === 'conflict');
    if (conflicts.length > 0) throw new IndexConflictError(conflicts);
    summary.indexes.existing = plans.filter((p) => p.kind === 'exists').length;

    // A shard of a sharded restore checks index conflicts (above) but leaves indexes and UDFs to finalize.
    for (const udf of opts.noUdfs || opts.shard ? [] : metadata.udfs) {
      const current = await getUdf(cluster, udf.filename);
      if (current && current.content.equals(udf.content)) {
        summary.udfs.unchanged++;
      } else {
        note(`registering UDF module ${udf.filename}`);
        await putUdf(cluster, udf);
        summary.udfs.written++;
      }
    }

    const buildIndexes = async () => {
      if (opts.shard) return;
      for (const plan of plans) {
        if (plan.kind !== 'create') continue;
        note(`building secondary index ${plan.index.name} on ${describeIndex(plan.index)}`);
        await createIndex(cluster, plan.index);
        await waitForIndex(cluster, plan.index.namespace, plan.index.name, { signal: deps.signal });
        summary.indexes.created++;
      }
    };
    if (!opts.indexesLast) await buildIndexes();
    const passes = passesOf(chain, store, source, summary, {
      ...(deps.signal ? { signal: deps.signal } : {}),
      ...(opts.chainDigestBudget !== undefined ? { budget: opts.chainDigestBudget } : {}),
      collectDeleted: opts.applyDeletes === true,
      ...(opts.shard ? { partitions: shardMask(opts.shard) } : {}),
    });
    if (!opts.metadataOnly) await restoreRecords(cluster, passes, source, target, opts, summary, journal, deps);
    if (opts.indexesLast) await buildIndexes();
  } catch (err) {
    const reason = deps.signal?.aborted ? abortReason(deps.signal) : err;
    if (reason instanceof RecordWriteError) reason.summary = { ...summary, durationMs: now().getTime() - started };
    if (reason instanceof InterruptedError) {
      throw new InterruptedError(`${reason.message}: the restore stopped after ${summary.read} record(s) read and ${summary.written} written`);
    }
    throw reason;
  } finally {
    await cluster.close();
  }
  await journal.remove();
  summary.durationMs = now().getTime() - started;
  return summary;
}

/** 1 for each partition of a shard of a sharded restore. */
function shardMask(shard: { index: number; count: number }): Uint8Array {
  const mask = new Uint8Array(PARTITION_COUNT);
  const { first, last } = shardPartitions(shard);
  mask.fill(1, first, last + 1);
  return mask;
}

/** The passes of a restore: the whole backup at once, or a chain's steps (chain-restore.ts). */
async function* passesOf(
  chain: ChainLink[] | undefined,
  store: ObjectStore,
  source: Source,
  summary: RestoreSummary,
  opts: { signal?: AbortSignal; budget?: number; collectDeleted: boolean; partitions?: Uint8Array },
): AsyncGenerator<Pass> {
  if (!chain) {
    yield { store, prefix: '', files: source.files, compress: source.compress, step: store.location };
    return;
  }
  for await (const step of chainPasses(chain, opts)) {
    const { link } = step;
    yield {
      store: link.store,
      prefix: link.prefix,
      files: step.files.map((entry) => ({ name: entry.name, size: entry.size, entry })),
      compress: link.manifest.compression,
      ...(link.crypto ? { crypto: link.crypto } : {}),
      ...(step.filter ? { filter: step.filter } : {}),
      ...(summary.links ? { counts: summary.links[step.linkIndex]! } : {}),
      step: `${link.location}|${step.chunk}`,
    };
  }
}

async function restoreRecords(
  cluster: Cluster,
  passes: AsyncIterable<Pass>,
  source: Source,
  target: string,
  opts: RestoreOptions,
  summary: RestoreSummary,
  journal: RestoreJournal,
  deps: RestoreDeps,
): Promise<void> {
  deps.signal?.throwIfAborted();
  const controller = new AbortController();
  // Every stage of every worker (each file's read chain, the writer) listens to this one
  // signal: many listeners by design, bounded by the workers, not a leak.
  setMaxListeners(0, controller.signal);
  const stopOnOuterAbort = () => controller.abort(deps.signal!.reason);
  deps.signal?.addEventListener('abort', stopOnOuterAbort, { once: true });
  const signal = controller.signal;

  const sets = opts.sets && opts.sets.length > 0 ? new Set(opts.sets) : undefined;
  const bins = opts.bins && opts.bins.length > 0 ? new Set(opts.bins) : undefined;
  const ignore = new Set(opts.ignoreCodes ?? []);
  const limiter = opts.recordsPerSecond !== undefined ? new RateLimiter(opts.recordsPerSecond) : undefined;
  let pass: Pass;
  let queue: SourceFile[] = [];
  /** Stored bytes of the data files read to the end, for progress. */
  let bytesRead = 0;

  const onResult = (r: WriteResult) => {
    switch (r.outcome) {
      case 'written':
        summary.written++;
        return;
      case 'fresher':
        summary.fresher++;
        return;
      case 'exists':
        summary.existed++;
        return;
      case 'expired':
        summary.expired++;
        return;
      case 'failed': {
        const name = resultCodeName(r.resultCode);
        if (ignore.has(r.resultCode)) {
          summary.ignored[name] = (summary.ignored[name] ?? 0) + 1;
          return;
        }
        summary.failed[name] = (summary.failed[name] ?? 0) + 1;
        if (!signal.aborted) controller.abort(new RecordWriteError(r.record, r.resultCode));
      }
    }
  };

  // The blocks' rows, reused once the writer has every row's result (shared by the workers).
  const rowsPool = new RowsPool();

  /** Restores the files this worker takes from the queue, one pipeline per file: rows ─> counter ─> writer. */
  async function worker(): Promise<void> {
    for (let next = queue.shift(); next !== undefined && !signal.aborted; next = queue.shift()) {
      const { name, entry } = next;
      const { store, prefix, compress, filter, counts, crypto } = pass;
      const step = `${pass.step}|${name}|${entry?.sha256 ?? next.size}`;
      const rows = new RowsReader(target, { ...(sets ? { sets } : {}), ...(bins ? { bins } : {}), ...(filter ? { digests: filter } : {}) }, rowsPool);
      if (journal.has(step)) {
        summary.resumedFiles++;
        summary.resumedRecords += entry?.records ?? 0;
        // A chain's newer links decide what older ones may write: their files are still
        // read (not written) so that the records they hold are known as seen.
        if (filter && entry) await pipeline(readDataFile({ store, prefix, entry, compress, signal, ...(crypto ? { crypto } : {}) }, rows), discard(), { signal });
        bytesRead += next.size;
        continue;
      }
      const file = entry ? readDataFile({ store, prefix, entry, compress, signal, ...(crypto ? { crypto } : {}) }, rows) : await readUnverified(store, name, compress, rows, signal);
      const writer = new BatchWriter(cluster, {
        policy: opts.mode ?? 'generation-greater',
        ...(opts.extraTtlSeconds !== undefined ? { extraTtlSeconds: opts.extraTtlSeconds } : {}),
        ...(opts.batchSize !== undefined ? { batchSize: opts.batchSize } : {}),
        // Chunks are blocks of rows (hundreds of records each).
        highWaterMark: 2,
        onResult,
      });
      await pipeline(file, new RowCounter(limiter, summary, counts), writer, { signal });
      await journal.finished(step);
      bytesRead += next.size;
    }
  }

  const progress = startProgress(
    new ProgressMeter('restore', summary.links ? undefined : source.manifest?.records),
    () => ({ records: summary.read, bytes: bytesRead }),
    deps.onProgress,
  );
  try {
    for await (const next of passes) {
      pass = next;
      queue = [...next.files];
      const workers = Math.max(1, Math.min(opts.parallel ?? 4, queue.length));
      const results = await Promise.allSettled(
        Array.from({ length: workers }, () =>
          worker().catch((err: unknown) => {
            if (!signal.aborted) controller.abort(err);
            throw err;
          }),
        ),
      );
      if (signal.aborted) throw abortReason(signal);
      for (const r of results) if (r.status === 'rejected') throw r.reason;
      if (next.filter && next.filter.deletedRecords.length > 0) await deleteInTarget(cluster, target, next.filter.deletedRecords, summary, signal);
      if (next.filter) {
        summary.superseded += next.filter.superseded;
        summary.deleted += next.filter.deleted;
        summary.read += next.filter.superseded + next.filter.deleted;
        if (next.counts) {
          next.counts.superseded += next.filter.superseded;
          next.counts.deleted += next.filter.deleted;
        }
      }
    }
  } finally {
    progress.stop();
    deps.signal?.removeEventListener('abort', stopOnOuterAbort);
  }
}

/** Deletes records from the target namespace by digest (restore --apply-deletes), counting what was there. */
async function deleteInTarget(cluster: Cluster, target: string, records: ReadonlyArray<{ set: string; digest: Buffer }>, summary: RestoreSummary, signal: AbortSignal): Promise<void> {
  let failure: WriteResult | undefined;
  const writer = new BatchWriter(cluster, {
    policy: 'delete',
    namespace: target,
    onResult: (r) => {
      if (r.outcome === 'written') summary.deletedInTarget++;
      else if (r.outcome === 'absent') summary.absentInTarget++;
      else failure ??= r;
    },
  });
  const rows = records.map((r): RawRecord => ({ namespace: target, set: r.set, digest: r.digest, generation: 0, voidTime: 0, bins: [] }));
  await pipeline(Readable.from(rows), writer, { signal });
  if (failure) throw new RecordWriteError(failure.record, failure.resultCode);
}

/**
 * Counts the records read and those the RowsReader left out, and applies the rate
 * limit: one object-mode Transform between a data file's rows and the BatchWriter.
 */
class RowCounter extends Transform {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly limiter: RateLimiter | undefined,
    /** Counts read and skippedByFilter. */
    private readonly summary: RestoreSummary,
    /** The link's count of records sent to be written, for a chain. */
    private readonly link?: LinkCounts,
  ) {
    super({ objectMode: true, highWaterMark: 2 });
  }

  override _transform(rows: WireRows, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.summary.read += rows.count + rows.skipped;
    this.summary.skippedByFilter += rows.skipped;
    if (this.link) this.link.restored += rows.count;
    if (rows.count === 0) {
      rows.release();
      return callback();
    }
    if (this.limiter) this.limit(this.limiter, rows, 0, callback);
    else callback(null, rows);
  }

  /** Passes rows [from, count) on as the rate limiter allows: each row takes a token, and the rows that got one go on while the next waits. */
  private limit(limiter: RateLimiter, rows: WireRows, from: number, callback: TransformCallback): void {
    for (let i = from; i < rows.count; i++) {
      const wait = limiter.take();
      if (wait <= 0) continue;
      if (i > from) this.push(rows.slice(from, i));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        if (!this.destroyed) this.limit(limiter, rows, i, callback);
      }, wait);
      return;
    }
    if (from === 0) return callback(null, rows);
    // The slices pushed hold the rows' buffers for the writer; this chunk's own hold goes.
    const rest = rows.slice(from, rows.count);
    rows.release();
    callback(null, rest);
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    callback(err);
  }
}
