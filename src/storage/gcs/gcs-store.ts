/**
 * Google Cloud Storage, through @google-cloud/storage.
 *
 * Writes are resumable uploads sent in chunks of `chunkSize` bytes, each
 * buffered so that a failed chunk is retried alone. The object appears only
 * when the last chunk is accepted; an upload that fails or is aborted
 * leaves an unfinished session, invisible, unbilled, and expired by GCS
 * after a week. The client retries every request (see
 * GcsOptions.maxRetries); reads are resumed by ResumingStore.
 */
import { IdempotencyStrategy, Storage, type Bucket, type File } from '@google-cloud/storage';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, checkAborted, isAbortError } from '../errors.js';
import { checkKey, checkPrefix, checkRange, objectName } from '../keys.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource } from '../types.js';
import { WriteSource } from '../write-source.js';
import type { GcsConfig } from './config.js';
import { gcsError } from './errors.js';

export class GcsStore implements ObjectStore {
  readonly location: string;
  readonly storage: Storage;
  readonly #bucket: Bucket;

  constructor(readonly config: GcsConfig) {
    this.location = `gs://${config.bucket}/${config.root}`;
    this.storage = new Storage({
      apiEndpoint: config.apiEndpoint,
      projectId: config.projectId,
      keyFilename: config.keyFilename,
      retryOptions: {
        autoRetry: true,
        maxRetries: config.maxRetries,
        // The library retries uploads and deletes only with a generation
        // precondition unless told otherwise. Ours are safe to repeat: an
        // upload chunk is replayed within its own session, a delete is
        // idempotent, and keys are written once.
        idempotencyStrategy: IdempotencyStrategy.RetryAlways,
      },
    });
    if (config.apiEndpoint !== undefined) {
      // With STORAGE_EMULATOR_HOST set the library takes it verbatim as the
      // JSON API's base URL, which lacks the /storage/v1 path (its uploads
      // go to the endpoint proper). The endpoint in the config already
      // honours that variable; give every request the same one.
      this.storage.baseUrl = `${config.apiEndpoint}/storage/v1`;
    }
    this.#bucket = this.storage.bucket(config.bucket);
  }

  async open(_intent: OpenIntent): Promise<void> {
    const { bucket } = this.config;
    let exists: boolean;
    try {
      [exists] = await this.#bucket.exists();
    } catch (error) {
      throw gcsError(error, bucket, this.location, 'open');
    }
    if (!exists) throw new StorageError('NO_BUCKET', `bucket ${bucket} does not exist`);
  }

  async write(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const body = new WriteSource(source, options.signal);
    const file = this.#bucket.file(this.config.root + key);
    try {
      await pipeline(
        body,
        file.createWriteStream({
          resumable: true,
          chunkSize: this.config.chunkSize,
          metadata: { contentType: 'application/octet-stream' },
        }),
      );
      return body.bytes;
    } catch (error) {
      body.destroy();
      throw body.callerFailure ?? gcsError(error, this.config.bucket, objectName(this.location, key), 'write');
    }
  }

  /**
   * The library opens the download lazily, on the first read; reading until
   * the first 'readable' makes a missing object reject here, not later on
   * the stream.
   */
  async read(key: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
    checkKey(key);
    checkRange(range);
    const { offset, length } = range;
    const whole = offset === 0 && length === undefined;
    const stream = this.#bucket
      .file(this.config.root + key)
      .createReadStream(whole ? {} : { start: offset, end: length === undefined ? undefined : offset + length - 1 });
    try {
      await once(stream, 'readable');
      return stream;
    } catch (error) {
      // GCS answers 416 to a range that starts past the end; the contract says that reads as empty.
      if ((error as { code?: unknown }).code === 416) return Readable.from([], { objectMode: false });
      throw gcsError(error, this.config.bucket, objectName(this.location, key), 'read');
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    try {
      const [metadata] = await this.#bucket.file(this.config.root + key).getMetadata();
      return { key, size: Number(metadata.size ?? 0) };
    } catch (error) {
      const mapped = gcsError(error, this.config.bucket, objectName(this.location, key), 'stat');
      if (mapped.code === 'NOT_FOUND') return null;
      throw mapped;
    }
  }

  /** The library's file stream fetches the next page (1,000 objects) as the previous one is consumed. */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    const { bucket, root } = this.config;
    const files = this.#bucket.getFilesStream({ prefix: root + prefix });
    try {
      for await (const file of files as AsyncIterable<File>) {
        checkAborted(options.signal);
        yield { key: file.name.slice(root.length), size: Number(file.metadata.size ?? 0) };
      }
    } catch (error) {
      if (isAbortError(error)) throw error;
      throw gcsError(error, bucket, objectName(this.location, prefix), 'list');
    } finally {
      files.destroy();
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      await this.#bucket.file(this.config.root + key).delete({ ignoreNotFound: true });
    } catch (error) {
      throw gcsError(error, this.config.bucket, objectName(this.location, key), 'delete');
    }
  }
}
