/**
 * Exactly one scheduler per repository: the lease object (aerobak-lease.json) taken by
 * exclusive create, renewed, taken over only after it expired, released on exit; and two
 * services on one repository, of which only the lease holder runs the routines, until it
 * stops and the other takes over.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LEASE_FILE, RepositoryLease, type LeaseRecord } from '../../src/service/lease.js';
import type { JobRecord } from '../../src/service/jobs.js';
import { openStore, readAll } from '../../src/storage/index.js';
import { startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, writeRaw } from '../jobs/support.js';
import { metric, startService, waitFor } from './support.js';

let cluster: TestCluster;
let tmp: string;
const set = uniqueSetName('lease');

beforeAll(async () => {
  cluster = await startCluster();
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-lease-'));
  const wire = await connectWire(cluster);
  await writeRaw(wire, Array.from({ length: 20 }, (_, i) => record('test', set, i, { n: i })));
  await wire.close();
});

afterAll(async () => {
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the repository lease', () => {
  it('is held by one owner at a time, renewed, taken over only once expired, and released', async () => {
    const store = await openStore(join(tmp, 'unit'), 'write');
    let clock = Date.parse('2026-12-01T02:00:00Z');
    const now = () => new Date(clock);
    const leases = Array.from({ length: 5 }, (_, i) => new RepositoryLease(store, 'unit', { owner: `owner-${i}`, ttlMs: 10_000, now, settleMs: 10 }));
    // Five at once: exactly one wins the exclusive create.
    const won = await Promise.all(leases.map((l) => l.acquire()));
    expect(won.filter(Boolean)).toHaveLength(1);
    const winner = leases[won.indexOf(true)]!;
    const other = leases.find((l) => l !== winner)!;
    const stored = JSON.parse((await readAll(await store.read(LEASE_FILE))).toString()) as LeaseRecord;
    expect(stored).toMatchObject({ format: 'aerobak-lease', owner: winner === leases[0] ? 'owner-0' : expect.any(String), pid: process.pid, expiresAt: '2026-12-01T02:00:10.000Z' });
    expect(other.holder?.owner).toBe(stored.owner);

    clock += 6000;
    expect(await winner.acquire()).toBe(true); // renewed: expires at 02:00:16
    clock += 6000;
    expect(await other.acquire()).toBe(false); // 02:00:12, not expired
    clock += 5000;
    expect(winner.held).toBe(false); // 02:00:17: past its own expiry without a renewal
    expect(await other.acquire()).toBe(true); // taken over
    expect(await winner.confirm()).toBe(false);
    expect(await winner.acquire()).toBe(false);

    await winner.release(); // not the holder: leaves the lease alone
    expect(await store.stat(LEASE_FILE)).not.toBeNull();
    await other.release();
    expect(await store.stat(LEASE_FILE)).toBeNull();
  });

  it('lets only the holder of two services on one repository run its routines, then hands over', async () => {
    const yaml = `
http: { listen: "127.0.0.1:0", token: "\${AEROBAK_API_TOKEN}" }
service: { lease-ttl: 3s }
clusters: { main: { hosts: "${cluster.hosts}" } }
repositories: { shared: { location: "${join(tmp, 'shared')}" } }
routines:
  every-second: { cluster: main, namespace: test, sets: [${set}], repository: shared, full: "* * * * * *", on-missed: skip }
`;
    const a = await startService(yaml);
    const b = await startService(yaml);
    let bStopped = false;
    try {
      expect(a.service.scheduler.leaseHeld('shared')).toBe(true);
      expect(b.service.scheduler.leaseHeld('shared')).toBe(false);
      const repos = (await b.call('GET', '/v1/repositories')).body.repositories;
      expect(repos[0]).toMatchObject({ name: 'shared', leaseHeld: false, leaseHolder: { owner: a.service.owner } });
      const refused = await b.call('POST', '/v1/routines/every-second/backups', { kind: 'full' });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('NOT_LEASE_HOLDER');

      await waitFor('two runs on the holder', async () => (metric((await a.call('GET', '/metrics')).text, 'aerobak_backup_runs_total', { routine: 'every-second', outcome: 'success' }) ?? 0) >= 2);
      expect((await b.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs')).body.jobs.filter((j) => j.trigger === 'schedule')).toEqual([]);
      expect(metric((await b.call('GET', '/metrics')).text, 'aerobak_lease_held', { repository: 'shared' })).toBe(0);

      await a.stop();
      // The lease was released: the standby takes it at its next try (every ttl / 3).
      await waitFor('the takeover', () => b.service.scheduler.leaseHeld('shared'), 5000);
      await waitFor('a run on the new holder', async () => (metric((await b.call('GET', '/metrics')).text, 'aerobak_backup_runs_total', { routine: 'every-second', outcome: 'success' }) ?? 0) >= 1);
      await b.stop();
      bStopped = true;
      expect(await (await openStore(join(tmp, 'shared'), 'read')).stat(LEASE_FILE)).toBeNull();
    } finally {
      await a.stop();
      if (!bStopped) await b.stop();
    }
  });
});
