/**
 * What each kind of service job does, as functions over the job functions of src/jobs:
 *
 *   backup   runBackup into the routine's repository (a full or an incremental, or the
 *            resume of one the service started), then runPrune when the routine has a
 *            retention policy
 *   verify   verifyBackup of the routine's newest complete backup (its whole chain)
 *   drill    a restore of the newest complete backup into a scratch namespace (its sets
 *            truncated first), then a count of what is there against what the backup holds
 *   restore  runRestore of a backup, or of a repository at a point in time (API)
 *
 * The backup's location is chosen here, before the scan (`<namespace>-<UTC time>` in the
 * repository, `-2`... when taken), so that the service can record it as unfinished first
 * and resume it after a crash.
 */
import type { ClusterOptions } from '../aerospike/cluster.js';
import { Cluster } from '../aerospike/cluster.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { joinLocation } from '../catalog/repository.js';
import type { Kek } from '../crypto/keys.js';
import { AerobakError } from '../errors.js';
import { compactTimestamp, runBackup, type BackupOptions, type BackupSummary } from '../jobs/backup.js';
import { listBackups, type BackupListing } from '../jobs/list.js';
import type { ProgressView } from '../jobs/progress.js';
import { runPrune, type PruneReport } from '../jobs/prune.js';
import { runRestore, type RestoreOptions, type RestoreSummary } from '../jobs/restore.js';
import { verifyBackup, type VerifyReport } from '../jobs/verify.js';
import { openStore } from '../storage/index.js';
import { firstKey } from '../storage/small-objects.js';
import type { StoreOpener } from '../storage/types.js';
import type { RoutineConfig } from './config.js';
import type { JobContext, JobProgress } from './jobs.js';

export type CompleteBackup = Extract<BackupListing, { status: 'complete' }>;

export interface RepositoryRef {
  name: string;
  location: string;
  key?: Kek;
}

export interface RunnerDeps {
  openStore?: StoreOpener;
  now?: () => Date;
  /** Absolute counts of the running job, for the processed-records and -bytes counters. */
  counters?: (records: number, bytes: number) => void;
}

function progressOf(view: ProgressView): JobProgress {
  const p: JobProgress = { records: view.records, bytes: view.bytes, recordsPerSecond: Math.round(view.recordsPerSecond), bytesPerSecond: Math.round(view.bytesPerSecond), elapsedMs: view.elapsedMs };
  if (view.totalRecords !== undefined) p.totalRecords = view.totalRecords;
  if (view.percent !== undefined) p.percent = Math.round(view.percent * 10) / 10;
  if (view.etaSeconds !== undefined) p.etaSeconds = Math.round(view.etaSeconds);
  return p;
}

function listener(ctx: JobContext, deps: RunnerDeps): (view: ProgressView) => void {
  return (view) => {
    ctx.progress(progressOf(view));
    deps.counters?.(view.records, view.bytes);
  };
}

const sameSets = (a: readonly string[], b: readonly string[]) => JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());

/** The routine's backups in a listing: its namespace and exactly its sets. Incomplete ones match by namespace. */
export function routineBackups(routine: RoutineConfig, listing: readonly BackupListing[]): BackupListing[] {
  return listing.filter((b) => {
    if (b.status === 'complete') return b.namespace === routine.namespace && sameSets(b.sets, routine.sets);
    if (b.status === 'incomplete') return b.namespace === undefined || b.namespace === routine.namespace;
    return false;
  });
}

/** The routine's newest complete backup (by finish time), optionally of one kind. */
export function newestComplete(routine: RoutineConfig, listing: readonly BackupListing[], kind?: 'full' | 'incremental'): CompleteBackup | undefined {
  const complete = routineBackups(routine, listing).filter((b): b is CompleteBackup => b.status === 'complete' && (kind === undefined || b.kind === kind));
  return complete.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt)).at(-1);
}

/** A free backup location in the repository: `<namespace>-<UTC time>`, then `-2`, `-3`... */
export async function newBackupLocation(repo: RepositoryRef, namespace: string, now: Date, deps: RunnerDeps = {}): Promise<string> {
  const store = await (deps.openStore ?? openStore)(repo.location, 'write');
  const base = `${namespace}-${compactTimestamp(now)}`;
  for (let n = 1; ; n++) {
    const name = n === 1 ? base : `${base}-${n}`;
    if ((await firstKey(store, `${name}/`)) === undefined) return joinLocation(repo.location, name);
  }
}

export interface BackupJobResult extends BackupSummary {
  prune?: PruneReport;
  pruneError?: { code: string; message: string };
}

/** One backup run of a routine (a new one at `location`, or the resume of the one there). */
export async function backupJob(
  ctx: JobContext,
  p: { routine: RoutineConfig; cluster: ClusterOptions; repo: RepositoryRef; kind: 'full' | 'incremental'; location: string; resume: boolean },
  deps: RunnerDeps = {},
): Promise<BackupJobResult> {
  const { routine, repo } = p;
  const opts: BackupOptions = p.resume
    ? { cluster: p.cluster, namespace: '', resume: p.location, resumeGiven: {} }
    : {
        cluster: p.cluster,
        namespace: routine.namespace,
        repo: repo.location,
        to: p.location,
        ...(routine.sets.length > 0 ? { sets: routine.sets } : {}),
        ...(routine.bins.length > 0 ? { bins: routine.bins } : {}),
        ...(routine.parallel !== undefined ? { parallel: routine.parallel } : {}),
        ...(routine.compress !== undefined ? { compress: routine.compress } : {}),
        ...(p.kind === 'incremental' ? { incremental: true, ...(routine.fullIfTruncated ? { fullIfTruncated: true } : {}) } : {}),
        ...(routine.trackDeletes ? { trackDeletes: true } : {}),
      };
  if (routine.recordsPerSecond !== undefined) opts.recordsPerSecond = routine.recordsPerSecond;
  if (repo.key) opts.encrypt = repo.key;
  const summary: BackupJobResult = await runBackup(opts, {
    signal: ctx.signal,
    onProgress: listener(ctx, deps),
    note: ctx.note,
    ...(deps.openStore ? { openStore: deps.openStore } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
  if (routine.retention) {
    try {
      summary.prune = await runPrune(
        { repo: repo.location, policy: routine.retention.policy, namespace: routine.namespace, ...(routine.retention.graceMs !== undefined ? { graceMs: routine.retention.graceMs } : {}) },
        { signal: ctx.signal, note: ctx.note, ...(deps.openStore ? { openStore: deps.openStore } : {}), ...(deps.now ? { now: deps.now } : {}) },
      );
    } catch (error) {
      // The backup is complete: a retention failure is reported (metric, notification), not the run's failure.
      summary.pruneError = { code: error instanceof AerobakError ? error.code : 'PRUNE_FAILED', message: (error as Error).message };
    }
  }
  return summary;
}

/** The routine's newest complete backup, or an error saying there is none. */
async function newestOrThrow(routine: RoutineConfig, repo: RepositoryRef, signal: AbortSignal, deps: RunnerDeps): Promise<CompleteBackup> {
  const listing = await listBackups(repo.location, { signal, ...(deps.openStore ? { openStore: deps.openStore } : {}) });
  const newest = newestComplete(routine, listing);
  if (!newest) throw new AerobakError('failed', 'NO_BACKUP', `routine ${routine.name} has no complete backup in ${repo.location} yet`);
  return newest;
}

/** Verifies the routine's newest complete backup (and its chain); fails when a problem is found. */
export async function verifyJob(ctx: JobContext, p: { routine: RoutineConfig; repo: RepositoryRef }, deps: RunnerDeps = {}): Promise<VerifyReport> {
  const newest = await newestOrThrow(p.routine, p.repo, ctx.signal, deps);
  ctx.record.location = newest.location;
  const open = deps.openStore ?? openStore;
  const store = await open(newest.location, 'read');
  const report = await verifyBackup({
    store,
    prefix: '',
    location: newest.location,
    signal: ctx.signal,
    openStore: open,
    ...(p.repo.key ? { key: p.repo.key } : {}),
    onProgress: (v) => {
      ctx.progress({ records: v.records, bytes: v.bytesDone, percent: v.bytesTotal > 0 ? Math.round((1000 * v.bytesDone) / v.bytesTotal) / 10 : 100 });
      deps.counters?.(v.records, v.bytesDone);
    },
  });
  const { manifest: _manifest, ...rest } = report;
  if (!report.ok) {
    const first = report.problems[0];
    throw Object.assign(new AerobakError('failed', 'VERIFY_FAILED', `verify of ${newest.location} found ${report.problems.length} problem(s)${first ? `, first: ${first.message}` : ''}`), { report: rest });
  }
  return rest as VerifyReport;
}

export interface DrillResult {
  location: string;
  scratchNamespace: string;
  expected: number;
  found: number;
  restore: RestoreSummary;
}

/** Records in `namespace` (only `sets`, when given), by a metadata-only scan. */
async function countRecords(cluster: Cluster, namespace: string, sets: string[], signal: AbortSignal): Promise<number> {
  const reader = new ScanReader(cluster, { namespace, ...(sets.length > 0 ? { sets } : {}), noBins: true });
  const stop = () => reader.destroy(signal.reason as Error);
  signal.addEventListener('abort', stop, { once: true });
  let n = 0;
  try {
    for await (const _ of reader) n++;
  } finally {
    signal.removeEventListener('abort', stop);
  }
  return n;
}

/** Truncates the drill's sets (or the whole scratch namespace) on every node. */
async function truncateScratch(cluster: Cluster, namespace: string, sets: string[]): Promise<void> {
  const commands = sets.length > 0 ? sets.map((s) => `truncate:namespace=${namespace};set=${s}`) : [`truncate-namespace:namespace=${namespace}`];
  for (const replies of (await cluster.infoAll(commands)).values()) {
    for (const [command, reply] of replies) {
      if (reply.trim().toLowerCase() !== 'ok') throw new AerobakError('cluster', 'DRILL_TRUNCATE_FAILED', `the cluster refused "${command}" before the drill: ${reply}`);
    }
  }
}

/**
 * Restores the routine's newest backup into the scratch namespace (replace mode, after
 * truncating it) and counts the records there: they must be exactly those the backup
 * holds (read, less the superseded, deleted and expired ones).
 */
export async function drillJob(ctx: JobContext, p: { routine: RoutineConfig; repo: RepositoryRef; cluster: ClusterOptions }, deps: RunnerDeps = {}): Promise<DrillResult> {
  const { routine } = p;
  const drill = routine.drill!;
  const newest = await newestOrThrow(routine, p.repo, ctx.signal, deps);
  ctx.record.location = newest.location;
  const cluster = await Cluster.connect(p.cluster);
  try {
    const namespaces = cluster.namespaces();
    if (!namespaces.includes(drill.namespace)) throw new AerobakError('cluster', 'NAMESPACE_NOT_FOUND', `the drill's scratch namespace "${drill.namespace}" does not exist on the cluster; its namespaces are: ${namespaces.join(', ')}`);
    await truncateScratch(cluster, drill.namespace, routine.sets);
    const restore = await restoreJob(
      ctx,
      {
        cluster: p.cluster,
        from: newest.location,
        namespaceMap: new Map([[routine.namespace, drill.namespace]]),
        mode: 'replace',
        // The drill checks records; the indexes and UDFs of the real namespace stay out of the scratch one.
        noIndexes: true,
        noUdfs: true,
        ...(routine.sets.length > 0 ? { sets: routine.sets } : {}),
        ...(p.repo.key ? { key: p.repo.key } : {}),
      },
      deps,
    );
    const expected = restore.read - restore.superseded - restore.deleted - restore.expired - restore.skippedByFilter;
    const found = await countRecords(cluster, drill.namespace, routine.sets, ctx.signal);
    const result: DrillResult = { location: newest.location, scratchNamespace: drill.namespace, expected, found, restore };
    if (found !== expected) {
      throw Object.assign(
        new AerobakError('failed', 'DRILL_COUNT_MISMATCH', `restore drill of ${newest.location} into namespace ${drill.namespace}: expected ${expected} record(s), found ${found}`),
        { result },
      );
    }
    return result;
  } finally {
    await cluster.close();
  }
}

/** A restore (API, drill): runRestore with the job's signal and progress. */
export async function restoreJob(ctx: JobContext, opts: RestoreOptions, deps: RunnerDeps = {}): Promise<RestoreSummary> {
  return runRestore(opts, {
    signal: ctx.signal,
    onProgress: listener(ctx, deps),
    note: ctx.note,
    ...(deps.openStore ? { openStore: deps.openStore } : {}),
    ...(deps.now ? { now: deps.now } : {}),
  });
}
