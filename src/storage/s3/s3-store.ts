/**
 * Amazon S3 and S3-compatible services (MinIO, ...), through the AWS SDK v3.
 *
 * Writes use lib-storage's Upload: parts of `partSize` bytes, `queueSize` of
 * them in flight, so memory stays at most (queueSize + 2) x partSize (the parts
 * in flight, the one being gathered and its concatenated copy); an object of
 * one part goes as a single PUT. The first part that fails for good (its
 * retries spent) ends the upload: the workers share one reader of the body,
 * which the failing worker closes, so none reads on. With
 * `leavePartsOnError: false` the upload is then aborted
 * (AbortMultipartUpload) before `write()` rejects: no parts are left to pay
 * for. Each request is retried by the client (see
 * S3Options.maxAttempts); reads are resumed by ResumingStore.
 *
 * Exclusive creates are one conditional PutObject (If-None-Match: *) and
 * batched deletes are DeleteObjects of up to 1,000 keys; see create() and
 * deleteMany().
 *
 * Every object written, by write() or create(), carries the configured
 * server-side encryption and storage class (S3Config.writeParams): Upload
 * passes its params to PutObject and CreateMultipartUpload, which is where
 * S3 takes them for a multipart upload (UploadPart and
 * CompleteMultipartUpload have no such fields; the SDK sends none there).
 */
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  paginateListObjectsV2,
  type _Error as DeleteError,
  type PutObjectCommandInput,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { deleteInBatches, type KeyFailure } from '../delete-many.js';
import { StorageError, checkAborted, isAbortError } from '../errors.js';
import { checkKey, checkPrefix, checkRange, objectName } from '../keys.js';
import { backoffDelay, type RetryPolicy } from '../retry.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource, StoreCapabilities } from '../types.js';
import { CREATE_ID_METADATA, WriteSource, readCreateSource } from '../write-source.js';
import { S3_CAPABILITIES, type S3Config } from './config.js';
import { s3Error } from './errors.js';

/** Keys per DeleteObjects request: the most S3 takes. */
const DELETE_BATCH_SIZE = 1000;
/** DeleteObjects requests in flight. */
const DELETE_CONCURRENCY = 4;
/** Per-key DeleteObjects error codes worth another attempt (the response itself succeeded, so the SDK does not retry them). */
const TRANSIENT_DELETE_ERRORS = new Set(['InternalError', 'ServiceUnavailable', 'SlowDown', 'RequestTimeout']);

export class S3Store implements ObjectStore {
  readonly location: string;
  readonly capabilities: StoreCapabilities = S3_CAPABILITIES;
  readonly client: S3Client;
  /** The store's own retries (see S3Options.maxAttempts), on the SDK's schedule. */
  readonly #retry: RetryPolicy;
  /** Server-side encryption and storage class, added to every PutObject and CreateMultipartUpload. */
  readonly #writeParams: Pick<PutObjectCommandInput, 'ServerSideEncryption' | 'SSEKMSKeyId' | 'StorageClass'>;

  constructor(readonly config: S3Config) {
    this.location = `s3://${config.bucket}/${config.root}`;
    this.client = new S3Client({
      endpoint: config.endpoint,
      forcePathStyle: config.forcePathStyle,
      region: config.region,
      credentials: config.credentials,
      maxAttempts: config.maxAttempts,
      followRegionRedirects: true,
      // Without timeouts a stalled connection hangs forever; the idle timeout
      // turns it into an error that is retried (requests) or resumed (reads).
      requestHandler: { connectionTimeout: 10_000, socketTimeout: 120_000 },
    });
    this.#retry = { attempts: config.maxAttempts, baseDelayMs: 100, maxDelayMs: 20_000 };
    const { StorageClass: storageClass, ...sse } = config.writeParams;
    // The SDK's StorageClass type lists the classes it knew when built; S3 takes newer ones, and the SDK sends any string.
    this.#writeParams = { ...sse, ...(storageClass !== undefined ? { StorageClass: storageClass as StorageClass } : {}) };
  }

  /**
   * Lists at most one key under the root. Needs the same permission as
   * HeadBucket (s3:ListBucket), but an error response to a GET has a body
   * that tells "no such bucket" from "bad credentials" from "access denied",
   * where HeadBucket only has a status code.
   */
  async open(_intent: OpenIntent): Promise<void> {
    const { bucket, root } = this.config;
    try {
      await this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: root, MaxKeys: 1 }));
    } catch (error) {
      throw s3Error(error, bucket, this.location, 'list');
    }
  }

  async write(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const { bucket, root, partSize, queueSize } = this.config;
    const body = new WriteSource(source, options.signal);
    const upload = new Upload({
      client: this.client,
      params: { Bucket: bucket, Key: root + key, Body: body, ...this.#writeParams },
      partSize,
      queueSize,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
      return body.bytes;
    } catch (error) {
      body.destroy();
      throw body.callerFailure ?? s3Error(error, bucket, objectName(this.location, key), 'write');
    }
  }

  /**
   * One PutObject of the buffered source with If-None-Match: *, which S3
   * (and MinIO) refuse with 412 PreconditionFailed when the key exists.
   * Holding the body is what lets the request be repeated:
   *
   * - 409 ConditionalRequestConflict means another write of the key was in
   *   flight when S3 came to commit this one, which it did not apply, and
   *   that the request is to be repeated; the repeat then succeeds or gets
   *   412. It is not taken for ALREADY_EXISTS: the other write may yet fail
   *   and leave no object. Repeated up to maxAttempts times with backoff,
   *   then the create fails with IO.
   * - The SDK repeats a request that failed for a transient reason. If the
   *   failed attempt had in fact been committed, the repeat gets 412 for
   *   this create's own object, which is told by the random id it carries
   *   in its metadata (CREATE_ID_METADATA, read back with HeadObject after
   *   a 412 to a PUT sent more than once): the create then resolves.
   *
   * Not a multipart upload, although CompleteMultipartUpload takes
   * If-None-Match too: after a 409 there, S3 wants every part uploaded
   * again, from a source already consumed.
   */
  async create(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const { bucket, root } = this.config;
    const object = objectName(this.location, key);
    const body = await readCreateSource(source, options.signal, object);
    const id = randomUUID();
    const input = { Bucket: bucket, Key: root + key, Body: body, IfNoneMatch: '*', Metadata: { [CREATE_ID_METADATA]: id }, ...this.#writeParams };
    for (let attempt = 1; ; attempt++) {
      try {
        await this.client.send(new PutObjectCommand(input));
        return body.length;
      } catch (error) {
        const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
        const status = $metadata?.httpStatusCode;
        if (name === 'PreconditionFailed' || status === 412) {
          // Only a PUT the SDK sent more than once can have been refused for its own object.
          const repeated = $metadata?.attempts === undefined || $metadata.attempts > 1;
          if (repeated && (await this.#createdBy(key, id))) return body.length;
          throw new StorageError('ALREADY_EXISTS', `${object} already exists`, { cause: error });
        }
        if ((name === 'ConditionalRequestConflict' || status === 409) && attempt < this.#retry.attempts) {
          await sleep(backoffDelay(this.#retry, attempt));
          continue;
        }
        throw s3Error(error, bucket, object, 'create');
      }
    }
  }

  /** True if the object under `key` is the one the create with `id` stored. */
  async #createdBy(key: string, id: string): Promise<boolean> {
    const { bucket, root } = this.config;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: root + key }));
      return head.Metadata?.[CREATE_ID_METADATA] === id;
    } catch (error) {
      const mapped = s3Error(error, bucket, objectName(this.location, key), 'create');
      if (mapped.code === 'NOT_FOUND') return false; // deleted since: it existed when the create was refused
      throw mapped;
    }
  }

  async read(key: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
    checkKey(key);
    checkRange(range);
    const { bucket, root } = this.config;
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: root + key, Range: httpRange(range) }));
      if (!(Body instanceof Readable)) throw new TypeError('GetObject returned no Node.js stream');
      return Body;
    } catch (error) {
      // S3 answers 416 to a range that starts past the end; the contract says that reads as empty.
      if ((error as Error).name === 'InvalidRange') return Readable.from([], { objectMode: false });
      throw s3Error(error, bucket, objectName(this.location, key), 'read');
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    const { bucket, root } = this.config;
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: root + key }));
      return { key, size: head.ContentLength ?? 0 };
    } catch (error) {
      const mapped = s3Error(error, bucket, objectName(this.location, key), 'stat');
      if (mapped.code === 'NOT_FOUND') return null;
      throw mapped;
    }
  }

  /**
   * Whether the object is under S3 Object Lock (a retention date in the future, or a
   * legal hold): prune leaves such backups alone instead of adding delete markers.
   */
  async retainedUntil(key: string): Promise<{ until?: Date; reason: string } | undefined> {
    checkKey(key);
    const { bucket, root } = this.config;
    let head;
    try {
      head = await this.client.send(new HeadObjectCommand({ Bucket: bucket, Key: root + key }));
    } catch (error) {
      throw s3Error(error, bucket, objectName(this.location, key), 'stat');
    }
    if (head.ObjectLockLegalHoldStatus === 'ON') return { reason: 'S3 Object Lock legal hold' };
    const until = head.ObjectLockRetainUntilDate;
    if (until && until.getTime() > Date.now()) return { until, reason: `S3 Object Lock (${head.ObjectLockMode ?? 'retention'}) until ${until.toISOString()}` };
    return undefined;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    const { bucket, root } = this.config;
    const pages = paginateListObjectsV2({ client: this.client }, { Bucket: bucket, Prefix: root + prefix });
    try {
      for await (const page of pages) {
        checkAborted(options.signal);
        for (const { Key, Size } of page.Contents ?? []) {
          if (Key !== undefined) yield { key: Key.slice(root.length), size: Size ?? 0 };
        }
      }
    } catch (error) {
      if (isAbortError(error)) throw error;
      throw s3Error(error, bucket, objectName(this.location, prefix), 'list');
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const { bucket, root } = this.config;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: bucket, Key: root + key }));
    } catch (error) {
      throw s3Error(error, bucket, objectName(this.location, key), 'delete');
    }
  }

  /**
   * DeleteObjects of up to 1,000 keys a request, a few requests at a time,
   * in quiet mode (the response lists only the keys that failed). Needs
   * s3:DeleteObject. Keys that failed for a transient reason are sent again
   * on the schedule of the store's retries.
   */
  async removeUnfinished(prefix: string): Promise<number> {
    checkPrefix(prefix);
    const { bucket, root } = this.config;
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    try {
      for (;;) {
        // The whole bucket, filtered here: MinIO matches ListMultipartUploads' Prefix
        // against whole keys only, where S3 takes any prefix.
        const page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: bucket, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
        for (const upload of page.Uploads ?? []) {
          if (!upload.Key?.startsWith(root + prefix)) continue;
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key!, UploadId: upload.UploadId! }));
          removed++;
        }
        if (!page.IsTruncated) return removed;
        keyMarker = page.NextKeyMarker;
        uploadIdMarker = page.NextUploadIdMarker;
      }
    } catch (error) {
      throw s3Error(error, bucket, `s3://${bucket}/${root}${prefix}`, 'abort the unfinished multipart uploads under');
    }
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    await deleteInBatches(keys, {
      batchSize: DELETE_BATCH_SIZE,
      concurrency: DELETE_CONCURRENCY,
      deleteBatch: (batch) => this.#deleteBatch(batch),
    });
  }

  async #deleteBatch(batch: string[]): Promise<KeyFailure[]> {
    const { bucket, root } = this.config;
    let pending = batch;
    for (let attempt = 1; ; attempt++) {
      let errors: DeleteError[];
      try {
        const output = await this.client.send(
          new DeleteObjectsCommand({ Bucket: bucket, Delete: { Quiet: true, Objects: pending.map((key) => ({ Key: root + key })) } }),
        );
        errors = output.Errors ?? [];
      } catch (error) {
        throw s3Error(error, bucket, objectName(this.location, pending[0]!), 'delete');
      }
      const failed = errors.map(({ Key, Code = 'UnknownError', Message = 'no message' }) => ({
        key: Key === undefined ? pending[0]! : Key.slice(root.length),
        code: Code,
        message: Message,
      }));
      // Only a batch whose every failure is transient is sent again: any other failure ends the deleteMany().
      if (failed.length === 0 || !failed.every(({ code }) => TRANSIENT_DELETE_ERRORS.has(code)) || attempt >= this.#retry.attempts) {
        return failed.map(({ key, code, message }) => ({
          key,
          error: s3Error(Object.assign(new Error(`${code}: ${message}`), { name: code }), bucket, objectName(this.location, key), 'delete'),
        }));
      }
      await sleep(backoffDelay(this.#retry, attempt));
      pending = failed.map(({ key }) => key);
    }
  }
}

/** The HTTP Range header for `range`, or undefined for the whole object. */
function httpRange({ offset, length }: ByteRange): string | undefined {
  if (length !== undefined) return `bytes=${offset}-${offset + length - 1}`;
  return offset === 0 ? undefined : `bytes=${offset}-`;
}
