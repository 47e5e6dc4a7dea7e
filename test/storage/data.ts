/** Test data for the storage tests: pseudo-random streams made on the fly, digests, sizes. */
import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

export const MiB = 1024 * 1024;

/** MiB of the large round trip; AEROBAK_TEST_LARGE_MB overrides the default. */
export function largeObjectMiB(fallback: number): number {
  const configured = Number(process.env.AEROBAK_TEST_LARGE_MB);
  return Number.isFinite(configured) && configured > 0 ? configured : fallback;
}

const CHUNK = MiB;

/**
 * `size` pseudo-random bytes (an AES-CTR keystream keyed by `seed`: fast and
 * incompressible), produced chunk by chunk as they are read, hashed on the
 * way out. With `size` Infinity it never ends. `sha256()` is the digest of
 * what was read, once the stream has ended.
 */
export class RandomStream extends Readable {
  readonly #cipher;
  readonly #hash = createHash('sha256');
  #left: number;
  /** Bytes handed out so far. */
  produced = 0;

  constructor(
    size: number,
    seed = 1,
    private readonly onProduced?: (produced: number) => void,
  ) {
    super();
    this.#left = size;
    this.#cipher = createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16));
  }

  override _read(): void {
    if (this.#left <= 0) {
      this.push(null);
      return;
    }
    const chunk = this.#cipher.update(Buffer.alloc(Math.min(CHUNK, this.#left)));
    this.#left -= chunk.length;
    this.#hash.update(chunk);
    this.produced += chunk.length;
    this.push(chunk);
    this.onProduced?.(this.produced);
  }

  sha256(): string {
    return this.#hash.copy().digest('hex');
  }
}

/** `size` pseudo-random bytes in one buffer. */
export function randomBuffer(size: number, seed = 1): Buffer {
  return createCipheriv('aes-128-ctr', Buffer.alloc(16, seed), Buffer.alloc(16)).update(Buffer.alloc(size));
}

/** A source that yields `size` pseudo-random bytes and then fails with `error`. */
export async function* failingSource(size: number, error: Error): AsyncGenerator<Uint8Array> {
  yield* new RandomStream(size);
  throw error;
}

export async function sha256Of(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    hash.update(chunk);
    size += chunk.byteLength;
  }
  return { sha256: hash.digest('hex'), size };
}

export async function readAll(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}
