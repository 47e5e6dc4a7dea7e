/**
 * `npm run bench:list`: how long `aerobak list` takes on a repository of 1,000 small
 * backups (100 chains of a full and 9 incrementals) in a memory store, and how many
 * reads it makes: one listing and one manifest read per backup, never a data file
 * (test/jobs/list-repository.test.ts asserts the reads; this prints the time).
 *
 * AEROBAK_BENCH_BACKUPS (default 1000) and AEROBAK_BENCH_RUNS (default 5) set the size
 * and the runs; the median is printed.
 */
import { RECORD_SCHEMA_VERSION } from '../src/avro/schemas.js';
import { ensureRepository } from '../src/catalog/repository.js';
import { listBackups } from '../src/jobs/list.js';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, readManifestAndHash, requiredFeatures, writeManifest, type Manifest } from '../src/jobs/manifest.js';
import { createStore } from '../src/storage/index.js';
import type { ObjectStore } from '../src/storage/types.js';
import { median } from './lib/summary.js';

const backups = Number(process.env.AEROBAK_BENCH_BACKUPS ?? 1000);
const runs = Number(process.env.AEROBAK_BENCH_RUNS ?? 5);
const location = `mem://bench-list-${process.pid}/repo`;
const store = createStore(location);
await ensureRepository(store, new Date());
let parent: { path: string; sha256: string } | undefined;
for (let i = 0; i < backups; i++) {
  const t = new Date(Date.UTC(2026, 0, 1) + i * 3_600_000).toISOString();
  const prefix = `users-${String(i).padStart(5, '0')}`;
  const incremental = i % 10 !== 0 && parent !== undefined;
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    requires: [],
    tool: { name: 'aerobak-bench', version: '0' },
    schemaVersion: RECORD_SCHEMA_VERSION,
    createdAt: t,
    startedAt: t,
    finishedAt: t,
    cluster: { hosts: ['bench'] },
    namespace: 'users',
    filters: {},
    compression: 'zstd',
    records: 1000,
    bytes: 1000,
    files: [{ name: 'users_00_00000.avro.zst', size: 1000, sha256: '0'.repeat(64), records: 1000, partitions: { first: 0, last: 4095 } }],
    kind: incremental ? 'incremental' : 'full',
    ...(incremental ? { parent: parent!, since: t } : {}),
    clusterTime: t,
    truncateThresholds: { '': 0 },
  };
  m.requires = requiredFeatures(m);
  await store.write(`${prefix}/users_00_00000.avro.zst`, [Buffer.alloc(1000)]);
  await writeManifest(store, prefix, m);
  parent = { path: prefix, sha256: (await readManifestAndHash(store, prefix)).sha256 };
}

let reads = 0;
const counted = new Proxy(store, {
  get(target, prop, receiver) {
    const value = Reflect.get(target, prop, receiver) as unknown;
    if (prop === 'read') return (...args: Parameters<ObjectStore['read']>) => (reads++, target.read(...args));
    return typeof value === 'function' ? value.bind(target) : value;
  },
});
const times: number[] = [];
for (let r = 0; r < runs; r++) {
  reads = 0;
  const t0 = performance.now();
  const listed = await listBackups(location, { openStore: async () => counted });
  times.push(performance.now() - t0);
  if (listed.length !== backups) throw new Error(`listed ${listed.length} of ${backups} backups`);
}
console.log(
  `list of a repository of ${backups.toLocaleString('en-US')} backups (memory store): median ${median(times).toFixed(0)} ms ` +
    `(min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)}, ${runs} runs), ${reads} reads per listing (one manifest each)`,
);
