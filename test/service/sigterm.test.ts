/**
 * `aerobak serve` as operators run it, a child process, with its repository on S3
 * (MinIO): SIGTERM in the middle of a backup makes it exit 0 well within its bound
 * (shutdown-timeout + 5 s), with the backup visibly interrupted: no manifest, its
 * backup-state.json kept, listed as incomplete, marked in the service state as
 * interrupted, and the lease released. The next start resumes it to a complete backup
 * in the same location, with every record.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKUP_STATE_FILE } from '../../src/jobs/backup-state.js';
import { listBackups } from '../../src/jobs/list.js';
import { MANIFEST_FILE } from '../../src/jobs/manifest.js';
import type { JobRecord } from '../../src/service/jobs.js';
import { LEASE_FILE } from '../../src/service/lease.js';
import { SERVE_STATE_FILE, type ServeState } from '../../src/service/state.js';
import { createStore, readAll, type ObjectStore, type OpenIntent } from '../../src/storage/index.js';
import { startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { SERVER_START_TIMEOUT_MS, startS3Server, type S3TestServer } from '../support/s3-server.js';
import { connectWire, record, writeRaw } from '../jobs/support.js';
import { TOKEN, finished, startService, waitFor } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BUCKET = 'aerobak-serve';
const COUNT = 4000;
const SHUTDOWN_TIMEOUT_S = 4;
const BOUND_MS = (SHUTDOWN_TIMEOUT_S + 5) * 1000;

let cluster: TestCluster;
let s3: S3TestServer;
let tmp: string;
const set = uniqueSetName('sigterm');

beforeAll(async () => {
  [cluster, s3] = await Promise.all([startCluster(), startS3Server()]);
  await s3.createBucket(BUCKET);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-sigterm-'));
  const wire = await connectWire(cluster);
  await writeRaw(wire, Array.from({ length: COUNT }, (_, i) => record('test', set, i, { n: i, s: 'x'.repeat(100) })));
  await wire.close();
}, SERVER_START_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([cluster?.stop(), s3?.stop()]);
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

/** S3 as the environment configures it for the CLI, nothing of the developer's own settings. */
function env(): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(AWS_|AEROSPIKE_|AEROBAK_)/.test(k)) out[k] = v;
  const nowhere = join(tmp, 'no-such-file');
  return {
    ...out,
    AWS_CONFIG_FILE: nowhere,
    AWS_SHARED_CREDENTIALS_FILE: nowhere,
    AWS_ENDPOINT_URL: s3.options.endpoint!,
    AWS_REGION: s3.options.region ?? 'us-east-1',
    AWS_ACCESS_KEY_ID: s3.options.credentials!.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.options.credentials!.secretAccessKey,
    AEROBAK_API_TOKEN: TOKEN,
  };
}

async function openS3(location: string, intent: OpenIntent): Promise<ObjectStore> {
  const store = createStore(location, { s3: s3.options });
  await store.open(intent);
  return store;
}

const yaml = (listen: string, rps: number) => `
http:
  listen: ${listen}
  token: \${AEROBAK_API_TOKEN}
service:
  shutdown-timeout: ${SHUTDOWN_TIMEOUT_S}s
clusters:
  main:
    hosts: ${cluster.hosts}
repositories:
  offsite:
    location: s3://${BUCKET}/aerospike
routines:
  users-nightly:
    cluster: main
    namespace: test
    sets: [${set}]
    repository: offsite
    full: "0 2 * * 0"
    incremental: "0 2 * * 1-6"
    on-missed: skip
    records-per-second: ${rps}
    parallel: 2
`;

describe('aerobak serve and SIGTERM', () => {
  it('exits in bounded time mid-backup, leaving the backup incomplete and resumable; the next start resumes it', async () => {
    const configPath = join(tmp, 'aerobak.yaml');
    await writeFile(configPath, yaml('127.0.0.1:0', 400));
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', configPath], { cwd: root, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    try {
      const url = await waitFor('the API to listen', () => /API on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1], 20_000);
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
        return (await res.json()) as any;
      };
      await waitFor('the lease', async () => (await call('GET', '/v1/routines/users-nightly')).leaseHeld === true);
      const { job } = (await call('POST', '/v1/routines/users-nightly/backups', { kind: 'full' })) as { job: JobRecord };
      const running = await waitFor('records scanned', async () => {
        const j = (await call('GET', `/v1/jobs/${job.id}`)) as JobRecord;
        return j.status === 'running' && (j.progress?.records ?? 0) > 100 ? j : undefined;
      });
      const location = running.location!;
      expect(location).toMatch(new RegExp(`^s3://${BUCKET}/aerospike/test-\\d{8}T\\d{6}Z$`));

      const sent = Date.now();
      child.kill('SIGTERM');
      const { code } = await exited;
      const took = Date.now() - sent;
      console.info(`SIGTERM to exit: ${took} ms`);
      expect(code, stderr).toBe(0);
      expect(took).toBeLessThan(BOUND_MS);
      expect(stderr).toMatch(/stopping \(interrupted by SIGTERM\)/);
      expect(stderr).toMatch(/interrupted: backup of routine users-nightly.*incomplete/);

      const store = await openS3(location, 'read');
      expect(await store.stat(MANIFEST_FILE)).toBeNull();
      expect(await store.stat(BACKUP_STATE_FILE)).not.toBeNull();
      const listed = (await listBackups(`s3://${BUCKET}/aerospike`, { openStore: openS3 })).find((b) => b.location === location);
      expect(listed?.status).toBe('incomplete');
      const repo = await openS3(`s3://${BUCKET}/aerospike`, 'read');
      expect(await repo.stat(LEASE_FILE)).toBeNull();
      const state = JSON.parse((await readAll(await repo.read(SERVE_STATE_FILE))).toString()) as ServeState;
      expect(state.routines['users-nightly']!.unfinished).toEqual([expect.objectContaining({ location, jobId: job.id, reason: 'interrupted' })]);
      expect(state.jobs.find((j) => j.id === job.id)?.status).toBe('interrupted');

      // The next start (in-process here, faster) resumes it in the same place.
      const again = await startService(yaml('"127.0.0.1:0"', 1_000_000), { openStore: openS3 });
      try {
        const resume = await waitFor('the resume', () => again.service.jobs.list((j) => j.trigger === 'resume')[0]);
        const done = await finished(again, resume.id);
        // (An S3 store names its root with a trailing slash.)
        expect(done).toMatchObject({ status: 'succeeded', location, result: { resumed: true, records: COUNT, location: expect.stringMatching(new RegExp(`^${location}/?$`)) } });
        expect((done.result as { recordsScanned: number }).recordsScanned).toBeLessThanOrEqual(COUNT);
        expect(await store.stat(MANIFEST_FILE)).not.toBeNull();
        expect(await store.stat(BACKUP_STATE_FILE)).toBeNull();
        expect(again.service.states.get('offsite')!.state.routines['users-nightly']!.unfinished).toBeUndefined();
      } finally {
        await again.stop();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
