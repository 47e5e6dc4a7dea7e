/**
 * What an incremental backup builds on: its parent, the time bound of its scan, and the
 * check that nothing happened since the parent that an incremental cannot express.
 *
 * - The parent is named (`--incremental-from LOCATION`) or picked (`--incremental`): the
 *   newest complete backup in the repository of the same namespace, sets and bins.
 * - The incremental holds the records last updated at or after the parent's *scan
 *   start*, not its end: a record written while the parent was scanning may or may not
 *   be in the parent, and must not fall between two backups. The bound is the cluster's
 *   own clock (`current_time`, the smallest over the nodes, read before the parent's
 *   scan began), so the tool's clock and its skew against the servers do not matter.
 * - A truncate since the parent (a set's or the namespace's `truncate_lut` moved) makes
 *   records disappear without anything a scan could see: the incremental cannot express
 *   it, so the backup refuses (or, when asked, takes a full backup instead).
 */
import { CITRUSLEAF_EPOCH_UNIX_S } from '../aerospike/types.js';
import { AerobakError, UsageError } from '../errors.js';
import { findRepository, type RepositoryPath } from '../catalog/repository.js';
import type { StoreOpener } from '../storage/types.js';
import { backupLocation, readManifestAndHash, type Manifest, type ParentRef } from './manifest.js';

/** The parent an incremental is made from. */
export interface Parent {
  location: string;
  manifest: Manifest;
  /** How the child's manifest names it. */
  ref: ParentRef;
}

/** What an incremental and its parent must agree on. */
export interface IncrementalScope {
  namespace: string;
  sets: readonly string[];
  bins: readonly string[];
}

/** An incremental that cannot be made; the message says why and what to do. */
export class IncrementalError extends AerobakError {
  constructor(code: 'INCREMENTAL_PARENT_UNUSABLE' | 'TRUNCATED_SINCE_PARENT', message: string) {
    super('failed', code, message);
  }
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  const x = [...a].sort();
  const y = [...b].sort();
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

function scopeProblem(m: Manifest, scope: IncrementalScope): string | undefined {
  if (m.namespace !== scope.namespace) return `it is a backup of namespace ${m.namespace}, not ${scope.namespace}`;
  if (!sameList(m.filters.sets ?? [], scope.sets)) return `it holds sets [${(m.filters.sets ?? []).join(', ') || 'all'}], this backup [${scope.sets.join(', ') || 'all'}]`;
  if (!sameList(m.filters.bins ?? [], scope.bins)) return `it holds bins [${(m.filters.bins ?? []).join(', ') || 'all'}], this backup [${scope.bins.join(', ') || 'all'}]`;
  if (m.filters.modifiedAfter || m.filters.modifiedBefore || m.filters.noTtlOnly) return 'it was made with a time or TTL filter, so it is not a whole state to build on';
  if (m.filters.partitions) return 'it covers only some partitions';
  if (m.clusterTime === undefined || m.truncateThresholds === undefined) {
    return 'it was made by an older aerobak that did not record the cluster clock and truncation thresholds an incremental needs; take a full backup first';
  }
  return undefined;
}

/**
 * The parent named by `location` (`--incremental-from`), checked against the scope.
 * `child` is the repository the new backup goes into, if any: a parent in the same
 * repository is named by its path in it, any other by its absolute location.
 */
export async function namedParent(location: string, scope: IncrementalScope, child: RepositoryPath | undefined, open: StoreOpener): Promise<Parent> {
  const repo = await findRepository(location, open);
  const store = repo ? repo.store : await open(location, 'read');
  const prefix = repo ? repo.prefix : '';
  const { manifest, sha256 } = await readManifestAndHash(store, prefix);
  const where = backupLocation(store, prefix);
  const problem = scopeProblem(manifest, scope);
  if (problem) throw new IncrementalError('INCREMENTAL_PARENT_UNUSABLE', `${where} cannot be the parent of this incremental: ${problem}`);
  const inSameRepo = repo !== undefined && child !== undefined && repo.root === child.root;
  return { location: where, manifest, ref: inSameRepo ? { path: prefix, sha256 } : { location: where, sha256 } };
}

/**
 * The newest complete backup (by scan start) in the repository that fits the scope, or
 * undefined if there is none. `candidates` are the repository's backups by prefix.
 */
export async function newestParent(repo: RepositoryPath, prefixes: readonly string[], scope: IncrementalScope): Promise<Parent | undefined> {
  let best: { prefix: string; manifest: Manifest; sha256: string } | undefined;
  for (const prefix of prefixes) {
    let read: { manifest: Manifest; sha256: string };
    try {
      read = await readManifestAndHash(repo.store, prefix);
    } catch {
      // Incomplete, unreadable or newer backups are not candidates; `list` shows them.
      continue;
    }
    if (scopeProblem(read.manifest, scope) !== undefined) continue;
    if (!best || read.manifest.startedAt > best.manifest.startedAt) best = { prefix, ...read };
  }
  if (!best) return undefined;
  return { location: backupLocation(repo.store, best.prefix), manifest: best.manifest, ref: { path: best.prefix, sha256: best.sha256 } };
}

/** The last-update bound of an incremental of `parent`: its cluster clock at scan start. */
export function incrementalSince(parent: Parent): Date {
  return new Date(parent.manifest.clusterTime!);
}

/**
 * The sets (and '' for the namespace) whose truncation threshold moved since the
 * parent: a truncate the parent does not reflect. Only the backup's sets count (all,
 * when it has no set filter).
 */
export function truncatedSince(parent: Parent, now: Record<string, number>, sets: readonly string[]): string[] {
  const before = parent.manifest.truncateThresholds!;
  const keys = sets.length > 0 ? ['', ...sets] : Object.keys(now);
  // A set the parent did not know: any truncate of it after the parent's scan started matters.
  const parentStartMs = Date.parse(parent.manifest.clusterTime!) - CITRUSLEAF_EPOCH_UNIX_S * 1000;
  return keys.filter((k) => (now[k] ?? 0) > (before[k] ?? Math.min(parentStartMs, now[k] ?? 0)));
}

/** A usage error for options that an incremental cannot be combined with. */
export function checkIncrementalOptions(opts: { modifiedAfter?: Date; modifiedBefore?: Date; noTtlOnly?: boolean; partitions?: unknown[] }): void {
  if (opts.modifiedAfter || opts.modifiedBefore) throw new UsageError('an incremental backup sets its own time bound: --modified-after/--modified-before do not apply');
  if (opts.noTtlOnly) throw new UsageError('--no-ttl-only does not apply to an incremental backup (its parent holds every record)');
  if (opts.partitions) throw new UsageError('--partitions does not apply to an incremental backup (chains cover whole namespaces)');
}
