/**
 * Repositories: a root location under which every backup has a prefix of its own.
 *
 *   <root>/aerobak-repository.json        the marker, created on first use
 *   <root>/<namespace>-<UTC time>/...      one backup (manifest.json, data files, ...)
 *
 * The marker is what makes "a location inside a repository" well defined: a backup
 * whose location has an ancestor holding the marker belongs to that repository, and its
 * manifest names its parent (for an incremental) by the parent's path relative to the
 * repository's root, so a copied or replicated bucket still resolves the chain.
 *
 * The marker is created with the store's exclusive create, so two backups starting at
 * once in a new repository cannot overwrite each other's marker.
 */
import { AerobakError } from '../errors.js';
import { StorageError } from '../storage/errors.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';

export const REPOSITORY_MARKER = 'aerobak-repository.json';
export const REPOSITORY_FORMAT = 'aerobak-repository';
export const REPOSITORY_FORMAT_VERSION = 1;

export interface RepositoryMarker {
  format: typeof REPOSITORY_FORMAT;
  formatVersion: number;
  createdAt: string;
}

/** The marker object exists but is not an aerobak repository marker this version reads. */
export class RepositoryMarkerError extends AerobakError {
  constructor(location: string, problem: string) {
    super('storage', 'REPOSITORY_MARKER_INVALID', `${location}/${REPOSITORY_MARKER}: ${problem}`);
  }
}

/** A backup location inside a repository: the repository's root and the backup's prefix in it. */
export interface RepositoryPath {
  /** The repository's root location. */
  root: string;
  /** The store at the root. */
  store: ObjectStore;
  /** The backup's prefix relative to the root ('' is the root itself). */
  prefix: string;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\/([^/]*)(.*)$/i;

/** `location` joined with a relative '/'-separated path. */
export function joinLocation(location: string, path: string): string {
  if (path === '') return location;
  return `${location.replace(/\/+$/, '')}/${path}`;
}

/**
 * The parent of a location (one path segment up), or undefined at a root: `s3://b/x/y`
 * → `s3://b/x` → `s3://b` → undefined; `/a/b` → `/a` → `/` → undefined.
 */
export function parentLocation(location: string): string | undefined {
  const m = SCHEME.exec(location);
  const path = (m ? m[3]! : location).replace(/\/+$/, '');
  const slash = path.lastIndexOf('/');
  if (m) return path === '' ? undefined : `${m[1]}://${m[2]}${slash <= 0 ? '' : path.slice(0, slash)}`;
  if (path === '') return undefined;
  if (slash < 0) return path === '.' ? undefined : '.';
  return slash === 0 ? '/' : path.slice(0, slash);
}

/** The last path segment of a location. */
export function baseName(location: string): string {
  const trimmed = location.replace(/\/+$/, '');
  return trimmed.slice(trimmed.lastIndexOf('/') + 1);
}

/** Reads the marker at the store's root: undefined if there is none; throws if it is not valid. */
export async function readRepositoryMarker(store: ObjectStore): Promise<RepositoryMarker | undefined> {
  if ((await store.stat(REPOSITORY_MARKER)) === null) return undefined;
  const bytes = await readAll(await store.read(REPOSITORY_MARKER));
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RepositoryMarkerError(store.location, 'is not valid JSON');
  }
  const m = value as Partial<RepositoryMarker> | null;
  if (m === null || typeof m !== 'object' || m.format !== REPOSITORY_FORMAT) throw new RepositoryMarkerError(store.location, 'is not an aerobak repository marker');
  if (typeof m.formatVersion !== 'number' || m.formatVersion > REPOSITORY_FORMAT_VERSION) {
    throw new RepositoryMarkerError(store.location, `repository format version ${String(m.formatVersion)} is newer than this aerobak reads (${REPOSITORY_FORMAT_VERSION})`);
  }
  return m as RepositoryMarker;
}

/**
 * Makes the store's root a repository if it is not one yet: creates the marker with the
 * store's exclusive create (a marker another process created first is just as good).
 */
export async function ensureRepository(store: ObjectStore, now: Date, signal?: AbortSignal): Promise<void> {
  if ((await readRepositoryMarker(store)) !== undefined) return;
  const marker: RepositoryMarker = { format: REPOSITORY_FORMAT, formatVersion: REPOSITORY_FORMAT_VERSION, createdAt: now.toISOString() };
  const bytes = Buffer.from(`${JSON.stringify(marker, null, 2)}\n`, 'utf8');
  try {
    await store.create(REPOSITORY_MARKER, [bytes], signal ? { signal } : {});
  } catch (error) {
    if (!(error instanceof StorageError && error.code === 'ALREADY_EXISTS')) throw error;
  }
  await readRepositoryMarker(store);
}

/**
 * The repository that holds `location`: the nearest ancestor (or the location itself,
 * with prefix '') whose root has the marker. One stat per level, at most `maxDepth`
 * levels up; undefined if no ancestor is a repository.
 */
export async function findRepository(location: string, open: StoreOpener, maxDepth = 16): Promise<RepositoryPath | undefined> {
  const segments: string[] = [];
  let at: string | undefined = location;
  for (let depth = 0; at !== undefined && depth <= maxDepth; depth++) {
    let store: ObjectStore | undefined;
    try {
      store = await open(at, 'read');
    } catch (error) {
      // A directory that does not exist (yet) is not a repository (nor is a bucket that
      // does not exist: the backup's own open() then says so); any other failure (bad
      // credentials, access denied) is the caller's to see.
      if (!(error instanceof StorageError && error.code === 'NO_BUCKET')) throw error;
    }
    if (store && (await readRepositoryMarker(store)) !== undefined) return { root: at, store, prefix: segments.join('/') };
    segments.unshift(baseName(at));
    at = parentLocation(at);
  }
  return undefined;
}
