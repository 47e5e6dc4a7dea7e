import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createStore, openStore } from '../../src/storage/index.js';
import { gcsConfig } from '../../src/storage/gcs/config.js';
import { s3Config } from '../../src/storage/s3/config.js';

describe('createStore', () => {
  it.each([
    ['s3://bucket/backups/2024', 's3://bucket/backups/2024/'],
    ['s3://bucket', 's3://bucket/'],
    ['gs://bucket/a/b/', 'gs://bucket/a/b/'],
    ['mem://tests/x', 'mem://tests/x/'],
    ['file:///var/backups/aerobak', '/var/backups/aerobak'],
    ['/var/backups/aerobak', '/var/backups/aerobak'],
    ['relative/dir', resolve('relative/dir')],
  ])('opens %s at %s', (location, expected) => {
    expect(createStore(location).location).toBe(expected);
  });

  it.each([
    ['azure://container/x', 'unsupported location'],
    ['s3://Not_A_Bucket/x', 'not a valid S3 bucket name'],
    ['s3://user:secret@bucket/x', 'expected s3://bucket/prefix'],
    ['s3://bucket/a\\b', 'a backslash or a control character in the path'],
    ['gs://b/x', 'not a valid GCS bucket name'],
    ['s3://bucket/a//b', "double '/' in the path"],
  ])('refuses %s with CONFIG', (location, message) => {
    expect(() => createStore(location)).toThrow(expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining(message) }));
  });

  it('checks the backend options', () => {
    expect(() => createStore('s3://bucket/x', { s3: { partSize: 1024 * 1024 } })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(() => createStore('s3://bucket/x', { s3: { queueSize: 0 } })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(() => createStore('s3://bucket/x', { s3: { endpoint: 'not a url' } })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
    expect(() => createStore('gs://bucket/x', { gcs: { chunkSize: 1000 } })).toThrow(expect.objectContaining({ code: 'CONFIG' }));
  });

  it('does no I/O: an unreachable endpoint fails only when the store is opened', async () => {
    const location = 's3://bucket/x';
    const credentials = { accessKeyId: 'id', secretAccessKey: 'secret' };
    const options = { s3: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials, maxAttempts: 1 } };
    const store = createStore(location, options);
    expect(store.location).toBe('s3://bucket/x/');
    await expect(openStore(location, 'read', options)).rejects.toMatchObject({
      name: 'StorageError',
      code: 'IO',
      message: expect.stringContaining('s3://bucket/x/'),
    });
  });

  it('addresses S3 buckets by path when an endpoint is configured, by host name otherwise', () => {
    const url = new URL('s3://bucket/x');
    expect(s3Config(url, {}, {}).forcePathStyle).toBe(false);
    expect(s3Config(url, { endpoint: 'http://127.0.0.1:9000' }, {}).forcePathStyle).toBe(true);
    expect(s3Config(url, {}, { AWS_ENDPOINT_URL: 'http://127.0.0.1:9000' }).forcePathStyle).toBe(true);
    expect(s3Config(url, { forcePathStyle: false }, { AWS_ENDPOINT_URL_S3: 'http://minio:9000' }).forcePathStyle).toBe(false);
  });

  it('takes a GCS emulator from STORAGE_EMULATOR_HOST unless an endpoint is given', () => {
    const url = new URL('gs://bucket/x');
    expect(gcsConfig(url, {}, {}).apiEndpoint).toBeUndefined();
    expect(gcsConfig(url, {}, { STORAGE_EMULATOR_HOST: 'localhost:4443' }).apiEndpoint).toBe('http://localhost:4443');
    expect(gcsConfig(url, {}, { STORAGE_EMULATOR_HOST: 'https://gcs.test/' }).apiEndpoint).toBe('https://gcs.test');
    expect(gcsConfig(url, { apiEndpoint: 'http://a:1' }, { STORAGE_EMULATOR_HOST: 'b:2' }).apiEndpoint).toBe('http://a:1');
  });

  it('shares the objects of memory stores of the same name', async () => {
    const name = `mem://shared-${Date.now()}`;
    await createStore(`${name}/a`).write('k', [Buffer.from('v')]);
    expect(await createStore(`${name}/a`).stat('k')).toEqual({ key: 'k', size: 1 });
    expect(await createStore(`${name}/b`).stat('k')).toBeNull();
  });
});
