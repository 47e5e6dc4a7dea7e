/**
 * Locations to stores, in one place (after restic's location/registry.go):
 *
 *   s3://bucket/prefix     Amazon S3 or an S3-compatible service   s3/
 *   gs://bucket/prefix     Google Cloud Storage                    gcs/
 *   /a/dir, ./dir, file:///a/dir   a local directory               local/
 *   mem://name/prefix      process memory, for tests               memory/
 *
 * Remote stores come wrapped in a ResumingStore, so their reads survive
 * broken connections.
 *
 * The S3 and GCS backends are loaded on demand. Their SDKs cost tens of MB of
 * memory and a good part of a second to import, which every command would pay
 * for at startup (`aerobak --help`, a backup to a local directory) if this
 * module imported them statically. So only the backends' configuration
 * modules (s3/config.ts, gcs/config.ts: no SDK) are imported here, and
 * createStore() still checks a location and its options synchronously, with
 * no I/O, as before; the backend module itself is imported with a dynamic
 * `import()` by a LazyStore the first time the store is used (normally
 * `open()`). Keep it that way: nothing in this file, or in the modules it
 * imports statically, may import s3-store.ts, gcs-store.ts or an SDK.
 */
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { StorageError, messageOf } from './errors.js';
import { GCS_CAPABILITIES, gcsConfig, type GcsConfig, type GcsOptions } from './gcs/config.js';
import { rootPrefix } from './keys.js';
import { LocalStore } from './local/local-store.js';
import { MemoryStore } from './memory/memory-store.js';
import { ResumingStore } from './resuming-store.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { S3_CAPABILITIES, s3Config, type S3Config, type S3Options } from './s3/config.js';
import type { ByteRange, ByteSource, ListOptions, ObjectInfo, ObjectStore, OpenIntent, StoreCapabilities, WriteOptions } from './types.js';

export interface StoreOptions {
  s3?: S3Options;
  gcs?: GcsOptions;
  /** How reads from S3 and GCS resume after a broken connection. */
  readRetry?: RetryPolicy;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

/**
 * The store for `location`, with no I/O: the location and options are
 * checked synchronously (throws StorageError CONFIG). Call `open()` before
 * use, or use openStore(). For s3:// and gs:// the backend and its SDK are
 * loaded by the first call on the store.
 */
export function createStore(location: string, options: StoreOptions = {}): ObjectStore {
  const scheme = SCHEME.exec(location)?.[1]?.toLowerCase();
  if (scheme === undefined) return new LocalStore(location);
  const url = parseUrl(location);
  const readRetry = options.readRetry ?? DEFAULT_RETRY_POLICY;
  switch (scheme) {
    case 'file':
      return new LocalStore(fileURLToPath(url));
    case 's3':
      return new ResumingStore(s3Store(s3Config(url, options.s3)), readRetry);
    case 'gs':
      return new ResumingStore(gcsStore(gcsConfig(url, options.gcs)), readRetry);
    case 'mem':
      return new MemoryStore(url.hostname, rootPrefix(location, url.pathname));
    default:
      throw new StorageError('CONFIG', `unsupported location ${location}: expected s3://, gs://, file://, mem:// or a path`);
  }
}

/**
 * The store for `location`, checked to be usable for `intent` (see
 * ObjectStore.open): rejects with NO_BUCKET, ACCESS_DENIED, CREDENTIALS or
 * CONFIG naming what is at fault.
 */
export async function openStore(location: string, intent: OpenIntent, options: StoreOptions = {}): Promise<ObjectStore> {
  const store = createStore(location, options);
  await store.open(intent);
  return store;
}

function parseUrl(location: string): URL {
  try {
    return new URL(location);
  } catch (error) {
    throw new StorageError('CONFIG', `invalid location ${location}: not a valid URL`, { cause: error });
  }
}

// The location strings and capabilities below must be the ones S3Store and
// GcsStore report (their constructors); test/storage/registry.test.ts checks
// that they are.

function s3Store(config: S3Config): LazyStore {
  return new LazyStore(`s3://${config.bucket}/${config.root}`, S3_CAPABILITIES, async () => {
    const { S3Store } = await import('./s3/s3-store.js');
    return new S3Store(config);
  });
}

function gcsStore(config: GcsConfig): LazyStore {
  return new LazyStore(`gs://${config.bucket}/${config.root}`, GCS_CAPABILITIES, async () => {
    const { GcsStore } = await import('./gcs/gcs-store.js');
    return new GcsStore(config);
  });
}

/**
 * A store whose backend is created on first use by `load` (which imports the
 * backend's module), then used for every call. A failed load (the SDK is not
 * installed, or its client refused the configuration) rejects that call with
 * a StorageError CONFIG and is tried again by the next one. Its location and
 * capabilities, known without loading, are the backend's.
 */
export class LazyStore implements ObjectStore {
  readonly location: string;
  readonly capabilities: StoreCapabilities;
  readonly #load: () => Promise<ObjectStore>;
  #loading: Promise<ObjectStore> | undefined;

  constructor(location: string, capabilities: StoreCapabilities, load: () => Promise<ObjectStore>) {
    this.location = location;
    this.capabilities = capabilities;
    this.#load = load;
  }

  /** The backend, loading it if this is the first call. */
  backend(): Promise<ObjectStore> {
    this.#loading ??= this.#load().catch((error: unknown) => {
      this.#loading = undefined;
      if (error instanceof StorageError) throw error;
      throw new StorageError('CONFIG', `cannot load the storage backend for ${this.location}: ${messageOf(error)}`, { cause: error });
    });
    return this.#loading;
  }

  async open(intent: OpenIntent): Promise<void> {
    return (await this.backend()).open(intent);
  }

  async write(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    return (await this.backend()).write(key, source, options);
  }

  async create(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    return (await this.backend()).create(key, source, options);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    return (await this.backend()).read(key, range);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    return (await this.backend()).stat(key);
  }

  /** The backend's retention check (S3 Object Lock, GCS retention and holds), when it has one. */
  async retainedUntil(key: string): Promise<{ until?: Date; reason: string } | undefined> {
    const backend = (await this.backend()) as ObjectStore & { retainedUntil?: (key: string) => Promise<{ until?: Date; reason: string } | undefined> };
    return backend.retainedUntil ? backend.retainedUntil(key) : undefined;
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    yield* (await this.backend()).list(prefix, options);
  }

  async delete(key: string): Promise<void> {
    return (await this.backend()).delete(key);
  }

  async removeUnfinished(prefix: string): Promise<number> {
    return (await this.backend()).removeUnfinished(prefix);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    return (await this.backend()).deleteMany(keys);
  }
}
