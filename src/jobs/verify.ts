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
import { checkDataFile, objectKey, type DataFileErrorCode } from './data-files.js';
import {
  BackupNotFoundError,
  CorruptManifestError,
  IncompleteBackupError,
  MANIFEST_FILE,
  MetadataFileError,
  UnsupportedManifestError,
  backupLocation,
  readManifest,
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
  | ChainErrorCode;

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
}

export async function verifyBackup(opts: VerifyOptions): Promise<VerifyReport> {
  const { store, prefix } = opts;
  const report: VerifyReport = { ok: false, location: backupLocation(store, prefix), filesChecked: 0, records: 0, bytes: 0, links: 0, problems: [] };
  let manifest: Manifest;
  try {
    manifest = await readManifest(store, prefix);
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

  let links: { store: ObjectStore; prefix: string; manifest: Manifest; location?: string }[] = [{ store, prefix, manifest }];
  if (manifest.kind === 'incremental' && opts.location !== undefined) {
    try {
      const chain = await resolveChain(opts.location, opts.openStore ?? openStore);
      links = chain.map((l, i) => ({ store: l.store, prefix: l.prefix, manifest: l.manifest, ...(i < chain.length - 1 ? { location: l.location } : {}) }));
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
  report.ok = report.problems.length === 0;
  return report;
}

/** Checks one backup's data files, live-digest lists and metadata file into `report`. */
async function verifyOne(
  link: { store: ObjectStore; prefix: string; manifest: Manifest; location?: string },
  report: VerifyReport,
  opts: VerifyOptions,
  totals: { filesTotal: number; bytesTotal: number },
): Promise<void> {
  const { store, prefix, manifest } = link;
  const { signal } = opts;
  const push = (p: VerifyProblem) => report.problems.push(link.location ? { ...p, link: link.location } : p);
  for (const entry of manifest.files) {
    signal?.throwIfAborted();
    const check = await checkDataFile({ store, prefix, entry, compress: manifest.compression, signal });
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
      await readDigestList(store, objectKey(prefix, list.name), list, () => false, () => undefined, signal);
    } catch (error) {
      if (!(error instanceof DigestListError)) throw error;
      push({ code: error.code, file: error.file, message: error.message });
    }
  }
  if (manifest.metadata) {
    signal?.throwIfAborted();
    try {
      await readMetadata(store, prefix, manifest.metadata);
    } catch (error) {
      if (!(error instanceof MetadataFileError)) throw error;
      push({ code: error.code, file: error.file, message: error.message });
    }
  }
}
