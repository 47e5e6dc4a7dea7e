/**
 * Key and range syntax shared by every backend, so that a key valid on one
 * store is valid, and means the same object, on all of them (and a local key
 * can never climb out of its root directory).
 */
import { StorageError } from './errors.js';
import type { ByteRange } from './types.js';

/** Names a local store uses for files being written; no key segment may start with it. */
export const TEMP_FILE_MARKER = '.aerobak-partial-';

const FORBIDDEN_CHARACTERS = /[\u0000-\u001f\u007f\\]/;

/** Throws INVALID_KEY unless `key` is a valid object key (see types.ts). */
export function checkKey(key: string): void {
  const problem = keyProblem(key);
  if (problem !== undefined) {
    throw new StorageError('INVALID_KEY', `invalid object key ${JSON.stringify(key)}: ${problem}`);
  }
}

/** Throws INVALID_KEY unless `prefix` is '' or a valid key, or a valid key followed by '/'. */
export function checkPrefix(prefix: string): void {
  if (prefix !== '') checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}

function keyProblem(key: string): string | undefined {
  if (key === '') return 'empty';
  if (key.length > 1024) return 'longer than 1024 characters';
  if (FORBIDDEN_CHARACTERS.test(key)) return 'contains a backslash or a control character';
  for (const segment of key.split('/')) {
    if (segment === '') return "leading, trailing or double '/'";
    if (segment === '.' || segment === '..') return "'.' or '..' segment";
    if (segment.startsWith(TEMP_FILE_MARKER)) return `segment starts with ${TEMP_FILE_MARKER}`;
  }
  return undefined;
}

/** Throws a RangeError unless `range` is well formed (a programming error, not a storage failure). */
export function checkRange(range: ByteRange): void {
  const { offset, length } = range;
  if (!Number.isSafeInteger(offset) || offset < 0) {
    throw new RangeError(`byte range offset must be a non-negative integer, got ${offset}`);
  }
  if (length !== undefined && (!Number.isSafeInteger(length) || length < 1)) {
    throw new RangeError(`byte range length must be a positive integer, got ${length}`);
  }
}

/**
 * Turns the path part of a bucket location into the prefix every key is
 * stored under: '' or 'a/b/'. Throws CONFIG if it is not a valid key.
 */
export function rootPrefix(location: string, path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  const problem = keyProblem(trimmed);
  if (problem !== undefined) {
    throw new StorageError('CONFIG', `invalid location ${location}: ${problem} in the path`);
  }
  return `${trimmed}/`;
}

/** The name of the object under `key` in a store at `location`, for messages: `s3://bucket/prefix/key`. */
export function objectName(location: string, key: string): string {
  return location.endsWith('/') ? location + key : `${location}/${key}`;
}
