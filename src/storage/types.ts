/**
 * The object store: the one interface every storage backend (local directory,
 * S3, Google Cloud Storage, memory) implements, and the only one the backup and
 * restore jobs see.
 *
 * A store is rooted at a location (`s3://bucket/prefix`, `gs://bucket/prefix`,
 * a directory, `mem://name`); keys are relative to that root.
 *
 * Keys are '/'-separated relative paths: no leading or trailing '/', no empty,
 * '.' or '..' segments, no backslash or control characters (see keys.ts). The
 * same key means the same object on every backend.
 *
 * Errors. Every method rejects with a StorageError (errors.ts) whose `code`
 * says what went wrong and whose message names the bucket, key or path at
 * fault, except for aborts, which reject with the standard `AbortError`
 * (`err.name === 'AbortError'`). Errors that reach the caller are final:
 * transient failures (HTTP 5xx, throttling, connection resets, timeouts) have
 * already been retried with exponential backoff and jitter by the SDK or by
 * the store (see docs/storage.md for who retries what), so a caller should not
 * wrap store calls in retry loops of its own. Permanent failures (NOT_FOUND,
 * ALREADY_EXISTS, NO_BUCKET, ACCESS_DENIED, CREDENTIALS, CONFIG, UNSUPPORTED)
 * are never retried.
 *
 * Constructors validate their configuration synchronously and do no I/O;
 * `open()` is the first method that touches the network or the disk.
 */
import type { Readable } from 'node:stream';

/** What a caller means to do with a store; `open()` checks for that. */
export type OpenIntent = 'read' | 'write';

/**
 * What opens the store of a location for an intent: openStore() (registry.ts), or a
 * replacement a caller passes in (tests, the bench's throttled store).
 */
export type StoreOpener = (location: string, intent: OpenIntent) => Promise<ObjectStore>;

/** A byte range of an object: `length` bytes from `offset` (to the end when `length` is absent). */
export interface ByteRange {
  /** First byte, 0-based; a non-negative safe integer. */
  offset: number;
  /** Number of bytes; a positive safe integer. */
  length?: number;
}

export interface ObjectInfo {
  /** The key relative to the store's root. */
  key: string;
  /** Size in bytes. */
  size: number;
}

/**
 * What `write()` stores: a Readable or any other async iterable of byte
 * chunks, or a plain iterable such as `[buffer]` for small objects.
 */
export type ByteSource = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export interface WriteOptions {
  /**
   * Aborting before the source has ended makes `write()` reject with an
   * AbortError and leave nothing behind. Once the source has ended the store
   * is committing the object and an abort may come too late: `write()` then
   * resolves as usual (as `stream.pipeline` does for an abort after finish).
   */
  signal?: AbortSignal;
}

/**
 * What a store can do beyond the methods every store has. A capability that
 * is false is never faked: the method rejects with UNSUPPORTED, at once and
 * without touching the store, and the caller has to choose what to do
 * instead, explicitly (see each capability). All four backends here have
 * both; a wrapper reports its inner store's.
 */
export interface StoreCapabilities {
  /**
   * `create()` stores an object only if none exists under its key, decided
   * atomically by the store. When false there is no safe substitute: a
   * stat() followed by a write() races with other writers, so a caller that
   * relies on exclusivity (a lock, a marker that must be made exactly once)
   * refuses to run, and one that does not may fall back to write(), saying
   * so in its own contract.
   */
  readonly exclusiveCreate: boolean;
  /**
   * `deleteMany()` removes many keys in one call. When false the caller
   * removes them one by one with delete(), which gives the same result.
   */
  readonly batchDelete: boolean;
}

/** The most bytes `create()` stores: it is for small objects (markers, manifests, state, locks), which it buffers whole. */
export const CREATE_MAX_BYTES = 16 * 1024 * 1024;

export interface ListOptions {
  /** Stops the listing: the iterator rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface ObjectStore {
  /**
   * The root of the store as a URL-like string (`s3://bucket/prefix`), for
   * messages. Never contains credentials.
   */
  readonly location: string;

  /** What this store can do beyond the basic methods; constant for the life of the store. */
  readonly capabilities: StoreCapabilities;

  /**
   * Checks that the store can be used, with I/O: the bucket or directory
   * exists and the credentials are valid and accepted. For `write`, a local
   * store also creates its directory if needed and checks it is writable; a
   * bucket cannot be probed for write permission without writing, so for S3
   * and GCS `write` checks the same as `read`.
   *
   * Rejects with NO_BUCKET, ACCESS_DENIED, CREDENTIALS or CONFIG, naming the
   * bucket or directory. Calling it is optional (every other method works
   * without it) but it turns a late, per-object failure into an early, clear
   * one. Idempotent.
   */
  open(intent: OpenIntent): Promise<void>;

  /**
   * Stores everything `source` yields under `key` and resolves to the number
   * of bytes stored. The store computes nothing else: a caller that wants a
   * digest hashes the bytes on their way in.
   *
   * Atomic: the object becomes visible, complete, only when `write()`
   * resolves; an existing object under `key` is replaced at that moment.
   * If `write()` rejects (the source errored, the signal aborted, the store
   * failed) no new object is visible and nothing is left behind to pay for:
   * no temporary file, no unfinished multipart upload.
   *
   * Memory use is bounded by the backend's buffering (S3: (queueSize + 2) x
   * partSize; GCS: chunkSize), whatever the size of the object: the source is
   * read only as fast as the store accepts data.
   *
   * An error of the source rejects `write()` with that same error.
   */
  write(key: string, source: ByteSource, options?: WriteOptions): Promise<number>;

  /**
   * Exclusive create: stores everything `source` yields under `key` only if
   * no object exists under `key`, and resolves to the number of bytes
   * stored; if one exists, rejects with ALREADY_EXISTS naming the key and
   * leaves that object as it was.
   *
   * Atomic: the store decides at the moment it commits the object, so of
   * any number of concurrent creates of one key (from this process or
   * others) exactly one resolves and every other rejects with
   * ALREADY_EXISTS, and the object is the one that resolved. A create never
   * replaces an object; a write() to the same key does, unconditionally.
   * A create whose request the store committed but whose answer was lost,
   * and so was retried, still resolves: the store recognises its own object.
   *
   * For small objects: the source is read whole into memory before anything
   * is stored, and one that yields more than CREATE_MAX_BYTES rejects with a
   * RangeError (a programming error, like a malformed range). Otherwise as
   * write(): if create() rejects (ALREADY_EXISTS, the source errored, the
   * signal aborted, the store failed) no new object is visible and nothing
   * is left behind; an error of the source rejects with that same error; an
   * abort before the source has ended rejects with an AbortError.
   *
   * Rejects with UNSUPPORTED if `capabilities.exclusiveCreate` is false.
   */
  create(key: string, source: ByteSource, options?: WriteOptions): Promise<number>;

  /**
   * Reads the object under `key`, or the part of it in `range` (clipped to
   * the object's end: a range that starts at or past the end reads as empty).
   *
   * Resolves once the object is known to exist, so a missing key rejects
   * here with NOT_FOUND rather than later on the stream. Failures after that
   * surface as an 'error' on the stream. Remote stores resume a transfer that
   * breaks mid-way from the last byte received (see resuming-store.ts), so a
   * stream error is final.
   *
   * Objects are written once and never modified in place, which is what
   * makes resuming safe; the backup manifest's SHA-256 of every file checks
   * the whole chain end to end.
   */
  read(key: string, range?: ByteRange): Promise<Readable>;

  /** The object's size, or null if there is no object under `key`. */
  stat(key: string): Promise<ObjectInfo | null>;

  /**
   * Every object whose key starts with `prefix` ('' for all), in ascending
   * order of key, fetched page by page as the iterator is consumed (so a
   * listing of millions of keys holds one page in memory). Objects written or
   * deleted while the listing runs may or may not appear.
   */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo>;

  /** Removes the object under `key`. Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;

  /**
   * Removes the objects under `keys`, many per request where the backend
   * allows it (S3: up to 1,000), otherwise with a bounded number of deletes
   * in flight. Idempotent: missing keys succeed, a key listed twice is
   * deleted once, and no keys is no request.
   *
   * Every key is checked first, so a malformed one rejects with INVALID_KEY
   * before anything is deleted. Not atomic: if a key cannot be deleted, no
   * further request is started and deleteMany() rejects with a StorageError
   * whose code is that key's failure and whose message names the first
   * failed key (in the order of `keys`) and how many keys may remain. Some
   * of the other keys may have been deleted by then; calling deleteMany()
   * again with the same keys is safe.
   *
   * Rejects with UNSUPPORTED if `capabilities.batchDelete` is false.
   */
  deleteMany(keys: readonly string[]): Promise<void>;

  /**
   * Removes what writes under `prefix` ('' for all) that never finished left behind, and
   * resolves to how many such leftovers it removed: the unfinished multipart uploads
   * (S3: ListMultipartUploads, then AbortMultipartUpload each; needs
   * s3:ListBucketMultipartUploads and s3:AbortMultipartUpload), the temporary files of a
   * local store. A write normally cleans up after itself; this is for a process that was
   * killed in the middle of one (a backup being resumed). Where leftovers cannot be seen
   * (a GCS resumable upload session is invisible until finalised and expires after a
   * week; memory) it resolves to 0. Must not run while writes under the prefix are in
   * progress: it would break them.
   */
  removeUnfinished(prefix: string): Promise<number>;
}
