/** Point in time: the chain of the newest complete backup in a repository that finished at or before an instant. */
import { AerobakError, UsageError } from '../errors.js';
import type { StoreOpener } from '../storage/types.js';
import { resolveChain, type ChainLink } from './chain.js';
import { listBackups, type BackupListing } from './list.js';

type CompleteListing = Extract<BackupListing, { status: 'complete' }>;

/**
 * The chain ending at the newest complete backup of `namespace` in the repository at
 * `repo` that finished at or before `at`. Without a namespace the repository must hold
 * backups of one namespace only (`hint` says how to name one, for the error).
 */
export async function chainAt(repo: string, at: Date, namespace: string | undefined, open: StoreOpener, hint: string): Promise<ChainLink[]> {
  const backups = (await listBackups(repo, { openStore: open })).filter((b): b is CompleteListing => b.status === 'complete');
  const namespaces = [...new Set(backups.map((b) => b.namespace))];
  if (namespace === undefined && namespaces.length > 1) {
    throw new UsageError(`the repository ${repo} holds backups of namespaces ${namespaces.join(', ')}: say which with ${hint}`);
  }
  const ns = namespace ?? namespaces[0];
  const candidates = backups.filter((b) => b.namespace === ns && Date.parse(b.finishedAt) <= at.getTime()).sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
  const chosen = candidates.at(-1);
  if (!chosen) {
    throw new AerobakError('failed', 'NO_BACKUP_AT_TIME', `the repository ${repo} has no complete backup of namespace ${ns ?? '(none)'} that finished at or before ${at.toISOString()}`);
  }
  return resolveChain(chosen.location, open);
}
