/**
 * Amazon S3 and S3-compatible services (MinIO, ...), through the AWS SDK v3.
 *
 * Writes use lib-storage's Upload: parts of `partSize` bytes, `queueSize` of
 * them in flight, so memory stays at most queueSize x partSize; an object of
 * one part goes as a single PUT. The first part that fails for good (its
 * retries spent) ends the upload: the workers share one reader of the body,
 * which the failing worker closes, so none reads on. With
 * `leavePartsOnError: false` the upload is then aborted
 * (AbortMultipartUpload) before `write()` rejects: no parts are left to pay
 * for. Each request is retried by the client (see
 * S3Options.maxAttempts); reads are resumed by ResumingStore.
 */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
  paginateListObjectsV2,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { checkAborted, isAbortError } from '../errors.js';
import { checkKey, checkPrefix, checkRange, objectName } from '../keys.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource } from '../types.js';
import { WriteSource } from '../write-source.js';
import type { S3Config } from './config.js';
import { s3Error } from './errors.js';

export class S3Store implements ObjectStore {
  readonly location: string;
  readonly client: S3Client;

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
      params: { Bucket: bucket, Key: root + key, Body: body },
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
}

/** The HTTP Range header for `range`, or undefined for the whole object. */
function httpRange({ offset, length }: ByteRange): string | undefined {
  if (length !== undefined) return `bytes=${offset}-${offset + length - 1}`;
  return offset === 0 ? undefined : `bytes=${offset}-`;
}
