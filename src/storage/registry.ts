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
 */
import { fileURLToPath } from 'node:url';
import { StorageError } from './errors.js';
import { GcsStore } from './gcs/gcs-store.js';
import { gcsConfig, type GcsOptions } from './gcs/config.js';
import { rootPrefix } from './keys.js';
import { LocalStore } from './local/local-store.js';
import { MemoryStore } from './memory/memory-store.js';
import { ResumingStore } from './resuming-store.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
import { S3Store } from './s3/s3-store.js';
import { s3Config, type S3Options } from './s3/config.js';
import type { ObjectStore, OpenIntent } from './types.js';

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
 * use, or use openStore().
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
      return new ResumingStore(new S3Store(s3Config(url, options.s3)), readRetry);
    case 'gs':
      return new ResumingStore(new GcsStore(gcsConfig(url, options.gcs)), readRetry);
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
