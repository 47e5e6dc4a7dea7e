/**
 * The backup manifest (`<prefix>/manifest.json`) and the metadata file
 * (`<prefix>/metadata.avro`).
 *
 * A backup is complete exactly when its manifest exists: the backup writes every data
 * file and the metadata file first and the manifest last, and the manifest lists each
 * of them with its size and SHA-256 (so a manifest vouches for every byte of the
 * backup; its own integrity rests on JSON parsing and the structural checks below).
 * readManifest tells "no backup here", "an incomplete backup", "a corrupt manifest" and
 * "a backup this aerobak cannot read" apart with typed errors. The format is documented
 * in docs/format.md.
 *
 * Versions: this code writes format version 2, always, and reads 1 and 2. Version 2 adds
 * `requires`, the features a reader must know to use the backup correctly (zstd data
 * files, incrementals...): a reader refuses a backup that requires a feature missing from
 * its KNOWN_FEATURES, instead of misreading it, while it still ignores unknown optional
 * fields. Version 1 has no `requires` and reads exactly as before version 2 existed
 * (compression gzip or none only).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import pkg from '../../package.json' with { type: 'json' };
import { ContainerDecoder, ContainerWriter } from '../avro/container.js';
import { METADATA_CODEC, type BackupMetadata } from '../avro/metadata-codec.js';
import { RECORD_SCHEMA_VERSION } from '../avro/schemas.js';
import { AerobakError } from '../errors.js';
import { openBuffer, sealBuffer, type FileCrypto } from '../crypto/backup-keys.js';
import { objectName } from '../storage/keys.js';
import { ObjectTooLargeError, firstKey, readAll } from '../storage/small-objects.js';
import type { ObjectStore } from '../storage/types.js';
import type { DigestListEntry } from '../catalog/digest-list.js';
import { objectKey, partitionSetIds, type Compression, type DataFileEntry, type PartitionSet } from './data-files.js';

export type { BackupMetadata } from '../avro/metadata-codec.js';

export const MANIFEST_FILE = 'manifest.json';
/**
 * The most bytes a manifest is read to (256 MiB: a file entry is well under 32 KiB even
 * with every partition listed, so about 8,000 files of the worst kind, or a million of the
 * usual): a bigger object is not a manifest, and is not read whole to find that out.
 */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;
/** Where the shards of a sharded run keep their attempts: shards/<index>/<attempt>/. */
export const SHARDS_DIRECTORY = 'shards';
export const METADATA_FILE = 'metadata.avro';
export const MANIFEST_FORMAT = 'aerobak-backup';
/** The manifest layout this code writes and the newest it reads (it reads 1 as well). */
export const MANIFEST_FORMAT_VERSION = 2;

/**
 * Every feature this aerobak knows, by the name a version 2 manifest's `requires` lists it
 * under, and when a manifest uses it. A reader refuses a backup that requires a feature
 * missing here (MANIFEST_UNSUPPORTED); a writer lists every feature its manifest uses
 * (requiredFeatures), and a manifest that uses one without listing it is corrupt.
 *
 * Add a feature here when a change makes backups that a reader without it would misread
 * (restore wrongly, or verify as sound): new meaning, not new optional information. Never
 * rename or remove one; later ones are expected to be "encryption" and "shards".
 */
export const KNOWN_FEATURES = [
  { name: 'zstd', doc: 'data files are zstd frames (`.avro.zst`, compression "zstd")', usedBy: (m: Manifest) => m.compression === 'zstd' },
  { name: 'incremental', doc: 'the backup holds only what changed since its parent (kind "incremental"): restore needs the chain', usedBy: (m: Manifest) => m.kind === 'incremental' },
  { name: 'deletions', doc: 'the backup lists the digests of every live record (liveDigests): a chain restore leaves deleted records out', usedBy: (m: Manifest) => m.liveDigests !== undefined },
  { name: 'encryption', doc: 'data, metadata and digest-list files are encrypted (encryption): reading them needs the key', usedBy: (m: Manifest) => m.encryption !== undefined },
  {
    name: 'shards',
    doc: 'a sharded run (backup --shard): file names carry their shard path (shards/<index>/<attempt>/<name>)',
    usedBy: (m: Manifest) => [...m.files, ...(m.liveDigests ?? []), ...(m.metadata ? [m.metadata] : [])].some((f) => f.name.includes('/')),
  },
] as const;

export type ManifestFeature = (typeof KNOWN_FEATURES)[number]['name'];

/** The features `m` uses, in KNOWN_FEATURES order: what its `requires` must list. */
export function requiredFeatures(m: Manifest): ManifestFeature[] {
  return KNOWN_FEATURES.filter((f) => f.usedBy(m)).map((f) => f.name);
}

/** What the backup selected; absent fields did not filter. */
export interface BackupFilters {
  sets?: string[];
  bins?: string[];
  /** ISO 8601: only records last updated at or after this instant. */
  modifiedAfter?: string;
  /** ISO 8601: only records last updated before this instant. */
  modifiedBefore?: string;
  /** Only records that never expire. */
  noTtlOnly?: boolean;
  /** Inclusive partition ranges, ascending, not overlapping. */
  partitions?: { first: number; last: number }[];
}

export interface ClusterInfo {
  /** The seed hosts the backup connected to (host:port). */
  hosts: string[];
  /** Server version (`build` info command). */
  build?: string;
  clusterName?: string;
}

/** The metadata file as the manifest lists it. */
export interface MetadataFileEntry {
  name: string;
  size: number;
  /** SHA-256 of the stored bytes, lowercase hex. */
  sha256: string;
  indexes: number;
  udfs: number;
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  /** 2 (what this code writes) or 1 (read as before; no `requires`). */
  formatVersion: 1 | typeof MANIFEST_FORMAT_VERSION;
  /**
   * Version 2: the features a reader must know to use the backup (KNOWN_FEATURES); a
   * writer lists exactly requiredFeatures(manifest), [] when none. Absent in version 1
   * (and read as [] in version 2).
   */
  requires?: ManifestFeature[];
  /** The program that wrote the backup. */
  tool: { name: string; version: string };
  /** Record schema of the data files: 1 = aerobak.v1.Record (schemas/record.v1.avsc). */
  schemaVersion: typeof RECORD_SCHEMA_VERSION;
  /** ISO 8601: when the manifest was written, i.e. when the backup became complete. */
  createdAt: string;
  /** ISO 8601: when the scan started. */
  startedAt: string;
  /** ISO 8601: when the last data file was stored. */
  finishedAt: string;
  cluster: ClusterInfo;
  namespace: string;
  filters: BackupFilters;
  compression: Compression;
  /** Records in all data files: the sum of files[].records. */
  records: number;
  /** Stored bytes of all data files: the sum of files[].size. */
  bytes: number;
  /** Every data file of the backup. */
  files: DataFileEntry[];
  /** The index and UDF definitions; absent when the backup did not save them. */
  metadata?: MetadataFileEntry;
  /** "full" (the default when absent) or "incremental": see `parent` and `since`. */
  kind?: BackupKind;
  /** For an incremental: the backup it builds on. */
  parent?: ParentRef;
  /**
   * For an incremental: ISO 8601; it holds every record last updated at or after this
   * instant (its parent's `clusterTime`).
   */
  since?: string;
  /**
   * ISO 8601: the cluster's clock when the scan started (the smallest `current_time` of
   * the nodes, 1-second resolution), the bound an incremental of this backup starts
   * from. Absent when the server did not report it.
   */
  clusterTime?: string;
  /** Truncation thresholds when the scan started, per set ('' = the namespace), ms since 2010-01-01. */
  truncateThresholds?: Record<string, number>;
  /** With --track-deletes: the digests of every record live when the backup ran, per partition group. */
  liveDigests?: DigestListEntry[];
  /** A shard's own manifest (shard-manifest.json of a sharded run): which shard, of how many. */
  shard?: { index: number; count: number };
  /**
   * An encrypted backup (docs/security.md): every data, metadata and digest-list file is
   * an aerobak encrypted stream; the data key is wrapped in `keys/<kek id>.json`, and
   * `manifest.hmac` holds the MAC of this manifest. Sizes and SHA-256s are of the stored
   * (encrypted) bytes.
   */
  encryption?: EncryptionInfo;
}

export interface EncryptionInfo {
  scheme: typeof ENCRYPTION_SCHEME;
  /** Plaintext bytes per segment. */
  segmentBytes: number;
}

/** AES-256-GCM streaming segments with HKDF-SHA256 per-file keys (stream-aead.ts). */
export const ENCRYPTION_SCHEME = 'aes256gcm-hkdf-stream-v1';

export type BackupKind = 'full' | 'incremental';

/**
 * How an incremental names its parent: by its path relative to the repository that holds
 * both (so a copied or replicated bucket still resolves it), or by absolute location when
 * the parent is outside any repository; and by the SHA-256 of the parent's manifest bytes.
 */
export type ParentRef = ({ path: string; location?: undefined } | { location: string; path?: undefined }) & { sha256: string };

/** The prefix holds objects (data files) but no manifest. */
export class IncompleteBackupError extends AerobakError {
  constructor(readonly location: string) {
    super('storage', 'BACKUP_INCOMPLETE', `backup at ${location} is incomplete: no ${MANIFEST_FILE} (the backup was interrupted or is still running)`);
  }

  declare readonly code: 'BACKUP_INCOMPLETE';
}

/** Nothing at all is stored under the prefix. */
export class BackupNotFoundError extends AerobakError {
  constructor(readonly location: string) {
    super('storage', 'BACKUP_NOT_FOUND', `there is no backup at ${location}: nothing is stored there`);
  }

  declare readonly code: 'BACKUP_NOT_FOUND';
}

/** The manifest exists but is not a valid aerobak manifest. */
export class CorruptManifestError extends AerobakError {
  constructor(
    readonly location: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('storage', 'MANIFEST_CORRUPT', `the manifest of the backup at ${location} is corrupt: ${detail}`, options);
  }

  declare readonly code: 'MANIFEST_CORRUPT';
}

/**
 * The manifest was written by a newer aerobak: a format or schema version, or a required
 * feature, that this one does not know.
 */
export class UnsupportedManifestError extends AerobakError {
  constructor(
    readonly location: string,
    /** What this aerobak does not know, e.g. `requires feature "foo" that aerobak 0.1.0 does not know`. */
    detail: string,
  ) {
    super('storage', 'MANIFEST_UNSUPPORTED', `backup at ${location} ${detail}; upgrade aerobak`);
  }

  declare readonly code: 'MANIFEST_UNSUPPORTED';
}

/** The metadata file is missing or differs from its manifest entry. */
export class MetadataFileError extends AerobakError {
  constructor(
    code: 'METADATA_MISSING' | 'METADATA_CORRUPT',
    readonly file: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super('failed', code, message, options);
  }

  declare readonly code: 'METADATA_MISSING' | 'METADATA_CORRUPT';
}

/** Where the backup at `prefix` is, for messages. */
export function backupLocation(store: ObjectStore, prefix: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p === '' ? store.location : objectName(store.location, p);
}

const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

async function* singleChunk(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

/** A reason why `v` is not a valid manifest (path.to.field: what is wrong), thrown as a string. */
class Invalid {
  constructor(readonly reason: string) {}
}

const fail = (path: string, what: string): never => {
  throw new Invalid(`${path}: ${what}`);
};

function object(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(path, 'expected an object');
  return v as Record<string, unknown>;
}

function string(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, 'expected a string');
  return v as string;
}

function count(v: unknown, path: string): number {
  if (!Number.isSafeInteger(v) || (v as number) < 0) fail(path, 'expected a non-negative integer');
  return v as number;
}

function instant(v: unknown, path: string): void {
  if (Number.isNaN(Date.parse(string(v, path)))) fail(path, 'expected an ISO 8601 date-time');
}

function strings(v: unknown, path: string): void {
  if (!Array.isArray(v)) fail(path, 'expected an array of strings');
  (v as unknown[]).forEach((s, i) => string(s, `${path}[${i}]`));
}

function partitionSet(v: unknown, path: string): void {
  if (!Array.isArray(v)) object(v, path);
  try {
    partitionSetIds(v as PartitionSet);
  } catch (error) {
    fail(path, (error as Error).message);
  }
}

function sha256Hex(v: unknown, path: string): void {
  if (!/^[0-9a-f]{64}$/.test(string(v, path))) fail(path, 'expected a SHA-256 as 64 lowercase hex digits');
}

/** A file's name in the backup: one path segment, or (a sharded run) `shards/<index>/<attempt>/<name>`. */
function fileName(v: unknown, path: string): string {
  const name = string(v, path);
  const bad = (segment: string) => segment === '' || segment === '.' || segment === '..' || segment.includes('\\') || segment === MANIFEST_FILE;
  const segments = name.split('/');
  const sharded = segments.length === 4 && segments[0] === SHARDS_DIRECTORY && /^\d+$/.test(segments[1]!);
  if ((segments.length !== 1 && !sharded) || segments.some(bad)) fail(path, `"${name}" is not a file name in the backup`);
  return name;
}

/** Checks the fields of incrementals and deletion tracking (throws Invalid). */
function chainFieldsProblem(m: Record<string, unknown>, names: Set<string>): void {
  if (m.kind !== undefined && m.kind !== 'full' && m.kind !== 'incremental') fail('kind', 'expected "full" or "incremental"');
  if (m.kind === 'incremental') {
    const parent = object(m.parent, 'parent');
    if ((parent.path === undefined) === (parent.location === undefined)) fail('parent', 'expected exactly one of path and location');
    if (parent.path !== undefined && (string(parent.path, 'parent.path') === '' || String(parent.path).split('/').some((s) => s === '' || s === '.' || s === '..'))) {
      fail('parent.path', 'expected a relative path inside the repository');
    }
    if (parent.location !== undefined) string(parent.location, 'parent.location');
    sha256Hex(parent.sha256, 'parent.sha256');
    instant(m.since, 'since');
  } else if (m.parent !== undefined || m.since !== undefined) {
    fail('parent', 'only an incremental names a parent');
  }
  if (m.clusterTime !== undefined) instant(m.clusterTime, 'clusterTime');
  if (m.truncateThresholds !== undefined) {
    const t = object(m.truncateThresholds, 'truncateThresholds');
    for (const [k, v] of Object.entries(t)) count(v, `truncateThresholds[${JSON.stringify(k)}]`);
  }
  if (m.encryption !== undefined) {
    const e = m.encryption as Record<string, unknown>;
    if (typeof e !== 'object' || e === null) fail('encryption', 'expected an object');
    if (e.scheme !== ENCRYPTION_SCHEME) fail('encryption.scheme', `expected "${ENCRYPTION_SCHEME}"`);
    if (!Number.isSafeInteger(e.segmentBytes) || (e.segmentBytes as number) < 1024) fail('encryption.segmentBytes', 'expected an integer of at least 1024');
  }
  if (m.liveDigests !== undefined) {
    if (!Array.isArray(m.liveDigests)) fail('liveDigests', 'expected an array');
    (m.liveDigests as unknown[]).forEach((l, i) => {
      const path = `liveDigests[${i}]`;
      const list = object(l, path);
      const name = fileName(list.name, `${path}.name`);
      if (names.has(name)) fail(`${path}.name`, `"${name}" is listed twice`);
      names.add(name);
      count(list.size, `${path}.size`);
      sha256Hex(list.sha256, `${path}.sha256`);
      count(list.digests, `${path}.digests`);
      partitionSet(list.partitions, `${path}.partitions`);
    });
  }
}

const TOOL = `aerobak ${pkg.version}`;

/**
 * A version 2 manifest's `requires` (absent: none): the features this code does not know,
 * as the `unsupported` detail; throws Invalid for a list that is not one.
 */
function unknownFeatures(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  strings(v, 'requires');
  const names = v as string[];
  names.forEach((name, i) => {
    if (names.indexOf(name) !== i) fail(`requires[${i}]`, `"${name}" is listed twice`);
  });
  const unknown = names.filter((name) => !KNOWN_FEATURES.some((f) => f.name === name));
  if (unknown.length === 0) return undefined;
  const list = unknown.map((name) => JSON.stringify(name)).join(', ');
  return unknown.length === 1 ? `requires feature ${list} that ${TOOL} does not know` : `requires features ${list} that ${TOOL} does not know`;
}

/** The reason `v` is not a Manifest this code can read, as `{ unsupported }` or `{ corrupt }`; undefined when it is one. */
function manifestProblem(v: unknown): { unsupported: string } | { corrupt: string } | undefined {
  try {
    const m = object(v, 'manifest');
    if (m.format !== MANIFEST_FORMAT) fail('format', `expected "${MANIFEST_FORMAT}" (not an aerobak backup manifest)`);
    const version = count(m.formatVersion, 'formatVersion');
    if (version > MANIFEST_FORMAT_VERSION) {
      return { unsupported: `has manifest format version ${version}, which ${TOOL} does not know (it reads 1-${MANIFEST_FORMAT_VERSION})` };
    }
    if (version < 1) fail('formatVersion', `unknown version ${version}`);
    // Before any other field: an unknown feature may give them a meaning this code lacks.
    const unknown = version >= 2 ? unknownFeatures(m.requires) : undefined;
    if (unknown !== undefined) return { unsupported: unknown };
    const schemaVersion = count(m.schemaVersion, 'schemaVersion');
    if (schemaVersion > RECORD_SCHEMA_VERSION) {
      return { unsupported: `has record schema version ${schemaVersion}, which ${TOOL} does not know (it reads ${RECORD_SCHEMA_VERSION})` };
    }
    if (schemaVersion !== RECORD_SCHEMA_VERSION) fail('schemaVersion', `unknown version ${schemaVersion}`);

    const tool = object(m.tool, 'tool');
    string(tool.name, 'tool.name');
    string(tool.version, 'tool.version');
    for (const f of ['createdAt', 'startedAt', 'finishedAt'] as const) instant(m[f], f);
    const cluster = object(m.cluster, 'cluster');
    strings(cluster.hosts, 'cluster.hosts');
    if (cluster.build !== undefined) string(cluster.build, 'cluster.build');
    if (cluster.clusterName !== undefined) string(cluster.clusterName, 'cluster.clusterName');
    if (string(m.namespace, 'namespace') === '') fail('namespace', 'empty');

    const filters = object(m.filters, 'filters');
    if (filters.sets !== undefined) strings(filters.sets, 'filters.sets');
    if (filters.bins !== undefined) strings(filters.bins, 'filters.bins');
    if (filters.modifiedAfter !== undefined) instant(filters.modifiedAfter, 'filters.modifiedAfter');
    if (filters.modifiedBefore !== undefined) instant(filters.modifiedBefore, 'filters.modifiedBefore');
    if (filters.noTtlOnly !== undefined && typeof filters.noTtlOnly !== 'boolean') fail('filters.noTtlOnly', 'expected a boolean');
    if (filters.partitions !== undefined) {
      if (!Array.isArray(filters.partitions)) fail('filters.partitions', 'expected an array of ranges');
      (filters.partitions as unknown[]).forEach((r, i) => {
        const range = object(r, `filters.partitions[${i}]`);
        partitionSet({ first: range.first, last: range.last }, `filters.partitions[${i}]`);
      });
    }

    const compression = m.compression;
    if (version === 1 && compression !== 'gzip' && compression !== 'none') fail('compression', 'expected "gzip" or "none"');
    if (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') fail('compression', 'expected "gzip", "zstd" or "none"');
    const records = count(m.records, 'records');
    const bytes = count(m.bytes, 'bytes');

    if (!Array.isArray(m.files)) fail('files', 'expected an array');
    const names = new Set<string>();
    let sumRecords = 0;
    let sumBytes = 0;
    (m.files as unknown[]).forEach((f, i) => {
      const path = `files[${i}]`;
      const file = object(f, path);
      const name = fileName(file.name, `${path}.name`);
      if (names.has(name)) fail(`${path}.name`, `"${name}" is listed twice`);
      names.add(name);
      sumBytes += count(file.size, `${path}.size`);
      sha256Hex(file.sha256, `${path}.sha256`);
      sumRecords += count(file.records, `${path}.records`);
      partitionSet(file.partitions, `${path}.partitions`);
    });
    if (sumRecords !== records) fail('records', `${records}, but the files hold ${sumRecords}`);
    if (sumBytes !== bytes) fail('bytes', `${bytes}, but the files' sizes add up to ${sumBytes}`);

    if (m.metadata !== undefined) {
      const meta = object(m.metadata, 'metadata');
      const name = fileName(meta.name, 'metadata.name');
      if (names.has(name)) fail('metadata.name', `"${name}" is also a data file`);
      count(meta.size, 'metadata.size');
      sha256Hex(meta.sha256, 'metadata.sha256');
      count(meta.indexes, 'metadata.indexes');
      count(meta.udfs, 'metadata.udfs');
    }
    chainFieldsProblem(m, names);
    if (version >= 2) {
      const declared = (m.requires as string[] | undefined) ?? [];
      const undeclared = requiredFeatures(m as unknown as Manifest).filter((f) => !declared.includes(f));
      if (undeclared.length > 0) fail('requires', `the backup uses ${undeclared.map((f) => `"${f}"`).join(', ')} but does not list it`);
    }
    return undefined;
  } catch (error) {
    if (error instanceof Invalid) return { corrupt: error.reason };
    throw error;
  }
}

/**
 * Stores the manifest, which makes the backup complete: call it last, after every data
 * file and the metadata file are stored. Throws RangeError (and writes nothing) if `m`
 * is not a valid manifest of the current format version, e.g. if `records` is not the
 * sum of the files' records, or if `requires` misses a feature it uses.
 */
export async function writeManifest(
  store: ObjectStore,
  prefix: string,
  m: Manifest,
  opts: { signal?: AbortSignal; beforeCommit?: (sha256: string) => Promise<void>; name?: string; exclusive?: boolean } = {},
): Promise<void> {
  if (m.formatVersion !== MANIFEST_FORMAT_VERSION) throw new RangeError(`refusing to write a manifest of format version ${m.formatVersion}: this aerobak writes ${MANIFEST_FORMAT_VERSION}`);
  const problem = manifestProblem(m);
  if (problem) throw new RangeError(`refusing to write an invalid manifest: ${'corrupt' in problem ? problem.corrupt : problem.unsupported}`);
  const bytes = Buffer.from(`${JSON.stringify(m, null, 2)}\n`, 'utf8');
  // What must exist before the manifest makes the backup complete (the MAC of an encrypted one).
  await opts.beforeCommit?.(sha256(bytes));
  const key = objectKey(prefix, opts.name ?? MANIFEST_FILE);
  const write = opts.exclusive ? store.create.bind(store) : store.write.bind(store);
  await write(key, singleChunk(bytes), opts.signal ? { signal: opts.signal } : {});
}

/**
 * The manifest of the backup at `prefix`. Rejects with BackupNotFoundError (nothing is
 * stored under the prefix), IncompleteBackupError (objects but no manifest),
 * CorruptManifestError (not JSON, or not a consistent aerobak manifest),
 * UnsupportedManifestError (a newer format or schema version, or a required feature this
 * aerobak does not know), or the store's own errors. A manifest reads as it is stored (a
 * version 1 manifest has no `requires`).
 */
export async function readManifest(store: ObjectStore, prefix: string, onBytes?: (bytes: Buffer) => void, name = MANIFEST_FILE): Promise<Manifest> {
  const location = backupLocation(store, prefix);
  let stream: Readable;
  try {
    stream = await store.read(objectKey(prefix, name));
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'NOT_FOUND') throw error;
    const p = prefix.replace(/\/+$/, '');
    const stored = (await firstKey(store, p === '' ? '' : `${p}/`)) !== undefined;
    throw stored ? new IncompleteBackupError(location) : new BackupNotFoundError(location);
  }
  let raw: Buffer;
  try {
    raw = await readAll(stream, MAX_MANIFEST_BYTES);
  } catch (error) {
    if (error instanceof ObjectTooLargeError) throw new CorruptManifestError(location, `${name} is larger than ${MAX_MANIFEST_BYTES} bytes, more than any manifest`, { cause: error });
    throw error;
  }
  onBytes?.(raw);
  const text = raw.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new CorruptManifestError(location, `${MANIFEST_FILE} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const problem = manifestProblem(value);
  if (problem && 'unsupported' in problem) throw new UnsupportedManifestError(location, problem.unsupported);
  if (problem) throw new CorruptManifestError(location, problem.corrupt);
  return value as Manifest;
}

/**
 * The manifest of the backup at `prefix` and the SHA-256 of its stored bytes (what an
 * incremental records of its parent); rejects as readManifest does.
 */
export async function readManifestAndHash(store: ObjectStore, prefix: string, name = MANIFEST_FILE): Promise<{ manifest: Manifest; sha256: string }> {
  let digest = '';
  const manifest = await readManifest(store, prefix, (bytes) => (digest = sha256(bytes)), name);
  return { manifest, sha256: digest };
}

/** Stores the index and UDF definitions as `<prefix>/metadata.avro`; returns the manifest entry for it. */
export async function writeMetadata(
  store: ObjectStore,
  prefix: string,
  metadata: BackupMetadata,
  opts: { signal?: AbortSignal; crypto?: FileCrypto } = {},
): Promise<MetadataFileEntry> {
  const writer = new ContainerWriter(METADATA_CODEC);
  writer.append(metadata);
  const plain = Buffer.concat([writer.header, writer.takeBlock()!.bytes]);
  const bytes = opts.crypto ? await sealBuffer(opts.crypto, METADATA_FILE, plain) : plain;
  await store.write(objectKey(prefix, METADATA_FILE), singleChunk(bytes), opts);
  return { name: METADATA_FILE, size: bytes.length, sha256: sha256(bytes), indexes: metadata.indexes.length, udfs: metadata.udfs.length };
}

/**
 * The index and UDF definitions of a backup, checked against the manifest's entry.
 * Rejects with MetadataFileError (METADATA_MISSING, or METADATA_CORRUPT for a size,
 * SHA-256, decoding or count mismatch) or the store's own errors.
 */
export async function readMetadata(store: ObjectStore, prefix: string, entry: MetadataFileEntry, crypto?: FileCrypto): Promise<BackupMetadata> {
  const key = objectKey(prefix, entry.name);
  const where = objectName(store.location, key);
  let stream: Readable;
  try {
    stream = await store.read(key);
  } catch (error) {
    if ((error as { code?: unknown }).code === 'NOT_FOUND') throw new MetadataFileError('METADATA_MISSING', entry.name, `metadata file ${where} is missing`, { cause: error });
    throw error;
  }
  const corrupt = (detail: string, cause?: unknown): MetadataFileError =>
    new MetadataFileError('METADATA_CORRUPT', entry.name, `metadata file ${where} ${detail}`, cause === undefined ? undefined : { cause });
  let bytes: Buffer;
  try {
    bytes = await readAll(stream, entry.size);
  } catch (error) {
    if (error instanceof ObjectTooLargeError) throw corrupt(`is more than the ${entry.size} bytes the manifest says`, error);
    throw error;
  }
  if (bytes.length !== entry.size) throw corrupt(`is ${bytes.length} bytes but the manifest says ${entry.size}`);
  const digest = sha256(bytes);
  if (digest !== entry.sha256) throw corrupt(`has SHA-256 ${digest} but the manifest says ${entry.sha256}`);
  let plain = bytes;
  if (crypto) {
    try {
      plain = await openBuffer(crypto, entry.name, where, bytes);
    } catch (error) {
      throw corrupt(`does not decrypt: ${(error as Error).message}`, error);
    }
  }
  const values: BackupMetadata[] = [];
  const decoder = new ContainerDecoder(METADATA_CODEC);
  decoder.end(plain);
  try {
    for await (const v of decoder) values.push(v as BackupMetadata);
  } catch (error) {
    throw corrupt(`cannot be decoded: ${(error as Error).message}`, error);
  }
  if (values.length !== 1) throw corrupt(`holds ${values.length} metadata values (expected 1)`);
  const metadata = values[0]!;
  if (metadata.indexes.length !== entry.indexes || metadata.udfs.length !== entry.udfs) {
    throw corrupt(`holds ${metadata.indexes.length} indexes and ${metadata.udfs.length} UDFs but the manifest says ${entry.indexes} and ${entry.udfs}`);
  }
  return metadata;
}
