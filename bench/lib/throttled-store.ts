/**
 * The benchmark's slow store: an ObjectStore behind a slow link, the product's own
 * bandwidth limit (src/storage/bandwidth.ts, what `--bandwidth` uses): the bytes of every
 * write, create and (when asked) read go through one token bucket of `bytesPerSecond`
 * shared by all concurrent uploads and downloads, as they would share a network link,
 * with backpressure kept both ways. Everything else passes through.
 *
 * Without a rate it throttles nothing (both sides off: a plain pass-through) and only
 * notes when the first write() starts (the backup cases time their data phase from there).
 */
import { BandwidthLimitedStore, TokenBucket, type BandwidthSides } from '../../src/storage/bandwidth.js';
import type { ByteSource, ObjectStore, WriteOptions } from '../../src/storage/types.js';

export class ThrottledStore extends BandwidthLimitedStore {
  /** Whether a rate was given (else `bucket` is never used). */
  readonly throttled: boolean;
  /** performance.now() of the first write() call. */
  firstWriteAt: number | undefined;

  constructor(
    inner: ObjectStore,
    /** Undefined: no throttling, a plain pass-through that notes when the first write starts. */
    bytesPerSecond: number | undefined,
    /** Which direction is slow. */
    sides: Required<BandwidthSides> = { write: true, read: true },
  ) {
    // Without a rate neither side goes through the bucket, so its rate does not matter.
    super(inner, new TokenBucket(bytesPerSecond ?? 1), bytesPerSecond === undefined ? { write: false, read: false } : sides);
    this.throttled = bytesPerSecond !== undefined;
  }

  override write(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    this.firstWriteAt ??= performance.now();
    return super.write(key, source, options);
  }
}
