/**
 * Sharded backups as a Kubernetes Indexed Job runs them: N worker processes at once, each
 * with JOB_COMPLETION_INDEX and the same command, into one location; the last to finish
 * finalizes. The result restores and verifies like any backup, and every partition is in
 * exactly one shard. Then the failures: a worker killed and started again, finalize
 * before every shard is done, two workers racing for one shard (memory store, MinIO and a
 * local directory), finalize run twice.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { partitionSetIds } from '../../src/jobs/data-files.js';
import { listBackups } from '../../src/jobs/list.js';
import { readManifest } from '../../src/jobs/manifest.js';
import { runBackup } from '../../src/jobs/backup.js';
import { runRestore } from '../../src/jobs/restore.js';
import { finalizeRestore, runRestoreShard } from '../../src/jobs/restore-shards.js';
import { finalizeShards, runShard, shardPartitions } from '../../src/jobs/shards.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore, type OpenIntent } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { connectWire, expectSameRecords, goldenRecords, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let s3: S3TestServer;
let tmp: string;
const set = uniqueSetName('shard');
let source: Map<string, RawRecord>;

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startCluster({ nodes: 3 }), startS3Server()]);
  await s3.createBucket('shards');
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-shards-'));
  await writeRaw(wire, [...goldenRecords('test', set), ...Array.from({ length: 2000 }, (_, i) => record('test', set, `k${i}`, { i, s: `value ${i}` }))]);
  source = await scanSets(wire, 'test', [set]);
}, SERVER_START_TIMEOUT_MS);

afterAll(async () => {
  await tearDown({ client, wire, cluster, tmp, sets: [set] });
  await s3?.stop();
});

/** `aerobak backup` as the pod of index `index` of an Indexed Job runs it. */
function worker(location: string, index: number, count: number, extra: string[] = []): { exited: Promise<number | null>; kill: () => void } {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', location, '--shards', String(count), '-F', '8KiB', '--no-udfs', ...extra],
    { cwd: root, env: { ...process.env, AEROSPIKE_HOSTS: '', JOB_COMPLETION_INDEX: String(index) }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return {
    exited: new Promise((resolve) => child.on('exit', (code) => (code !== 0 && code !== null && console.error(stderr), resolve(code)))),
    kill: () => child.kill('SIGKILL'),
  };
}

async function expectRestoresToSource(location: string): Promise<void> {
  await truncateSets(client, 'bar', [set]);
  await runRestore({ cluster: { hosts: cluster.hosts }, from: location, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, mode: 'replace' });
  const restored = await scanSets(wire, 'bar', [set]);
  for (const r of restored.values()) r.namespace = 'test';
  expectSameRecords(source, restored);
}

describe('a sharded backup of 4 workers', () => {
  it('run at once as an Indexed Job: one complete backup that verifies, lists as one, restores to the source, every partition once', async () => {
    const location = join(tmp, 'run4');
    const codes = await Promise.all([0, 1, 2, 3].map((i) => worker(location, i, 4).exited));
    expect(codes).toEqual([0, 0, 0, 0]);
    const store = await openStore(location, 'read');
    const manifest = await readManifest(store, '');
    expect(manifest.requires).toContain('shards');
    expect(manifest.records).toBe(source.size);
    const seen = new Uint8Array(4096);
    for (const f of manifest.files) for (const p of partitionSetIds(f.partitions)) seen[p]!++;
    expect(seen.every((n) => n <= 1)).toBe(true);
    for (let i = 0; i < 4; i++) {
      const { first, last } = shardPartitions({ index: i, count: 4 });
      for (const f of manifest.files.filter((x) => x.name.startsWith(`shards/${i}/`))) for (const p of partitionSetIds(f.partitions)) expect(p >= first && p <= last).toBe(true);
    }
    expect(await verifyBackup({ store, prefix: '', location })).toMatchObject({ ok: true, records: source.size });
    const listed = await listBackups(location);
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({ status: 'complete', records: source.size });
    await expectRestoresToSource(location);
  }, 120_000);

  it('a worker killed and started again (as Kubernetes restarts it) still ends in a correct backup', async () => {
    const location = join(tmp, 'killed');
    const slow = worker(location, 1, 3, ['-L', '400']);
    const others = [worker(location, 0, 3), worker(location, 2, 3)];
    // Kill shard 1 once it has stored something.
    for (let i = 0; i < 200; i++) {
      const attempts = await readdir(join(location, 'shards', '1')).catch(() => [] as string[]);
      if (attempts.length > 0 && (await readdir(join(location, 'shards', '1', attempts[0]!))).some((f) => f.startsWith('test_'))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    slow.kill();
    expect(await slow.exited).toBeNull();
    expect(await Promise.all(others.map((o) => o.exited))).toEqual([0, 0]);
    await expect(readManifest(await openStore(location, 'read'), '')).rejects.toMatchObject({ code: 'BACKUP_INCOMPLETE' });
    expect(await worker(location, 1, 3).exited).toBe(0);
    const store = await openStore(location, 'read');
    expect((await readManifest(store, '')).records).toBe(source.size);
    // The killed attempt is gone: one attempt per shard holds files.
    const attempts = new Set<string>();
    for await (const o of store.list('shards/')) if (!o.key.endsWith('/accepted.json')) attempts.add(o.key.split('/').slice(0, 3).join('/'));
    expect([...attempts].map((a) => a.split('/')[1]).sort()).toEqual(['0', '1', '2']);
    expect(await verifyBackup({ store, prefix: '', location })).toMatchObject({ ok: true });
    await expectRestoresToSource(location);
  }, 120_000);

  it('finalize before every shard is done fails naming the missing ones; run twice it is harmless', async () => {
    const location = join(tmp, 'early');
    const run = (index: number) => runShard({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to: location, noUdfs: true, shard: { index, count: 3 } }, {});
    const first = await run(0);
    expect(first.shard.finalize).toMatchObject({ status: 'waiting', missing: [1, 2] });
    await run(2);
    await expect(finalizeShards(location)).rejects.toMatchObject({ code: 'SHARDS_MISSING', message: expect.stringContaining('shard(s) 1 of 3') });
    const last = await run(1);
    expect(last.shard.finalize).toMatchObject({ status: 'complete', records: source.size });
    expect(await finalizeShards(location)).toMatchObject({ status: 'already-complete' });
    expect((await run(1)).shard).toMatchObject({ accepted: true, finalize: { status: 'already-complete' } });
    expect((await readManifest(await openStore(location, 'read'), '')).records).toBe(source.size);
  }, 120_000);

  it('a sharded restore of 3 workers gives the same database as a single restore, and finalize sums their reports', async () => {
    const backup = join(tmp, 'for-restore');
    await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to: backup, noUdfs: true });
    await truncateSets(client, 'bar', [set]);
    const reports = join(tmp, 'reports');
    const opts = { cluster: { hosts: cluster.hosts }, from: backup, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, mode: 'replace' as const, shardReports: reports };
    const shards = await Promise.all([0, 1, 2].map((index) => runRestoreShard({ ...opts, shard: { index, count: 3 } })));
    expect(shards.reduce((n, s) => n + s.written, 0)).toBe(source.size);
    for (const s of shards) expect(s.written).toBeGreaterThan(0);
    await expect(finalizeRestore({ ...opts, shards: 4 })).rejects.toMatchObject({ code: 'SHARDS_MISSING', message: expect.stringContaining('shard(s) 0, 1, 2, 3 of 4') });
    const total = await finalizeRestore({ ...opts, shards: 3 });
    expect(total).toMatchObject({ written: source.size, shards: 3 });
    const restored = await scanSets(wire, 'bar', [set]);
    for (const r of restored.values()) r.namespace = 'test';
    expectSameRecords(source, restored);
  }, 120_000);

  it.each(['memory', 's3', 'local'] as const)('two workers racing for one shard (%s): exactly one is accepted', async (kind) => {
    const location = kind === 'memory' ? `mem://shards-${process.pid}-${Date.now()}` : kind === 's3' ? `s3://shards/${process.pid}-${Date.now()}` : join(tmp, 'race');
    const open = (l: string, intent: OpenIntent) => openStore(l, intent, { s3: s3.options });
    const run = () => runShard({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to: location, noUdfs: true, shard: { index: 0, count: 1 } }, { openStore: open });
    const [a, b] = await Promise.all([run(), run()]);
    expect([a.shard.accepted, b.shard.accepted].filter(Boolean)).toHaveLength(1);
    const store = await open(location, 'read');
    const manifest = await readManifest(store, '');
    expect(manifest.records).toBe(source.size);
    const attempts = new Set(manifest.files.map((f) => f.name.split('/')[2]));
    expect(attempts.size).toBe(1);
    expect(await verifyBackup({ store, prefix: '', location, openStore: open })).toMatchObject({ ok: true });
    // The loser's files are gone: everything under shards/0/ is the winner's.
    const winner = [...attempts][0]!;
    for await (const o of store.list('shards/0/')) expect(o.key === 'shards/0/accepted.json' || o.key.startsWith(`shards/0/${winner}/`), o.key).toBe(true);
  }, 120_000);
});
