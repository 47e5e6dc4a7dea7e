/**
 * Google Cloud Storage locations and options: `gs://bucket/prefix`, plus what
 * the URL cannot say (endpoint, credentials, chunk size). Validated here,
 * synchronously; nothing here does I/O.
 */
import { StorageError } from '../errors.js';
import { rootPrefix } from '../keys.js';
import type { StoreCapabilities } from '../types.js';

/**
 * What GcsStore can do: exclusive create with the precondition
 * ifGenerationMatch=0, batched delete as concurrent deletes. Here rather than
 * in gcs-store.ts so that the registry can tell without loading the SDK.
 */
export const GCS_CAPABILITIES: StoreCapabilities = Object.freeze({ exclusiveCreate: true, batchDelete: true });

export interface GcsOptions {
  /**
   * Endpoint of an emulator such as fake-gcs-server (`http://127.0.0.1:4443`).
   * Default: STORAGE_EMULATOR_HOST (`host:port` means `http://host:port`),
   * and otherwise Google. Requests to a custom endpoint carry no credentials.
   */
  apiEndpoint?: string;
  /** Default: the project of the credentials. Only needed to create buckets, which stores never do. */
  projectId?: string;
  /**
   * A service account key file. Default: Application Default Credentials
   * (GOOGLE_APPLICATION_CREDENTIALS, `gcloud auth application-default login`,
   * the metadata server on Google Cloud).
   */
  keyFilename?: string;
  /**
   * Bytes per request of a resumable upload, a multiple of 256 KiB. Each
   * chunk is buffered (memory is about one chunk) so that a failed request
   * can be retried alone.
   */
  chunkSize?: number;
  /**
   * Retries per request (each upload chunk, GET, list, delete) for transient
   * errors: 408, 429, 5xx, connection resets. The library waits between them
   * with exponential backoff (x2, capped at 64 s) plus up to 1 s of jitter.
   */
  maxRetries?: number;
}

export interface GcsConfig {
  bucket: string;
  /** '' or a prefix ending in '/' that every key is stored under. */
  root: string;
  apiEndpoint: string | undefined;
  projectId: string | undefined;
  keyFilename: string | undefined;
  chunkSize: number;
  maxRetries: number;
}

const CHUNK_MULTIPLE = 256 * 1024;
export const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_MAX_RETRIES = 5;

const BUCKET_NAME = /^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/;

/** Parses `gs://bucket/prefix` and checks the options. Throws CONFIG. */
export function gcsConfig(url: URL, options: GcsOptions = {}, env: NodeJS.ProcessEnv = process.env): GcsConfig {
  const location = url.href;
  const bucket = url.hostname;
  if (!BUCKET_NAME.test(bucket)) {
    throw new StorageError('CONFIG', `invalid location ${location}: ${JSON.stringify(bucket)} is not a valid GCS bucket name`);
  }
  if (url.username || url.password || url.port || url.search || url.hash) {
    throw new StorageError('CONFIG', `invalid location ${location}: expected gs://bucket/prefix`);
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < CHUNK_MULTIPLE || chunkSize % CHUNK_MULTIPLE !== 0) {
    throw new StorageError('CONFIG', `GCS chunk size must be a positive multiple of 256 KiB, got ${chunkSize}`);
  }
  if (!Number.isSafeInteger(maxRetries) || maxRetries < 0) {
    throw new StorageError('CONFIG', `GCS max retries must be a non-negative integer, got ${maxRetries}`);
  }
  const emulator = env.STORAGE_EMULATOR_HOST;
  const apiEndpoint = options.apiEndpoint ?? (emulator ? (/^https?:\/\//.test(emulator) ? emulator : `http://${emulator}`) : undefined);
  if (apiEndpoint !== undefined && !URL.canParse(apiEndpoint)) {
    throw new StorageError('CONFIG', `invalid GCS endpoint ${JSON.stringify(apiEndpoint)}: expected a URL`);
  }
  return {
    bucket,
    root: rootPrefix(location, url.pathname),
    apiEndpoint: apiEndpoint?.replace(/\/+$/, ''),
    projectId: options.projectId,
    keyFilename: options.keyFilename,
    chunkSize,
    maxRetries,
  };
}
