/**
 * The backup job: one namespace (all sets or some) to a location, as data files plus a
 * metadata file (secondary indexes, UDFs) plus the manifest, written last.
 *
 *   connect ─> namespace exists? ─> destination usable and empty? ─> object counts (ETA)
 *     ─> indexes + UDFs ─> N groups of partitions, concurrently:
 *          ScanReader(group, batches) ─> DataFileSink(group)   (one stream.pipeline each)
 *     ─> manifest (lists every file with size, SHA-256, record count)
 *
 * All groups share one AbortController: the first failure (or Ctrl-C) aborts every
 * scan and every upload in progress, and no manifest is written, so the partial backup
 * is marked incomplete by construction (restore refuses it without --force).
 */
import { resolve } from 'node:path';
import { setMaxListeners } from 'node:events';
import { pipeline } from 'node:stream/promises';
import pkg from '../../package.json' with { type: 'json' };
import { Cluster, parseHosts, type ClusterOptions } from '../aerospike/cluster.js';
import { formatEndpoint } from '../aerospike/connection.js';
import { countObjects, listIndexes, readUdfs, type IndexDefinition, type UdfModule } from '../aerospike/metadata.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { metadataFilter } from '../aerospike/wire/exp.js';
import { PARTITION_COUNT } from '../aerospike/types.js';
import { RECORD_SCHEMA_VERSION } from '../avro/schemas.js';
import { AerobakError, InterruptedError, NamespaceNotFoundError, abortReason } from '../errors.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore, OpenIntent } from '../storage/types.js';
import { DataFileSink, type Compression, type DataFileEntry } from './data-files.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  writeManifest,
  writeMetadata,
  type BackupFilters,
  type ClusterInfo,
  type Manifest,
  type MetadataFileEntry,
} from './manifest.js';
import { ALL_PARTITIONS, formatRanges, partitionIds, planGroups, type PartitionRange } from './plan.js';
import { ProgressMeter, startProgress, type ProgressListener } from './progress.js';

export interface BackupOptions {
  cluster: ClusterOptions;
  namespace: string;
  /** Only these sets (default: the whole namespace). */
  sets?: string[];
  /** Only these bins of each record (default: all bins). */
  bins?: string[];
  /** Only these partitions (default: all 4096). */
  partitions?: PartitionRange[];
  /** Scans (groups of partitions) running at once; default 4. */
  parallel?: number;
  /** Roll data files over at about this many stored bytes. */
  fileSizeBytes?: number;
  compress?: Compression;
  compressLevel?: number;
  modifiedAfter?: Date;
  modifiedBefore?: Date;
  /** Only records that never expire. */
  noTtlOnly?: boolean;
  /** Overall scan rate limit, shared evenly by the groups. */
  recordsPerSecond?: number;
  /** Skip secondary index definitions. */
  noIndexes?: boolean;
  /** Skip UDF modules. */
  noUdfs?: boolean;
  /** Where to write; default a new directory ./aerobak-backups/<namespace>-<UTC time>. */
  to?: string;
}

export interface BackupDeps {
  /** Aborting stops the backup; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Notes for the person running the backup (destination, indexes found...). */
  note?: (message: string) => void;
  now?: () => Date;
  openStore?: (location: string, intent: OpenIntent) => Promise<ObjectStore>;
}

export interface BackupSummary {
  location: string;
  namespace: string;
  sets: string[];
  partitions: string;
  records: number;
  /** Bytes stored (compressed). */
  bytes: number;
  files: number;
  indexes: number;
  udfs: number;
  startedAt: string;
  durationMs: number;
}

export const DEFAULT_PARALLEL = 4;
export const BACKUPS_DIRECTORY = 'aerobak-backups';

/** "20260124T101500Z": sortable, and valid in paths and object keys on every platform. */
export function compactTimestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export function defaultBackupLocation(namespace: string, now: Date, cwd = process.cwd()): string {
  return resolve(cwd, BACKUPS_DIRECTORY, `${namespace}-${compactTimestamp(now)}`);
}

/**
 * A group's data files are `<namespace>_<group>_<seq>.avro[.gz]` (the sink adds the
 * sequence and extension): a backup without its manifest still says which namespace
 * its files hold and how they are compressed (restore --force, list).
 */
export function dataFileBaseName(namespace: string, group: number, groups: number): string {
  return `${namespace}_${String(group).padStart(Math.max(2, String(groups - 1).length), '0')}`;
}

export function parseDataFileName(name: string): { namespace: string; compress: Compression } | undefined {
  const m = /^([^/]+)_\d+_\d+\.avro(\.gz)?$/.exec(name);
  return m ? { namespace: m[1]!, compress: m[2] ? 'gzip' : 'none' } : undefined;
}

/** The destination already holds objects: a backup always gets a location of its own. */
export class DestinationNotEmptyError extends AerobakError {
  constructor(
    readonly location: string,
    example: string,
  ) {
    super('storage', 'DESTINATION_NOT_EMPTY', `${location} already holds files (for example ${example}); back up to a new, empty location`);
  }
}

export async function runBackup(opts: BackupOptions, deps: BackupDeps = {}): Promise<BackupSummary> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const note = deps.note ?? (() => undefined);
  const sets = opts.sets ?? [];
  const ranges = opts.partitions ?? ALL_PARTITIONS;
  deps.signal?.throwIfAborted();

  let store: ObjectStore | undefined;
  const cluster = await Cluster.connect(opts.cluster);
  try {
    const namespaces = cluster.namespaces();
    if (!namespaces.includes(opts.namespace)) throw new NamespaceNotFoundError(opts.namespace, namespaces);

    // The destination is checked before anything is read, so a typo in a bucket name
    // fails in a second, not after an hour of scanning.
    store = await (deps.openStore ?? openStore)(opts.to ?? defaultBackupLocation(opts.namespace, started), 'write');
    for await (const existing of store.list('', { signal: deps.signal })) {
      throw new DestinationNotEmptyError(store.location, existing.key);
    }
    note(`backing up namespace ${opts.namespace}${sets.length > 0 ? ` (sets ${sets.join(', ')})` : ''} to ${store.location}`);

    const ids = partitionIds(ranges);
    const objects = await countObjects(cluster, opts.namespace, sets);
    const estimate = Math.round((objects * ids.length) / PARTITION_COUNT);

    const indexes: IndexDefinition[] = opts.noIndexes
      ? []
      : (await listIndexes(cluster, opts.namespace)).filter((i) => sets.length === 0 || (i.set !== undefined && sets.includes(i.set)));
    const udfs: UdfModule[] = opts.noUdfs ? [] : await readUdfs(cluster);
    const metadata = opts.noIndexes && opts.noUdfs ? undefined : await writeMetadata(store, '', { indexes, udfs }, { signal: deps.signal });
    if (indexes.length + udfs.length > 0) note(`saved ${indexes.length} secondary index definition(s) and ${udfs.length} UDF module(s)`);
    const about = await cluster.info(['build', 'cluster-name']);

    const files = await scanGroups(cluster, store, opts, planGroups(ids, opts.parallel ?? DEFAULT_PARALLEL), estimate, deps);
    const manifest = buildManifest(opts, { started, finished: now(), about, files, metadata });
    await writeManifest(store, '', manifest, { signal: deps.signal });
    return {
      location: store.location,
      namespace: opts.namespace,
      sets,
      partitions: formatRanges(ranges),
      records: manifest.records,
      bytes: manifest.bytes,
      files: files.length,
      indexes: indexes.length,
      udfs: udfs.length,
      startedAt: manifest.startedAt,
      durationMs: now().getTime() - started.getTime(),
    };
  } catch (err) {
    const reason = deps.signal?.aborted ? abortReason(deps.signal) : err;
    if (reason instanceof InterruptedError) {
      throw new InterruptedError(
        store
          ? `${reason.message}: the backup at ${store.location} is incomplete (it has no manifest, so restore refuses it); delete it or back up again`
          : `${reason.message}: nothing was written`,
      );
    }
    throw reason;
  } finally {
    await cluster.close();
  }
}

function buildManifest(
  opts: BackupOptions,
  run: { started: Date; finished: Date; about: Map<string, string>; files: DataFileEntry[]; metadata: MetadataFileEntry | undefined },
): Manifest {
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
  return {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    tool: { name: 'aerobak', version: pkg.version },
    schemaVersion: RECORD_SCHEMA_VERSION,
    // Written right away: the manifest is created when the last file is stored.
    createdAt: run.finished.toISOString(),
    startedAt: run.started.toISOString(),
    finishedAt: run.finished.toISOString(),
    cluster,
    namespace: opts.namespace,
    filters,
    compression: opts.compress ?? 'gzip',
    records: run.files.reduce((n, f) => n + f.records, 0),
    bytes: run.files.reduce((n, f) => n + f.size, 0),
    files: run.files,
    ...(run.metadata ? { metadata: run.metadata } : {}),
  };
}

/**
 * Runs one ScanReader ─> DataFileSink pipeline per group, all at once, under one
 * AbortController; returns the data files of every group in group order.
 */
async function scanGroups(
  cluster: Cluster,
  store: ObjectStore,
  opts: BackupOptions,
  groups: number[][],
  estimate: number,
  deps: BackupDeps,
): Promise<DataFileEntry[]> {
  const controller = new AbortController();
  // Every stage of every group (scan, sink, each upload) listens to this one signal:
  // many listeners by design, bounded by the groups and their open files, not a leak.
  setMaxListeners(0, controller.signal);
  const stopOnOuterAbort = () => controller.abort(deps.signal!.reason);
  deps.signal?.throwIfAborted();
  deps.signal?.addEventListener('abort', stopOnOuterAbort, { once: true });
  const filter = metadataFilter({ modifiedAfter: opts.modifiedAfter, modifiedBefore: opts.modifiedBefore, noTtlOnly: opts.noTtlOnly });
  const perGroupRate = opts.recordsPerSecond === undefined ? undefined : Math.max(1, Math.floor(opts.recordsPerSecond / groups.length));

  const readers = groups.map(
    (ids) =>
      new ScanReader(cluster, {
        namespace: opts.namespace,
        ...(opts.sets && opts.sets.length > 0 ? { sets: opts.sets } : {}),
        ...(opts.bins && opts.bins.length > 0 ? { bins: opts.bins } : {}),
        partitions: ids.map((id) => ({ id })),
        // Frames straight to the encoder: no RawRecord per record.
        batches: true,
        ...(filter ? { filter } : {}),
        ...(perGroupRate !== undefined ? { recordsPerSecond: perGroupRate } : {}),
      }),
  );
  const sinks = groups.map(
    (ids, g) =>
      new DataFileSink({
        store,
        prefix: '',
        baseName: dataFileBaseName(opts.namespace, g, groups.length),
        compress: opts.compress ?? 'gzip',
        ...(opts.compressLevel !== undefined ? { compressLevel: opts.compressLevel } : {}),
        ...(opts.fileSizeBytes !== undefined ? { maxFileBytes: opts.fileSizeBytes } : {}),
        partitions: ids,
        signal: controller.signal,
        // Batches of up to a frame (~1 MiB) each: two queued are enough to keep it busy.
        highWaterMark: 2,
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
    return sinks.flatMap((s) => s.files());
  } finally {
    progress.stop();
    deps.signal?.removeEventListener('abort', stopOnOuterAbort);
  }
}
