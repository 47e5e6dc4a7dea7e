import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEMP_FILE_MARKER } from '../../src/storage/keys.js';
import { createStore, openStore, type ObjectStore } from '../../src/storage/index.js';
import { collect, largeObjectMiB } from './data.js';
import { objectStoreConformance } from './suite.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'aerobak-local-store-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

/** Temporary files anywhere under the store's directory. */
async function temporaryFiles(store: ObjectStore): Promise<string[]> {
  const entries = await readdir(store.location, { recursive: true }).catch(() => []);
  return entries.filter((path) => path.split('/').some((name) => name.startsWith(TEMP_FILE_MARKER)));
}

objectStoreConformance('local', () => ({
  newStore: () => createStore(join(root, randomUUID())),
  missingBucket: () => {
    const directory = join(root, 'no-such-directory');
    return { store: createStore(directory), bucket: directory };
  },
  unfinishedUploads: temporaryFiles,
  largeObjectMiB: largeObjectMiB(256),
}));

describe('local store', () => {
  it('removes the temporary files a killed writer left under a prefix, and only those', async () => {
    const store = createStore(join(root, randomUUID()));
    await store.write('backup/kept.avro.gz', [Buffer.from('kept')]);
    await mkdir(join(store.location, 'backup', 'deeper'), { recursive: true });
    await mkdir(join(store.location, 'other'), { recursive: true });
    await writeFile(join(store.location, 'backup', `${TEMP_FILE_MARKER}1`), 'x');
    await writeFile(join(store.location, 'backup', 'deeper', `${TEMP_FILE_MARKER}2`), 'x');
    await writeFile(join(store.location, 'other', `${TEMP_FILE_MARKER}3`), 'x');
    expect(await store.removeUnfinished('backup/')).toBe(2);
    expect(await temporaryFiles(store)).toEqual([join('other', `${TEMP_FILE_MARKER}3`)]);
    expect(await store.removeUnfinished('')).toBe(1);
    expect(await temporaryFiles(store)).toEqual([]);
    expect(await collect(store.list(''))).toEqual([{ key: 'backup/kept.avro.gz', size: 4 }]);
  });

  it('is opened from a path or a file:// URL, and creates its directory when opened for writing', async () => {
    const directory = join(root, randomUUID(), 'nested');
    await expect(openStore(directory, 'read')).rejects.toMatchObject({ code: 'NO_BUCKET' });
    const store = await openStore(`file://${directory}`, 'write');
    expect(store.location).toBe(directory);
    await store.write('k', [Buffer.from('v')]);
    expect(await collect((await openStore(directory, 'read')).list(''))).toEqual([{ key: 'k', size: 1 }]);
  });

  it('refuses a root that is a file', async () => {
    const file = join(root, randomUUID());
    await writeFile(file, 'not a directory');
    await expect(openStore(file, 'read')).rejects.toMatchObject({ code: 'NO_BUCKET', message: `${file} is not a directory` });
  });

  it('leaves temporary files out of listings', async () => {
    const store = await openStore(join(root, randomUUID()), 'write');
    await writeFile(join(store.location, `${TEMP_FILE_MARKER}0123`), 'partial');
    await store.write('k', [Buffer.from('v')]);
    expect(await collect(store.list(''))).toEqual([{ key: 'k', size: 1 }]);
  });

  it('creates no object over a directory of the same name: IO, not ALREADY_EXISTS', async () => {
    const store = await openStore(join(root, randomUUID()), 'write');
    await mkdir(join(store.location, 'a', 'b'), { recursive: true });
    expect(await store.stat('a')).toBeNull();
    await expect(store.create('a', [Buffer.from('v')])).rejects.toMatchObject({ name: 'StorageError', code: 'IO' });
    expect(await temporaryFiles(store)).toEqual([]);
  });
});
