/**
 * Incremental chains as operators run them: a full backup, then incrementals with
 * deletion tracking, each restored as the state of the source when it ran, by location
 * or by time (--at); a chain with a changed or missing link stops before writing.
 */
import { mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { REPOSITORY_MARKER } from '../../src/catalog/repository.js';
import { runBackup, type BackupOptions } from '../../src/jobs/backup.js';
import { resolveChain } from '../../src/jobs/chain.js';
import { planChunks } from '../../src/jobs/chain-restore.js';
import { listBackups } from '../../src/jobs/list.js';
import { readManifest } from '../../src/jobs/manifest.js';
import { runRestore, type RestoreOptions } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, expectSameRecords, goldenRecords, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('chain');
const sets: string[] = [set];

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2 });
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-chain-'));
});

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: sets }));

const backup = (more: Partial<BackupOptions>) =>
  runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', noUdfs: true, noIndexes: true, parallel: 3, fileSizeBytes: 4096, ...more } as BackupOptions);
const restore = (more: Partial<RestoreOptions>) => runRestore({ cluster: { hosts: cluster.hosts }, noUdfs: true, namespaceMap: new Map([['test', 'bar']]), ...more } as RestoreOptions);
const tick = () => new Promise((r) => setTimeout(r, 1100));
const rec = (s: string, key: string, bins: Record<string, string | number>) => record('test', s, key, bins);
const remove = async (s: string, key: string) => {
  await client.remove(new Aerospike.Key('test', s, key));
};
/** The records of `s` in `ns`, with the namespace left out (restored records are in bar). */
const state = async (ns: string, s: string): Promise<Map<string, RawRecord>> => {
  const out = await scanSets(wire, ns, [s]);
  for (const r of out.values()) r.namespace = 'test';
  return out;
};

describe('a chain: full, then incrementals that track deletions', () => {
  let repo: string;
  let full: string;
  let inc1: string;
  let inc2: string;
  let between: Date;
  let atInc1: Map<string, RawRecord>;
  let atInc2: Map<string, RawRecord>;

  beforeAll(async () => {
    repo = join(tmp, 'repo');
    await writeRaw(wire, [...goldenRecords('test', set), ...Array.from({ length: 200 }, (_, i) => rec(set, `k${i}`, { i, v: 'full' }))]);
    // The cluster clock an incremental starts from has a resolution of one second: a second
    // between writes and the next backup keeps them out of the link after it.
    await tick();
    full = (await backup({ repo, sets: [set] })).location;

    // Updated, deleted, added, and deleted then written again (its generation restarts at 1).
    await writeRaw(wire, Array.from({ length: 20 }, (_, i) => rec(set, `k${i}`, { i, v: 'inc1' })));
    for (let i = 20; i < 31; i++) await remove(set, `k${i}`);
    await writeRaw(wire, [...Array.from({ length: 20 }, (_, i) => rec(set, `n${i}`, { n: i })), rec(set, 'k30', { v: 'reborn' })]);
    await tick();
    inc1 = (await backup({ repo, sets: [set], incremental: true, trackDeletes: true })).location;
    atInc1 = await state('test', set);
    between = new Date();
    await new Promise((r) => setTimeout(r, 20));

    await writeRaw(wire, Array.from({ length: 10 }, (_, i) => rec(set, `k${40 + i}`, { v: 'inc2' })));
    for (const k of ['k0', 'k1', 'k2', 'k3', 'k4', 'n0', 'n1', 'k50']) await remove(set, k);
    await writeRaw(wire, [...Array.from({ length: 10 }, (_, i) => rec(set, `m${i}`, { m: i })), rec(set, 'k50', { v: 'again' })]);
    inc2 = (await backup({ repo, sets: [set], incremental: true, trackDeletes: true })).location;
    atInc2 = await state('test', set);
  });

  it('makes the repository on first use and names each parent by its path in it and the SHA-256 of its manifest', async () => {
    expect(await readFile(join(repo, REPOSITORY_MARKER), 'utf8')).toContain('"aerobak-repository"');
    const store = await openStore(repo, 'read');
    const m1 = await readManifest(store, inc1.slice(repo.length + 1));
    const m2 = await readManifest(store, inc2.slice(repo.length + 1));
    expect(m1).toMatchObject({ kind: 'incremental', parent: { path: full.slice(repo.length + 1) }, requires: expect.arrayContaining(['incremental', 'deletions']) });
    expect(m2.parent).toMatchObject({ path: inc1.slice(repo.length + 1) });
    expect(m2.parent!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // An incremental holds what changed since its parent's scan started, not the whole set.
    expect(m1.records).toBe(20 + 20 + 1);
    expect(m2.records).toBe(10 + 10 + 1);
    expect(m2.liveDigests!.reduce((n, l) => n + l.digests, 0)).toBe(atInc2.size);
  });

  it('restores the newest link as the source was when it ran: updates, deletions and rewrites included', async () => {
    await truncateSets(client, 'bar', sets);
    const summary = await restore({ from: inc2 });
    expectSameRecords(atInc2, await state('bar', set));
    expect(summary.links!.map((l) => l.location)).toEqual([full, inc1, inc2]);
    expect(summary.superseded).toBeGreaterThan(0);
    expect(summary.deleted).toBeGreaterThanOrEqual(11 + 5 + 2 - 2);
    expect(summary.written).toBe(atInc2.size);
  });

  it('gives the same result when memory allows only a few digests at a time (many partition chunks)', async () => {
    await truncateSets(client, 'bar', sets);
    const links = await resolveChain(inc2, openStore);
    expect(planChunks(links, 40).length).toBeGreaterThan(4);
    const summary = await restore({ from: inc2, chainDigestBudget: 40 });
    expectSameRecords(atInc2, await state('bar', set));
    expect(summary.written).toBe(atInc2.size);
    expect(summary.deleted).toBe(17); // k0-k4, k20-k29, n0, n1: each counted once
  });

  it('restores a point in time from the repository with --at', async () => {
    await truncateSets(client, 'bar', sets);
    await restore({ from: repo, at: between });
    expectSameRecords(atInc1, await state('bar', set));
  });

  it('deletes in the target what was deleted in the source only with applyDeletes', async () => {
    // bar holds the state at the first incremental; the second deleted some of it.
    await truncateSets(client, 'bar', sets);
    await restore({ from: repo, at: between });
    const kept = await restore({ from: inc2, mode: 'replace' });
    expect(kept.deletedInTarget).toBe(0);
    expect((await state('bar', set)).size).toBeGreaterThan(atInc2.size);
    const applied = await restore({ from: inc2, mode: 'replace', applyDeletes: true });
    expect(applied.deletedInTarget).toBe(7); // k0-k4, n0, n1 (k50 was written again: live)
    expect(applied.absentInTarget).toBeGreaterThan(0); // k20-k29: deleted before the first incremental
    expectSameRecords(atInc2, await state('bar', set));
  });

  it('refuses applyDeletes for a chain that did not track deletes', async () => {
    await expect(restore({ from: full, applyDeletes: true })).rejects.toMatchObject({ name: 'UsageError', message: expect.stringContaining('--apply-deletes') });
  });

  it('verifies a whole chain', async () => {
    const report = await verifyBackup({ store: await openStore(inc2, 'read'), prefix: '', location: inc2 });
    expect(report.ok).toBe(true);
    expect(report.links).toBe(3);
  });

  it('lists each backup with its kind and parent', async () => {
    const listed = await listBackups(repo);
    expect(listed.map((b) => ('kind' in b ? b.kind : undefined))).toEqual(['full', 'incremental', 'incremental']);
    expect(listed[2]).toMatchObject({ parent: inc1.slice(repo.length + 1) });
  });

  it('stops before writing when a link was changed, lost its manifest or is gone, naming it', async () => {
    await truncateSets(client, 'bar', sets);
    const manifestPath = join(full, 'manifest.json');
    const original = await readFile(manifestPath, 'utf8');
    await writeFile(manifestPath, original.replace('"records"', ' "records"'));
    try {
      await expect(restore({ from: inc2 })).rejects.toMatchObject({ code: 'CHAIN_LINK_ALTERED', message: expect.stringContaining(full) });
    } finally {
      await writeFile(manifestPath, original);
    }
    const inc1Manifest = join(inc1, 'manifest.json');
    const saved = await readFile(inc1Manifest);
    await rm(inc1Manifest);
    try {
      await expect(restore({ from: inc2 })).rejects.toMatchObject({ code: 'CHAIN_LINK_INCOMPLETE', message: expect.stringContaining(inc1) });
    } finally {
      await writeFile(inc1Manifest, saved);
    }
    const moved = `${full}-moved`;
    await rename(full, moved);
    try {
      await expect(restore({ from: inc2 })).rejects.toMatchObject({ code: 'CHAIN_LINK_MISSING', message: expect.stringContaining(full) });
      const report = await verifyBackup({ store: await openStore(inc2, 'read'), prefix: '', location: inc2 });
      expect(report.problems).toMatchObject([{ code: 'CHAIN_LINK_MISSING', link: full }]);
    } finally {
      await rename(moved, full);
    }
    expect((await state('bar', set)).size).toBe(0);
  });
});

describe('an incremental that cannot express what happened', () => {
  it('refuses after a truncate of its set since the parent, and takes a full when asked', async () => {
    const s = uniqueSetName('trunc');
    sets.push(s);
    const repo = join(tmp, 'trunc-repo');
    await writeRaw(wire, Array.from({ length: 30 }, (_, i) => rec(s, `t${i}`, { i })));
    await backup({ repo, sets: [s] });
    await new Promise((r) => setTimeout(r, 1100));
    await client.truncate('test', s, 0);
    await writeRaw(wire, [rec(s, 'after', { i: 1 })]);
    await expect(backup({ repo, sets: [s], incremental: true })).rejects.toMatchObject({ code: 'TRUNCATED_SINCE_PARENT', message: expect.stringContaining(s) });
    const fallback = await backup({ repo, sets: [s], incremental: true, fullIfTruncated: true });
    expect(fallback).toMatchObject({ kind: 'full', records: 1 });
  });
});
