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
import { clusterClock, countObjects, listIndexes, readUdfs, truncateThresholds, type IndexDefinition, type UdfModule } from '../aerospike/metadata.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { metadataFilter } from '../aerospike/wire/exp.js';
import { PARTITION_COUNT } from '../aerospike/types.js';
import { RECORD_SCHEMA_VERSION } from '../avro/schemas.js';
import { AerobakError, InterruptedError, NamespaceNotFoundError, UsageError, abortReason } from '../errors.js';
import type { DigestListEntry } from '../catalog/digest-list.js';
import { ensureRepository, findRepository, joinLocation, type RepositoryPath } from '../catalog/repository.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore, OpenIntent } from '../storage/types.js';
import { DEFAULT_COMPRESSION, codecOf, compressionOfExtension, levelProblem, requireCompression } from './compression.js';
import { DataFileSink, type Compression, type DataFileEntry } from './data-files.js';
import { IncrementalError, checkIncrementalOptions, incrementalSince, namedParent, newestParent, truncatedSince, type Parent } from './incremental.js';
import { writeLiveDigests } from './live-digests.js';
import {
  BACKUP_STATE_FILE,
  BACKUP_STATE_FORMAT,
  BACKUP_STATE_VERSION,
  ResumeError,
  StateWriter,
  checkResumeOptions,
  readBackupState,
  type BackupState,
  type SavedOptions,
} from './backup-state.js';
import {
  MANIFEST_FILE,
  MANIFEST_FORMAT,
  MANIFEST_FORMAT_VERSION,
  requiredFeatures,
  writeManifest,
  writeMetadata,
  type BackupFilters,
  type BackupKind,
  type ClusterInfo,
  type Manifest,
  type ParentRef,
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
  /**
   * Where to write; default a new directory ./aerobak-backups/<namespace>-<UTC time>, or
   * <repo>/<namespace>-<UTC time> with `repo`.
   */
  to?: string;
  /** A repository (created on first use) that the backup goes into, and where `incremental` looks for its parent. */
  repo?: string;
  /** An incremental of the newest complete backup of the same namespace, sets and bins in the repository (a full if there is none). */
  incremental?: boolean;
  /** An incremental of the backup at this location. */
  incrementalFrom?: string;
  /** With `incremental`: take a full backup when a truncate since the parent makes an incremental impossible, instead of failing. */
  fullIfTruncated?: boolean;
  /** Also store the digests of every live record, so that restoring a chain leaves deleted records out. */
  trackDeletes?: boolean;
  /**
   * Finish the interrupted backup at this location, from its state: the options come from
   * the state, and those in `resumeGiven` (what the person typed again) must agree. With
   * `cluster.hosts` empty, the saved seed hosts are used.
   */
  resume?: string;
  resumeGiven?: Partial<SavedOptions>;
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
  kind: BackupKind;
  /** For an incremental: its parent's location. */
  parent?: string;
  /** With trackDeletes: the live records whose digests were stored. */
  liveDigests?: number;
  namespace: string;
  sets: string[];
  partitions: string;
  records: number;
  /** Records read by this run's scans (fewer than `records` for a resumed backup). */
  recordsScanned: number;
  /** The run finished an interrupted backup. */
  resumed?: boolean;
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

/** Everything a run needs to scan and write, for a new backup or one being resumed. */
interface Plan {
  store: ObjectStore;
  /** The options in force (a resumed run's come from its state). */
  opts: BackupOptions;
  state: BackupState;
  parent: Parent | undefined;
  since: Date | undefined;
  /** Index definitions and UDF modules saved (for the summary). */
  indexes: number;
  udfs: number;
  /** Records of the namespace (or sets) by the cluster's counts, for the ETA and the digest chunks. */
  objects: number;
  ranges: readonly PartitionRange[];
}

async function freshPlan(cluster: Cluster, opts: BackupOptions, started: Date, open: Open, deps: BackupDeps): Promise<Plan> {
  const note = deps.note ?? (() => undefined);
  const sets = opts.sets ?? [];
  const ranges = opts.partitions ?? ALL_PARTITIONS;
  const namespaces = cluster.namespaces();
  if (!namespaces.includes(opts.namespace)) throw new NamespaceNotFoundError(opts.namespace, namespaces);

  // The destination is checked before anything is read, so a typo in a bucket name
  // fails in a second, not after an hour of scanning.
  const { location, repo } = await destination(opts, started, open, deps.signal);
  if (opts.incremental && !repo) {
    throw new UsageError(`--incremental looks for its parent in a repository: give --repo, or a --to inside one (${location} is in none), or name the parent with --incremental-from`);
  }
  const store = await open(location, 'write');
  for await (const existing of store.list('', { signal: deps.signal })) {
    throw new DestinationNotEmptyError(store.location, existing.key);
  }

  // The cluster's clock and truncation thresholds before the scan starts: what an
  // incremental of this backup starts from, and checks truncates against.
  const clusterTime = await clusterClock(cluster, opts.namespace);
  const thresholds = await truncateThresholds(cluster, opts.namespace);
  const parent = await chooseParent(opts, repo, thresholds, open, deps);
  if (!clusterTime) note('the cluster does not report its clock (current_time): incrementals of this backup cannot be made');
  const since = parent ? incrementalSince(parent) : undefined;
  note(
    `backing up namespace ${opts.namespace}${sets.length > 0 ? ` (sets ${sets.join(', ')})` : ''} to ${store.location}` +
      (parent ? ` as an incremental of ${parent.location} (records updated since ${since!.toISOString()})` : ''),
  );

  const ids = partitionIds(ranges);
  const objects = await countObjects(cluster, opts.namespace, sets);
  const indexes: IndexDefinition[] = opts.noIndexes
    ? []
    : (await listIndexes(cluster, opts.namespace)).filter((i) => sets.length === 0 || (i.set !== undefined && sets.includes(i.set)));
  const udfs: UdfModule[] = opts.noUdfs ? [] : await readUdfs(cluster);
  const metadata = opts.noIndexes && opts.noUdfs ? undefined : await writeMetadata(store, '', { indexes, udfs }, { signal: deps.signal });
  if (indexes.length + udfs.length > 0) note(`saved ${indexes.length} secondary index definition(s) and ${udfs.length} UDF module(s)`);

  const state: BackupState = {
    format: BACKUP_STATE_FORMAT,
    formatVersion: BACKUP_STATE_VERSION,
    startedAt: started.toISOString(),
    options: savedOptions(opts),
    ...(clusterTime ? { clusterTime: clusterTime.toISOString() } : {}),
    truncateThresholds: thresholds,
    ...(parent ? { parent: { ref: parent.ref, location: parent.location, since: since!.toISOString() } } : {}),
    ...(metadata ? { metadata } : {}),
    groups: planGroups(ids, opts.parallel ?? DEFAULT_PARALLEL).map((partitions) => ({ partitions, files: [], last: {}, complete: false })),
  };
  if (opts.partitions) state.options.partitions = opts.partitions.map((r) => ({ first: r.first, last: r.last }));
  return { store, opts, state, parent, since, indexes: indexes.length, udfs: udfs.length, objects, ranges };
}

/** The parent of an incremental, checked against truncates since it; undefined for a full. */
async function chooseParent(opts: BackupOptions, repo: RepositoryPath | undefined, thresholds: Record<string, number>, open: Open, deps: BackupDeps): Promise<Parent | undefined> {
  const note = deps.note ?? (() => undefined);
  const sets = opts.sets ?? [];
  const scope = { namespace: opts.namespace, sets, bins: opts.bins ?? [] };
  let parent: Parent | undefined;
  if (opts.incrementalFrom !== undefined) parent = await namedParent(opts.incrementalFrom, scope, repo, open);
  else if (opts.incremental && repo) {
    parent = await newestParent(repo, await backupPrefixes(repo.store, deps.signal), scope);
    if (!parent) note(`no complete backup of namespace ${opts.namespace} with the same sets and bins in ${repo.root}: taking a full backup`);
  }
  if (!parent) return undefined;
  const truncated = truncatedSince(parent, thresholds, sets);
  if (truncated.length === 0) return parent;
  const what = truncated.map((t) => (t === '' ? `namespace ${opts.namespace}` : `set ${t}`)).join(', ');
  if (!opts.fullIfTruncated || opts.incrementalFrom !== undefined) {
    throw new IncrementalError(
      'TRUNCATED_SINCE_PARENT',
      `${what} was truncated since the parent ${parent.location}: an incremental cannot express a truncate (its records would come back on restore); take a full backup${opts.incremental ? ', or add --full-if-truncated' : ''}`,
    );
  }
  note(`${what} was truncated since ${parent.location}: taking a full backup instead of an incremental (--full-if-truncated)`);
  return undefined;
}

function savedOptions(opts: BackupOptions): SavedOptions {
  return {
    namespace: opts.namespace,
    sets: opts.sets ?? [],
    bins: opts.bins ?? [],
    parallel: opts.parallel ?? DEFAULT_PARALLEL,
    ...(opts.fileSizeBytes !== undefined ? { fileSizeBytes: opts.fileSizeBytes } : {}),
    compress: opts.compress ?? DEFAULT_COMPRESSION,
    ...(opts.compressLevel !== undefined ? { compressLevel: opts.compressLevel } : {}),
    noIndexes: opts.noIndexes === true,
    noUdfs: opts.noUdfs === true,
    trackDeletes: opts.trackDeletes === true,
    ...(opts.recordsPerSecond !== undefined ? { recordsPerSecond: opts.recordsPerSecond } : {}),
    ...(opts.modifiedAfter ? { modifiedAfter: opts.modifiedAfter.toISOString() } : {}),
    ...(opts.modifiedBefore ? { modifiedBefore: opts.modifiedBefore.toISOString() } : {}),
    ...(opts.noTtlOnly ? { noTtlOnly: true } : {}),
    hosts: parseHosts(opts.cluster.hosts).map(formatEndpoint).join(','),
  };
}

/** The saved state of the interrupted backup at the store's root; a complete backup has none to resume. */
async function resumableState(store: ObjectStore): Promise<BackupState> {
  if ((await store.stat(MANIFEST_FILE)) !== null) {
    throw new ResumeError('RESUME_ALREADY_COMPLETE', `the backup at ${store.location} is complete (it has its ${MANIFEST_FILE}): there is nothing to resume`);
  }
  return readBackupState(store, '');
}

/**
 * The plan of a backup resumed from its state: the saved options (given ones must
 * agree), and the destination cleaned of everything the state does not list.
 */
async function resumePlan(given: BackupOptions, location: string, open: Open, deps: BackupDeps): Promise<Plan> {
  const store = await open(location, 'write');
  const state = await resumableState(store);
  const saved = state.options;
  checkResumeOptions(saved, given.resumeGiven ?? {});
  // Before anything is deleted: the rest of the backup needs the compression it was started with.
  requireCompression(saved.compress, 'failed', `resuming the backup at ${store.location}`);
  const opts: BackupOptions = {
    ...given,
    namespace: saved.namespace,
    sets: saved.sets,
    bins: saved.bins,
    parallel: saved.parallel,
    compress: saved.compress,
    noIndexes: saved.noIndexes,
    noUdfs: saved.noUdfs,
    trackDeletes: saved.trackDeletes,
    ...(saved.fileSizeBytes !== undefined ? { fileSizeBytes: saved.fileSizeBytes } : {}),
    ...(saved.compressLevel !== undefined ? { compressLevel: saved.compressLevel } : {}),
    ...(saved.recordsPerSecond !== undefined && given.recordsPerSecond === undefined ? { recordsPerSecond: saved.recordsPerSecond } : {}),
    ...(saved.modifiedAfter ? { modifiedAfter: new Date(saved.modifiedAfter) } : {}),
    ...(saved.modifiedBefore ? { modifiedBefore: new Date(saved.modifiedBefore) } : {}),
    ...(saved.noTtlOnly ? { noTtlOnly: true } : {}),
    ...(saved.partitions ? { partitions: saved.partitions } : {}),
  };
  // Everything not listed in the state is the unfinished work of the killed run.
  const keep = new Set<string>([BACKUP_STATE_FILE]);
  if (state.metadata) keep.add(state.metadata.name);
  for (const g of state.groups) {
    for (const f of g.files) keep.add(f.name);
    if (g.liveDigests) keep.add(g.liveDigests.name);
  }
  const stale: string[] = [];
  for await (const o of store.list('', { signal: deps.signal })) if (!keep.has(o.key)) stale.push(o.key);
  for (const key of stale) await store.delete(key);
  const abandoned = await store.removeUnfinished('');
  const sealed = state.groups.reduce((n, g) => n + g.files.length, 0);
  deps.note?.(
    `resuming the backup at ${store.location}: keeping ${sealed} sealed data file(s), removed ${stale.length} unfinished object(s)` +
      `${abandoned > 0 ? ` and aborted ${abandoned} unfinished upload(s)` : ''}`,
  );
  const parent: Parent | undefined = state.parent ? { location: state.parent.location, ref: state.parent.ref, manifest: undefined as unknown as Manifest } : undefined;
  const objects = state.groups.reduce((n, g) => n + g.files.reduce((m, f) => m + f.records, 0), 0);
  return {
    store,
    opts,
    state,
    parent,
    since: state.parent ? new Date(state.parent.since) : undefined,
    indexes: state.metadata?.indexes ?? 0,
    udfs: state.metadata?.udfs ?? 0,
    objects,
    ranges: opts.partitions ?? ALL_PARTITIONS,
  };
}

/** Scans what the plan has left, stores the live digests, then the manifest; drops the state. */
async function execute(cluster: Cluster, plan: Plan, started: Date, deps: BackupDeps): Promise<BackupSummary> {
  const now = deps.now ?? (() => new Date());
  const { store, opts, state } = plan;
  const writer = new StateWriter(store, '', state, deps.signal);
  await writer.save();
  const objects = plan.objects > 0 ? plan.objects : await countObjects(cluster, opts.namespace, opts.sets ?? []);
  const ids = partitionIds(plan.ranges);
  const estimate = Math.round((objects * ids.length) / PARTITION_COUNT);
  const about = await cluster.info(['build', 'cluster-name']);
  const scanned = await scanGroups(cluster, store, plan.since ? { ...opts, modifiedAfter: plan.since } : opts, writer, estimate, deps);
  if (opts.trackDeletes) await scanLiveDigests(cluster, store, opts, writer, objects, deps);
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
  });
  await writeManifest(store, '', manifest, { signal: deps.signal });
  await store.delete(BACKUP_STATE_FILE);
  return {
    location: store.location,
    kind: plan.parent ? 'incremental' : 'full',
    ...(plan.parent ? { parent: plan.parent.location } : {}),
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

type Open = (location: string, intent: OpenIntent) => Promise<ObjectStore>;

/** The backup's location, and the repository it is in (made one first, for `repo`). */
async function destination(
  opts: BackupOptions,
  started: Date,
  open: (location: string, intent: OpenIntent) => Promise<ObjectStore>,
  signal: AbortSignal | undefined,
): Promise<{ location: string; repo: RepositoryPath | undefined }> {
  let location = opts.to ?? defaultBackupLocation(opts.namespace, started);
  if (opts.repo !== undefined) {
    const root = await open(opts.repo, 'write');
    await ensureRepository(root, started, signal);
    if (opts.to === undefined) location = joinLocation(opts.repo, await freeName(root, `${opts.namespace}-${compactTimestamp(started)}`, signal));
  }
  const repo = await findRepository(location, open);
  if (opts.repo !== undefined && (repo === undefined || repo.prefix === '')) {
    throw new UsageError(`--to ${location} is not inside the repository ${opts.repo}: leave --to out, or give a location under it`);
  }
  return { location, repo };
}

/** `name`, or `name-2`, `name-3`... : the first that nothing in the store is stored under (two backups in one second). */
async function freeName(store: ObjectStore, name: string, signal: AbortSignal | undefined): Promise<string> {
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? name : `${name}-${n}`;
    let used = false;
    for await (const _ of store.list(`${candidate}/`, { signal })) {
      used = true;
      break;
    }
    if (!used) return candidate;
  }
}

/** The prefixes of the backups in a repository (each folder that holds a manifest), from one listing. */
async function backupPrefixes(store: ObjectStore, signal: AbortSignal | undefined): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('', { signal })) {
    if (o.key === MANIFEST_FILE) continue;
    if (o.key.endsWith(`/${MANIFEST_FILE}`)) out.push(o.key.slice(0, -MANIFEST_FILE.length - 1));
  }
  return out;
}

/** With trackDeletes: a digest-only scan of each group after its data, one live-digest list per group. */
async function scanLiveDigests(cluster: Cluster, store: ObjectStore, opts: BackupOptions, state: StateWriter, objects: number, deps: BackupDeps): Promise<void> {
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
  };
  manifest.requires = requiredFeatures(manifest);
  return manifest;
}

/**
 * Runs one ScanReader ─> DataFileSink pipeline per group, all at once, under one
 * AbortController; returns the data files of every group in group order.
 */
async function scanGroups(cluster: Cluster, store: ObjectStore, opts: BackupOptions, state: StateWriter, estimate: number, deps: BackupDeps): Promise<number> {
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
