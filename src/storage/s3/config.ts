/**
 * S3 locations and options: `s3://bucket/prefix`, plus what the URL cannot
 * say (endpoint, credentials, part size). Everything is validated here,
 * synchronously; nothing here does I/O.
 */
import { StorageError } from '../errors.js';
import { rootPrefix } from '../keys.js';
import type { StoreCapabilities } from '../types.js';

/**
 * What S3Store can do: exclusive create with If-None-Match, batched delete
 * with DeleteObjects. Here rather than in s3-store.ts so that the registry
 * can tell without loading the SDK.
 */
export const S3_CAPABILITIES: StoreCapabilities = Object.freeze({ exclusiveCreate: true, batchDelete: true });

export interface S3Options {
  /**
   * Endpoint of an S3-compatible service (MinIO, LocalStack, ...). When
   * absent the SDK takes AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, or the
   * profile's `endpoint_url`, and otherwise AWS itself.
   */
  endpoint?: string;
  /**
   * Address buckets as `endpoint/bucket` instead of `bucket.endpoint`.
   * Default: true when an endpoint is set (in `endpoint` or the environment),
   * as S3-compatible services expect; false for AWS.
   */
  forcePathStyle?: boolean;
  /** Default: the SDK's chain (AWS_REGION, the profile's region). */
  region?: string;
  /** Default: the SDK's credential chain (environment, profile, SSO, instance or container role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /**
   * Size of each part of a multipart upload, in bytes: at least 5 MiB (the
   * S3 minimum). An object of up to one part is sent with a single PUT. The
   * largest object is 10,000 parts: 160 GiB at the default 16 MiB.
   */
  partSize?: number;
  /** Parts uploaded at once. Upload memory is at most queueSize x partSize (64 MiB by default). */
  queueSize?: number;
  /**
   * Attempts per request (each part, each GET, HEAD, LIST, DELETE, PUT) for
   * transient errors: 5xx, throttling, timeouts, connection resets. The SDK
   * waits between attempts with exponential backoff and full jitter (base
   * 100 ms, 20 s cap) and, to ride out an outage without storming it,
   * draws retries from a shared quota. The store itself gives as many
   * attempts, with the same kind of backoff, to what the SDK does not retry:
   * an exclusive create that conflicted with another write in flight (409),
   * the keys of a DeleteObjects that S3 reports as failed for a transient
   * reason.
   */
  maxAttempts?: number;
}

export interface S3Config {
  bucket: string;
  /** '' or a prefix ending in '/' that every key is stored under. */
  root: string;
  endpoint: string | undefined;
  forcePathStyle: boolean;
  region: string | undefined;
  credentials: S3Options['credentials'];
  partSize: number;
  queueSize: number;
  maxAttempts: number;
}

const MIB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MIB;
export const DEFAULT_PART_SIZE = 16 * MIB;
export const DEFAULT_QUEUE_SIZE = 4;
export const DEFAULT_MAX_ATTEMPTS = 5;

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/** Parses `s3://bucket/prefix` and checks the options. Throws CONFIG. */
export function s3Config(url: URL, options: S3Options = {}, env: NodeJS.ProcessEnv = process.env): S3Config {
  const location = url.href;
  const bucket = url.hostname;
  if (!BUCKET_NAME.test(bucket)) {
    throw new StorageError('CONFIG', `invalid location ${location}: ${JSON.stringify(bucket)} is not a valid S3 bucket name`);
  }
  if (url.username || url.password || url.port || url.search || url.hash) {
    throw new StorageError('CONFIG', `invalid location ${location}: expected s3://bucket/prefix`);
  }
  const partSize = options.partSize ?? DEFAULT_PART_SIZE;
  const queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
  const maxAttempts = options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  if (!Number.isSafeInteger(partSize) || partSize < MIN_PART_SIZE) {
    throw new StorageError('CONFIG', `S3 part size must be an integer of at least ${MIN_PART_SIZE} bytes (5 MiB), got ${partSize}`);
  }
  if (!Number.isSafeInteger(queueSize) || queueSize < 1) {
    throw new StorageError('CONFIG', `S3 queue size must be a positive integer, got ${queueSize}`);
  }
  if (!Number.isSafeInteger(maxAttempts) || maxAttempts < 1) {
    throw new StorageError('CONFIG', `S3 max attempts must be a positive integer, got ${maxAttempts}`);
  }
  if (options.endpoint !== undefined && !URL.canParse(options.endpoint)) {
    throw new StorageError('CONFIG', `invalid S3 endpoint ${JSON.stringify(options.endpoint)}: expected a URL`);
  }
  const customEndpoint = options.endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL;
  return {
    bucket,
    root: rootPrefix(location, url.pathname),
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? customEndpoint !== undefined,
    region: options.region,
    credentials: options.credentials,
    partSize,
    queueSize,
    maxAttempts,
  };
}
