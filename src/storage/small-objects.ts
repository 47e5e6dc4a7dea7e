/** Small helpers over an ObjectStore that the jobs share: whole small objects, and "is anything there". */
import type { ListOptions, ObjectStore } from './types.js';

/** A small object is bigger than its reader allows: it is not what it should be, and is not read whole. */
export class ObjectTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`it holds more than ${limit} bytes`);
  }
}

/**
 * The whole content of a read stream (a small object: a manifest, a marker, a state file)
 * as one Buffer. With `limit`, rejects with ObjectTooLargeError as soon as more than
 * `limit` bytes arrived (the stream is destroyed), so a wrong or hostile object cannot
 * make the reader hold more than that.
 */
export async function readAll(stream: AsyncIterable<Uint8Array>, limit = Infinity): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.length;
    // Leaving the loop early destroys the stream (for await calls its return()).
    if (bytes > limit) throw new ObjectTooLargeError(limit);
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** The first key under `prefix` ('' for the whole store), or undefined when nothing is stored there: one listing page at most. */
export async function firstKey(store: ObjectStore, prefix: string, options?: ListOptions): Promise<string | undefined> {
  for await (const o of store.list(prefix, options)) return o.key;
  return undefined;
}
