/**
 * The test server's notion of "now". Tests move it forward to expire records without
 * sleeping; everything time-dependent on the server (void times, last-update times,
 * expiry, truncate thresholds, info `current_time`) reads it from here.
 */
import { CITRUSLEAF_EPOCH_UNIX_S } from '../../../src/aerospike/types.js';

const CITRUSLEAF_EPOCH_MS = CITRUSLEAF_EPOCH_UNIX_S * 1000;

export class ServerClock {
  private offsetMs = 0;

  /** Milliseconds since the Unix epoch. */
  nowMs(): number {
    return Date.now() + this.offsetMs;
  }

  /** Seconds since 2010-01-01T00:00:00Z, the unit of void times. */
  nowClepochSeconds(): number {
    return Math.floor((this.nowMs() - CITRUSLEAF_EPOCH_MS) / 1000);
  }

  /** Milliseconds since 2010-01-01T00:00:00Z, the unit of the server's last-update and truncate times. */
  nowClepochMs(): number {
    return this.nowMs() - CITRUSLEAF_EPOCH_MS;
  }

  /** Moves the server clock forward (or back, with a negative value). */
  advance(ms: number): void {
    this.offsetMs += ms;
  }
}

export function clepochMsToUnixNs(clepochMs: number): bigint {
  return (BigInt(clepochMs) + BigInt(CITRUSLEAF_EPOCH_MS)) * 1_000_000n;
}

export function clepochSecondsToUnixNs(clepochS: number): bigint {
  return (BigInt(clepochS) + BigInt(CITRUSLEAF_EPOCH_UNIX_S)) * 1_000_000_000n;
}
