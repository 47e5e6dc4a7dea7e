/**
 * Buffers for large reply frames (scan replies, ~1 MiB each), reused once every holder
 * of a frame has let it go.
 *
 * Why: a backup receives its whole data set as reply frames (~1 MiB each from a real
 * server), about 300 MB of them per million records, each garbage a few milliseconds
 * later; with the Avro blocks they were most of what the GC had to free. A frame buffer
 * taken from here is never garbage: in a steady scan the same few dozen go round (a
 * 2M-record backup against a real server: ~25 buffers instead of ~1,900; with the block
 * pool, 2 Mark-Compacts instead of 127 for a zstd backup and a peak 23 MB lower,
 * docs/performance.md "Memory").
 *
 * The contract (the only way a pooled buffer can be handed out while something still
 * reads it is a holder that releases too early, so every hold is counted):
 * - `take(size)` returns a FrameLease whose `body` is exactly `size` bytes (old contents:
 *   the caller fills all of it) with one hold, the taker's, let go by `release()`.
 * - `hold()` adds a hold and returns the function that lets it go; that function may be
 *   called any number of times, it releases once.
 * - When the last hold is let go the buffer goes back to the pool. A hold never let go
 *   only keeps the buffer from coming back (the GC frees it, as for any other buffer):
 *   a consumer that does not know about leases is always safe.
 * The pool keeps at most `maxFree` free buffers, none over 4 MiB; the rest are left to the GC.
 */

/** Buffer sizes are rounded up to this, so frames of 1 MiB plus a record share buffers. */
const GRAIN = 128 * 1024;
/** Larger buffers are not kept once free: a rare huge frame (a record of several MiB) must not stay in memory. */
const MAX_KEPT_BYTES = 4 * 1024 * 1024;

export interface FramePoolStats {
  /** Buffers allocated because none free was large enough. */
  allocated: number;
  /** Takes served by a buffer that came back. */
  reused: number;
  /** Buffers that came back and are free now. */
  free: number;
}

export class FrameLease {
  #refs = 1;

  constructor(
    /** The frame's bytes: exactly the size asked for, a view into a pooled buffer. */
    readonly body: Buffer,
    private readonly slab: Buffer,
    private readonly pool: FramePool,
  ) {}

  /** Another hold on the frame; the returned function lets it go (once, however often it is called). */
  hold(): () => void {
    if (this.#refs <= 0) throw new Error('frame lease held after its buffer went back to the pool');
    this.#refs++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.#drop();
    };
  }

  /** Lets the taker's hold go: call exactly once. */
  release(): void {
    this.#drop();
  }

  #drop(): void {
    if (this.#refs <= 0) throw new Error('frame lease released more often than held');
    if (--this.#refs === 0) this.pool.put(this.slab);
  }
}

export class FramePool {
  readonly #free: Buffer[] = [];
  #allocated = 0;
  #reused = 0;

  constructor(private readonly maxFree = 8) {}

  get stats(): FramePoolStats {
    return { allocated: this.#allocated, reused: this.#reused, free: this.#free.length };
  }

  /** A frame of `size` bytes (contents undefined) with the taker's hold. */
  take(size: number): FrameLease {
    const free = this.#free;
    for (let i = free.length - 1; i >= 0; i--) {
      const slab = free[i]!;
      // Not a much larger buffer for a small frame: it would sit unused in a long-lived one.
      if (slab.length >= size && slab.length <= 2 * size + GRAIN) {
        free[i] = free[free.length - 1]!;
        free.pop();
        this.#reused++;
        return new FrameLease(slab.subarray(0, size), slab, this);
      }
    }
    this.#allocated++;
    const slab = Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, 1) / GRAIN) * GRAIN);
    return new FrameLease(slab.subarray(0, size), slab, this);
  }

  /** A buffer whose last hold was let go (FrameLease calls this). */
  put(slab: Buffer): void {
    if (this.#free.length < this.maxFree && slab.length <= MAX_KEPT_BYTES) this.#free.push(slab);
  }
}

/** The process's pool for reply frames (connection.ts, via FrameParser). */
export const framePool = new FramePool();
