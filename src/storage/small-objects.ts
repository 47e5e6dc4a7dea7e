/** Small helpers over an ObjectStore that the jobs share: whole small objects, and "is anything there". */
import type { ListOptions, ObjectStore } from './types.js';

/** The whole content of a read stream (a small object: a manifest, a marker, a state file) as one Buffer. */
export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** The first key under `prefix` ('' for the whole store), or undefined when nothing is stored there: one listing page at most. */
export async function firstKey(store: ObjectStore, prefix: string, options?: ListOptions): Promise<string | undefined> {
  for await (const o of store.list(prefix, options)) return o.key;
  return undefined;
}
