/**
 * The REST API of `aerobak serve`, in-process against the test server and a local
 * repository: the token (401 without it, /healthz open), a backup triggered by POST and
 * followed to its end, the routine's backups with their chain, an overlapping trigger
 * refused, a running backup cancelled (left incomplete and resumable), restores of a
 * backup and of a point in time, verify and drill, /metrics in the Prometheus format,
 * /openapi.json, and no secret in any answer.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { BACKUP_STATE_FILE } from '../../src/jobs/backup-state.js';
import { listBackups } from '../../src/jobs/list.js';
import type { JobRecord } from '../../src/service/jobs.js';
import { OPENAPI } from '../../src/service/openapi.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, scanSets, truncateSets, writeRaw } from '../jobs/support.js';
import { TOKEN, finished, metric, parsePrometheus, startService, waitFor, type Running } from './support.js';

const COUNT = 300;
const SLOW = 3000;
let cluster: TestCluster;
let wire: Cluster;
let tmp: string;
let r: Running;
const set = uniqueSetName('api');
const slowSet = uniqueSetName('api_slow');
const WEBHOOK = 'https://hooks.example.com/services/T000/B000/secret-part';

beforeAll(async () => {
  cluster = await startCluster();
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-api-'));
  await writeRaw(wire, Array.from({ length: COUNT }, (_, i) => record('test', set, i, { n: i, s: `value ${i}` })));
  await writeRaw(wire, Array.from({ length: SLOW }, (_, i) => record('test', slowSet, i, { n: i })));
  r = await startService(`
http: { listen: "127.0.0.1:0", token: "\${AEROBAK_API_TOKEN}" }
notify: { webhook: "${WEBHOOK}" }
clusters:
  main: { hosts: "${cluster.hosts}" }
repositories:
  local: { location: "${join(tmp, 'repo')}" }
routines:
  users:
    cluster: main
    namespace: test
    sets: [${set}]
    repository: local
    full: "0 2 * * 0"
    incremental: "0 2 * * 1-6"
    on-missed: skip
    drill: { schedule: "0 4 * * *", namespace: bar }
  slow: { cluster: main, namespace: test, sets: [${slowSet}], repository: local, full: "0 3 * * *", on-missed: skip, records-per-second: 500, parallel: 1 }
`);
});

afterAll(async () => {
  await r?.stop();
  if (cluster) {
    const client = await connectClient(cluster);
    await truncateSets(client, 'test', [set, slowSet]);
    await truncateSets(client, 'bar', [set, slowSet]);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the API', () => {
  it('wants the bearer token everywhere but /healthz', async () => {
    for (const path of ['/v1/routines', '/metrics', '/openapi.json', '/v1/jobs', '/v1/repositories']) {
      const without = await r.call('GET', path, undefined, null);
      expect(without.status, path).toBe(401);
      expect(without.body.error.code).toBe('UNAUTHORIZED');
      expect((await r.call('GET', path, undefined, `${TOKEN}x`)).status, path).toBe(401);
      expect((await r.call('GET', path, undefined, TOKEN.slice(0, -1))).status, path).toBe(401);
    }
    expect((await r.call('POST', '/v1/routines/users/backups', { kind: 'full' }, null)).status).toBe(401);
    const health = await r.call('GET', '/healthz', undefined, null);
    expect(health).toMatchObject({ status: 200, body: { status: 'ok' } });
  });

  let full: JobRecord;
  let incremental: JobRecord;

  it('starts a backup by POST, shows its status, and lists the routine backups with their chain', async () => {
    const posted = await r.call<{ job: JobRecord }>('POST', '/v1/routines/users/backups', { kind: 'full' });
    expect(posted.status).toBe(202);
    expect(posted.body.job).toMatchObject({ kind: 'backup', routine: 'users', trigger: 'api', backupKind: 'full' });
    full = await finished(r, posted.body.job.id);
    expect(full.status).toBe('succeeded');
    expect(full.result).toMatchObject({ kind: 'full', records: COUNT, namespace: 'test', location: full.location });
    expect(full.progress).toMatchObject({ records: COUNT });

    const second = await r.call<{ job: JobRecord }>('POST', '/v1/routines/users/backups', {});
    incremental = await finished(r, second.body.job.id);
    expect(incremental).toMatchObject({ status: 'succeeded', backupKind: 'incremental', result: { kind: 'incremental', parent: full.location } });

    const { body } = await r.call('GET', '/v1/routines/users/backups');
    expect(body.backups.map((b: { location: string }) => b.location)).toEqual([full.location, incremental.location]);
    const fullPrefix = full.location!.split('/').at(-1);
    expect(body.chains).toEqual([{ full: fullPrefix, backups: [fullPrefix, incremental.location!.split('/').at(-1)], newest: incremental.location!.split('/').at(-1) }]);

    const routine = (await r.call('GET', '/v1/routines/users')).body;
    expect(routine).toMatchObject({ name: 'users', leaseHeld: true, lastRun: { jobId: incremental.id, kind: 'incremental' }, schedules: { full: { cron: '0 2 * * 0', timeZone: 'UTC' } } });
    expect(new Date(routine.schedules.full.next).getUTCDay()).toBe(0);
    expect((await r.call('POST', '/v1/routines/users/backups', { kind: 'weekly' })).status).toBe(400);
    expect((await r.call('POST', '/v1/routines/nope/backups', {})).status).toBe(404);
  });

  it('refuses a second backup of a routine while one runs, and cancels a running one, leaving it resumable', async () => {
    const posted = await r.call<{ job: JobRecord }>('POST', '/v1/routines/slow/backups', { kind: 'full' });
    const running = await waitFor('progress', async () => {
      const j = (await r.call<JobRecord>('GET', `/v1/jobs/${posted.body.job.id}`)).body;
      return j.status === 'running' && (j.progress?.records ?? 0) > 0 ? j : undefined;
    });
    expect(running.progress!.recordsPerSecond).toBeGreaterThanOrEqual(0);
    const again = await r.call('POST', '/v1/routines/slow/backups', { kind: 'full' });
    expect(again.status).toBe(409);
    expect(again.body).toMatchObject({ error: { code: 'BACKUP_ALREADY_RUNNING' }, job: { id: running.id } });

    const cancel = await r.call('POST', `/v1/jobs/${running.id}/cancel`);
    expect(cancel.status).toBe(202);
    const done = await finished(r, running.id);
    expect(done.status).toBe('cancelled');
    expect(done.error?.message).toMatch(/cancelled through the API.*incomplete.*aerobak backup --resume/);
    expect((await r.call('POST', `/v1/jobs/${running.id}/cancel`)).status).toBe(409);
    const listed = (await listBackups(join(tmp, 'repo'))).find((b) => b.location === done.location);
    expect(listed?.status).toBe('incomplete');
    expect(await (await openStore(done.location!, 'read')).stat(BACKUP_STATE_FILE)).not.toBeNull();
    const metrics = (await r.call('GET', '/metrics')).text;
    expect(metric(metrics, 'aerobak_backup_runs_total', { routine: 'slow', outcome: 'cancelled' })).toBe(1);
    expect(metric(metrics, 'aerobak_backup_runs_total', { routine: 'slow', outcome: 'skipped_overlap' })).toBe(1);
  });

  it('restores a backup, and a point in time, into another namespace', async () => {
    const client = await connectClient(cluster);
    await truncateSets(client, 'bar', [set]);
    await client.close();
    const posted = await r.call<{ job: JobRecord }>('POST', '/v1/restores', { routine: 'users', backup: incremental.location!.split('/').at(-1), namespace: 'bar' });
    expect(posted.status).toBe(202);
    const done = await finished(r, posted.body.job.id);
    expect(done).toMatchObject({ status: 'succeeded', kind: 'restore', result: { namespaces: { test: 'bar' }, written: COUNT } });
    expect((await scanSets(wire, 'bar', [set])).size).toBe(COUNT);

    const at = await r.call<{ job: JobRecord }>('POST', '/v1/restores', { repository: 'local', at: new Date().toISOString(), sourceNamespace: 'test', namespace: 'bar', mode: 'replace', sets: [set] });
    expect((await finished(r, at.body.job.id)).status).toBe('succeeded');

    for (const bad of [{ routine: 'users', namespace: 'bar' }, { routine: 'users', at: 'yesterday', namespace: 'bar' }, { routine: 'users', backup: '../x', namespace: 'bar' }, { routine: 'users', location: '/etc', namespace: 'bar' }, { routine: 'users', backup: 'x' }, { routine: 'users', backup: 'x', namespace: 'bar', extra: 1 }]) {
      const res = await r.call('POST', '/v1/restores', bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
  });

  it('verifies the newest backup and drills a restore into the scratch namespace', async () => {
    const verify = await finished(r, (await r.call<{ job: JobRecord }>('POST', '/v1/routines/users/verify')).body.job.id);
    expect(verify).toMatchObject({ status: 'succeeded', location: incremental.location, result: { ok: true, links: 2 } });
    const drill = await finished(r, (await r.call<{ job: JobRecord }>('POST', '/v1/routines/users/drill')).body.job.id);
    expect(drill).toMatchObject({ status: 'succeeded', result: { expected: COUNT, found: COUNT, scratchNamespace: 'bar' } });
    const metrics = (await r.call('GET', '/metrics')).text;
    expect(metric(metrics, 'aerobak_verify_runs_total', { routine: 'users', outcome: 'success' })).toBe(1);
    expect(metric(metrics, 'aerobak_drill_runs_total', { routine: 'users', outcome: 'success' })).toBe(1);
    expect(metric(metrics, 'aerobak_drill_record_difference', { routine: 'users' })).toBe(0);
    expect((await r.call('POST', '/v1/routines/slow/drill')).status).toBe(409);
  });

  it('serves /metrics in the Prometheus text format, with the last success per routine', async () => {
    const res = await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const { samples, types } = parsePrometheus(text);
    expect(types.get('aerobak_backup_last_success_timestamp_seconds')).toBe('gauge');
    const success = samples.find((s) => s.name === 'aerobak_backup_last_success_timestamp_seconds' && s.labels.routine === 'users');
    expect(success!.value).toBeCloseTo(Date.parse(incremental.finishedAt!) / 1000, -1);
    expect(samples.find((s) => s.name === 'aerobak_backup_last_success_timestamp_seconds' && s.labels.routine === 'slow')!.value).toBe(0);
    expect(metric(text, 'aerobak_backup_runs_total', { routine: 'users', outcome: 'success' })).toBe(2);
    expect(metric(text, 'aerobak_records_processed_total', { routine: 'users', operation: 'backup' })).toBeGreaterThanOrEqual(COUNT);
    expect(metric(text, 'aerobak_records_processed_total', { routine: 'users', operation: 'drill' })).toBeGreaterThanOrEqual(COUNT);
    expect(metric(text, 'aerobak_backup_last_records', { routine: 'users' })).toBe((incremental.result as { records: number }).records);
    expect(metric(text, 'aerobak_lease_held', { repository: 'local' })).toBe(1);
    expect(types.get('process_cpu_seconds_total')).toBe('counter');
    // No per-job labels.
    expect(samples.every((s) => !('job' in s.labels) && !('location' in s.labels))).toBe(true);
  });

  it('serves its OpenAPI document, lists jobs, and never shows a secret', async () => {
    const doc = await r.call('GET', '/openapi.json');
    expect(doc.body).toEqual(JSON.parse(JSON.stringify(OPENAPI)));
    const jobs = (await r.call<{ jobs: JobRecord[] }>('GET', '/v1/jobs?kind=backup&routine=users')).body.jobs;
    expect(jobs.map((j) => j.id)).toEqual([incremental.id, full.id]);
    expect((await r.call('GET', '/v1/jobs/nope')).status).toBe(404);
    expect((await r.call('DELETE', '/v1/jobs')).status).toBe(405);
    const all = [
      await r.call('GET', '/v1/routines'),
      await r.call('GET', '/v1/repositories'),
      await r.call('GET', '/v1/jobs?limit=500'),
      await r.call('GET', '/v1/repositories/local/backups'),
      await r.call('GET', '/metrics'),
    ];
    for (const a of all) {
      expect(a.text).not.toContain(TOKEN);
      expect(a.text).not.toContain('secret-part');
    }
  });
});
