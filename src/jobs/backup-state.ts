/**
 * The progress of a running backup, persisted in its destination so that `backup
 * --resume` can finish it after a crash (SIGKILL, a lost machine, a failed upload).
 *
 *   <prefix>/backup-state.json     rewritten (atomically) every time a data file is sealed
 *
 * It holds what the resumed run must repeat exactly (the options that shape the backup,
 * never credentials), the cluster clock and truncation thresholds read when the backup
 * started (so a resumed incremental keeps its bound), and per partition group: the data
 * files sealed so far (size, SHA-256, records, partitions) and, per partition, the digest
 * of the last record in a sealed file. Records read after that digest were in a file
 * that was never sealed: they die with the process, and the resumed scan continues
 * strictly after the digest, so nothing is missing and nothing is stored twice.
 *
 * Files under the prefix that the state does not list (an unsealed file, a temporary
 * object) are not part of the backup; the resumed run deletes them. The state is
 * deleted after the manifest is written: a complete backup needs it no more.
 */
import { AerobakError, UsageError } from '../errors.js';
import type { DigestListEntry } from '../catalog/digest-list.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore } from '../storage/types.js';
import { objectKey, type Compression, type DataFileEntry } from './data-files.js';
import type { MetadataFileEntry, ParentRef } from './manifest.js';

export const BACKUP_STATE_FILE = 'backup-state.json';
export const BACKUP_STATE_FORMAT = 'aerobak-backup-state';
export const BACKUP_STATE_VERSION = 1;

/** The options that shape a backup's content: a resumed run takes these from the state. */
export interface SavedOptions {
  namespace: string;
  sets: string[];
  bins: string[];
  parallel: number;
  fileSizeBytes?: number;
  compress: Compression;
  compressLevel?: number;
  noIndexes: boolean;
  noUdfs: boolean;
  trackDeletes: boolean;
  recordsPerSecond?: number;
  modifiedAfter?: string;
  modifiedBefore?: string;
  noTtlOnly?: boolean;
  partitions?: { first: number; last: number }[];
  /** The seed hosts (never credentials). */
  hosts: string;
  /** The backup is encrypted: resuming it needs its key again (the key is never saved). */
  encrypted?: true;
}

export interface GroupState {
  partitions: number[];
  /** Sealed data files, in order. */
  files: DataFileEntry[];
  /** Per partition id (as a string key): hex digest of its last record in a sealed file. */
  last: Record<string, string>;
  /** Every record of the group is in a sealed file. */
  complete: boolean;
  /** With trackDeletes: the group's live-digest list, once stored. */
  liveDigests?: DigestListEntry;
}

export interface BackupState {
  format: typeof BACKUP_STATE_FORMAT;
  formatVersion: number;
  startedAt: string;
  options: SavedOptions;
  clusterTime?: string;
  truncateThresholds: Record<string, number>;
  parent?: { ref: ParentRef; location: string; since: string };
  metadata?: MetadataFileEntry;
  groups: GroupState[];
  /** ISO 8601: when the state was last stored (a running backup stores it at every sealed file). */
  savedAt?: string;
}

/** The destination has no usable state to resume from. */
export class ResumeError extends AerobakError {
  constructor(code: 'RESUME_NO_STATE' | 'RESUME_STATE_CORRUPT' | 'RESUME_ALREADY_COMPLETE', message: string) {
    super('failed', code, message);
  }
}

/**
 * Persists the state, one write at a time and in order: `save()` queues a snapshot and
 * resolves once it (or a later one) is stored.
 */
export class StateWriter {
  #chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: ObjectStore,
    private readonly prefix: string,
    readonly state: BackupState,
    private readonly signal?: AbortSignal,
  ) {}

  save(): Promise<void> {
    // When it was last saved: prune tells a backup still running from an abandoned one by it.
    this.state.savedAt = new Date().toISOString();
    const bytes = Buffer.from(`${JSON.stringify(this.state)}\n`, 'utf8');
    const next = this.#chain.then(() => this.store.write(objectKey(this.prefix, BACKUP_STATE_FILE), [bytes], this.signal ? { signal: this.signal } : {})).then(() => undefined);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  /** Records a sealed file of group `g` and the last digests it holds, and persists the state. */
  sealed(g: number, entry: DataFileEntry, last: ReadonlyArray<Buffer | undefined>): Promise<void> {
    const group = this.state.groups[g]!;
    group.files.push(entry);
    last.forEach((d, id) => {
      if (d) group.last[String(id)] = d.toString('hex');
    });
    return this.save();
  }
}

/** Reads the state of an interrupted backup at the store's prefix. */
export async function readBackupState(store: ObjectStore, prefix: string): Promise<BackupState> {
  const key = objectKey(prefix, BACKUP_STATE_FILE);
  if ((await store.stat(key)) === null) {
    throw new ResumeError(
      'RESUME_NO_STATE',
      `${store.location} has no ${BACKUP_STATE_FILE}: there is no interrupted backup to resume there (none was started, it stopped before its first save, or an aerobak without resume made it); delete what is there and back up again`,
    );
  }
  const bytes = await readAll(await store.read(key));
  let s: BackupState;
  try {
    s = JSON.parse(bytes.toString('utf8')) as BackupState;
  } catch (error) {
    throw new ResumeError('RESUME_STATE_CORRUPT', `${store.location}/${BACKUP_STATE_FILE} is not valid JSON: ${(error as Error).message}`);
  }
  if (s?.format !== BACKUP_STATE_FORMAT || s.formatVersion !== BACKUP_STATE_VERSION || !Array.isArray(s.groups) || typeof s.options?.namespace !== 'string') {
    throw new ResumeError('RESUME_STATE_CORRUPT', `${store.location}/${BACKUP_STATE_FILE} is not an aerobak backup state (version ${BACKUP_STATE_VERSION})`);
  }
  return s;
}

/**
 * Options given again with --resume must agree with the saved ones: anything that
 * shapes the backup's content cannot change half-way. `given` holds only what the
 * person typed.
 */
export function checkResumeOptions(saved: SavedOptions, given: Partial<SavedOptions>): void {
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const conflicts: string[] = [];
  const check = <K extends keyof SavedOptions>(key: K, flag: string, norm: (v: SavedOptions[K]) => unknown = (v) => v) => {
    if (given[key] !== undefined && !same(norm(given[key] as SavedOptions[K]), norm(saved[key]))) {
      conflicts.push(`${flag} ${JSON.stringify(given[key])} (the interrupted backup has ${JSON.stringify(saved[key])})`);
    }
  };
  const sorted = (v: unknown) => (Array.isArray(v) ? [...v].sort() : v);
  check('namespace', '--namespace');
  check('sets', '--set', sorted);
  check('bins', '--bins', sorted);
  check('parallel', '--parallel');
  check('fileSizeBytes', '--file-size');
  check('compress', '--compress');
  check('compressLevel', '--compress-level');
  check('trackDeletes', '--track-deletes');
  if (conflicts.length > 0) {
    throw new UsageError(`--resume continues the backup with its own options; these differ: ${conflicts.join('; ')}. Leave them out (or repeat them unchanged)`);
  }
}
