/**
 * A set of record digests (20-byte RIPEMD-160 values) in packed memory: about 34 bytes
 * per digest, against ~100 for a JS Set of strings, with O(1) lookups that take the
 * digest where it lies (a buffer and an offset) without making a string or a slice.
 *
 * Open addressing with linear probing over one byte array of 20-byte slots. Digests are
 * uniformly random, so any 4 of their bytes are a good hash; bytes 4-7 are used because
 * bytes 0-1 hold the partition id (12 bits) and are nearly constant within a partition.
 * The table doubles when it is 60 % full.
 */
import { DIGEST_SIZE } from '../aerospike/scan-batch.js';

const MIN_CAPACITY = 1024;
const MAX_LOAD = 0.6;

export class DigestSet {
  #slots: Uint8Array;
  #used: Uint8Array;
  #mask: number;
  #size = 0;

  constructor(expected = 0) {
    let capacity = MIN_CAPACITY;
    while (capacity * MAX_LOAD < expected) capacity *= 2;
    this.#slots = new Uint8Array(capacity * DIGEST_SIZE);
    this.#used = new Uint8Array(capacity);
    this.#mask = capacity - 1;
  }

  /** Digests in the set. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of memory the set holds. */
  get bytes(): number {
    return this.#slots.byteLength + this.#used.byteLength;
  }

  /** Whether the 20 bytes of `src` at `at` are in the set. */
  has(src: Uint8Array, at = 0): boolean {
    return this.#find(src, at) >= 0;
  }

  /** Adds the 20 bytes of `src` at `at`; false if they were in the set already. */
  add(src: Uint8Array, at = 0): boolean {
    const found = this.#find(src, at);
    if (found >= 0) return false;
    if ((this.#size + 1) > (this.#mask + 1) * MAX_LOAD) {
      this.#grow();
      return this.add(src, at);
    }
    const slot = -found - 1;
    this.#slots.set(src.subarray(at, at + DIGEST_SIZE), slot * DIGEST_SIZE);
    this.#used[slot] = 1;
    this.#size++;
    return true;
  }

  /** The slot holding the digest, or -(free slot + 1) where it would go. */
  #find(src: Uint8Array, at: number): number {
    const slots = this.#slots;
    const used = this.#used;
    const mask = this.#mask;
    let i = (src[at + 4]! | (src[at + 5]! << 8) | (src[at + 6]! << 16) | (src[at + 7]! << 24)) & mask;
    for (;;) {
      if (used[i] === 0) return -i - 1;
      const base = i * DIGEST_SIZE;
      let k = 0;
      while (k < DIGEST_SIZE && slots[base + k] === src[at + k]) k++;
      if (k === DIGEST_SIZE) return i;
      i = (i + 1) & mask;
    }
  }

  #grow(): void {
    const oldSlots = this.#slots;
    const oldUsed = this.#used;
    const capacity = (this.#mask + 1) * 2;
    this.#slots = new Uint8Array(capacity * DIGEST_SIZE);
    this.#used = new Uint8Array(capacity);
    this.#mask = capacity - 1;
    this.#size = 0;
    for (let i = 0; i < oldUsed.length; i++) if (oldUsed[i] === 1) this.add(oldSlots, i * DIGEST_SIZE);
  }
}
