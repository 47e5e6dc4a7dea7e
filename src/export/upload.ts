/**
 * One exported file on its way to the store: chunks go in as the format writer produces
 * them (a row group, a few Avro blocks), are hashed and counted, and stream into
 * store.write, so a file is never held whole in memory. `put` waits while the store is
 * behind (backpressure); a failure of the store rejects the next `put` or `end`.
 * Nothing is visible under the key until `end` resolves (store.write is atomic).
 */
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { ObjectStore } from '../storage/types.js';

/** Bytes of one file queued between the format writer and the store (plus the chunk being put). */
const QUEUE_BYTES = 1024 * 1024;

export class Upload {
  size = 0;
  readonly #hash = createHash('sha256');
  readonly #pipe = new PassThrough({ highWaterMark: QUEUE_BYTES });
  readonly #done: Promise<number>;
  #failure: { error: unknown } | undefined;

  constructor(store: ObjectStore, readonly key: string, signal: AbortSignal | undefined) {
    // The store destroys the stream it reads when the write fails or aborts; that failure is #done's to report.
    this.#pipe.on('error', () => undefined);
    this.#done = store.write(key, this.#pipe, signal ? { signal } : {});
    this.#done.catch((error: unknown) => {
      this.#failure = { error };
      this.#pipe.destroy();
    });
  }

  async put(chunk: Uint8Array): Promise<void> {
    if (this.#failure) throw this.#failure.error;
    if (chunk.byteLength === 0) return;
    this.#hash.update(chunk);
    this.size += chunk.byteLength;
    if (this.#pipe.write(chunk)) return;
    await new Promise<void>((resolve, reject) => {
      const onDrain = (): void => {
        this.#pipe.off('close', onClose);
        resolve();
      };
      const onClose = (): void => {
        this.#pipe.off('drain', onDrain);
        // The store failed (or the signal aborted): its error, once write() has rejected.
        this.#done.then(
          () => reject(new Error(`upload of ${this.key} ended early`)),
          reject,
        );
      };
      this.#pipe.once('drain', onDrain);
      this.#pipe.once('close', onClose);
    });
  }

  /** Ends the file; resolves once the store holds it, with its size and SHA-256 (hex). */
  async end(): Promise<{ size: number; sha256: string }> {
    if (this.#failure) throw this.#failure.error;
    this.#pipe.end();
    await this.#done;
    return { size: this.size, sha256: this.#hash.digest('hex') };
  }

  /** Gives the file up: nothing is left under its key. */
  async abort(error: Error): Promise<void> {
    this.#pipe.destroy(error);
    await this.#done.catch(() => undefined);
  }
}
