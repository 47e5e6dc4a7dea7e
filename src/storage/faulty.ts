/**
 * A store that fails on purpose, wrapping a real one, for testing retries,
 * resumed reads and aborted writes without a broken network (after kopia's
 * blobtesting/faulty.go). Faults are queued per method and consumed by the
 * next calls, in order:
 *
 *   const store = new FaultyStore(new MemoryStore('t', ''));
 *   store.inject('read', { afterBytes: 1 << 20, times: 2 }); // two reads break after 1 MiB
 *   new ResumingStore(store).read('k');                      // ...and are resumed
 *
 * It can also go without a capability of its inner store, for testing a
 * caller's fallback: `store.disable('exclusiveCreate')`.
 */
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { StorageError } from './errors.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource, StoreCapabilities } from './types.js';

export type StoreMethod = 'open' | 'write' | 'create' | 'read' | 'stat' | 'list' | 'delete' | 'deleteMany' | 'removeUnfinished';

export interface Fault {
  /**
   * For `read`, `write` and `create` only: let this many bytes through, then
   * fail the stream (read: the bytes delivered to the reader; write, create:
   * the bytes the store takes from the source, as if the transfer broke
   * there). Absent: the call itself fails, before any byte.
   */
  afterBytes?: number;
  /** How many calls in a row this fault hits; default 1. */
  times?: number;
  /**
   * The error to fail with. Default: a connection reset (ECONNRESET) for a
   * stream broken after `afterBytes`, which readers resume from; a
   * StorageError with code IO for a failed call.
   */
  error?: Error;
}

export class FaultyStore implements ObjectStore {
  /** Calls made to each method, failed or not. */
  readonly calls: Record<StoreMethod, number> = { open: 0, write: 0, create: 0, read: 0, stat: 0, list: 0, delete: 0, deleteMany: 0, removeUnfinished: 0 };
  readonly #faults = new Map<StoreMethod, Fault[]>();
  readonly #disabled = new Set<keyof StoreCapabilities>();

  constructor(readonly inner: ObjectStore) {}

  get location(): string {
    return this.inner.location;
  }

  /** The inner store's, less those disabled. */
  get capabilities(): StoreCapabilities {
    const { exclusiveCreate, batchDelete } = this.inner.capabilities;
    return {
      exclusiveCreate: exclusiveCreate && !this.#disabled.has('exclusiveCreate'),
      batchDelete: batchDelete && !this.#disabled.has('batchDelete'),
    };
  }

  /** From now on the store goes without `capability`: its method rejects with UNSUPPORTED, as the contract says. */
  disable(capability: keyof StoreCapabilities): this {
    this.#disabled.add(capability);
    return this;
  }

  /** Queues `fault` for the next calls of `method`. */
  inject(method: StoreMethod, fault: Fault = {}): this {
    const queue = this.#faults.get(method) ?? [];
    for (let i = 0; i < (fault.times ?? 1); i++) queue.push(fault);
    this.#faults.set(method, queue);
    return this;
  }

  async open(intent: OpenIntent): Promise<void> {
    this.#callFault('open');
    return this.inner.open(intent);
  }

  async write(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    const fault = this.#streamFault('write');
    return this.inner.write(key, fault ? breakAfter(source, fault.afterBytes, fault.error ?? connectionReset()) : source, options);
  }

  async create(key: string, source: ByteSource, options?: WriteOptions): Promise<number> {
    const fault = this.#streamFault('create');
    if (!this.capabilities.exclusiveCreate) throw new StorageError('UNSUPPORTED', `${this.location} has no exclusive create`);
    return this.inner.create(key, fault ? breakAfter(source, fault.afterBytes, fault.error ?? connectionReset()) : source, options);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const fault = this.#streamFault('read');
    const stream = await this.inner.read(key, range);
    if (!fault) return stream;
    return pipeline(stream, new Cutter(fault.afterBytes, fault.error ?? connectionReset()), () => undefined);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    this.#callFault('stat');
    return this.inner.stat(key);
  }

  async *list(prefix: string, options?: ListOptions): AsyncIterable<ObjectInfo> {
    this.#callFault('list');
    yield* this.inner.list(prefix, options);
  }

  async delete(key: string): Promise<void> {
    this.#callFault('delete');
    return this.inner.delete(key);
  }

  async removeUnfinished(prefix: string): Promise<number> {
    this.#callFault('removeUnfinished');
    return this.inner.removeUnfinished(prefix);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    this.#callFault('deleteMany');
    if (!this.capabilities.batchDelete) throw new StorageError('UNSUPPORTED', `${this.location} has no batched delete`);
    return this.inner.deleteMany(keys);
  }

  #next(method: StoreMethod): Fault | undefined {
    this.calls[method]++;
    return this.#faults.get(method)?.shift();
  }

  /** Throws if the next call of `method` is to fail. */
  #callFault(method: StoreMethod): void {
    const fault = this.#next(method);
    if (fault) throw fault.error ?? new StorageError('IO', `injected fault: ${method} failed`);
  }

  /** Throws if the call is to fail at once; returns the fault if its stream is to break. */
  #streamFault(method: 'read' | 'write' | 'create'): { afterBytes: number; error?: Error } | undefined {
    const fault = this.#next(method);
    if (fault === undefined) return undefined;
    if (fault.afterBytes === undefined) throw fault.error ?? new StorageError('IO', `injected fault: ${method} failed`);
    return { afterBytes: fault.afterBytes, error: fault.error };
  }
}

function connectionReset(): Error {
  return Object.assign(new Error('injected fault: connection reset'), { code: 'ECONNRESET' });
}

/** Yields the first `limit` bytes of `source`, then throws `error` (if the source is longer). */
async function* breakAfter(source: ByteSource, limit: number, error: Error): AsyncGenerator<Uint8Array> {
  let passed = 0;
  for await (const chunk of source) {
    if (passed + chunk.byteLength > limit) {
      if (limit > passed) yield chunk.subarray(0, limit - passed);
      throw error;
    }
    passed += chunk.byteLength;
    yield chunk;
  }
}

/** Passes the first `limit` bytes, then fails with `error`. */
class Cutter extends Transform {
  #left: number;

  constructor(
    limit: number,
    private readonly error: Error,
  ) {
    super();
    this.#left = limit;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length <= this.#left) {
      this.#left -= chunk.length;
      callback(null, chunk);
      return;
    }
    this.push(chunk.subarray(0, this.#left));
    this.#left = 0;
    callback(this.error);
  }
}
