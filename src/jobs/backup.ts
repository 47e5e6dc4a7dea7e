/**
 * The backup job: one namespace (all sets or some) to a location, as data files plus a
 * metadata file (secondary indexes, UDFs) plus the manifest, written last.
 *
 *   connect ─> plan (backup-plan.ts: destination usable and empty, or the interrupted
 *   backup's state; parent of an incremental; cluster clock, truncation thresholds;
 *   indexes + UDFs) ─> state saved ─> N groups of partitions, concurrently:
 *          ScanReader(group, batches) ─> DataFileSink(group)   (one stream.pipeline each;
 *          every sealed file updates the state: backup-state.ts)
 *     ─> [--track-deletes: a digest-only scan per group ─> live-digest lists]
 *     ─> manifest (lists every file with size, SHA-256, record count) ─> state removed
 *
 * All groups share one AbortController: the first failure (or Ctrl-C) aborts every
 * scan and every upload in progress, and no manifest is written, so the partial backup
 * is marked incomplete by construction (restore refuses it without --force), and
 * `--resume` finishes it from its state.
 */
import { setMaxListeners } from 'node:events';
import { pipeline } from 'node:stream/promises';
import pkg from '../../package.json' with { type: 'json' };
import { Cluster, parseHosts } from '../aerospike/cluster.js';
import { formatEndpoint } from '../aerospike/connection.js';
import { allBuildsAtLeast, countObjects } from '../aerospike/metadata.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { metadataFilter } from '../aerospike/wire/exp.js';
import { PARTITION_COUNT } from '../aerospike/types.js';
import { RECORD_SCHEMA_VERSION } from '../avro/schemas.js';
import { InterruptedError, NamespaceNotFoundError, UsageError, abortReason } from '../errors.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore } from '../storage/types.js';
import type { BackupDeps, BackupOptions, BackupSummary } from './backup-options.js';
import { freshPlan, resumableState, resumePlan, type Plan } from './backup-plan.js';
import { BACKUP_STATE_FILE, StateWriter } from './backup-state.js';
import { DEFAULT_COMPRESSION, codecOf, compressionOfExtension, levelProblem, requireCompression } from './compression.js';
import { DataFileSink, type Compression, type DataFileEntry } from './data-files.js';
import { checkIncrementalOptions } from './incremental.js';
import { writeLiveDigests } from './live-digests.js';
import { writeManifestMac, type FileCrypto } from '../crypto/backup-keys.js';
import {
  ENCRYPTION_SCHEME,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  requiredFeatures,
  writeManifest,
  type BackupFilters,
  type ClusterInfo,
  type Manifest,
  type MetadataFileEntry,
  type ParentRef,
} from './manifest.js';
import { formatRanges, partitionIds } from './plan.js';
import { ProgressMeter, startProgress } from './progress.js';
import type { DigestListEntry } from '../catalog/digest-list.js';

export type { BackupDeps, BackupOptions, BackupSummary } from './backup-options.js';
export { BACKUPS_DIRECTORY, DEFAULT_PARALLEL, DestinationNotEmptyError, compactTimestamp, defaultBackupLocation } from './backup-plan.js';

/** The oldest server whose scans take projection ops, and so can return the last-update time. */
const LAST_UPDATE_MIN_BUILD = '8.1.2.0';


/**
 * A group's data files are `<namespace>_<group>_<seq>.avro[.gz|.zst]` (the sink adds the
 * sequence and extension): a backup without its manifest still says which namespace
 * its files hold and how they are compressed (restore --force, list).
 */
export function dataFileBaseName(namespace: string, group: number, groups: number): string {
  return `${namespace}_${String(group).padStart(Math.max(2, String(groups - 1).length), '0')}`;
}

/** The namespace and compression a data file's name says, or undefined for a name that is not a data file's. */
export function parseDataFileName(name: string): { namespace: string; compress: Compression } | undefined {
  const m = /^([^/]+)_\d+_\d+(\.avro(?:\.[a-z]+)?)$/.exec(name);
  const compress = m ? compressionOfExtension(m[2]!) : undefined;
  return compress ? { namespace: m![1]!, compress } : undefined;
}

/**
 * Throws UsageError unless this runtime can write `compress` and `level` (when given) is
 * one of its levels: gzip 0-9, zstd 1-22, none takes none.
 */
export function checkCompressOptions(compress: Compression, level: number | undefined): void {
  requireCompression(compress, 'usage', `--compress ${compress}`);
  if (level === undefined) return;
  if (codecOf(compress).levels === undefined) throw new UsageError(`--compress-level applies to --compress gzip or zstd, not ${compress}`);
  const problem = levelProblem(compress, level);
  if (problem !== undefined) throw new UsageError(`--compress-level ${problem}`);
}

export async function runBackup(opts: BackupOptions, deps: BackupDeps = {}): Promise<BackupSummary> {
  // A shard of a sharded run is runShard's (shards.ts), which calls this for its attempt.
  if (opts.shard) throw new RangeError('runBackup was given a shard: run it with runShard');
  const now = deps.now ?? (() => new Date());
  const started = now();
  deps.signal?.throwIfAborted();
  const open = deps.openStore ?? openStore;
  if (opts.resume === undefined) checkOptions(opts);

  let store: ObjectStore | undefined;
  // A resumed backup connects to the hosts it was started with, unless told otherwise.
  const hostsFromState = opts.resume !== undefined && (opts.cluster.hosts === '' || (Array.isArray(opts.cluster.hosts) && opts.cluster.hosts.length === 0));
  const clusterOptions = hostsFromState ? { ...opts.cluster, hosts: (await resumableState(await open(opts.resume!, 'read'))).options.hosts } : opts.cluster;
  const cluster = await Cluster.connect(clusterOptions);
  try {
    const namespaces = cluster.namespaces();
    const plan = opts.resume !== undefined ? await resumePlan(opts, opts.resume, open, deps) : await freshPlan(cluster, opts, started, open, deps);
    store = plan.store;
    if (!namespaces.includes(plan.opts.namespace)) throw new NamespaceNotFoundError(plan.opts.namespace, namespaces);
    return await execute(cluster, plan, started, deps);
  } catch (err) {
    const reason = deps.signal?.aborted ? abortReason(deps.signal) : err;
    if (reason instanceof InterruptedError) {
      throw new InterruptedError(
        store
          ? `${reason.message}: the backup at ${store.location} is incomplete (it has no manifest, so restore refuses it); finish it with: aerobak backup --resume ${store.location}`
          : `${reason.message}: nothing was written`,
      );
    }
    throw reason;
  } finally {
    await cluster.close();
  }
}

/** Usage errors that need no I/O. */
function checkOptions(opts: BackupOptions): void {
  checkCompressOptions(opts.compress ?? DEFAULT_COMPRESSION, opts.compressLevel);
  const wantsIncremental = opts.incremental === true || opts.incrementalFrom !== undefined;
  if (opts.incremental && opts.incrementalFrom !== undefined) throw new UsageError('--incremental picks the parent itself; --incremental-from names it: give one of them');
  if (wantsIncremental) checkIncrementalOptions(opts);
  if (opts.trackDeletes && (opts.modifiedAfter || opts.modifiedBefore || opts.noTtlOnly || opts.partitions)) {
    throw new UsageError('--track-deletes records every live record of the namespace (or its sets): it does not combine with time, TTL or partition filters');
  }
}

/** Scans what the plan has left, stores the live digests, then the manifest; drops the state. */
async function execute(cluster: Cluster, plan: Plan, started: Date, deps: BackupDeps): Promise<BackupSummary> {
  const now = deps.now ?? (() => new Date());
  const { store, opts, state } = plan;
  const writer = new StateWriter(store, '', state, deps.signal);
  await writer.save();
  const objects = plan.objects ?? (await countObjects(cluster, opts.namespace, opts.sets ?? []));
  const ids = partitionIds(plan.ranges);
  const estimate = Math.round((objects * ids.length) / PARTITION_COUNT);
  const about = await cluster.info(['build', 'cluster-name']);
  // With a bin list the scan can carry each record's last-update time (server 8.1.2+);
  // for all bins it cannot (docs/data-plane.md, "Last-update time").
  const lastUpdate = (opts.bins?.length ?? 0) > 0 && (await allBuildsAtLeast(cluster, LAST_UPDATE_MIN_BUILD));
  const scanned = await scanGroups(cluster, store, plan.since ? { ...opts, modifiedAfter: plan.since } : opts, writer, estimate, lastUpdate, deps, plan.crypto);
  if (opts.trackDeletes) await scanLiveDigests(cluster, store, opts, writer, objects, deps, plan.crypto);
  const files = state.groups.flatMap((g) => g.files);
  const liveDigests = opts.trackDeletes ? state.groups.map((g) => g.liveDigests!) : undefined;
  const manifest = buildManifest(opts, {
    started: new Date(state.startedAt),
    finished: now(),
    about,
    files,
    metadata: state.metadata,
    clusterTime: state.clusterTime ? new Date(state.clusterTime) : undefined,
    thresholds: state.truncateThresholds,
    parentRef: state.parent?.ref,
    since: plan.since,
    liveDigests,
    segmentBytes: plan.crypto?.segmentBytes,
  });
  const crypto = plan.crypto;
  await writeManifest(store, '', manifest, {
    ...(deps.signal ? { signal: deps.signal } : {}),
    ...(opts.shardManifest ? { name: opts.shardManifest.name } : {}),
    ...(crypto ? { beforeCommit: (sha256: string) => writeManifestMac(store, '', crypto, sha256, deps.signal) } : {}),
  });
  await store.delete(BACKUP_STATE_FILE);
  return {
    location: store.location,
    kind: plan.parentLocation !== undefined ? 'incremental' : 'full',
    ...(plan.parentLocation !== undefined ? { parent: plan.parentLocation } : {}),
    ...(liveDigests ? { liveDigests: liveDigests.reduce((n, l) => n + l.digests, 0) } : {}),
    namespace: opts.namespace,
    sets: opts.sets ?? [],
    partitions: formatRanges(plan.ranges),
    records: manifest.records,
    recordsScanned: scanned,
    bytes: manifest.bytes,
    files: files.length,
    indexes: plan.indexes,
    udfs: plan.udfs,
    startedAt: manifest.startedAt,
    ...(opts.resume !== undefined ? { resumed: true } : {}),
    durationMs: now().getTime() - started.getTime(),
  };
}

/** With trackDeletes: a digest-only scan of each group after its data, one live-digest list per group. */
async function scanLiveDigests(cluster: Cluster, store: ObjectStore, opts: BackupOptions, state: StateWriter, objects: number, deps: BackupDeps, crypto: FileCrypto | undefined): Promise<void> {
  const sets = opts.sets && opts.sets.length > 0 ? opts.sets : undefined;
  const groups = state.state.groups;
  deps.note?.('recording the digests of every live record (--track-deletes)');
  for (let g = 0; g < groups.length; g++) {
    if (groups[g]!.liveDigests) continue;
    groups[g]!.liveDigests = await writeLiveDigests(cluster, store, '', {
      namespace: opts.namespace,
      ...(sets ? { sets } : {}),
      partitions: groups[g]!.partitions,
      baseName: dataFileBaseName(opts.namespace, g, groups.length),
      perPartition: objects / PARTITION_COUNT,
      ...(deps.signal ? { signal: deps.signal } : {}),
      ...(crypto ? { crypto } : {}),
    });
    await state.save();
  }
}

interface BackupRun {
  started: Date;
  finished: Date;
  about: Map<string, string>;
  files: DataFileEntry[];
  metadata: MetadataFileEntry | undefined;
  clusterTime: Date | undefined;
  thresholds: Record<string, number>;
  parentRef: ParentRef | undefined;
  since: Date | undefined;
  liveDigests: DigestListEntry[] | undefined;
  /** For an encrypted backup: its segment size. */
  segmentBytes: number | undefined;
}

function buildManifest(opts: BackupOptions, run: BackupRun): Manifest {
  const filters: BackupFilters = {};
  if (opts.sets && opts.sets.length > 0) filters.sets = opts.sets;
  if (opts.bins && opts.bins.length > 0) filters.bins = opts.bins;
  if (opts.modifiedAfter) filters.modifiedAfter = opts.modifiedAfter.toISOString();
  if (opts.modifiedBefore) filters.modifiedBefore = opts.modifiedBefore.toISOString();
  if (opts.noTtlOnly) filters.noTtlOnly = true;
  if (opts.partitions) filters.partitions = opts.partitions.map((r) => ({ first: r.first, last: r.last }));
  const cluster: ClusterInfo = { hosts: parseHosts(opts.cluster.hosts).map(formatEndpoint) };
  const build = run.about.get('build');
  const clusterName = run.about.get('cluster-name');
  if (build) cluster.build = build;
  // A cluster without a name answers "null".
  if (clusterName && clusterName !== 'null') cluster.clusterName = clusterName;
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    // Always version 2, with `requires` filled in below ([] when nothing needs a newer reader).
    requires: [],
    tool: { name: 'aerobak', version: pkg.version },
    schemaVersion: RECORD_SCHEMA_VERSION,
    // Written right away: the manifest is created when the last file is stored.
    createdAt: run.finished.toISOString(),
    startedAt: run.started.toISOString(),
    finishedAt: run.finished.toISOString(),
    cluster,
    namespace: opts.namespace,
    filters,
    compression: opts.compress ?? DEFAULT_COMPRESSION,
    records: run.files.reduce((n, f) => n + f.records, 0),
    bytes: run.files.reduce((n, f) => n + f.size, 0),
    files: run.files,
    ...(run.metadata ? { metadata: run.metadata } : {}),
    kind: run.parentRef ? 'incremental' : 'full',
    ...(run.parentRef ? { parent: run.parentRef, since: run.since!.toISOString() } : {}),
    ...(run.clusterTime ? { clusterTime: run.clusterTime.toISOString() } : {}),
    truncateThresholds: run.thresholds,
    ...(run.liveDigests ? { liveDigests: run.liveDigests } : {}),
    ...(run.segmentBytes !== undefined ? { encryption: { scheme: ENCRYPTION_SCHEME, segmentBytes: run.segmentBytes } } : {}),
    ...(opts.shardManifest ? { shard: opts.shardManifest.shard } : {}),
  };
  manifest.requires = requiredFeatures(manifest);
  return manifest;
}

/**
 * Runs one ScanReader ─> DataFileSink pipeline per group, all at once, under one
 * AbortController; returns the data files of every group in group order.
 */
async function scanGroups(
  cluster: Cluster,
  store: ObjectStore,
  opts: BackupOptions,
  state: StateWriter,
  estimate: number,
  lastUpdate: boolean,
  deps: BackupDeps,
  crypto: FileCrypto | undefined,
): Promise<number> {
  const all = state.state.groups;
  const pending = all.map((g, i) => ({ g, i })).filter(({ g }) => !g.complete);
  const controller = new AbortController();
  // Every stage of every group (scan, sink, each upload) listens to this one signal:
  // many listeners by design, bounded by the groups and their open files, not a leak.
  setMaxListeners(0, controller.signal);
  const stopOnOuterAbort = () => controller.abort(deps.signal!.reason);
  deps.signal?.throwIfAborted();
  deps.signal?.addEventListener('abort', stopOnOuterAbort, { once: true });
  const filter = metadataFilter({ modifiedAfter: opts.modifiedAfter, modifiedBefore: opts.modifiedBefore, noTtlOnly: opts.noTtlOnly });
  const perGroupRate = opts.recordsPerSecond === undefined ? undefined : Math.max(1, Math.floor(opts.recordsPerSecond / Math.max(1, pending.length)));

  const readers = pending.map(
    ({ g }) =>
      new ScanReader(cluster, {
        namespace: opts.namespace,
        ...(opts.sets && opts.sets.length > 0 ? { sets: opts.sets } : {}),
        ...(opts.bins && opts.bins.length > 0 ? { bins: opts.bins } : {}),
        ...(lastUpdate ? { lastUpdate: true } : {}),
        // A resumed group continues strictly after the last record of each partition in a sealed file.
        partitions: g.partitions.map((id) => {
          const last = g.last[String(id)];
          return last ? { id, lastDigest: Buffer.from(last, 'hex') } : { id };
        }),
        // Frames straight to the encoder: no RawRecord per record.
        batches: true,
        ...(filter ? { filter } : {}),
        ...(perGroupRate !== undefined ? { recordsPerSecond: perGroupRate } : {}),
      }),
  );
  const sinks = pending.map(
    ({ g, i }) =>
      new DataFileSink({
        store,
        prefix: '',
        baseName: dataFileBaseName(opts.namespace, i, all.length),
        firstSeq: g.files.length,
        onSealed: (entry, last) => state.sealed(i, entry, last),
        compress: opts.compress ?? DEFAULT_COMPRESSION,
        ...(opts.compressLevel !== undefined ? { compressLevel: opts.compressLevel } : {}),
        ...(opts.fileSizeBytes !== undefined ? { maxFileBytes: opts.fileSizeBytes } : {}),
        partitions: g.partitions,
        signal: controller.signal,
        // Batches of up to a frame (~1 MiB) each: two queued are enough to keep it busy.
        highWaterMark: 2,
        ...(crypto ? { crypto } : {}),
      }),
  );
  const progress = startProgress(
    new ProgressMeter('backup', estimate),
    () => ({
      records: readers.reduce((n, r) => n + r.stats.records, 0),
      bytes: readers.reduce((n, r) => n + r.stats.bytes, 0),
    }),
    deps.onProgress,
  );
  try {
    const results = await Promise.allSettled(
      readers.map((reader, g) =>
        pipeline(reader, sinks[g]!, { signal: controller.signal }).catch((err: unknown) => {
          // The first failure stops every other group; later ones are its echoes.
          if (!controller.signal.aborted) controller.abort(err);
          throw err;
        }),
      ),
    );
    if (controller.signal.aborted) throw abortReason(controller.signal);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
    for (const { g } of pending) g.complete = true;
    await state.save();
    return readers.reduce((n, r) => n + r.stats.records, 0);
  } finally {
    progress.stop();
    deps.signal?.removeEventListener('abort', stopOnOuterAbort);
  }
}
