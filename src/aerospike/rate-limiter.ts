/**
 * A token bucket: `perSecond` tokens a second, at most `burst` saved up. `take()` either
 * takes a token or says how long to wait for the next one; it never sleeps itself, so
 * the caller stays in charge of its flow (a stream stops pushing and retries later).
 */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    readonly burst = Math.max(1, Math.ceil(perSecond / 10)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0)) throw new RangeError(`rate ${perSecond} must be positive`);
    this.tokens = burst;
    this.last = this.now();
  }

  /** 0 when `n` tokens (at most `burst`) were taken; otherwise the milliseconds until they are available. */
  take(n = 1): number {
    if (n > this.burst) throw new RangeError(`cannot take ${n} tokens at once from a bucket of ${this.burst}`);
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    if (this.tokens >= n) {
      this.tokens -= n;
      return 0;
    }
    return Math.ceil(((n - this.tokens) * 1000) / this.perSecond);
  }
}
