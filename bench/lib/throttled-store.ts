/**
 * The benchmark's slow store: an ObjectStore behind a slow link, the product's own
 * bandwidth limit (src/storage/bandwidth.ts, what `--bandwidth` uses): the bytes of every
 * write, create and (when asked) read go through one token bucket of `bytesPerSecond`
 * shared by all concurrent uploads and downloads, as they would share a network link,
 * with backpressure kept both ways. Everything else passes through.
 *
 * Without a rate it throttles nothing and only notes when the first write() starts (the
 * backup cases time their data phase from there).
 */
import type { Readable } from 'node:stream';
import { BandwidthLimitedStore, TokenBucket, type BandwidthSides } from '../../src/storage/bandwidth.js';
import type { ByteRange, ByteSource, ListOptions, ObjectInfo, ObjectStore, OpenIntent, StoreCapabilities, WriteOptions } from '../../src/storage/types.js';

export class ThrottledStore implements ObjectStore {
  /** Undefined when nothing is throttled (the store only watches). */
  readonly bucket: TokenBucket | undefined;
  /** performance.now() of the first write() call. */
  firstWriteAt: number | undefined;
  readonly #inner: ObjectStore;

  constructor(
    inner: ObjectStore,
    /** Undefined: no throttling, a plain pass-through that notes when the first write starts. */
    bytesPerSecond: number | undefined,
    /** Which direction is slow. */
    sides: Required<BandwidthSides> = { write: true, read: true },
  ) {
    this.bucket = bytesPerSecond === undefined ? undefined : new TokenBucket(bytesPerSecond);
    this.#inner = this.bucket ? new BandwidthLimitedStore(inner, this.bucket, sides) : inner;
  }

  get location(): string {
    return this.#inner.location;
  }

  get capabilities(): StoreCapabilities {
    return this.#inner.capabilities;
  }

  open(intent: OpenIntent): Promise<void> {
    return this.#inner.open(intent);
  }

  write(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    this.firstWriteAt ??= performance.now();
    return this.#inner.write(key, source, options);
  }

  create(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    return this.#inner.create(key, source, options);
  }

  read(key: string, range?: ByteRange): Promise<Readable> {
    return this.#inner.read(key, range);
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.#inner.stat(key);
  }

  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    return this.#inner.list(prefix, options);
  }

  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }

  removeUnfinished(prefix: string): Promise<number> {
    return this.#inner.removeUnfinished(prefix);
  }

  deleteMany(keys: readonly string[]): Promise<void> {
    return this.#inner.deleteMany(keys);
  }
}
