/**
 * Retry policy for what the SDKs do not retry themselves: a download that
 * breaks after its response has started (see resuming-store.ts). Requests
 * (each S3 part, each GCS chunk, every stat, list and delete) are retried by
 * the SDKs, configured in s3/ and gcs/ with the same kind of schedule.
 */

export interface RetryPolicy {
  /**
   * Attempts in a row that may fail before the error is final. A transfer
   * that made progress since its last failure starts a fresh count, so a
   * long download survives any number of spaced-out connection resets.
   */
  attempts: number;
  /** Upper bound of the first delay; each further attempt doubles it. */
  baseDelayMs: number;
  /** Cap of the delay. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 5, baseDelayMs: 200, maxDelayMs: 10_000 };

/**
 * Delay before retry number `attempt` (1-based): exponential backoff with
 * full jitter, uniformly random in [0, min(max, base x 2^(attempt-1))), so
 * that many clients failing together do not retry together.
 */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.random() * ceiling;
}

/** Error codes of a connection that broke or stalled: worth reconnecting and resuming. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/**
 * True if `error`, raised by a response body while it streams, means the
 * connection failed (as opposed to, say, a checksum mismatch, which a retry
 * would not fix). Looks through `cause` chains, as SDKs wrap socket errors.
 */
export function isConnectionError(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined && CONNECTION_ERROR_CODES.has(code)) return true;
  }
  return false;
}
