/**
 * A bandwidth limit on a run's storage traffic, as asbackup's `-N` (`--bandwidth MiB/s`
 * of `aerobak backup` and `aerobak restore`): one token bucket per run, shared by every
 * store the run opens and every object it writes (or reads) at once, so four parallel
 * uploads of 10 MiB/s each is a 10 MiB/s run, not 40.
 *
 * - `BandwidthLimitedStore` wraps an ObjectStore: the bytes of `write()` and `create()`
 *   (data files, metadata, state, manifest: every stored byte) go through the bucket
 *   before the inner store sees them, and, with `read: true`, the bytes of `read()` do
 *   before the caller sees them. Everything else (open, stat, list, delete) passes
 *   through.
 * - Backpressure is kept: a write pulls the next chunk of its source only once the
 *   bucket has let the previous one through, and a read's stream reads on from the
 *   inner stream only as fast as the bucket allows. Memory does not grow with a slow
 *   limit.
 * - The bucket lets bytes through in slices of at most 64 KiB, each once the link is
 *   free, and lets a caller run at most `burstMs` (50 ms of the rate, at least one slice)
 *   ahead; an idle link earns no credit beyond that. So over any interval the bytes let
 *   through are at most rate × time + one burst: a run storing B bytes under a limit R
 *   takes at least (B − burst) / R.
 *
 * The limit counts what the store receives, after compression and encryption (what
 * goes over the network to S3 or GCS, or onto the disk), not the records' size.
 */
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ByteRange, ByteSource, ListOptions, ObjectInfo, ObjectStore, OpenIntent, StoreCapabilities, StoreOpener, WriteOptions } from './types.js';

/** Bytes let through at a time: small enough for a smooth flow, large enough to cost nothing. */
export const SLICE_BYTES = 64 * 1024;

export class TokenBucket {
  /** When the link is free again (ms, performance.now() clock). */
  #freeAt = 0;
  readonly #burstMs: number;
  /** Bytes let through so far. */
  bytes = 0;

  constructor(
    readonly bytesPerSecond: number,
    /** How far ahead of the link a caller may run, ms (at least one slice's worth). */
    burstMs = 50,
  ) {
    if (!(Number.isFinite(bytesPerSecond) && bytesPerSecond > 0)) throw new RangeError(`bytesPerSecond must be a positive number, got ${bytesPerSecond}`);
    this.#burstMs = Math.max(burstMs, (SLICE_BYTES * 1000) / bytesPerSecond);
  }

  /** The most bytes let through ahead of the rate (the burst). */
  get burstBytes(): number {
    return Math.ceil((this.#burstMs * this.bytesPerSecond) / 1000);
  }

  /** Resolves once `n` bytes may pass; rejects with the signal's reason when it aborts. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const now = performance.now();
    const start = Math.max(now, this.#freeAt);
    this.#freeAt = start + (n * 1000) / this.bytesPerSecond;
    this.bytes += n;
    const wait = this.#freeAt - now - this.#burstMs;
    if (wait > 0) await sleep(wait, undefined, signal ? { signal } : undefined);
  }
}

/** The chunks of `source`, let through the bucket in slices. */
async function* throttled(source: ByteSource, bucket: TokenBucket, signal: AbortSignal | undefined): AsyncGenerator<Uint8Array> {
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    for (let at = 0; at < chunk.byteLength; at += SLICE_BYTES) {
      const piece = chunk.subarray(at, at + SLICE_BYTES);
      await bucket.take(piece.byteLength, signal);
      yield piece;
    }
  }
}

/** A Transform that passes bytes through at the bucket's pace. */
export class ThrottleTransform extends Transform {
  readonly #bucket: TokenBucket;

  constructor(bucket: TokenBucket) {
    super({ highWaterMark: SLICE_BYTES });
    this.#bucket = bucket;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    void (async () => {
      for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
        const piece = chunk.subarray(at, at + SLICE_BYTES);
        await this.#bucket.take(piece.length);
        if (this.destroyed) return;
        this.push(piece);
      }
    })().then(() => callback(), callback);
  }
}

export interface BandwidthSides {
  /** Limit write() and create() (default true). */
  write?: boolean;
  /** Limit read() (default false). */
  read?: boolean;
}

export class BandwidthLimitedStore implements ObjectStore {
  readonly #inner: ObjectStore;
  readonly #write: boolean;
  readonly #read: boolean;

  constructor(
    inner: ObjectStore,
    readonly bucket: TokenBucket,
    sides: BandwidthSides = {},
  ) {
    this.#inner = inner;
    this.#write = sides.write ?? true;
    this.#read = sides.read ?? false;
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
    if (!this.#write) return this.#inner.write(key, source, options);
    return this.#inner.write(key, throttled(source, this.bucket, options?.signal), options);
  }

  create(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    if (!this.#write) return this.#inner.create(key, source, options);
    return this.#inner.create(key, throttled(source, this.bucket, options?.signal), options);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const source = await this.#inner.read(key, range);
    if (!this.#read) return source;
    const out = new ThrottleTransform(this.bucket);
    // pipeline destroys `out` with the source's error, and the source when `out` is destroyed.
    pipeline(source, out).catch(() => undefined);
    return out;
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

  /** The inner store's retention check (S3 Object Lock, GCS holds), when it has one. */
  retainedUntil(key: string): Promise<{ until?: Date; reason: string } | undefined> {
    const inner = this.#inner as ObjectStore & { retainedUntil?: (key: string) => Promise<{ until?: Date; reason: string } | undefined> };
    return inner.retainedUntil ? inner.retainedUntil(key) : Promise.resolve(undefined);
  }
}

/**
 * A store opener whose every store shares one bucket of `bytesPerSecond`: what a job's
 * `deps.openStore` becomes under `--bandwidth`. `open` is the opener to wrap.
 */
export function limitBandwidth(open: StoreOpener, bytesPerSecond: number, sides: BandwidthSides = {}): StoreOpener & { bucket: TokenBucket } {
  const bucket = new TokenBucket(bytesPerSecond);
  const opener = async (location: string, intent: OpenIntent) => new BandwidthLimitedStore(await open(location, intent), bucket, sides);
  return Object.assign(opener, { bucket });
}

/** 1 MiB/s, the unit of `--bandwidth` (as asbackup's -N). */
export const MIB = 1024 * 1024;
