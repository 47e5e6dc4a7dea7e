/**
 * The source of a write as every backend consumes it: a byte stream that
 * pulls from the caller's source only while the backend asks for more
 * (`push()` returning false stops the pump until the next `_read`), counts
 * the bytes, is destroyed with an AbortError when the write's signal aborts
 * (which tears down the backend's upload), and tells a failure of the
 * caller's side (the source, the abort) from a failure of the store, so that
 * `write()` rejects with the caller's own error.
 */
import { Readable, addAbortSignal, finished } from 'node:stream';
import { CREATE_MAX_BYTES, type ByteSource } from './types.js';

export class WriteSource extends Readable {
  readonly #source: ByteSource;
  readonly #iterator: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  readonly #signal: AbortSignal | undefined;
  #pumping = false;
  #bytes = 0;
  #sourceFailure: { error: unknown } | undefined;

  constructor(source: ByteSource, signal?: AbortSignal) {
    super();
    this.#source = source;
    this.#iterator = source instanceof Readable ? chunksOf(source) : Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
    this.#signal = signal;
    if (signal) addAbortSignal(signal, this);
  }

  /** Bytes taken from the source so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * The error `write()` must reject with instead of the store's: the
   * source's error, or the AbortError if the signal aborted the write.
   * Undefined when the failure is the store's own.
   */
  get callerFailure(): unknown {
    if (this.#sourceFailure) return this.#sourceFailure.error;
    return this.#signal?.aborted ? (this.errored ?? undefined) : undefined;
  }

  override _read(): void {
    if (!this.#pumping) void this.#pump();
  }

  async #pump(): Promise<void> {
    this.#pumping = true;
    try {
      let wanted = true;
      while (wanted) {
        const next = await this.#iterator.next();
        if (this.destroyed) return;
        if (next.done) {
          this.push(null);
          return;
        }
        this.#bytes += next.value.byteLength;
        wanted = this.push(next.value);
      }
    } catch (error) {
      if (this.destroyed) return; // the source failed because this stream was destroyed first
      this.#sourceFailure = { error };
      this.destroy(error as Error);
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Stops the source without waiting for it: a Readable source is destroyed
   * at once; any other iterator is asked to return, and only when its
   * pending `next()` settles. Errors of that `return()` are moot, the write
   * has already failed.
   */
  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#source instanceof Readable) this.#source.destroy(error ?? undefined);
    else void Promise.resolve(this.#iterator.return?.()).catch(() => undefined);
    callback(error);
  }
}

/**
 * A Readable's chunks one by one, as they were pushed. Not its async iterator: that
 * calls `read()`, which joins everything buffered into a new buffer whenever more than
 * one chunk waits, so a backup's data file (blocks of 256 KiB through the meter) was
 * copied whole, once more, on its way to every store. Here each chunk comes out of a
 * 'data' event and the stream is paused until the next is wanted. Ends as the iterator
 * does: done at 'end', the stream's error when it fails, a premature-close error when
 * it is destroyed before its end; `return()` destroys it.
 */
function chunksOf(source: Readable): AsyncIterator<Uint8Array> {
  const queue: Uint8Array[] = [];
  let ended: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // Paused before the listener is added, so that adding it does not start the flow.
  source.pause();
  source.on('data', (chunk: Uint8Array) => {
    queue.push(chunk);
    source.pause();
    notify();
  });
  finished(source, { writable: false }, (error) => {
    ended = { error };
    notify();
  });
  return {
    async next(): Promise<IteratorResult<Uint8Array>> {
      for (;;) {
        const chunk = queue.shift();
        if (chunk !== undefined) return { done: false, value: chunk };
        if (ended) {
          if (ended.error) throw ended.error;
          return { done: true, value: undefined };
        }
        await new Promise<void>((resolve) => {
          wake = resolve;
          source.resume();
        });
      }
    },
    async return(): Promise<IteratorResult<Uint8Array>> {
      source.destroy();
      return { done: true, value: undefined };
    },
  };
}

/**
 * User metadata under which S3 and GCS tag an object made by create() with
 * a random id, so that a create whose committed request was retried (its
 * answer lost) and then refused as already existing recognises its own
 * object.
 */
export const CREATE_ID_METADATA = 'aerobak-create-id';

/**
 * The source of a create() read whole (see ObjectStore.create): rejects as
 * write() does for a failure of the caller's side, and with a RangeError
 * naming `object` as soon as the source has yielded more than
 * CREATE_MAX_BYTES (the source is then destroyed, unread).
 */
export async function readCreateSource(source: ByteSource, signal: AbortSignal | undefined, object: string): Promise<Buffer> {
  const body = new WriteSource(source, signal);
  const chunks: Buffer[] = [];
  try {
    for await (const chunk of body) {
      if (body.bytes > CREATE_MAX_BYTES) {
        throw new RangeError(`cannot create ${object}: more than ${CREATE_MAX_BYTES} bytes, the most create() stores`);
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    throw body.callerFailure ?? error;
  }
  return Buffer.concat(chunks);
}
