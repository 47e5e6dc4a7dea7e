/**
 * What a backup run is to do, before it scans: its destination (a new location, one in a
 * repository, or the interrupted backup being resumed), its options, its parent when it
 * is an incremental, the cluster clock and truncation thresholds it starts from, and the
 * state it persists as it goes (backup-state.ts). backup.ts then executes the plan.
 */
import { resolve } from 'node:path';
import { parseHosts } from '../aerospike/cluster.js';
import type { Cluster } from '../aerospike/cluster.js';
import { formatEndpoint } from '../aerospike/connection.js';
import { clusterClock, countObjects, listIndexes, readUdfs, truncateThresholds, type IndexDefinition, type UdfModule } from '../aerospike/metadata.js';
import { AerobakError, NamespaceNotFoundError, UsageError } from '../errors.js';
import { ensureRepository, findRepository, joinLocation, type RepositoryPath } from '../catalog/repository.js';
import { firstKey } from '../storage/small-objects.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import type { BackupDeps, BackupOptions } from './backup-options.js';
import { DEFAULT_COMPRESSION, requireCompression } from './compression.js';
import { IncrementalError, incrementalSince, namedParent, newestParent, truncatedSince, type Parent } from './incremental.js';
import {
  BACKUP_STATE_FILE,
  BACKUP_STATE_FORMAT,
  BACKUP_STATE_VERSION,
  ResumeError,
  checkResumeOptions,
  readBackupState,
  type BackupState,
  type SavedOptions,
} from './backup-state.js';
import { MANIFEST_FILE, writeMetadata } from './manifest.js';
import { createBackupKey, fileCrypto, unwrapDataKey, type FileCrypto } from '../crypto/backup-keys.js';
import { KEYS_DIRECTORY } from '../crypto/keys.js';
import { ALL_PARTITIONS, partitionIds, planGroups, type PartitionRange } from './plan.js';

export const DEFAULT_PARALLEL = 4;
export const BACKUPS_DIRECTORY = 'aerobak-backups';

/** "20260124T101500Z": sortable, and valid in paths and object keys on every platform. */
export function compactTimestamp(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export function defaultBackupLocation(namespace: string, now: Date, cwd = process.cwd()): string {
  return resolve(cwd, BACKUPS_DIRECTORY, `${namespace}-${compactTimestamp(now)}`);
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

/** Everything a run needs to scan and write, for a new backup or one being resumed. */
export interface Plan {
  store: ObjectStore;
  /** The options in force (a resumed run's come from its state). */
  opts: BackupOptions;
  state: BackupState;
  /** For an incremental: where its parent is (for messages; the manifest's reference is in the state). */
  parentLocation: string | undefined;
  since: Date | undefined;
  /** Index definitions and UDF modules saved (for the summary). */
  indexes: number;
  udfs: number;
  /**
   * Records of the namespace (or sets) by the cluster's counts, for the ETA and the
   * digest chunks; counted before the first write of a new backup (setup, not data
   * phase), and left to execute() for a resumed one.
   */
  objects: number | undefined;
  ranges: readonly PartitionRange[];
  /** For an encrypted backup: what its files are encrypted with. */
  crypto: FileCrypto | undefined;
}

export async function freshPlan(cluster: Cluster, opts: BackupOptions, started: Date, open: StoreOpener, deps: BackupDeps): Promise<Plan> {
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
  const existing = await firstKey(store, '', { signal: deps.signal });
  if (existing !== undefined) throw new DestinationNotEmptyError(store.location, existing);
  // The data key first (one KMS call): nothing is stored unencrypted.
  const crypto = opts.encrypt ? await createBackupKey(store, '', opts.encrypt, deps.signal) : undefined;

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
  const metadata = opts.noIndexes && opts.noUdfs ? undefined : await writeMetadata(store, '', { indexes, udfs }, { signal: deps.signal, ...(crypto ? { crypto } : {}) });
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
  if (crypto) state.options.encrypted = true;
  return { store, opts, state, parentLocation: parent?.location, since, indexes: indexes.length, udfs: udfs.length, objects, ranges, crypto };
}

/** The parent of an incremental, checked against truncates since it; undefined for a full. */
async function chooseParent(opts: BackupOptions, repo: RepositoryPath | undefined, thresholds: Record<string, number>, open: StoreOpener, deps: BackupDeps): Promise<Parent | undefined> {
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
export async function resumableState(store: ObjectStore): Promise<BackupState> {
  if ((await store.stat(MANIFEST_FILE)) !== null) {
    throw new ResumeError('RESUME_ALREADY_COMPLETE', `the backup at ${store.location} is complete (it has its ${MANIFEST_FILE}): there is nothing to resume`);
  }
  return readBackupState(store, '');
}

/**
 * The plan of a backup resumed from its state: the saved options (given ones must
 * agree), and the destination cleaned of everything the state does not list.
 */
export async function resumePlan(given: BackupOptions, location: string, open: StoreOpener, deps: BackupDeps): Promise<Plan> {
  const store = await open(location, 'write');
  const state = await resumableState(store);
  const saved = state.options;
  checkResumeOptions(saved, given.resumeGiven ?? {});
  // Before anything is deleted: the rest of the backup needs the compression it was started with, and its key.
  requireCompression(saved.compress, 'failed', `resuming the backup at ${store.location}`);
  if (saved.encrypted && !given.encrypt) throw new UsageError(`the backup at ${store.location} is encrypted: give its key again to resume it (--key-file, --key-env, --passphrase-file or --kms)`);
  if (!saved.encrypted && given.encrypt) throw new UsageError(`the backup at ${store.location} was started unencrypted: resume it without a key`);
  const crypto = given.encrypt ? fileCrypto(await unwrapDataKey(store, '', given.encrypt, store.location)) : undefined;
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
  // The key objects of an encrypted backup stay too.
  const isKey = (key: string) => key.startsWith(`${KEYS_DIRECTORY}/`);
  if (state.metadata) keep.add(state.metadata.name);
  for (const g of state.groups) {
    for (const f of g.files) keep.add(f.name);
    if (g.liveDigests) keep.add(g.liveDigests.name);
  }
  const stale: string[] = [];
  for await (const o of store.list('', { signal: deps.signal })) if (!keep.has(o.key) && !isKey(o.key)) stale.push(o.key);
  if (store.capabilities.batchDelete) await store.deleteMany(stale);
  else for (const key of stale) await store.delete(key);
  const abandoned = await store.removeUnfinished('');
  const sealed = state.groups.reduce((n, g) => n + g.files.length, 0);
  deps.note?.(
    `resuming the backup at ${store.location}: keeping ${sealed} sealed data file(s), removed ${stale.length} unfinished object(s)` +
      `${abandoned > 0 ? ` and aborted ${abandoned} unfinished upload(s)` : ''}`,
  );
  return {
    store,
    opts,
    state,
    parentLocation: state.parent?.location,
    since: state.parent ? new Date(state.parent.since) : undefined,
    indexes: state.metadata?.indexes ?? 0,
    udfs: state.metadata?.udfs ?? 0,
    objects: undefined,
    ranges: opts.partitions ?? ALL_PARTITIONS,
    crypto,
  };
}

/** The backup's location, and the repository it is in (made one first, for `repo`). */
async function destination(
  opts: BackupOptions,
  started: Date,
  open: StoreOpener,
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
    if ((await firstKey(store, `${candidate}/`, signal ? { signal } : {})) === undefined) return candidate;
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

