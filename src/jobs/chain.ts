/**
 * Backup chains: a full backup and the incrementals that follow it, each naming its
 * parent by location and by the SHA-256 of the parent's manifest.
 *
 *   full  <─  inc 1  <─  inc 2  <─ ...        (an arrow: "names as its parent")
 *
 * resolveChain walks from a backup to its full, reading one manifest per link and
 * checking each against the SHA-256 its child recorded, before anything else is done:
 * a missing link, a link whose manifest changed, or a loop stops with an error naming
 * the link. A parent is found relative to the repository that holds the child
 * (`parent.path`), or at an absolute location (`parent.location`) when the child was
 * written outside any repository.
 */
import { AerobakError } from '../errors.js';
import { KeyRequiredError, openBackupKey, type FileCrypto } from '../crypto/backup-keys.js';
import type { Kek } from '../crypto/keys.js';
import { findRepository, joinLocation, type RepositoryPath } from '../catalog/repository.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { BackupNotFoundError, IncompleteBackupError, backupLocation, readManifestAndHash, type Manifest } from './manifest.js';

/** One backup of a chain. */
export interface ChainLink {
  /** Where the backup is, for messages and for opening its files. */
  location: string;
  store: ObjectStore;
  /** The backup's prefix in `store`. */
  prefix: string;
  manifest: Manifest;
  /** SHA-256 of its manifest's bytes, lowercase hex. */
  manifestSha256: string;
  /** For an encrypted backup, once unlocked (unlockChain): what its files are read with. */
  crypto?: FileCrypto;
}

/**
 * Opens the data key of every encrypted link with `kek` and checks each manifest's MAC,
 * before anything is read or written. Throws KeyRequiredError when a link is encrypted
 * and no key was given, WrongKeyError or ManifestAuthError naming the link.
 */
export async function unlockChain(links: readonly ChainLink[], kek: Kek | undefined): Promise<void> {
  for (const link of links) {
    if (!link.manifest.encryption || link.crypto) continue;
    if (!kek) throw new KeyRequiredError(link.location);
    link.crypto = await openBackupKey(link.store, link.prefix, kek, link.location, link.manifestSha256);
  }
}

export type ChainErrorCode = 'CHAIN_LINK_MISSING' | 'CHAIN_LINK_ALTERED' | 'CHAIN_LINK_INCOMPLETE' | 'CHAIN_LINK_MISMATCH' | 'CHAIN_LOOP';

/** A chain that cannot be used: the message names the link at fault. */
export class ChainError extends AerobakError {
  constructor(
    code: ChainErrorCode,
    readonly link: string,
    message: string,
  ) {
    super('failed', code, message);
  }
  declare readonly code: ChainErrorCode;
}

/** Longest chain followed: a guard against a cycle that the checksums did not catch. */
const MAX_LINKS = 10_000;

/**
 * The chain that ends at the backup at `location`, oldest (the full) first. Reads one
 * manifest per link. Throws ChainError naming the first link that is missing, altered
 * (its manifest's SHA-256 differs from what its child recorded), incomplete, or of
 * another namespace than its child.
 */
export async function resolveChain(location: string, open: StoreOpener): Promise<ChainLink[]> {
  const repo = await findRepository(location, open);
  const start = repo ? { store: repo.store, prefix: repo.prefix } : { store: await open(location, 'read'), prefix: '' };
  const first = await readManifestAndHash(start.store, start.prefix);
  const links: ChainLink[] = [{ location: backupLocation(start.store, start.prefix), ...start, manifest: first.manifest, manifestSha256: first.sha256 }];
  const seen = new Set<string>([links[0]!.location]);
  for (;;) {
    const child = links[0]!;
    const parent = child.manifest.parent;
    if (child.manifest.kind !== 'incremental' || parent === undefined) return links;
    if (links.length > MAX_LINKS) throw new ChainError('CHAIN_LOOP', child.location, `the chain ending at ${location} has more than ${MAX_LINKS} links`);
    const { store, prefix, where } = await locateParent(child, parent, repo, open);
    if (seen.has(where)) throw new ChainError('CHAIN_LOOP', where, `the chain ending at ${location} returns to ${where}`);
    seen.add(where);
    let read: { manifest: Manifest; sha256: string };
    try {
      read = await readManifestAndHash(store, prefix);
    } catch (error) {
      if (error instanceof BackupNotFoundError) {
        throw new ChainError('CHAIN_LINK_MISSING', where, `the parent of ${child.location}, ${where}, is missing: the chain cannot be restored`);
      }
      if (error instanceof IncompleteBackupError) {
        throw new ChainError('CHAIN_LINK_INCOMPLETE', where, `the parent of ${child.location}, ${where}, has no manifest (it is incomplete)`);
      }
      throw error;
    }
    if (read.sha256 !== parent.sha256) {
      throw new ChainError(
        'CHAIN_LINK_ALTERED',
        where,
        `the manifest of ${where} was changed after ${child.location} was made from it (SHA-256 ${read.sha256}, expected ${parent.sha256})`,
      );
    }
    if (read.manifest.namespace !== child.manifest.namespace) {
      throw new ChainError('CHAIN_LINK_MISMATCH', where, `${where} is a backup of namespace ${read.manifest.namespace}, its child ${child.location} of ${child.manifest.namespace}`);
    }
    links.unshift({ location: where, store, prefix, manifest: read.manifest, manifestSha256: read.sha256 });
  }
}

async function locateParent(
  child: ChainLink,
  parent: NonNullable<Manifest['parent']>,
  repo: RepositoryPath | undefined,
  open: StoreOpener,
): Promise<{ store: ObjectStore; prefix: string; where: string }> {
  if (parent.path !== undefined) {
    if (!repo) {
      throw new ChainError('CHAIN_LINK_MISSING', parent.path, `${child.location} names its parent by the path ${parent.path} in its repository, but it is not inside a repository any more`);
    }
    return { store: repo.store, prefix: parent.path, where: joinLocation(repo.root, parent.path) };
  }
  const where = parent.location!;
  try {
    return { store: await open(where, 'read'), prefix: '', where };
  } catch (error) {
    if ((error as { code?: unknown }).code === 'NO_BUCKET') {
      throw new ChainError('CHAIN_LINK_MISSING', where, `the parent of ${child.location}, ${where}, is missing: the chain cannot be restored`);
    }
    throw error;
  }
}

/** "a full backup", or "a chain of 3 backups (a full and 2 incrementals)", for messages. */
export function describeChain(links: readonly ChainLink[]): string {
  return links.length === 1 ? 'a full backup' : `a chain of ${links.length} backups (a full and ${links.length - 1} incremental${links.length > 2 ? 's' : ''})`;
}
