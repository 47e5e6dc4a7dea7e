import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createStore, openStore } from '../../src/storage/index.js';
import { gcsConfig } from '../../src/storage/gcs/config.js';
import { GcsStore } from '../../src/storage/gcs/gcs-store.js';
import { LazyStore } from '../../src/storage/registry.js';
import { ResumingStore } from '../../src/storage/resuming-store.js';
import { s3Config } from '../../src/storage/s3/config.js';
import { S3Store } from '../../src/storage/s3/s3-store.js';

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

  it.each([
    ['s3://bucket/backups/2024', (url: URL) => new S3Store(s3Config(url, {}))],
    ['s3://bucket', (url: URL) => new S3Store(s3Config(url, {}))],
    ['gs://bucket/a/b/', (url: URL) => new GcsStore(gcsConfig(url, {}))],
    ['gs://bucket', (url: URL) => new GcsStore(gcsConfig(url, {}))],
  ])('names %s and its capabilities as its backend does before loading it', async (location, backend) => {
    const store = createStore(location);
    expect(store).toBeInstanceOf(ResumingStore);
    const lazy = (store as ResumingStore).inner;
    expect(lazy).toBeInstanceOf(LazyStore);
    const capabilities = store.capabilities;
    const loaded = await (lazy as LazyStore).backend();
    expect(loaded.location).toBe(backend(new URL(location)).location);
    expect(store.location).toBe(loaded.location);
    expect(capabilities).toEqual(backend(new URL(location)).capabilities);
    expect(store.capabilities).toEqual(loaded.capabilities);
    expect(await (lazy as LazyStore).backend()).toBe(loaded);
  });
});

describe('LazyStore', () => {
  it('loads its backend once, on first use, and passes every call through', async () => {
    let loads = 0;
    const inner = createStore(`mem://lazy-${Date.now()}`);
    const store = new LazyStore('mem://lazy/', inner.capabilities, async () => {
      loads++;
      return inner;
    });
    expect(store.capabilities).toEqual({ exclusiveCreate: true, batchDelete: true });
    expect(loads).toBe(0);
    await store.open('write');
    expect(await store.write('a/k', [Buffer.from('value')])).toBe(5);
    expect(loads).toBe(1);
    expect(await store.create('a/new', [Buffer.from('new')])).toBe(3);
    await expect(store.create('a/new', [Buffer.from('again')])).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    expect(await store.stat('a/k')).toEqual({ key: 'a/k', size: 5 });
    const chunks: Buffer[] = [];
    for await (const chunk of await store.read('a/k', { offset: 1, length: 3 })) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('alu');
    const listed = [];
    for await (const info of store.list('a/')) listed.push(info);
    expect(listed).toEqual([
      { key: 'a/k', size: 5 },
      { key: 'a/new', size: 3 },
    ]);
    await store.delete('a/k');
    expect(await store.stat('a/k')).toBeNull();
    await store.deleteMany(['a/new', 'a/missing']);
    expect(await store.stat('a/new')).toBeNull();
    expect(loads).toBe(1);
  });

  it('rejects with CONFIG when the backend cannot be loaded, and tries again on the next call', async () => {
    let attempts = 0;
    const store = new LazyStore('s3://bucket/x/', { exclusiveCreate: true, batchDelete: true }, async () => {
      attempts++;
      throw new Error("Cannot find package '@aws-sdk/client-s3'");
    });
    const expected = { name: 'StorageError', code: 'CONFIG', message: expect.stringContaining('s3://bucket/x/') };
    await expect(store.open('read')).rejects.toMatchObject(expected);
    await expect(store.stat('k')).rejects.toMatchObject({ ...expected, message: expect.stringContaining('@aws-sdk/client-s3') });
    await expect(store.list('')[Symbol.asyncIterator]().next()).rejects.toMatchObject(expected);
    expect(attempts).toBe(3);
  });
});

/**
 * What a fresh process that runs `body` after importing the storage layer
 * has loaded of the cloud SDKs. @aws-sdk/client-s3, @aws-sdk/lib-storage and
 * google-auth-library (which the ES module @google-cloud/storage imports) are
 * CommonJS, so they show in require.cache even when reached through import().
 */
const execFileAsync = promisify(execFile);
async function sdksLoadedBy(body: string): Promise<Record<string, string[]>> {
  const code = `
    import { createRequire } from 'node:module';
    import { sep } from 'node:path';
    const { createStore } = await import('./src/storage/index.ts');
    const SDKS = ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@google-cloud/storage', 'google-auth-library'];
    const sdks = () => {
      const paths = Object.keys(createRequire(import.meta.url).cache).map((path) => path.split(sep).join('/'));
      return SDKS.filter((name) => paths.some((path) => path.includes('/node_modules/' + name + '/')));
    };
    const seen = {};
    ${body}
    console.log(JSON.stringify(seen));
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: resolve(import.meta.dirname, '../..') });
  return JSON.parse(stdout) as Record<string, string[]>;
}

describe('loading the backends', () => {
  it('imports no cloud SDK until an S3 or GCS store is used', async () => {
    const seen = await sdksLoadedBy(`
      seen.imported = sdks();
      const local = createStore(process.env.TMPDIR ?? '/tmp');
      await local.open('read');
      for await (const _ of createStore('mem://sdk-check').list('')) {}
      seen.local = sdks();
      const s3 = createStore('s3://bucket/x', { s3: { endpoint: 'http://127.0.0.1:9', region: 'us-east-1', credentials: { accessKeyId: 'id', secretAccessKey: 'secret' }, maxAttempts: 1 } });
      createStore('gs://bucket/x');
      seen.created = sdks();
      await s3.open('read').catch(() => {});
      seen.s3 = sdks();
      await createStore('gs://bucket/x').inner.backend(); // no I/O: GCS would look for credentials on a metadata server
      seen.gcs = sdks();
    `);
    expect(seen.imported).toEqual([]);
    expect(seen.local).toEqual([]);
    expect(seen.created).toEqual([]);
    expect(seen.s3).toContain('@aws-sdk/client-s3');
    expect(seen.s3).not.toContain('google-auth-library');
    expect(seen.gcs).toContain('google-auth-library');
  }, 30_000);
});
