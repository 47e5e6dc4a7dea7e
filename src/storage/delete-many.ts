/**
 * deleteMany() as the backends share it (the contract is in types.ts): the
 * keys checked and deduplicated before any request, batches run a bounded
 * number at a time with none started after a failure, and a failure
 * reported as one StorageError naming the first key that failed and how
 * many may remain.
 */
import { StorageError } from './errors.js';
import { checkKey } from './keys.js';

/** A key the store did not delete, and its error, which names it. */
export interface KeyFailure {
  key: string;
  error: StorageError;
}

export interface DeleteBatches {
  /** Most keys per call of `deleteBatch`. */
  batchSize: number;
  /** Most calls of `deleteBatch` in flight. */
  concurrency: number;
  /**
   * Deletes `batch` (missing keys succeed) and resolves to the keys it could
   * not delete, if any; rejects with a StorageError naming the batch's first
   * key when the whole request failed, which fails every key of the batch.
   */
  deleteBatch(batch: string[]): Promise<KeyFailure[]>;
}

/** Deletes `keys` in batches, as ObjectStore.deleteMany does. */
export async function deleteInBatches(keys: readonly string[], { batchSize, concurrency, deleteBatch }: DeleteBatches): Promise<void> {
  for (const key of keys) checkKey(key);
  const unique = [...new Set(keys)];
  const batches: string[][] = [];
  for (let i = 0; i < unique.length; i += batchSize) batches.push(unique.slice(i, i + batchSize));

  const failures: KeyFailure[] = [];
  let next = 0;
  let settled = 0;
  const worker = async () => {
    while (failures.length === 0 && next < batches.length) {
      const batch = batches[next++]!;
      try {
        failures.push(...(await deleteBatch(batch)));
      } catch (error) {
        failures.push(...batch.map((key) => ({ key, error: error as StorageError })));
      }
      settled += batch.length;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, batches.length) }, worker));
  if (failures.length === 0) return;

  const position = new Map(unique.map((key, index) => [key, index]));
  const first = failures.reduce((a, b) => (position.get(b.key)! < position.get(a.key)! ? b : a));
  const remaining = failures.length + unique.length - settled;
  throw new StorageError(first.error.code, `${first.error.message} (${remaining} of ${unique.length} keys may remain)`, { cause: first.error });
}

/**
 * deleteMany() for a backend without a batch API: `deleteOne` (idempotent, missing keys
 * succeed) for each key, `concurrency` at a time, with deleteInBatches' checks and report.
 */
export function deleteEach(keys: readonly string[], concurrency: number, deleteOne: (key: string) => Promise<void>): Promise<void> {
  return deleteInBatches(keys, {
    batchSize: 1,
    concurrency,
    deleteBatch: async ([key]) => {
      await deleteOne(key!);
      return [];
    },
  });
}
