/**
 * The ObjectStore conformance suite: every backend runs these same tests
 * (after restic's backend/test/suite.go and kopia's blobtesting), hooked in
 * by a few lines in its own test file:
 *
 *   objectStoreConformance('S3 (MinIO)', () => ({ newStore: () => ..., largeObjectMiB: 256 }));
 *
 * The target is a function so that it is read inside the tests, after the
 * test file's beforeAll has started its server.
 */
import { describe, expect, it } from 'vitest';
import { FaultyStore } from '../../src/storage/faulty.js';
import { ResumingStore } from '../../src/storage/resuming-store.js';
import { CREATE_MAX_BYTES, type ObjectStore, type StoreCapabilities } from '../../src/storage/index.js';
import { MiB, RandomStream, collect, failingSource, randomBuffer, readAll, sha256Of } from './data.js';

export interface StoreTarget {
  /** A store of the backend under test on a fresh, empty root; one per test. */
  newStore(): ObjectStore;
  /**
   * A store whose bucket (for a local store: root directory) does not exist,
   * and that bucket's name. Absent for backends without buckets (memory).
   */
  missingBucket?(): { store: ObjectStore; bucket: string };
  /**
   * What is left of unfinished uploads under the store's root: S3 multipart
   * uploads, local temporary files. Absent where none can be left (memory)
   * or none can be seen (a GCS upload session is invisible until finalised).
   */
  unfinishedUploads?(store: ObjectStore): Promise<string[]>;
  /** Size of the large round trip. */
  largeObjectMiB: number;
}

const LONG = 10 * 60_000;
/** Small enough to keep fault tests fast; the policy's logic is tested in resuming-store.test.ts. */
const FAST_RETRY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 10 };

/** Concurrent creates of one key in the race test. */
const RACERS = 32;

export interface ConformanceOptions {
  /** False for a backend where every bucket exists (memory), which leaves out the missing-bucket test. */
  hasBuckets?: boolean;
  /**
   * What the backend declares; the suite checks the declaration, tests what
   * is declared, and checks that what is not rejects with UNSUPPORTED.
   * Default: everything.
   */
  capabilities?: StoreCapabilities;
}

export function objectStoreConformance(
  name: string,
  target: () => StoreTarget,
  { hasBuckets = true, capabilities = { exclusiveCreate: true, batchDelete: true } }: ConformanceOptions = {},
): void {
  const leftovers = async (store: ObjectStore) => (await target().unfinishedUploads?.(store)) ?? [];
  const write = (store: ObjectStore, key: string, data: Buffer) => store.write(key, [data]);
  const text = async (store: ObjectStore, key: string) => (await readAll(await store.read(key))).toString();

  describe(`${name}: ObjectStore conformance`, () => {
    describe('open', () => {
      it('accepts an existing bucket for reading and writing', async () => {
        const store = target().newStore();
        await store.open('write');
        await store.open('read');
      });

      if (hasBuckets) {
        it('rejects a missing bucket with NO_BUCKET, naming it', async () => {
          const missing = target().missingBucket?.();
          if (missing === undefined) throw new Error('the target has buckets but no missingBucket()');
          const error = await missing.store.open('read').catch((e: unknown) => e);
          expect(error).toMatchObject({ name: 'StorageError', code: 'NO_BUCKET' });
          expect((error as Error).message).toContain(missing.bucket);
        });
      }
    });

    describe('write, read, stat', () => {
      it('round-trips an object and reports its size', async () => {
        const store = target().newStore();
        const data = randomBuffer(100_000);
        expect(await write(store, 'dir/object.bin', data)).toBe(data.length);
        expect(await store.stat('dir/object.bin')).toEqual({ key: 'dir/object.bin', size: data.length });
        expect(await readAll(await store.read('dir/object.bin'))).toEqual(data);
      });

      it('round-trips an empty object', async () => {
        const store = target().newStore();
        expect(await store.write('empty', [])).toBe(0);
        expect(await store.stat('empty')).toEqual({ key: 'empty', size: 0 });
        expect((await readAll(await store.read('empty'))).length).toBe(0);
      });

      it('replaces an existing object', async () => {
        const store = target().newStore();
        await write(store, 'k', Buffer.from('first version'));
        await write(store, 'k', Buffer.from('second'));
        expect((await readAll(await store.read('k'))).toString()).toBe('second');
        expect(await collect(store.list(''))).toEqual([{ key: 'k', size: 6 }]);
      });

      it('has no object under a missing key: stat is null, read rejects with NOT_FOUND naming it', async () => {
        const store = target().newStore();
        expect(await store.stat('missing/key')).toBeNull();
        const error = await store.read('missing/key').catch((e: unknown) => e);
        expect(error).toMatchObject({ name: 'StorageError', code: 'NOT_FOUND' });
        expect((error as Error).message).toContain('missing/key');
      });

      it(
        `round-trips a large stream with the same SHA-256 on both sides`,
        async () => {
          const store = target().newStore();
          const size = target().largeObjectMiB * MiB + 12_345;
          const source = new RandomStream(size, 7);
          expect(await store.write('large.bin', source)).toBe(size);
          expect(await store.stat('large.bin')).toEqual({ key: 'large.bin', size });
          expect(await sha256Of(await store.read('large.bin'))).toEqual({ sha256: source.sha256(), size });
        },
        LONG,
      );

      it('rejects malformed keys with INVALID_KEY', async () => {
        const store = target().newStore();
        for (const key of ['', '/absolute', 'trailing/', 'a//b', '../escape', 'a/./b', 'back\\slash']) {
          await expect(store.write(key, [Buffer.from('x')]), key).rejects.toMatchObject({ code: 'INVALID_KEY' });
          await expect(store.read(key), key).rejects.toMatchObject({ code: 'INVALID_KEY' });
          await expect(store.stat(key), key).rejects.toMatchObject({ code: 'INVALID_KEY' });
          await expect(store.delete(key), key).rejects.toMatchObject({ code: 'INVALID_KEY' });
          if (capabilities.exclusiveCreate) {
            await expect(store.create(key, [Buffer.from('x')]), key).rejects.toMatchObject({ code: 'INVALID_KEY' });
          }
          if (capabilities.batchDelete) {
            await expect(store.deleteMany(['fine', key]), key).rejects.toMatchObject({ code: 'INVALID_KEY' });
          }
        }
      });
    });

    describe('range reads', () => {
      const size = 3 * MiB + 17;
      const data = randomBuffer(size, 3);
      const cases: [string, { offset: number; length?: number }, Buffer][] = [
        ['from an offset to the end', { offset: 1_000_000 }, data.subarray(1_000_000)],
        ['an inner range', { offset: 123_457, length: 2 * MiB }, data.subarray(123_457, 123_457 + 2 * MiB)],
        ['the first byte', { offset: 0, length: 1 }, data.subarray(0, 1)],
        ['the last byte', { offset: size - 1, length: 1 }, data.subarray(size - 1)],
        ['a range past the end, clipped', { offset: size - 10, length: 1000 }, data.subarray(size - 10)],
        ['a range starting at the end, empty', { offset: size }, Buffer.alloc(0)],
        ['a range starting past the end, empty', { offset: size + 100, length: 5 }, Buffer.alloc(0)],
      ];

      it('reads each range exactly', async () => {
        const store = target().newStore();
        await write(store, 'ranged', data);
        for (const [what, range, expected] of cases) {
          expect((await readAll(await store.read('ranged', range))).equals(expected), what).toBe(true);
        }
      });

      it('rejects malformed ranges with a RangeError', async () => {
        const store = target().newStore();
        await write(store, 'ranged', data.subarray(0, 10));
        await expect(store.read('ranged', { offset: -1 })).rejects.toBeInstanceOf(RangeError);
        await expect(store.read('ranged', { offset: 0, length: 0 })).rejects.toBeInstanceOf(RangeError);
        await expect(store.read('ranged', { offset: 1.5 })).rejects.toBeInstanceOf(RangeError);
      });
    });

    describe('list', () => {
      it(
        'lists 1,200 keys page by page, in order, with sizes, and narrows by prefix',
        async () => {
          const store = target().newStore();
          const keys = Array.from({ length: 1200 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
          await inBatches(keys, 32, (key) => write(store, key, Buffer.from(key)));
          await write(store, 'other', Buffer.from('x'));

          const listed = await collect(store.list('many/'));
          expect(listed).toEqual(keys.map((key) => ({ key, size: key.length })));
          expect((await collect(store.list('many/01'))).map((o) => o.key)).toEqual(keys.slice(100, 200));
          expect(await collect(store.list(''))).toHaveLength(1201);
        },
        LONG,
      );

      it('orders nested keys as strings and matches prefixes that end mid-name', async () => {
        const store = target().newStore();
        for (const key of ['b', 'a0', 'a/c/d', 'a-b', 'a/b']) await write(store, key, Buffer.from(key));
        expect((await collect(store.list(''))).map((o) => o.key)).toEqual(['a-b', 'a/b', 'a/c/d', 'a0', 'b']);
        expect((await collect(store.list('a'))).map((o) => o.key)).toEqual(['a-b', 'a/b', 'a/c/d', 'a0']);
        expect((await collect(store.list('a/'))).map((o) => o.key)).toEqual(['a/b', 'a/c/d']);
        expect(await collect(store.list('nothing/'))).toEqual([]);
      });

      it('stops with an AbortError when its signal aborts', async () => {
        const store = target().newStore();
        await write(store, 'k', Buffer.from('x'));
        await expect(collect(store.list('', { signal: AbortSignal.abort() }))).rejects.toMatchObject({ name: 'AbortError' });
      });
    });

    describe('delete', () => {
      it('removes an object, and deleting a missing key succeeds', async () => {
        const store = target().newStore();
        await write(store, 'dir/gone', Buffer.from('bye'));
        await store.delete('dir/gone');
        expect(await store.stat('dir/gone')).toBeNull();
        await expect(store.read('dir/gone')).rejects.toMatchObject({ code: 'NOT_FOUND' });
        await store.delete('dir/gone');
        await store.delete('never/existed');
        expect(await collect(store.list(''))).toEqual([]);
      });
    });

    it('declares its capabilities', () => {
      expect(target().newStore().capabilities).toEqual(capabilities);
    });

    if (capabilities.exclusiveCreate) {
      describe('exclusive create', () => {
        it('stores an object under a new key', async () => {
          const store = target().newStore();
          const data = randomBuffer(100_000, 5);
          expect(await store.create('dir/new.bin', (async function* () { yield data.subarray(0, 1); yield data.subarray(1); })())).toBe(data.length);
          expect(await store.stat('dir/new.bin')).toEqual({ key: 'dir/new.bin', size: data.length });
          expect((await readAll(await store.read('dir/new.bin'))).equals(data)).toBe(true);
          expect(await store.create('empty', [])).toBe(0);
          expect(await store.stat('empty')).toEqual({ key: 'empty', size: 0 });
        });

        it('refuses an existing key with ALREADY_EXISTS naming it, and leaves the object as it was', async () => {
          const store = target().newStore();
          await write(store, 'dir/taken', Buffer.from('written'));
          const error = await store.create('dir/taken', [Buffer.from('created over it')]).catch((e: unknown) => e);
          expect(error).toMatchObject({ name: 'StorageError', code: 'ALREADY_EXISTS' });
          expect((error as Error).message).toContain('dir/taken');
          expect(await text(store, 'dir/taken')).toBe('written');

          await store.create('made', [Buffer.from('first')]);
          await expect(store.create('made', [Buffer.from('second')])).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
          expect(await text(store, 'made')).toBe('first');
          expect(await collect(store.list(''))).toEqual([
            { key: 'dir/taken', size: 7 },
            { key: 'made', size: 5 },
          ]);
          expect(await leftovers(store)).toEqual([]);
        });

        it('creates a key again once its object is deleted', async () => {
          const store = target().newStore();
          await store.create('k', [Buffer.from('one')]);
          await store.delete('k');
          await store.create('k', [Buffer.from('two')]);
          expect(await text(store, 'k')).toBe('two');
        });

        it(`lets exactly one of ${RACERS} concurrent creates of a key win, and stores the winner's object`, async () => {
          const store = target().newStore();
          const contents = Array.from({ length: RACERS }, (_, i) => `creator ${i} `.repeat(i + 1));
          const outcomes = await Promise.allSettled(contents.map((content) => store.create('race/lock', [Buffer.from(content)])));
          const winners = outcomes.flatMap((outcome, i) => (outcome.status === 'fulfilled' ? [i] : []));
          expect(winners).toHaveLength(1);
          const winner = winners[0]!;
          expect((outcomes[winner] as PromiseFulfilledResult<number>).value).toBe(contents[winner]!.length);
          for (const outcome of outcomes) {
            if (outcome.status === 'rejected') expect(outcome.reason).toMatchObject({ name: 'StorageError', code: 'ALREADY_EXISTS' });
          }
          expect(await text(store, 'race/lock')).toBe(contents[winner]);
          expect(await collect(store.list(''))).toEqual([{ key: 'race/lock', size: contents[winner]!.length }]);
          expect(await leftovers(store)).toEqual([]);
        });

        it('rejects with the error of a failing source and leaves nothing, nor touches an existing object', async () => {
          const store = target().newStore();
          const failure = new Error('the manifest broke');
          await expect(store.create('broken', failingSource(MiB, failure))).rejects.toBe(failure);
          expect(await store.stat('broken')).toBeNull();

          await write(store, 'kept', Buffer.from('kept'));
          await expect(store.create('kept', failingSource(1000, failure))).rejects.toBe(failure);
          expect(await text(store, 'kept')).toBe('kept');
          expect(await collect(store.list(''))).toEqual([{ key: 'kept', size: 4 }]);
          expect(await leftovers(store)).toEqual([]);
        });

        it('rejects with AbortError when aborted before the source ends, and leaves nothing', async () => {
          const store = target().newStore();
          const controller = new AbortController();
          const source = new RandomStream(Infinity, 2, (produced) => {
            if (produced >= 2 * MiB) controller.abort();
          });
          await expect(store.create('aborted', source, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
          expect(source.destroyed).toBe(true);
          await expect(store.create('aborted', [Buffer.from('x')], { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
          expect(await store.stat('aborted')).toBeNull();
          expect(await leftovers(store)).toEqual([]);
        });

        it(`refuses a source of more than ${CREATE_MAX_BYTES} bytes with a RangeError, stopping it, and stores nothing`, async () => {
          const store = target().newStore();
          const source = new RandomStream(CREATE_MAX_BYTES + 1);
          const error = await store.create('too/large', source).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(RangeError);
          expect((error as Error).message).toContain('too/large');
          expect(source.destroyed).toBe(true);
          expect(await store.stat('too/large')).toBeNull();
          expect(await leftovers(store)).toEqual([]);
          expect(await store.create('at/limit', new RandomStream(CREATE_MAX_BYTES))).toBe(CREATE_MAX_BYTES);
        });

        it('leaves nothing when the transfer breaks mid-way', async () => {
          const inner = target().newStore();
          const store = new FaultyStore(inner).inject('create', { afterBytes: 1000 });
          await expect(store.create('cut', [randomBuffer(5000)])).rejects.toMatchObject({ code: 'ECONNRESET' });
          expect(await inner.stat('cut')).toBeNull();
          expect(await leftovers(inner)).toEqual([]);
        });
      });
    } else {
      it('rejects create() with UNSUPPORTED and stores nothing', async () => {
        const store = target().newStore();
        await expect(store.create('k', [Buffer.from('x')])).rejects.toMatchObject({ name: 'StorageError', code: 'UNSUPPORTED' });
        expect(await store.stat('k')).toBeNull();
      });
    }

    if (capabilities.batchDelete) {
      describe('batched delete', () => {
        it('deletes existing and missing keys, a key listed twice once, and nothing for no keys', async () => {
          const store = target().newStore();
          for (const key of ['a', 'b/c', 'b/d', 'kept']) await write(store, key, Buffer.from(key));
          await store.deleteMany([]);
          await store.deleteMany(['b/c', 'missing', 'a', 'b/c', 'never/was', 'b/d']);
          expect(await collect(store.list(''))).toEqual([{ key: 'kept', size: 4 }]);
          await store.deleteMany(['a', 'b/c']);
          expect(await collect(store.list(''))).toEqual([{ key: 'kept', size: 4 }]);
        });

        it('deletes 2,500 keys, more than one batch, most of them missing', async () => {
          const store = target().newStore();
          const keys = Array.from({ length: 2500 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
          const present = [0, 999, 1000, 1001, 1999, 2000, 2499].map((i) => keys[i]!);
          for (const key of present) await write(store, key, Buffer.from(key));
          await write(store, 'other', Buffer.from('x'));
          await store.deleteMany(keys);
          expect(await collect(store.list(''))).toEqual([{ key: 'other', size: 1 }]);
        });
      });
    } else {
      it('rejects deleteMany() with UNSUPPORTED and deletes nothing', async () => {
        const store = target().newStore();
        await write(store, 'k', Buffer.from('x'));
        await expect(store.deleteMany(['k'])).rejects.toMatchObject({ name: 'StorageError', code: 'UNSUPPORTED' });
        expect(await store.stat('k')).toEqual({ key: 'k', size: 1 });
      });
    }

    describe('wrappers', () => {
      it('FaultyStore and ResumingStore pass capabilities, create and deleteMany through', async () => {
        const inner = target().newStore();
        const faulty = new FaultyStore(inner);
        const store = new ResumingStore(faulty, FAST_RETRY);
        expect(store.capabilities).toEqual(inner.capabilities);
        if (capabilities.exclusiveCreate) {
          expect(await store.create('k', [Buffer.from('value')])).toBe(5);
          await expect(store.create('k', [Buffer.from('other')])).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
          expect(await text(inner, 'k')).toBe('value');
        } else {
          await write(inner, 'k', Buffer.from('value'));
        }
        if (capabilities.batchDelete) {
          await store.deleteMany(['k', 'missing']);
          expect(await inner.stat('k')).toBeNull();
        }
        expect(faulty.calls).toMatchObject({ create: capabilities.exclusiveCreate ? 2 : 0, deleteMany: capabilities.batchDelete ? 1 : 0 });
      });

      it('FaultyStore can go without a capability: the method then rejects with UNSUPPORTED and touches nothing', async () => {
        const inner = target().newStore();
        await write(inner, 'k', Buffer.from('value'));
        const store = new FaultyStore(inner).disable('exclusiveCreate').disable('batchDelete');
        expect(store.capabilities).toEqual({ exclusiveCreate: false, batchDelete: false });
        await expect(store.create('new', [Buffer.from('x')])).rejects.toMatchObject({ name: 'StorageError', code: 'UNSUPPORTED' });
        await expect(store.deleteMany(['k'])).rejects.toMatchObject({ name: 'StorageError', code: 'UNSUPPORTED' });
        expect(await collect(inner.list(''))).toEqual([{ key: 'k', size: 5 }]);
      });
    });

    describe('failed and aborted uploads', () => {
      it(
        'an upload aborted mid-way rejects with AbortError and leaves nothing',
        async () => {
          const store = target().newStore();
          const controller = new AbortController();
          const source = new RandomStream(Infinity, 1, (produced) => {
            if (produced >= 12 * MiB) controller.abort();
          });
          await expect(store.write('aborted', source, { signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
          expect(source.destroyed).toBe(true);
          expect(await store.stat('aborted')).toBeNull();
          expect(await collect(store.list(''))).toEqual([]);
          expect(await leftovers(store)).toEqual([]);
        },
        LONG,
      );

      it(
        'a failing source rejects the write with its own error and leaves nothing',
        async () => {
          const store = target().newStore();
          const failure = new Error('the scan broke');
          await expect(store.write('broken', failingSource(12 * MiB, failure))).rejects.toBe(failure);
          expect(await store.stat('broken')).toBeNull();
          expect(await leftovers(store)).toEqual([]);
        },
        LONG,
      );

      it(
        'a transfer that breaks mid-way leaves nothing',
        async () => {
          const inner = target().newStore();
          const store = new FaultyStore(inner).inject('write', { afterBytes: 6 * MiB + 1 });
          await expect(store.write('cut', new RandomStream(20 * MiB))).rejects.toMatchObject({ code: 'ECONNRESET' });
          expect(await inner.stat('cut')).toBeNull();
          expect(await leftovers(inner)).toEqual([]);
        },
        LONG,
      );
    });

    describe('reads that break', () => {
      const data = randomBuffer(3 * MiB + 5, 9);

      it('are resumed from the last byte received', async () => {
        const faulty = new FaultyStore(target().newStore());
        await write(faulty, 'resumed', data);
        const store = new ResumingStore(faulty, FAST_RETRY);

        faulty.inject('read', { afterBytes: MiB + 3, times: 2 });
        expect((await readAll(await store.read('resumed'))).equals(data)).toBe(true);
        expect(faulty.calls.read).toBe(3);

        faulty.inject('read', { afterBytes: 1000 });
        const range = { offset: 500_000, length: 2 * MiB };
        expect((await readAll(await store.read('resumed', range))).equals(data.subarray(500_000, 500_000 + 2 * MiB))).toBe(true);
      });

      it('fail with IO once the attempts in a row are spent', async () => {
        const faulty = new FaultyStore(target().newStore());
        await write(faulty, 'doomed', data);
        faulty.inject('read', { afterBytes: 0, times: FAST_RETRY.attempts });
        const stream = await new ResumingStore(faulty, FAST_RETRY).read('doomed');
        await expect(readAll(stream)).rejects.toMatchObject({ name: 'StorageError', code: 'IO' });
        expect(faulty.calls.read).toBe(FAST_RETRY.attempts);
      });

      it('fail at once for errors other than broken connections', async () => {
        const faulty = new FaultyStore(target().newStore());
        await write(faulty, 'corrupt', data);
        faulty.inject('read', { afterBytes: 100, error: new Error('checksum mismatch') });
        const stream = await new ResumingStore(faulty, FAST_RETRY).read('corrupt');
        const error = await readAll(stream).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'IO', cause: { message: 'checksum mismatch' } });
        expect(faulty.calls.read).toBe(1);
      });
    });
  });
}

async function inBatches<T>(items: T[], size: number, each: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(each));
}
