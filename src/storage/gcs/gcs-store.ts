/**
 * Google Cloud Storage, through @google-cloud/storage.
 *
 * Writes are resumable uploads sent in chunks of `chunkSize` bytes, each
 * buffered so that a failed chunk is retried alone. The object appears only
 * when the last chunk is accepted; an upload that fails or is aborted
 * leaves an unfinished session, invisible, unbilled, and expired by GCS
 * after a week. The client retries every request (see
 * GcsOptions.maxRetries); reads are resumed by ResumingStore.
 *
 * Exclusive creates are one upload with the precondition ifGenerationMatch=0
 * (see create()); the JSON API's batch requests are not in the client
 * library, so deleteMany() runs DELETE_CONCURRENCY deletes at a time.
 */
import { IdempotencyStrategy, Storage, type Bucket, type File } from '@google-cloud/storage';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deleteEach } from '../delete-many.js';
import { StorageError, checkAborted, isAbortError } from '../errors.js';
import { checkKey, checkPrefix, checkRange, objectName } from '../keys.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource, StoreCapabilities } from '../types.js';
import { CREATE_ID_METADATA, WriteSource, readCreateSource } from '../write-source.js';
import { GCS_CAPABILITIES, type GcsConfig } from './config.js';
import { gcsError } from './errors.js';

/** Deletes in flight in a deleteMany(). */
const DELETE_CONCURRENCY = 16;

export class GcsStore implements ObjectStore {
  readonly location: string;
  readonly capabilities: StoreCapabilities = GCS_CAPABILITIES;
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
   * One single-request upload of the buffered source with the precondition
   * ifGenerationMatch=0 (there is no live object under the name), which GCS
   * refuses with 412 when the key exists; concurrent uploads of one name are
   * decided by GCS, one succeeding and the others getting 412. The library
   * repeats the upload after a transient failure (the body is a buffer). If
   * the failed attempt had in fact been committed, the repeat gets 412 for
   * this create's own object, which is told by the random id it carries in
   * its custom metadata (CREATE_ID_METADATA): the create then resolves.
   */
  async create(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const object = objectName(this.location, key);
    const body = await readCreateSource(source, options.signal, object);
    const id = randomUUID();
    const file = this.#bucket.file(this.config.root + key);
    try {
      await file.save(body, {
        resumable: false,
        preconditionOpts: { ifGenerationMatch: 0 },
        metadata: { contentType: 'application/octet-stream', metadata: { [CREATE_ID_METADATA]: id } },
      });
      return body.length;
    } catch (error) {
      if ((error as { code?: unknown }).code === 412) {
        if (await this.#createdBy(file, key, id)) return body.length;
        throw new StorageError('ALREADY_EXISTS', `${object} already exists`, { cause: error });
      }
      throw gcsError(error, this.config.bucket, object, 'create');
    }
  }

  /** True if the object `file` (under `key`) is the one the create with `id` stored. */
  async #createdBy(file: File, key: string, id: string): Promise<boolean> {
    try {
      const [metadata] = await file.getMetadata();
      return metadata.metadata?.[CREATE_ID_METADATA] === id;
    } catch (error) {
      const mapped = gcsError(error, this.config.bucket, objectName(this.location, key), 'create');
      if (mapped.code === 'NOT_FOUND') return false; // deleted since: it existed when the create was refused
      throw mapped;
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

  /**
   * Whether the object is under a retention lock (a bucket retention policy, an object
   * retention, or a temporary or event-based hold): prune leaves such backups alone.
   */
  async retainedUntil(key: string): Promise<{ until?: Date; reason: string } | undefined> {
    checkKey(key);
    let metadata: Record<string, unknown>;
    try {
      [metadata] = (await this.#bucket.file(this.config.root + key).getMetadata()) as unknown as [Record<string, unknown>];
    } catch (error) {
      throw gcsError(error, this.config.bucket, objectName(this.location, key), 'stat');
    }
    if (metadata.temporaryHold === true) return { reason: 'GCS temporary hold' };
    if (metadata.eventBasedHold === true) return { reason: 'GCS event-based hold' };
    const retention = metadata.retention as { retainUntilTime?: string } | undefined;
    const until = retention?.retainUntilTime ?? (metadata.retentionExpirationTime as string | undefined);
    if (until !== undefined && Date.parse(until) > Date.now()) return { until: new Date(until), reason: `GCS retention until ${new Date(until).toISOString()}` };
    return undefined;
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

  /**
   * An unfinished resumable upload is a session that holds no object and cannot be
   * listed; GCS discards it after a week. Nothing to remove.
   */
  async removeUnfinished(_prefix: string): Promise<number> {
    return 0;
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    await deleteEach(keys, DELETE_CONCURRENCY, (key) => this.delete(key));
  }
}
