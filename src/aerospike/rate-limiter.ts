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
    private readonly burst = Math.max(1, Math.ceil(perSecond / 10)),
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(perSecond > 0)) throw new RangeError(`rate ${perSecond} must be positive`);
    this.tokens = burst;
    this.last = this.now();
  }

  /** 0 when a token was taken; otherwise the milliseconds until one is available. */
  take(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) * this.perSecond) / 1000);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) * 1000) / this.perSecond);
  }
}
