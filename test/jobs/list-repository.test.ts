/**
 * `aerobak list` of a repository of 1,000 backups: one listing plus one small read per
 * backup (its manifest), never a data file; chains are shown whole. (Its speed is a
 * bench figure: `npm run bench:list`.)
 */
import { describe, expect, it } from 'vitest';
import { RECORD_SCHEMA_VERSION } from '../../src/avro/schemas.js';
import { REPOSITORY_MARKER, ensureRepository } from '../../src/catalog/repository.js';
import { listBackups } from '../../src/jobs/list.js';
import { MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, readManifestAndHash, writeManifest, type Manifest } from '../../src/jobs/manifest.js';
import { createStore } from '../../src/storage/index.js';
import type { ObjectStore } from '../../src/storage/types.js';
import { uniqueSetName } from '../support/aerospike.js';

/** The store with every read counted by key. */
function counting(store: ObjectStore): { store: ObjectStore; reads: string[]; lists: number } {
  const counts = { reads: [] as string[], lists: 0 };
  const wrapped = new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (prop === 'read') return (key: string, ...rest: unknown[]) => (counts.reads.push(key), (value as ObjectStore['read']).call(target, key, ...(rest as [])));
      if (prop === 'list') return (...args: Parameters<ObjectStore['list']>) => (counts.lists++, (value as ObjectStore['list']).apply(target, args));
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: wrapped, get reads() { return counts.reads; }, get lists() { return counts.lists; } };
}

function manifest(i: number, parent?: { path: string; sha256: string }): Manifest {
  const t = new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString();
  return {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    tool: { name: 'aerobak-tests', version: '0' },
    schemaVersion: RECORD_SCHEMA_VERSION,
    createdAt: t,
    startedAt: t,
    finishedAt: t,
    cluster: { hosts: ['test'] },
    namespace: 'users',
    filters: {},
    compression: 'gzip',
    records: 10,
    bytes: 3,
    files: [{ name: 'users_00_00000.avro.gz', size: 3, sha256: '0'.repeat(64), records: 10, partitions: { first: 0, last: 4095 } }],
    kind: parent ? 'incremental' : 'full',
    ...(parent ? { parent, since: t } : {}),
    clusterTime: t,
    truncateThresholds: {},
    ...(parent ? { requires: ['incremental'] } : {}),
  } as Manifest;
}

describe('listing a repository of 1,000 backups', () => {
  it('takes one listing and one manifest read per backup, and no data file, with the chains', async () => {
    const location = `mem://${uniqueSetName('repo')}/r`;
    const store = createStore(location);
    await ensureRepository(store, new Date());
    // 100 chains of a full and 9 incrementals each.
    let parent: { path: string; sha256: string } | undefined;
    for (let i = 0; i < 1000; i++) {
      const prefix = `users-${String(i).padStart(4, '0')}`;
      const m = manifest(i, i % 10 === 0 ? undefined : parent);
      await store.write(`${prefix}/users_00_00000.avro.gz`, [Buffer.from('abc')]);
      await writeManifest(store, prefix, m);
      parent = { path: prefix, sha256: (await readManifestAndHash(store, prefix)).sha256 };
    }
    const counted = counting(store);
    // How long it takes is measured by `npm run bench:list`, not asserted here.
    const listed = await listBackups(location, { openStore: async () => counted.store });
    expect(listed).toHaveLength(1000);
    expect(counted.lists).toBe(1);
    expect(counted.reads).toHaveLength(1000);
    expect(counted.reads.every((k) => k.endsWith(`/${MANIFEST_FILE}`))).toBe(true);
    expect(counted.reads).not.toContain(REPOSITORY_MARKER);
    const last = listed[999]!;
    expect(last).toMatchObject({ status: 'complete', kind: 'incremental', parent: 'users-0998', chain: 'users-0990' });
    expect(listed[990]).toMatchObject({ kind: 'full', chain: 'users-0990' });
  });
});
