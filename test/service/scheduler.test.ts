/**
 * The scheduler of `aerobak serve`, in-process against the test server and local
 * repositories, on schedules with croner's seconds field: routines run on their due
 * seconds; a run due while the previous one still runs is skipped and counted; a failing
 * cluster (a refused port) gives a failure metric, a notification and a retry; the
 * missed-run rule at start; retention after a successful run.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listBackups } from '../../src/jobs/list.js';
import type { JobRecord } from '../../src/service/jobs.js';
import { startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, writeRaw } from '../jobs/support.js';
import { finished, metric, startService, waitFor } from './support.js';

let cluster: TestCluster;
let tmp: string;
const set = uniqueSetName('sched');
const slowSet = uniqueSetName('sched_slow');

beforeAll(async () => {
  cluster = await startCluster();
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-sched-'));
  const wire = await connectWire(cluster);
  await writeRaw(wire, Array.from({ length: 50 }, (_, i) => record('test', set, i, { n: i })));
  await writeRaw(wire, Array.from({ length: 2000 }, (_, i) => record('test', slowSet, i, { n: i })));
  await wire.close();
});

afterAll(async () => {
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const head = (repo: string, clusterHosts = cluster.hosts) => `
http: { listen: "127.0.0.1:0", token: "\${AEROBAK_API_TOKEN}" }
clusters:
  main: { hosts: "${clusterHosts}" }
  down: { hosts: "127.0.0.1:1" }
repositories:
  local: { location: "${join(tmp, repo)}" }
`;

const successes = async (r: { call: (m: string, p: string) => Promise<{ text: string }> }, routine: string, outcome = 'success') =>
  metric((await r.call('GET', '/metrics')).text, 'aerobak_backup_runs_total', { routine, outcome }) ?? 0;

describe('the scheduler', () => {
  it('runs a routine on its due seconds, and skips and counts a run due while the previous one runs', async () => {
    const r = await startService(`${head('on-time')}
routines:
  every-second: { cluster: main, namespace: test, sets: [${set}], repository: local, full: "* * * * * *", on-missed: skip }
  slow: { cluster: main, namespace: test, sets: [${slowSet}], repository: local, full: "* * * * * *", records-per-second: 400, on-missed: skip, parallel: 1 }
service: { max-concurrent-jobs: 4 }
`);
    try {
      await waitFor('three scheduled backups', async () => (await successes(r, 'every-second')) >= 3, 15_000);
      await waitFor('a skipped run of the slow routine', async () => (await successes(r, 'slow', 'skipped_overlap')) >= 1, 10_000);
      const jobs = (await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=every-second')).body.jobs;
      const scheduled = jobs.filter((j) => j.trigger === 'schedule');
      expect(scheduled.length).toBeGreaterThanOrEqual(3);
      // Queued within a moment of the whole second it was due at.
      for (const j of scheduled) expect(new Date(j.createdAt).getUTCMilliseconds()).toBeLessThan(500);
      const slow = (await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=slow')).body.jobs;
      // Never two at once: one job for the slow routine, still running, the due seconds skipped.
      expect(slow.filter((j) => j.status === 'running' || j.status === 'queued')).toHaveLength(1);
      expect(r.logs.some((l) => /routine slow: full backup skipped/.test(l))).toBe(true);
      const text = (await r.call('GET', '/metrics')).text;
      expect(metric(text, 'aerobak_backup_last_success_timestamp_seconds', { routine: 'every-second' })).toBeGreaterThan(Date.now() / 1000 - 30);
      expect(metric(text, 'aerobak_backup_running', { routine: 'slow' })).toBe(1);
    } finally {
      await r.stop();
    }
  });

  it('counts a failure against a refused port, notifies the webhook, and retries with backoff', async () => {
    const posts: unknown[] = [];
    const hook: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        posts.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
    const port = (hook.address() as { port: number }).port;
    const r = await startService(`${head('failing')}
notify: { webhook: "http://127.0.0.1:${port}/hook" }
routines:
  r-fail: { cluster: down, namespace: test, repository: local, full: "0 0 1 1 *", on-missed: skip, retry: { attempts: 1, delay: 1s } }
`);
    try {
      const { body } = await r.call<{ job: JobRecord }>('POST', '/v1/routines/r-fail/backups', { kind: 'full' });
      const first = await finished(r, body.job.id);
      expect(first.status).toBe('failed');
      expect(first.error?.code).toMatch(/CLUSTER|CONNECT|NO_NODE/);
      const retry = await waitFor('the retry', async () => (await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=r-fail')).body.jobs.find((j) => j.trigger === 'retry'), 10_000);
      expect(retry.attempt).toBe(1);
      expect((await finished(r, retry.id)).status).toBe('failed');
      const text = (await r.call('GET', '/metrics')).text;
      expect(metric(text, 'aerobak_backup_runs_total', { routine: 'r-fail', outcome: 'failure' })).toBe(2);
      expect(metric(text, 'aerobak_backup_retries_total', { routine: 'r-fail' })).toBe(1);
      expect(metric(text, 'aerobak_backup_last_failure_timestamp_seconds', { routine: 'r-fail' })).toBeGreaterThan(Date.now() / 1000 - 60);
      // No third run: one retry was allowed.
      await new Promise((res) => setTimeout(res, 1500));
      expect((await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=r-fail')).body.jobs).toHaveLength(2);
      await waitFor('two notifications', () => posts.length >= 2);
      expect(posts[0]).toEqual({ text: expect.stringMatching(/routine r-fail: full backup failed: .*127\.0\.0\.1:1/) });
      expect(posts[1]).toEqual({ text: expect.stringContaining('(retry 1)') });
      const routine = (await r.call('GET', '/v1/routines/r-fail')).body;
      expect(routine.lastFailureAt).toEqual(expect.any(String));
      expect(JSON.stringify(routine)).not.toContain(`127.0.0.1:${port}`);
    } finally {
      await r.stop();
      await new Promise((res) => hook.close(res));
    }
  });

  it('runs a missed backup once at start (on-missed: run-once), not when skipped or already done; then prunes by retention', async () => {
    const yaml = `${head('missed')}
routines:
  yearly: { cluster: main, namespace: test, sets: [${set}], repository: local, full: "0 0 1 1 *", retention: { keep-last: 1 } }
  yearly-skip: { cluster: main, namespace: test, sets: [${slowSet}], repository: local, full: "0 0 1 1 *", on-missed: skip }
`;
    let r = await startService(yaml);
    let startup: JobRecord;
    try {
      startup = await waitFor('the start-up run', async () => (await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=yearly')).body.jobs.find((j) => j.trigger === 'startup'));
      expect(startup.backupKind).toBe('full');
      expect((await finished(r, startup.id)).status).toBe('succeeded');
      expect((await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=yearly-skip')).body.jobs).toEqual([]);
    } finally {
      await r.stop();
    }
    // Restarted: the due time has its backup now; the history comes back from the repository.
    r = await startService(yaml);
    try {
      await new Promise((res) => setTimeout(res, 500));
      const jobs = (await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?routine=yearly')).body.jobs;
      expect(jobs.map((j) => [j.id, j.trigger, j.status])).toEqual([[startup.id, 'startup', 'succeeded']]);
      const { body } = await r.call<{ job: JobRecord }>('POST', '/v1/routines/yearly/backups', {});
      const done = await finished(r, body.job.id);
      expect(done.status).toBe('succeeded');
      const result = done.result as { location: string; prune: { deleted: string[] } };
      expect(result.prune.deleted).toEqual([startup.location]);
      const complete = (await listBackups(join(tmp, 'missed'))).filter((b) => b.status === 'complete');
      expect(complete.map((b) => b.location)).toEqual([result.location]);
    } finally {
      await r.stop();
    }
  });
});
