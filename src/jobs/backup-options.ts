/**
 * What a backup is asked to do and what it reports: the options of runBackup (what
 * `aerobak backup` parses its flags into), its dependencies, and its summary.
 */
import type { ClusterOptions } from '../aerospike/cluster.js';
import type { Kek } from '../crypto/keys.js';
import type { StoreOpener } from '../storage/types.js';
import type { SavedOptions } from './backup-state.js';
import type { Compression } from './data-files.js';
import type { BackupKind } from './manifest.js';
import type { PartitionRange } from './plan.js';
import type { ProgressListener } from './progress.js';

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
  /** Encrypt the backup (docs/security.md): a new data key wrapped for this key-encryption key. Resuming an encrypted backup needs it again. */
  encrypt?: Kek;
  /**
   * One shard of a sharded run (docs/distributed.md): worker `index` of `count` backs up its
   * share of the partitions to `to`/shards/<index>/<attempt>/, and the run is complete once
   * finalized (shards.ts).
   */
  shard?: { index: number; count: number };
  /** For a shard's attempt: the manifest is stored under this name, with its shard, not as manifest.json. */
  shardManifest?: { name: string; shard: { index: number; count: number } };
}

export interface BackupDeps {
  /** Aborting stops the backup; it then rejects with the signal's reason. */
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Notes for the person running the backup (destination, indexes found...). */
  note?: (message: string) => void;
  now?: () => Date;
  openStore?: StoreOpener;
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
