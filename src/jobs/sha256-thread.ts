/**
 * SHA-256 on a thread of its own, for the data files a backup writes (data-files.ts): the
 * main thread is the backup's bottleneck (docs/performance.md, "Both cores"), and hashing
 * every stored byte is ~8 % of it. Used on a machine of 4 or more CPUs, or whenever
 * AEROBAK_SHA256_THREAD=1 (=0: never). Not by default on fewer: the worker costs ~16 MiB
 * of RSS, more than the margin of the 150 MB goal on the 2-core dev box, whose second core
 * the server mostly takes, for a backup ~9 % faster there (paired runs); with cores to
 * spare the main thread is all of the bound, and 16 MiB is small change.
 *
 * One worker per process, started on first use, hashes for every file at once, each under
 * an id. Bytes reach it through a SharedArrayBuffer of SLOTS slots of SLOT_BYTES: a chunk
 * is copied into free slots (a memcpy, ~15x cheaper than hashing it) and the slot's number
 * posted; the worker hashes the slot in place and hands it back. No buffer is allocated
 * per chunk on either side, and at most SLOTS x SLOT_BYTES are in flight for the whole
 * process: a writer waits for a free slot (backpressure). Messages of one id are handled
 * in the order posted, so the digest covers the bytes in order.
 *
 * The worker is unref'd while nothing is in flight, so it never keeps the process alive.
 * If it cannot start, `Sha256Thread.shared()` is undefined and callers hash in-thread; if
 * it dies, every pending and later call rejects with the reason.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export const SLOT_BYTES = 256 * 1024;
export const SLOTS = 8;

/**
 * The worker, plain JavaScript run with no flags of the process (execArgv: []), as a
 * script or a module alike (getBuiltinModule): [0, id, slot, length] hashes a slot into id's state; [1, id] digests it; [2, id] drops it. */
const WORKER_SOURCE = `
const { parentPort, workerData } = process.getBuiltinModule('node:worker_threads');
const { createHash } = process.getBuiltinModule('node:crypto');
const bytes = new Uint8Array(workerData.sab);
const slotBytes = workerData.slotBytes;
const hashes = new Map();
parentPort.on('message', (m) => {
  const id = m[1];
  if (m[0] === 0) {
    let h = hashes.get(id);
    if (h === undefined) hashes.set(id, (h = createHash('sha256')));
    h.update(bytes.subarray(m[2] * slotBytes, m[2] * slotBytes + m[3]));
    parentPort.postMessage([0, m[2]]);
  } else if (m[0] === 1) {
    const h = hashes.get(id) ?? createHash('sha256');
    hashes.delete(id);
    parentPort.postMessage([1, id, h.digest('hex')]);
  } else {
    hashes.delete(id);
  }
});
`;

/** Whether a backup hashes on the thread: AEROBAK_SHA256_THREAD=1 or 0 decides, else 4 or more CPUs. */
export function sha256ThreadWanted(env: NodeJS.ProcessEnv, cpus: number): boolean {
  const v = env.AEROBAK_SHA256_THREAD?.trim();
  if (v === '1') return true;
  if (v === '0') return false;
  return cpus >= 4;
}

export class Sha256Thread {
  static #shared: Sha256Thread | null | undefined = null;

  /** The process's hash thread, started on first use when wanted (sha256ThreadWanted); undefined when not, or when a worker cannot start. */
  static shared(): Sha256Thread | undefined {
    if (Sha256Thread.#shared === null) {
      try {
        Sha256Thread.#shared = sha256ThreadWanted(process.env, availableParallelism()) ? new Sha256Thread() : undefined;
      } catch {
        Sha256Thread.#shared = undefined;
      }
    }
    return Sha256Thread.#shared;
  }

  readonly #worker: Worker;
  readonly #bytes: Uint8Array;
  readonly #free: number[] = [];
  readonly #slotWaiters: Array<{ resolve: (slot: number) => void; reject: (e: Error) => void }> = [];
  readonly #digests = new Map<number, { resolve: (hex: string) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  /** Slots handed out plus digests pending: the worker is ref'd while this is above 0. */
  #busy = 0;
  #failure: Error | undefined;

  /** A thread of its own (shared() is the process's); it never keeps the process alive when idle. */
  constructor() {
    const sab = new SharedArrayBuffer(SLOTS * SLOT_BYTES);
    this.#bytes = new Uint8Array(sab);
    for (let i = 0; i < SLOTS; i++) this.#free.push(i);
    this.#worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { sab, slotBytes: SLOT_BYTES } });
    this.#worker.unref();
    this.#worker.on('message', (m: [0, number] | [1, number, string]) => {
      if (m[0] === 0) this.#release(m[1]);
      else {
        const d = this.#digests.get(m[1]);
        this.#digests.delete(m[1]);
        this.#idle();
        d?.resolve(m[2]);
      }
    });
    const fail = (error: Error) => {
      this.#failure ??= new Error(`the SHA-256 thread stopped: ${error.message}`, { cause: error });
      for (const w of this.#slotWaiters.splice(0)) w.reject(this.#failure);
      for (const d of this.#digests.values()) d.reject(this.#failure);
      this.#digests.clear();
      if (Sha256Thread.#shared === this) Sha256Thread.#shared = null;
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => fail(new Error(`exit code ${code}`)));
  }

  /** A new hash state's id. */
  open(): number {
    return this.#nextId++;
  }

  /**
   * Adds `chunk` to `id`'s hash. Resolves once the bytes are copied into slots (the
   * caller may reuse `chunk` then); waits while every slot is in flight.
   */
  async update(id: number, chunk: Uint8Array): Promise<void> {
    for (let at = 0; at < chunk.byteLength; at += SLOT_BYTES) {
      const n = Math.min(SLOT_BYTES, chunk.byteLength - at);
      const slot = this.#free.pop() ?? (await this.#waitForSlot());
      if (this.#failure) throw this.#failure;
      this.#busy++;
      this.#worker.ref();
      this.#bytes.set(chunk.subarray(at, at + n), slot * SLOT_BYTES);
      this.#worker.postMessage([0, id, slot, n]);
    }
  }

  /** The lowercase hex SHA-256 of everything given to `id`; ends `id`. */
  digest(id: number): Promise<string> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise<string>((resolve, reject) => {
      this.#digests.set(id, { resolve, reject });
      this.#busy++;
      this.#worker.ref();
      this.#worker.postMessage([1, id]);
    });
  }

  /** Forgets `id` (a file torn down before its end). */
  discard(id: number): void {
    if (!this.#failure) this.#worker.postMessage([2, id]);
  }

  #waitForSlot(): Promise<number> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#slotWaiters.push({ resolve, reject }));
  }

  #release(slot: number): void {
    this.#idle();
    const waiter = this.#slotWaiters.shift();
    if (waiter) waiter.resolve(slot);
    else this.#free.push(slot);
  }

  #idle(): void {
    if (--this.#busy === 0) this.#worker.unref();
  }
}
