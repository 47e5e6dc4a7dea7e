import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { deleteInBatches, type KeyFailure } from '../../src/storage/delete-many.js';
import { StorageError } from '../../src/storage/errors.js';

const denied = (key: string): KeyFailure => ({ key, error: new StorageError('ACCESS_DENIED', `access denied: cannot delete mem://t/${key}`) });

describe('deleteInBatches', () => {
  it('checks every key before the first batch', async () => {
    const batches: string[][] = [];
    const deleting = deleteInBatches(['a', 'b/../c'], { batchSize: 10, concurrency: 1, deleteBatch: async (batch) => (batches.push(batch), []) });
    await expect(deleting).rejects.toMatchObject({ code: 'INVALID_KEY', message: expect.stringContaining('b/../c') });
    expect(batches).toEqual([]);
  });

  it('sends each key once, in batches of at most batchSize, at most concurrency at a time', async () => {
    const batches: string[][] = [];
    let inFlight = 0;
    let most = 0;
    const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
    await deleteInBatches([...keys, 'k3', 'k24'], {
      batchSize: 10,
      concurrency: 2,
      deleteBatch: async (batch) => {
        most = Math.max(most, ++inFlight);
        await sleep(5);
        inFlight--;
        batches.push(batch);
        return [];
      },
    });
    expect(batches.flat().sort()).toEqual([...keys].sort());
    expect(batches.map((batch) => batch.length).sort()).toEqual([10, 10, 5]);
    expect(most).toBe(2);
  });

  it('names the first key that failed in the order of the keys, and how many may remain, after starting no further batch', async () => {
    const started: string[] = [];
    const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
    const deleting = deleteInBatches(keys, {
      batchSize: 2,
      concurrency: 2,
      deleteBatch: async (batch) => {
        started.push(batch[0]!);
        // k0-k1 fails late for k1; k2-k3 fails early, as a whole request.
        if (batch[0] === 'k0') return sleep(20).then(() => [denied('k1')]);
        throw denied('k2').error;
      },
    });
    const error = await deleting.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error).toMatchObject({ code: 'ACCESS_DENIED', message: 'access denied: cannot delete mem://t/k1 (9 of 10 keys may remain)' });
    expect((error as StorageError).cause).toMatchObject({ message: 'access denied: cannot delete mem://t/k1' });
    expect(started).toEqual(['k0', 'k2']);
  });
});
