import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/aerospike/rate-limiter.js';

describe('RateLimiter', () => {
  it('hands out a burst at once, then tokens at the rate, one or several at a time', () => {
    let now = 0;
    const limiter = new RateLimiter(100, 10, () => now);
    expect(limiter.burst).toBe(10);
    expect(limiter.take(10)).toBe(0);
    // Empty: 5 tokens take 50 ms at 100/s.
    expect(limiter.take(5)).toBe(50);
    now = 30;
    expect(limiter.take(5)).toBe(20);
    now = 50;
    expect(limiter.take(5)).toBe(0);
    expect(limiter.take()).toBe(10);
    // Saved-up tokens never exceed the burst.
    now = 10_000;
    expect(limiter.take(10)).toBe(0);
    expect(limiter.take()).toBe(10);
  });

  it('refuses to take more than a burst at once (it could never be satisfied)', () => {
    const limiter = new RateLimiter(100, 10, () => 0);
    expect(() => limiter.take(11)).toThrow(RangeError);
  });

  it('defaults the burst to a tenth of a second of tokens', () => {
    expect(new RateLimiter(2000).burst).toBe(200);
    expect(new RateLimiter(5).burst).toBe(1);
  });
});
