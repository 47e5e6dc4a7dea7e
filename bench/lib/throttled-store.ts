/**
 * An ObjectStore wrapper that behaves like a store behind a slow link: the bytes of every
 * write and every read go through one shared token bucket of `bytesPerSecond` (all
 * concurrent uploads and downloads share the bandwidth, as they would share a network
 * link), and so do those of every create. Everything else (stat, list, delete,
 * deleteMany, open) passes through unthrottled.
 *
 * Backpressure is preserved in both directions: a write pulls the next chunk of its
 * source only once the previous one has been let through, and a read's stream takes
 * more from the underlying stream only as fast as the bucket allows.
 *
 * Without a rate it throttles nothing and only notes when the first write() starts (the
 * backup cases time their data phase from there).
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ByteRange, ByteSource, ListOptions, ObjectInfo, ObjectStore, OpenIntent, StoreCapabilities, WriteOptions } from '../../src/storage/types.js';

/** Pieces of at most this many bytes go through the bucket at a time (smooth flow, small bursts). */
const SLICE_BYTES = 16 * 1024;

export class TokenBucket {
  /** When the link is free again (ms, performance.now() clock). */
  private freeAt = 0;
  /** Bytes let through so far. */
  bytes = 0;

  constructor(
    readonly bytesPerSecond: number,
    /** How far ahead of the link a caller may run (a burst), ms. */
    private readonly burstMs = 50,
  ) {
    if (!(bytesPerSecond > 0)) throw new RangeError('bytesPerSecond must be positive');
  }

  /** Resolves once `n` bytes may pass. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    const now = performance.now();
    const start = Math.max(now, this.freeAt);
    this.freeAt = start + (n * 1000) / this.bytesPerSecond;
    this.bytes += n;
    const wait = this.freeAt - now - this.burstMs;
    if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined);
  }
}

/** A Transform that passes bytes through at the bucket's pace. */
export class ThrottleTransform extends Transform {
  constructor(private readonly bucket: TokenBucket) {
    super({ highWaterMark: SLICE_BYTES });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    void (async () => {
      for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
        const piece = chunk.subarray(at, at + SLICE_BYTES);
        await this.bucket.take(piece.length);
        if (this.destroyed) return;
        this.push(piece);
      }
    })().then(() => callback(), callback);
  }
}

async function* throttled(source: ByteSource, bucket: TokenBucket, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    for (let at = 0; at < chunk.byteLength; at += SLICE_BYTES) {
      const piece = chunk.subarray(at, at + SLICE_BYTES);
      await bucket.take(piece.byteLength, signal);
      yield piece;
    }
  }
}

export class ThrottledStore implements ObjectStore {
  /** Undefined when nothing is throttled (the store only watches). */
  readonly bucket: TokenBucket | undefined;
  /** performance.now() of the first write() call. */
  firstWriteAt: number | undefined;

  constructor(
    private readonly inner: ObjectStore,
    /** Undefined: no throttling, a plain pass-through that notes when the first write starts. */
    bytesPerSecond: number | undefined,
    /** Which direction is slow. */
    private readonly sides: { write: boolean; read: boolean } = { write: true, read: true },
  ) {
    this.bucket = bytesPerSecond === undefined ? undefined : new TokenBucket(bytesPerSecond);
  }

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
    this.firstWriteAt ??= performance.now();
    if (!this.bucket || !this.sides.write) return this.inner.write(key, source, options);
    return this.inner.write(key, throttled(source, this.bucket, options?.signal), options);
  }

  create(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    if (!this.bucket || !this.sides.write) return this.inner.create(key, source, options);
    return this.inner.create(key, throttled(source, this.bucket, options?.signal), options);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const source = await this.inner.read(key, range);
    if (!this.bucket || !this.sides.read) return source;
    const out = new ThrottleTransform(this.bucket);
    // pipeline destroys `out` with the source's error (and the source when `out` is destroyed).
    pipeline(source, out).catch(() => undefined);
    return out;
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.inner.stat(key);
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
