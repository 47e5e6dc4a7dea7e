/**
 * Storage errors: one class, a stable `code` to branch on, a one-line message
 * that names the bucket, key or path at fault (fit to print without a stack
 * trace), and the backend's original error as `cause`.
 */

export type StorageErrorCode =
  /** The location or an option is invalid (bad URL, unknown scheme, missing region). */
  | 'CONFIG'
  /** A key breaks the key syntax (see keys.ts). */
  | 'INVALID_KEY'
  /** The bucket, or the root directory of a local store, does not exist. */
  | 'NO_BUCKET'
  /** There is no object under the key. */
  | 'NOT_FOUND'
  /** An exclusive create found an object under the key. */
  | 'ALREADY_EXISTS'
  /** The store lacks the capability the method needs (see StoreCapabilities). */
  | 'UNSUPPORTED'
  /** The credentials are valid but not allowed to do this. */
  | 'ACCESS_DENIED'
  /** No credentials were found, or the store rejected them (unknown key, bad signature, expired token). */
  | 'CREDENTIALS'
  /** Anything else: a network or server failure that outlasted the retries, a disk error. */
  | 'IO';

export class StorageError extends Error {
  override readonly name = 'StorageError';

  constructor(
    readonly code: StorageErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** True for the errors an abort produces (`AbortSignal`, `stream.pipeline`, the SDKs). */
export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}

/** The message of any thrown value, for a StorageError's text. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What an aborted operation rejects with: an AbortError whose cause is the signal's reason. */
export function abortError(signal: AbortSignal): Error {
  return Object.assign(new Error('The operation was aborted', { cause: signal.reason }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}

/** Rejects with an AbortError if `signal` has aborted; for loops that check between steps. */
export function checkAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}
