/**
 * Resumable downloads for any store with ranged reads.
 *
 * The SDKs retry a request until its response starts; a connection that
 * breaks while the body streams is the caller's problem (lib-storage and the
 * GCS client both surface it as a stream error). For a multi-GiB backup file
 * that is the common failure, so `ResumingStore.read()` reopens the object at
 * the first byte not yet delivered (a ranged GET: `Range: bytes=N-`) after a
 * backoff, and the reader sees one uninterrupted stream. Every other method
 * is passed through.
 */
import { Readable } from 'node:stream';
import { StorageError, messageOf } from './errors.js';
import { checkKey, checkRange, objectName } from './keys.js';
import { DEFAULT_RETRY_POLICY, backoffDelay, isConnectionError, type RetryPolicy } from './retry.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource, StoreCapabilities } from './types.js';

export class ResumingStore implements ObjectStore {
  constructor(
    readonly inner: ObjectStore,
    readonly policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  ) {}

  get location(): string {
    return this.inner.location;
  }

  get capabilities(): StoreCapabilities {
    return this.inner.capabilities;
  }

  open(intent: OpenIntent): Promise<void> {
    return this.inner.open(intent);
  }

  write(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    return this.inner.write(key, source, options);
  }

  create(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    return this.inner.create(key, source, options);
  }

  /**
   * Learns the object's size first (one stat), so that a stream that ends
   * early can be told from one that is complete, then streams the range and
   * resumes it on connection errors.
   */
  async read(key: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
    checkKey(key);
    checkRange(range);
    const info = await this.inner.stat(key);
    const object = objectName(this.location, key);
    if (info === null) throw new StorageError('NOT_FOUND', `${object} does not exist`);
    const end = range.length === undefined ? info.size : Math.min(info.size, range.offset + range.length);
    if (range.offset >= end) return Readable.from([], { objectMode: false });
    const openAt = (offset: number) => this.inner.read(key, { offset, length: end - offset });
    return new ResumingReadable(object, openAt, await openAt(range.offset), range.offset, end, this.policy);
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.inner.stat(key);
  }

  /** The inner store's retention check (S3 Object Lock, GCS retention), when it has one. */
  retainedUntil(key: string): Promise<{ until?: Date; reason: string } | undefined> {
    const inner = this.inner as ObjectStore & { retainedUntil?: (key: string) => Promise<{ until?: Date; reason: string } | undefined> };
    return inner.retainedUntil ? inner.retainedUntil(key) : Promise.resolve(undefined);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  removeUnfinished(prefix: string): Promise<number> {
    return this.inner.removeUnfinished(prefix);
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return this.inner.deleteMany(keys);
  }
}

/**
 * Relays one body after another into a single stream, with backpressure (a
 * body is paused while this stream's buffer is full and resumed on `_read`),
 * until `end` bytes have been delivered. A body that fails with a connection
 * error, or ends early, is replaced by a new one opened at the current
 * position after a backoff; any other error, or too many failures in a row,
 * is final and destroys the stream with a StorageError naming the object.
 */
class ResumingReadable extends Readable {
  #body: Readable;
  #position: number;
  #failures = 0;
  #retryTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly object: string,
    private readonly openAt: (offset: number) => Promise<Readable>,
    body: Readable,
    position: number,
    private readonly end: number,
    private readonly policy: RetryPolicy,
  ) {
    super();
    this.#position = position;
    this.#body = this.#relay(body);
  }

  override _read(): void {
    this.#body.resume();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.#retryTimer);
    this.#body.destroy();
    callback(error);
  }

  /** Makes `body` the current one. Events of a body that has been replaced are ignored. */
  #relay(body: Readable): Readable {
    let progressed = false;
    const current = () => body === this.#body && !this.destroyed;
    body.on('data', (chunk: Buffer) => {
      if (!current()) return;
      this.#position += chunk.length;
      progressed = true;
      if (!this.push(chunk)) body.pause();
    });
    body.on('end', () => {
      if (!current()) return;
      if (this.#position >= this.end) this.push(null);
      else this.#retry(new StorageError('IO', `reading ${this.object}: transfer ended at byte ${this.#position} of ${this.end}`), progressed);
    });
    body.on('error', (error) => {
      if (current()) this.#retry(error, progressed);
    });
    return body;
  }

  #retry(error: unknown, progressed: boolean): void {
    this.#failures = progressed ? 1 : this.#failures + 1;
    const retryable = isConnectionError(error) || (error instanceof StorageError && error.code === 'IO');
    if (!retryable || this.#failures >= this.policy.attempts) {
      this.destroy(
        error instanceof StorageError
          ? error
          : new StorageError('IO', `reading ${this.object} failed at byte ${this.#position}: ${messageOf(error)}`, { cause: error }),
      );
      return;
    }
    this.#retryTimer = setTimeout(() => {
      this.openAt(this.#position).then(
        (body) => {
          if (this.destroyed) body.destroy();
          else this.#body = this.#relay(body);
        },
        (openError: unknown) => {
          if (!this.destroyed) this.#retry(openError, false);
        },
      );
    }, backoffDelay(this.policy, this.#failures));
  }
}
