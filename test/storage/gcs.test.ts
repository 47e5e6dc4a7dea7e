import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStore } from '../../src/storage/index.js';
import { SERVER_START_TIMEOUT_MS, startGcsServer, type GcsTestServer } from '../support/gcs-server.js';
import { MiB, largeObjectMiB } from './data.js';
import { objectStoreConformance } from './suite.js';

const BUCKET = 'aerobak-conformance';

let server: GcsTestServer;
beforeAll(async () => {
  server = await startGcsServer();
  await server.createBucket(BUCKET);
}, SERVER_START_TIMEOUT_MS);
afterAll(() => server?.stop());

objectStoreConformance('GCS (fake-gcs-server)', () => ({
  // 4 MiB chunks: the larger test objects go in several requests of one resumable upload.
  // (fake-gcs-server rewrites the whole upload on each chunk, so much smaller chunks slow the large test down.)
  newStore: () => createStore(`gs://${BUCKET}/${randomUUID()}`, { gcs: { ...server.options, chunkSize: 4 * MiB } }),
  missingBucket: () => ({ store: createStore('gs://no-such-bucket/backups', { gcs: server.options }), bucket: 'no-such-bucket' }),
  largeObjectMiB: largeObjectMiB(256),
}));

describe('GCS store', () => {
  it('finds an emulator through STORAGE_EMULATOR_HOST, given as host:port', async () => {
    const { host } = new URL(server.options.apiEndpoint!);
    process.env.STORAGE_EMULATOR_HOST = host;
    try {
      const store = createStore(`gs://${BUCKET}/${randomUUID()}`);
      await store.open('write');
      expect(await store.write('k', [Buffer.from('v')])).toBe(1);
      expect(await store.stat('k')).toEqual({ key: 'k', size: 1 });
    } finally {
      delete process.env.STORAGE_EMULATOR_HOST;
    }
  });
});
