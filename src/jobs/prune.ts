/**
 * `aerobak prune REPO`: deletes the backups a retention policy does not keep, and
 * incomplete backups that can no longer be running (docs/retention.md).
 *
 *   list the repository ─> restore points per namespace ─> policy (retention.ts)
 *   ─> kept points keep their whole chain (up to the full), and so do incremental
 *      backups still running (their state names the parent)
 *   ─> each backup to delete, newest first: marker, manifest, then the rest (batched)
 *
 * Order of deletion: a backup's manifest goes first, so an interrupted prune never leaves
 * something that looks complete but is not (what is left is an incomplete backup with a
 * `pruned.json` marker, which the next prune removes at once); children go before their
 * parents, so no complete incremental is ever left without its parent.
 *
 * Incomplete backups (no manifest) are removed when their state was last saved longer ago
 * than the grace period (default 24 h; a running backup saves its state at every sealed
 * file), or, without a state, when the time in their name is; otherwise they are kept.
 * A backup whose manifest is under S3 Object Lock or a GCS retention policy or hold is
 * reported as locked and left alone.
 */
import { UsageError } from '../errors.js';
import { openStore } from '../storage/index.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { BACKUP_STATE_FILE, type BackupState } from './backup-state.js';
import { objectKey } from './data-files.js';
import { listBackups, owningBackup, type BackupListing } from './list.js';
import { MANIFEST_FILE, backupLocation } from './manifest.js';
import { applyPolicy, policyIsEmpty, type RetentionPolicy } from './retention.js';

export const DEFAULT_PRUNE_GRACE_MS = 24 * 3600 * 1000;
export const PRUNE_MARKER = 'pruned.json';

export interface PruneOptions {
  repo: string;
  policy: RetentionPolicy;
  /** Only the backups of this namespace (each namespace is its own series otherwise). */
  namespace?: string;
  dryRun?: boolean;
  /** Incomplete backups younger than this may still be running: kept. Default 24 h. */
  graceMs?: number;
}

export interface PruneDeps {
  openStore?: StoreOpener;
  now?: () => Date;
  signal?: AbortSignal;
  note?: (message: string) => void;
}

export interface PruneReport {
  /** Kept backups and why (the rules that keep them, or "needed by <child>"). */
  kept: Array<{ location: string; reasons: string[] }>;
  /** Deleted (or, with dryRun, to delete) complete backups. */
  deleted: string[];
  /** Backups the policy would delete but the store holds under a retention lock. */
  locked: Array<{ location: string; reason: string }>;
  incompleteRemoved: string[];
  incompleteKept: Array<{ location: string; reason: string }>;
  dryRun: boolean;
}

type Complete = Extract<BackupListing, { status: 'complete' }>;

/** Stores that can tell whether an object is under a retention lock (S3 Object Lock, GCS retention or holds). */
interface RetentionAware {
  retainedUntil(key: string): Promise<{ until?: Date; reason: string } | undefined>;
}

function isRetentionAware(store: ObjectStore): store is ObjectStore & RetentionAware {
  return typeof (store as Partial<RetentionAware>).retainedUntil === 'function';
}

/** The backup prefix an object belongs to: its folder, or the backup above key objects and shards. */
function backupPrefixOf(key: string): string {
  const slash = key.lastIndexOf('/');
  return owningBackup(slash < 0 ? '' : key.slice(0, slash));
}

/** `<anything>-YYYYMMDDTHHMMSSZ`: the time in a default backup name. */
function timeInName(prefix: string): Date | undefined {
  const m = /(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(prefix);
  return m ? new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)) : undefined;
}

async function readJson<T>(store: ObjectStore, key: string): Promise<T | undefined> {
  if ((await store.stat(key)) === null) return undefined;
  try {
    return JSON.parse((await readAll(await store.read(key))).toString('utf8')) as T;
  } catch {
    return undefined;
  }
}

function formatAge(ms: number): string {
  const h = ms / 3_600_000;
  return h >= 48 ? `${Math.round(h / 24)} days` : `${Math.round(h * 10) / 10} h`;
}

export async function runPrune(opts: PruneOptions, deps: PruneDeps = {}): Promise<PruneReport> {
  if (policyIsEmpty(opts.policy)) {
    throw new UsageError('prune needs at least one --keep-* rule (an empty policy would delete every backup)');
  }
  const now = (deps.now ?? (() => new Date()))();
  const grace = opts.graceMs ?? DEFAULT_PRUNE_GRACE_MS;
  const open = deps.openStore ?? openStore;
  const store = await open(opts.repo, opts.dryRun ? 'read' : 'write');
  const report: PruneReport = { kept: [], deleted: [], locked: [], incompleteRemoved: [], incompleteKept: [], dryRun: opts.dryRun === true };

  // Every object, by backup prefix: what a deletion removes.
  const objects = new Map<string, string[]>();
  for await (const o of store.list('', { signal: deps.signal })) {
    const prefix = backupPrefixOf(o.key);
    if (prefix === '' && !o.key.includes('/')) continue; // the repository marker and other root objects
    objects.set(prefix, [...(objects.get(prefix) ?? []), o.key]);
  }
  const listing = await listBackups(opts.repo, { openStore: open, ...(deps.signal ? { signal: deps.signal } : {}) });
  const complete = listing.filter((b): b is Complete => b.status === 'complete' && (opts.namespace === undefined || b.namespace === opts.namespace));
  const byPrefix = new Map(complete.map((b) => [b.prefix, b]));
  const completePrefixes = new Set(listing.filter((b) => b.status === 'complete').map((b) => b.prefix));

  // The policy, per namespace.
  const reasons = new Map<string, string[]>();
  const namespaces = [...new Set(complete.map((b) => b.namespace))];
  for (const ns of namespaces) {
    const points = complete.filter((b) => b.namespace === ns).map((b) => ({ id: b.prefix, at: new Date(b.finishedAt) }));
    for (const [id, why] of applyPolicy(points, opts.policy)) reasons.set(id, why);
  }
  /** Keeps `prefix` and its parents, each parent with the reason "needed by <child>". */
  const keepChain = (prefix: string, child?: string): void => {
    for (let p: string | undefined = prefix, c = child; p !== undefined; ) {
      const b = byPrefix.get(p);
      if (!b) return;
      if (c !== undefined) reasons.set(p, [...new Set([...(reasons.get(p) ?? []), `needed by ${c}`])]);
      if (b.kind !== 'incremental' || b.parent === undefined) return;
      c = p;
      p = b.parent;
    }
  };
  for (const id of [...reasons.keys()]) keepChain(id);

  // Incomplete backups: removed once they cannot be running; running incrementals keep their parents.
  const incompleteRemove: string[] = [];
  for (const [prefix] of objects) {
    if (completePrefixes.has(prefix)) continue;
    const where = backupLocation(store, prefix);
    const state = await readJson<BackupState & { savedAt?: string }>(store, objectKey(prefix, BACKUP_STATE_FILE));
    if (opts.namespace !== undefined && state && state.options.namespace !== opts.namespace) continue;
    const pruned = (await store.stat(objectKey(prefix, PRUNE_MARKER))) !== null;
    const last = state ? new Date(state.savedAt ?? state.startedAt) : timeInName(prefix);
    if (pruned) {
      incompleteRemove.push(prefix);
      continue;
    }
    if (last === undefined) {
      report.incompleteKept.push({ location: where, reason: 'incomplete, and its age is unknown (no state, no time in its name): remove it by hand if it is not running' });
      continue;
    }
    const age = now.getTime() - last.getTime();
    if (age > grace) {
      incompleteRemove.push(prefix);
      continue;
    }
    report.incompleteKept.push({ location: where, reason: `incomplete, last active ${formatAge(age)} ago: may still be running (grace ${formatAge(grace)})` });
    const parent = state?.parent?.ref.path;
    if (parent !== undefined) keepChain(parent, prefix);
  }

  // Locked backups stay, and so does everything their chain needs: checked before anything is deleted.
  const lockedPrefixes = new Set<string>();
  for (const b of complete) {
    if (reasons.has(b.prefix) || !isRetentionAware(store)) continue;
    const lock = await store.retainedUntil(objectKey(b.prefix, MANIFEST_FILE));
    if (!lock) continue;
    report.locked.push({ location: b.location, reason: lock.reason });
    lockedPrefixes.add(b.prefix);
    keepChain(b.prefix);
  }
  for (const b of complete) if (reasons.has(b.prefix) && !lockedPrefixes.has(b.prefix)) report.kept.push({ location: b.location, reasons: reasons.get(b.prefix)! });
  // Children before parents: newest first.
  const doomed = complete.filter((b) => !reasons.has(b.prefix) && !lockedPrefixes.has(b.prefix)).sort((a, b) => b.finishedAt.localeCompare(a.finishedAt));
  for (const b of doomed) {
    report.deleted.push(b.location);
    if (!opts.dryRun) await deleteBackup(store, b.prefix, objects.get(b.prefix) ?? [], deps.signal);
    deps.note?.(`${opts.dryRun ? 'would delete' : 'deleted'} ${b.location}`);
  }
  for (const prefix of incompleteRemove) {
    report.incompleteRemoved.push(backupLocation(store, prefix));
    if (!opts.dryRun) await deleteBackup(store, prefix, objects.get(prefix) ?? [], deps.signal);
  }
  return report;
}

/** Deletes one backup: the marker, then its manifest (it is no longer complete), then everything else in batches. */
async function deleteBackup(store: ObjectStore, prefix: string, keys: readonly string[], signal: AbortSignal | undefined): Promise<void> {
  signal?.throwIfAborted();
  const manifest = objectKey(prefix, MANIFEST_FILE);
  const marker = objectKey(prefix, PRUNE_MARKER);
  if (keys.includes(manifest)) {
    await store.write(marker, [Buffer.from(`${JSON.stringify({ prunedAt: new Date().toISOString() })}\n`)], signal ? { signal } : {});
    await store.delete(manifest);
  }
  await store.deleteMany(keys.filter((k) => k !== manifest && k !== marker));
  await store.delete(marker);
}
