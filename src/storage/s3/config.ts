/**
 * S3 locations and options: `s3://bucket/prefix`, plus what the URL cannot
 * say (endpoint, credentials, part size, and how objects are stored:
 * server-side encryption, storage class). Everything is validated here,
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
   * largest object is 10,000 parts: 78 GiB at the default 8 MiB.
   */
  partSize?: number;
  /** Parts uploaded at once. Upload memory is at most (queueSize + 2) x partSize per object (32 MiB by default). */
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
  /**
   * Server-side encryption of every object the store writes (PutObject and
   * CreateMultipartUpload carry `x-amz-server-side-encryption`): 'AES256'
   * (SSE-S3, keys S3 manages) or 'aws:kms' (SSE-KMS, under `sseKmsKeyId`, or
   * else the bucket's default KMS key, else the account's aws/s3 key).
   * Default: none sent, so the bucket's default encryption applies (on AWS,
   * at least SSE-S3). Reads need nothing more than s3:GetObject for SSE-S3;
   * SSE-KMS needs kms:GenerateDataKey to write, and kms:Decrypt to read and
   * for multipart uploads. Independent of aerobak's own encryption.
   */
  serverSideEncryption?: S3ServerSideEncryption;
  /** With serverSideEncryption 'aws:kms': the KMS key (key id, key ARN, alias name or alias ARN). */
  sseKmsKeyId?: string;
  /**
   * Storage class of every object the store writes (`x-amz-storage-class`):
   * STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, ... any class
   * name S3 takes, which S3 checks. Not GLACIER or DEEP_ARCHIVE: objects
   * there cannot be read without a restore request first, and backups read
   * their own objects (incrementals their parent's manifest, list and
   * verify everything); move old backups there with a lifecycle rule
   * instead. Default: none sent (STANDARD, or the bucket's).
   */
  storageClass?: string;
}

export const S3_SERVER_SIDE_ENCRYPTIONS = ['AES256', 'aws:kms'] as const;
export type S3ServerSideEncryption = (typeof S3_SERVER_SIDE_ENCRYPTIONS)[number];

/** Storage classes whose objects need a restore before they can be read: refused. */
export const ARCHIVE_STORAGE_CLASSES: readonly string[] = ['GLACIER', 'DEEP_ARCHIVE'];

/** Why `storageClass` is refused, or undefined if it is fine (S3 checks the name itself). */
export function storageClassProblem(storageClass: string): string | undefined {
  if (!/^[A-Z][A-Z0-9_]*$/.test(storageClass)) return `${JSON.stringify(storageClass)} is not a storage class name (upper-case, like STANDARD_IA or GLACIER_IR)`;
  if (ARCHIVE_STORAGE_CLASSES.includes(storageClass)) {
    return `${storageClass} objects cannot be read without a restore request, and aerobak reads its backups' objects (incrementals, list, verify, restore): use GLACIER_IR, or a lifecycle rule that moves old backups to ${storageClass}`;
  }
  return undefined;
}

/** Why `keyId` is refused as an SSE-KMS key, or undefined (KMS checks the rest). */
export function sseKmsKeyIdProblem(keyId: string): string | undefined {
  return /^[^\s]+$/.test(keyId) ? undefined : `${JSON.stringify(keyId)} is not a KMS key id, ARN or alias`;
}

/** What every write of the store adds to PutObject and CreateMultipartUpload. */
export interface S3WriteParams {
  ServerSideEncryption?: S3ServerSideEncryption;
  SSEKMSKeyId?: string;
  StorageClass?: string;
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
  /** Server-side encryption and storage class of every object written (empty: the bucket's defaults). */
  writeParams: S3WriteParams;
}

const MIB = 1024 * 1024;
export const MIN_PART_SIZE = 5 * MIB;
/**
 * The defaults keep a backup's upload memory small: lib-storage's Upload holds up to
 * (queueSize + 2) parts per object (queueSize in flight, the part being gathered from
 * the source, and the copy Buffer.concat makes of it), 32 MiB at 8 MiB x 2. A backup
 * uploads one object per --parallel group, so at the default 4 groups that is 128 MiB
 * and 8 PUTs in flight (close to the AWS CLI's default of 10 requests of 8 MiB). Measured
 * (docs/performance.md, "Results, 2026-12-03 (later)"): 16 MiB x 4 took a 4M-record
 * backup to S3 to 474 MB, 8 MiB x 2 to 263 MB.
 */
export const DEFAULT_PART_SIZE = 8 * MIB;
export const DEFAULT_QUEUE_SIZE = 2;
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
  const writeParams = s3WriteParams(options);
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
    writeParams,
  };
}

/** The server-side encryption and storage class options as request parameters. Throws CONFIG. */
function s3WriteParams(options: S3Options): S3WriteParams {
  const { serverSideEncryption: sse, sseKmsKeyId, storageClass } = options;
  const params: S3WriteParams = {};
  if (sse !== undefined) {
    if (!(S3_SERVER_SIDE_ENCRYPTIONS as readonly string[]).includes(sse)) {
      throw new StorageError('CONFIG', `S3 server-side encryption must be ${S3_SERVER_SIDE_ENCRYPTIONS.join(' or ')}, got ${JSON.stringify(sse)}`);
    }
    params.ServerSideEncryption = sse;
  }
  if (sseKmsKeyId !== undefined) {
    if (sse !== 'aws:kms') throw new StorageError('CONFIG', `an S3 SSE-KMS key (${sseKmsKeyId}) needs server-side encryption aws:kms`);
    const problem = sseKmsKeyIdProblem(sseKmsKeyId);
    if (problem !== undefined) throw new StorageError('CONFIG', `invalid S3 SSE-KMS key: ${problem}`);
    params.SSEKMSKeyId = sseKmsKeyId;
  }
  if (storageClass !== undefined) {
    const problem = storageClassProblem(storageClass);
    if (problem !== undefined) throw new StorageError('CONFIG', `invalid S3 storage class: ${problem}`);
    params.StorageClass = storageClass;
  }
  return params;
}
