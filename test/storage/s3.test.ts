import {
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  UploadPartCommand,
  type DeleteObjectsCommandInput,
  type DeleteObjectsCommandOutput,
  type UploadPartCommandInput,
} from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type ObjectStore } from '../../src/storage/index.js';
import { s3Config } from '../../src/storage/s3/config.js';
import { S3Store } from '../../src/storage/s3/s3-store.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { MiB, RandomStream, collect, largeObjectMiB, readAll } from './data.js';
import { objectStoreConformance } from './suite.js';

const BUCKET = 'aerobak-conformance';
const PART_SIZE = 5 * MiB;

let server: S3TestServer;
beforeAll(async () => {
  server = await startS3Server();
  await server.createBucket(BUCKET);
}, SERVER_START_TIMEOUT_MS);
afterAll(() => server?.stop());

function newStore(): ObjectStore {
  return createStore(`s3://${BUCKET}/${randomUUID()}`, { s3: { ...server.options, partSize: PART_SIZE } });
}

/**
 * Multipart uploads started and neither completed nor aborted under the
 * store's root. Lists the whole bucket: MinIO matches the Prefix of
 * ListMultipartUploads only against whole object keys.
 */
async function multipartUploads(store: ObjectStore): Promise<string[]> {
  const root = new URL(store.location).pathname.slice(1);
  const { Uploads = [] } = await server.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET }));
  return Uploads.filter((upload) => upload.Key?.startsWith(root)).map((upload) => `${upload.Key} ${upload.UploadId}`);
}

objectStoreConformance('S3 (MinIO)', () => ({
  newStore,
  missingBucket: () => ({ store: createStore('s3://no-such-bucket/backups', { s3: server.options }), bucket: 'no-such-bucket' }),
  unfinishedUploads: multipartUploads,
  largeObjectMiB: largeObjectMiB(256),
}));

describe('S3 store', () => {
  it('removes the multipart uploads a killed writer left under a prefix, and only those', async () => {
    const store = newStore() as S3Store | ObjectStore;
    const root = new URL(store.location).pathname.slice(1);
    const start = async (key: string) => {
      const { UploadId } = await server.client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: root + key }));
      await server.client.send(new UploadPartCommand({ Bucket: BUCKET, Key: root + key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024) }));
    };
    await start('backup/a_00_00003.avro.gz');
    await start('backup/b_01_00007.avro.gz');
    await start('other/c');
    expect(await store.removeUnfinished('backup/')).toBe(2);
    expect((await multipartUploads(store)).map((u) => u.split(' ')[0])).toEqual([`${root}other/c`]);
    expect(await store.removeUnfinished('')).toBe(1);
    expect(await multipartUploads(store)).toEqual([]);
  });

  const etag = async (store: ObjectStore, key: string) => {
    const Key = new URL(store.location).pathname.slice(1) + key;
    return (await server.client.send(new HeadObjectCommand({ Bucket: BUCKET, Key }))).ETag;
  };

  it('sends an object of one part with a single PUT, and a larger one in parts', async () => {
    const store = newStore();
    await store.write('small', new RandomStream(PART_SIZE));
    await store.write('three-parts', new RandomStream(2 * PART_SIZE + 1));
    expect(await etag(store, 'small')).toMatch(/^"[0-9a-f]{32}"$/);
    expect(await etag(store, 'three-parts')).toMatch(/^"[0-9a-f]{32}-3"$/);
  });

  it('rejects unknown credentials with CREDENTIALS', async () => {
    const store = createStore(`s3://${BUCKET}/x`, {
      s3: { ...server.options, credentials: { accessKeyId: 'nobody', secretAccessKey: 'wrong-secret' } },
    });
    await expect(store.open('read')).rejects.toMatchObject({ code: 'CREDENTIALS', message: expect.stringContaining(BUCKET) });
  });

  it(
    'stops reading the source and aborts as soon as one part fails for good',
    async () => {
      const store = new S3Store(s3Config(new URL(`s3://${BUCKET}/${randomUUID()}/`), { ...server.options, partSize: PART_SIZE }));
      // Part 2 fails without a retry while the other workers' parts succeed:
      // unless the upload stops reading, they would read this endless source forever.
      store.client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName === 'UploadPartCommand' && (args.input as UploadPartCommandInput).PartNumber === 2) {
            throw new Error('injected: part 2 failed');
          }
          return next(args);
        },
        { step: 'initialize', name: 'failPartTwo' },
      );
      const source = new RandomStream(Infinity);
      const error = await store.write('endless', source).catch((e: unknown) => e);

      expect(error).toMatchObject({ name: 'StorageError', code: 'IO', cause: { message: 'injected: part 2 failed' } });
      expect(source.destroyed).toBe(true);
      expect(await store.stat('endless')).toBeNull();
      expect(await multipartUploads(store)).toEqual([]);
    },
    60_000,
  );

  describe('exclusive create', () => {
    /**
     * A store whose PutObject requests go through `intercept`, and the count
     * of them. It is inside the SDK's retry loop: each attempt the SDK makes
     * is a call.
     */
    function storeWithPut(intercept: (call: number, send: () => Promise<unknown>) => Promise<unknown>, options: { maxAttempts?: number } = {}) {
      const store = new S3Store(s3Config(new URL(`s3://${BUCKET}/${randomUUID()}/`), { ...server.options, ...options }));
      const puts = { count: 0 };
      store.client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName !== 'PutObjectCommand') return next(args);
          return intercept(++puts.count, () => next(args)) as ReturnType<typeof next>;
        },
        { step: 'deserialize', name: 'interceptPut' },
      );
      return { store, puts };
    }

    const conflict = () => Object.assign(new Error('injected: conflicting write in flight'), { name: 'ConditionalRequestConflict', $metadata: { httpStatusCode: 409 } });

    it('repeats a create that conflicted with a write in flight (409) until S3 decides it', async () => {
      const { store, puts } = storeWithPut(async (call, send) => {
        if (call === 1) throw conflict();
        return send();
      });
      expect(await store.create('lock', [Buffer.from('mine')])).toBe(4);
      expect(puts.count).toBe(2);
      expect((await readAll(await store.read('lock'))).toString()).toBe('mine');
    });

    it('fails with IO, naming the key, once the attempts after conflicts are spent', async () => {
      const { store, puts } = storeWithPut(async () => Promise.reject(conflict()), { maxAttempts: 2 });
      const error = await store.create('lock', [Buffer.from('mine')]).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'StorageError', code: 'IO', cause: { name: 'ConditionalRequestConflict' } });
      expect((error as Error).message).toContain('lock');
      expect(puts.count).toBe(2);
      expect(await store.stat('lock')).toBeNull();
    });

    it('resolves when S3 committed the create but its answer was lost, and the repeat was refused', async () => {
      // The first PUT reaches MinIO, then fails as if the connection had
      // timed out; the SDK repeats it and gets 412.
      const { store, puts } = storeWithPut(async (call, send) => {
        const result = await send();
        if (call === 1) throw Object.assign(new Error('injected: answer lost'), { name: 'TimeoutError' });
        return result;
      });
      expect(await store.create('lock', [Buffer.from('mine')])).toBe(4);
      expect(puts.count).toBe(2);
      expect((await readAll(await store.read('lock'))).toString()).toBe('mine');
      // A create refused for another's object is still refused.
      await expect(store.create('lock', [Buffer.from('yours')])).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    });
  });

  describe('batched delete', () => {
    /** A store whose DeleteObjects results go through `edit`, with each request's keys (relative to the root). */
    function storeWithDeleteObjects(edit: (call: number, output: DeleteObjectsCommandOutput, root: string) => void = () => {}) {
      const root = `${randomUUID()}/`;
      const store = new S3Store(s3Config(new URL(`s3://${BUCKET}/${root}`), { ...server.options, maxAttempts: 3 }));
      const requests: string[][] = [];
      store.client.middlewareStack.add(
        (next, context) => async (args) => {
          if (context.commandName !== 'DeleteObjectsCommand') return next(args);
          const { Delete } = args.input as DeleteObjectsCommandInput;
          requests.push((Delete?.Objects ?? []).map(({ Key = '' }) => Key.slice(root.length)));
          const result = await next(args);
          edit(requests.length, result.output as DeleteObjectsCommandOutput, root);
          return result;
        },
        { step: 'initialize', name: 'watchDeleteObjects' },
      );
      return { store, requests };
    }

    it('sends at most 1,000 keys a request', async () => {
      const { store, requests } = storeWithDeleteObjects();
      const keys = Array.from({ length: 2500 }, (_, i) => `k${i}`);
      await store.write('k1999', [Buffer.from('x')]);
      await store.deleteMany(keys);
      expect(requests.map((keys) => keys.length).sort()).toEqual([1000, 1000, 500]);
      expect(await store.stat('k1999')).toBeNull();
    });

    it('reports a key S3 refused to delete, with how many keys may remain', async () => {
      const { store } = storeWithDeleteObjects((_, output, root) => {
        output.Errors = [{ Key: `${root}b`, Code: 'AccessDenied', Message: 'Access Denied' }];
      });
      for (const key of ['a', 'b', 'c']) await store.write(key, [Buffer.from(key)]);
      const error = await store.deleteMany(['a', 'b', 'c']).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: 'StorageError', code: 'ACCESS_DENIED' });
      expect((error as Error).message).toMatch(/\/b \(1 of 3 keys may remain\)$/);
    });

    it('sends the keys that failed for a transient reason again', async () => {
      const { store, requests } = storeWithDeleteObjects((call, output, root) => {
        if (call === 1) output.Errors = [{ Key: `${root}b`, Code: 'InternalError', Message: 'We encountered an internal error' }];
      });
      for (const key of ['a', 'b', 'c']) await store.write(key, [Buffer.from(key)]);
      await store.deleteMany(['a', 'b', 'c']);
      expect(requests).toEqual([['a', 'b', 'c'], ['b']]);
      expect(await collect(store.list(''))).toEqual([]);
    });
  });
});
