/**
 * verifyBackup: proves a backup restorable without touching a cluster. It reads the
 * manifest, then every data file to the end (size, SHA-256, decompression, every record
 * decoded and counted) and the metadata file, and reports each problem with the file
 * it is in (and, for a decoding failure, the position). It does not stop at the first
 * problem; storage failures (access denied, network) reject instead, since they say
 * nothing about the backup, and so does a runtime that cannot decompress it
 * (ZstdUnavailableError).
 */
import type { ContainerPosition } from '../avro/errors.js';
import { DigestListError, readDigestList, type DigestListErrorCode } from '../catalog/digest-list.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { ChainError, resolveChain, type ChainErrorCode } from './chain.js';
import { requireCompression } from './compression.js';
import { checkDataFile, objectKey, sha256Of, type DataFileEntry, type DataFileErrorCode } from './data-files.js';
import { MAC_FILE, ManifestAuthError, openBackupKey, type FileCrypto } from '../crypto/backup-keys.js';
import { WrongKeyError, type Kek } from '../crypto/keys.js';
import {
  BackupNotFoundError,
  CorruptManifestError,
  IncompleteBackupError,
  MANIFEST_FILE,
  MetadataFileError,
  UnsupportedManifestError,
  backupLocation,
  readManifestAndHash,
  readMetadata,
  type Manifest,
} from './manifest.js';

export type VerifyProblemCode =
  | DataFileErrorCode
  | 'BACKUP_NOT_FOUND'
  | 'BACKUP_INCOMPLETE'
  | 'MANIFEST_CORRUPT'
  | 'MANIFEST_UNSUPPORTED'
  | 'METADATA_MISSING'
  | 'METADATA_CORRUPT'
  | DigestListErrorCode
  | ChainErrorCode
  | 'WRONG_KEY'
  | 'MANIFEST_NOT_AUTHENTIC'
  | 'STORED_FILE_MISMATCH';

export interface VerifyProblem {
  code: VerifyProblemCode;
  /** The file at fault, relative to the backup prefix (manifest.json for manifest problems). */
  file: string;
  /** One sentence naming the file and what is wrong. */
  message: string;
  /** For a chain: the link the file is in, when it is not the backup verified itself. */
  link?: string;
  /** Where decoding failed (DATA_FILE_UNDECODABLE). */
  position?: ContainerPosition;
}

export interface VerifyProgress {
  /** The data file just checked. */
  file: string;
  filesDone: number;
  filesTotal: number;
  /** Stored bytes read so far, and in all data files (from the manifest). */
  bytesDone: number;
  bytesTotal: number;
  /** Records decoded so far. */
  records: number;
}

export interface VerifyReport {
  /** True only if the manifest is valid and every file is exactly as it lists. */
  ok: boolean;
  /** The backup's location, for messages. */
  location: string;
  /** The manifest, when it could be read. */
  manifest?: Manifest;
  /** Data files read. */
  filesChecked: number;
  /** Records decoded across all data files. */
  records: number;
  /** Stored bytes read across all data files. */
  bytes: number;
  /** Backups verified: 1, or the links of the chain an incremental ends. */
  links: number;
  problems: VerifyProblem[];
  /**
   * The backup is encrypted and no key was given: only the stored bytes were checked
   * (sizes and SHA-256s against the manifest), not the content (records, counts).
   */
  contentUnchecked?: true;
}

export interface VerifyOptions {
  store: ObjectStore;
  prefix: string;
  /** Called after each data file. */
  onProgress?: (progress: VerifyProgress) => void;
  /** Aborting stops the verification; the promise rejects with an AbortError. */
  signal?: AbortSignal;
  /**
   * The backup's location, to find the parents of an incremental (its whole chain is
   * verified); without it only the backup itself is.
   */
  location?: string;
  openStore?: StoreOpener;
  /** The key of an encrypted backup; without it only the stored (encrypted) bytes are checked: sizes and SHA-256s. */
  key?: Kek;
}

export async function verifyBackup(opts: VerifyOptions): Promise<VerifyReport> {
  const { store, prefix } = opts;
  const report: VerifyReport = { ok: false, location: backupLocation(store, prefix), filesChecked: 0, records: 0, bytes: 0, links: 0, problems: [] };
  let manifest: Manifest;
  let manifestSha256: string;
  try {
    ({ manifest, sha256: manifestSha256 } = await readManifestAndHash(store, prefix));
  } catch (error) {
    if (
      error instanceof BackupNotFoundError ||
      error instanceof IncompleteBackupError ||
      error instanceof CorruptManifestError ||
      error instanceof UnsupportedManifestError
    ) {
      report.problems.push({ code: error.code, file: MANIFEST_FILE, message: error.message });
      return report;
    }
    throw error;
  }
  report.manifest = manifest;

  let links: VerifiedLink[] = [{ store, prefix, manifest, manifestSha256, where: report.location }];
  if (manifest.kind === 'incremental' && opts.location !== undefined) {
    try {
      const chain = await resolveChain(opts.location, opts.openStore ?? openStore);
      links = chain.map((l, i) => ({
        store: l.store,
        prefix: l.prefix,
        manifest: l.manifest,
        manifestSha256: l.manifestSha256,
        where: l.location,
        ...(i < chain.length - 1 ? { location: l.location } : {}),
      }));
    } catch (error) {
      if (!(error instanceof ChainError)) throw error;
      report.problems.push({ code: error.code, file: MANIFEST_FILE, message: error.message, link: error.link });
      return report;
    }
  }
  // Not a problem of the backup: this runtime cannot read it (zstd on a Node without it).
  for (const link of links) requireCompression(link.manifest.compression, 'failed', `the backup at ${link.location ?? report.location}`);
  const filesTotal = links.reduce((n, l) => n + l.manifest.files.length, 0);
  const bytesTotal = links.reduce((n, l) => n + l.manifest.bytes, 0);
  for (const link of links) {
    await verifyOne(link, report, opts, { filesTotal, bytesTotal });
    report.links++;
  }
  if (links.some((l) => l.manifest.encryption) && !opts.key) report.contentUnchecked = true;
  report.ok = report.problems.length === 0;
  return report;
}

interface VerifiedLink {
  store: ObjectStore;
  prefix: string;
  manifest: Manifest;
  manifestSha256: string;
  /** The backup's location, for messages. */
  where: string;
  /** For a link that is not the backup verified itself. */
  location?: string;
}

/**
 * An encrypted backup without its key: each stored file's size and SHA-256 against the
 * manifest (the content cannot be decrypted, so it is not checked).
 */
async function verifyStored(link: VerifiedLink, report: VerifyReport, signal: AbortSignal | undefined, push: (p: VerifyProblem) => void): Promise<void> {
  const { store, prefix, manifest } = link;
  const files = [...manifest.files, ...(manifest.liveDigests ?? []), ...(manifest.metadata ? [manifest.metadata] : [])];
  for (const f of files) {
    signal?.throwIfAborted();
    const key = objectKey(prefix, f.name);
    const where = `${link.where}/${f.name}`;
    if ((await store.stat(key)) === null) {
      push({ code: 'STORED_FILE_MISMATCH', file: f.name, message: `${where} is missing` });
      continue;
    }
    const { size, sha256 } = await sha256Of(store, key, signal);
    if (size !== f.size) push({ code: 'STORED_FILE_MISMATCH', file: f.name, message: `${where} is ${size} bytes but the manifest says ${f.size}` });
    else if (sha256 !== f.sha256) push({ code: 'STORED_FILE_MISMATCH', file: f.name, message: `${where} has SHA-256 ${sha256} but the manifest says ${f.sha256}` });
    if (manifest.files.includes(f as DataFileEntry)) {
      report.filesChecked++;
      report.bytes += size;
    }
  }
}

/** Checks one backup's data files, live-digest lists and metadata file into `report`. */
async function verifyOne(link: VerifiedLink, report: VerifyReport, opts: VerifyOptions, totals: { filesTotal: number; bytesTotal: number }): Promise<void> {
  const { store, prefix, manifest } = link;
  const { signal } = opts;
  const push = (p: VerifyProblem) => report.problems.push(link.location ? { ...p, link: link.location } : p);
  let crypto: FileCrypto | undefined;
  if (manifest.encryption) {
    if (!opts.key) return verifyStored(link, report, signal, push);
    try {
      crypto = await openBackupKey(store, prefix, opts.key, link.where, link.manifestSha256);
    } catch (error) {
      if (!(error instanceof WrongKeyError) && !(error instanceof ManifestAuthError)) throw error;
      push({ code: error.code as VerifyProblemCode, file: error instanceof WrongKeyError ? 'keys/' : MAC_FILE, message: error.message });
      return;
    }
  }
  for (const entry of manifest.files) {
    signal?.throwIfAborted();
    const check = await checkDataFile({ store, prefix, entry, compress: manifest.compression, signal, ...(crypto ? { crypto } : {}) });
    for (const p of check.problems) {
      const problem: VerifyProblem = { code: p.code, file: p.file, message: p.message };
      if (p.position) problem.position = p.position;
      push(problem);
    }
    report.filesChecked++;
    report.records += check.records;
    report.bytes += check.bytes;
    opts.onProgress?.({
      file: entry.name,
      filesDone: report.filesChecked,
      filesTotal: totals.filesTotal,
      bytesDone: report.bytes,
      bytesTotal: totals.bytesTotal,
      records: report.records,
    });
  }
  for (const list of manifest.liveDigests ?? []) {
    signal?.throwIfAborted();
    try {
      await readDigestList(store, objectKey(prefix, list.name), list, () => false, () => undefined, signal, crypto?.decrypt(list.name, `${link.where}/${list.name}`));
    } catch (error) {
      if (!(error instanceof DigestListError)) throw error;
      push({ code: error.code, file: error.file, message: error.message });
    }
  }
  if (manifest.metadata) {
    signal?.throwIfAborted();
    try {
      await readMetadata(store, prefix, manifest.metadata, crypto);
    } catch (error) {
      if (!(error instanceof MetadataFileError)) throw error;
      push({ code: error.code, file: error.file, message: error.message });
    }
  }
}
