import { HeadObjectCommand, ListMultipartUploadsCommand, type UploadPartCommandInput } from '@aws-sdk/client-s3';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore, type ObjectStore } from '../../src/storage/index.js';
import { s3Config } from '../../src/storage/s3/config.js';
import { S3Store } from '../../src/storage/s3/s3-store.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { MiB, RandomStream, largeObjectMiB } from './data.js';
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
});
