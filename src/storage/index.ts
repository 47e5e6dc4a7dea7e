/**
 * The storage layer's public API: open a store by location, then read and
 * write objects through the ObjectStore interface (types.ts, which states
 * the contract). Backends are reached through the registry only.
 */
export { createStore, openStore, type StoreOptions } from './registry.js';
export { firstKey, readAll } from './small-objects.js';
export type { ByteRange, ByteSource, ListOptions, ObjectInfo, ObjectStore, OpenIntent, StoreCapabilities, StoreOpener, WriteOptions } from './types.js';
export { CREATE_MAX_BYTES } from './types.js';
export { StorageError, isAbortError, type StorageErrorCode } from './errors.js';
export type { S3Options } from './s3/config.js';
export type { GcsOptions } from './gcs/config.js';
export type { RetryPolicy } from './retry.js';
