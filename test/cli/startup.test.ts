/**
 * Start-up (docs/performance.md, "Start-up"): `aerobak --help` loads no command, a backup
 * loads the backup's modules and none of the others' (restore, export, the service), and
 * nothing loads bcryptjs or a cloud SDK unless it logs in or opens s3:// or gs://. Checked
 * on what a spawned aerobak resolves (test/cli/module-recorder.mjs), not on timings.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../src/cli/app.js';
import { startCluster, type TestCluster } from '../support/aerospike.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const recorder = fileURLToPath(new URL('./module-recorder.mjs', import.meta.url));

let cluster: TestCluster;
let tmp: string;

beforeAll(async () => {
  cluster = await startCluster();
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-startup-'));
});

afterAll(async () => {
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

let runs = 0;

/** Runs aerobak (through tsx) and returns its exit code and the modules it resolved, as paths relative to the checkout. */
async function modulesOf(args: string[]): Promise<{ code: number | null; stderr: string; modules: string[] }> {
  const out = join(tmp, `modules-${runs++}.txt`);
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', recorder, 'src/cli/main.ts', ...args], {
    cwd: root,
    env: { ...process.env, AEROSPIKE_HOSTS: '', AEROBAK_MODULES_OUT: out },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const modules = (await readFile(out, 'utf8'))
    .split('\n')
    .filter((u) => u.startsWith('file:'))
    .map((u) => fileURLToPath(u).slice(root.length));
  return { code, stderr, modules };
}

const packageOf = (path: string) => /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)?.[1];
const HEAVY = ['bcryptjs', '@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@aws-sdk/client-kms', '@google-cloud/storage', '@google-cloud/kms', 'hyparquet-writer', 'yaml', 'croner', 'prom-client'];

describe('start-up', () => {
  it('lists every command with its own summary', async () => {
    for (const entry of commands) {
      const command = await entry.load();
      expect(command.name).toBe(entry.name);
      expect(entry.summary).toBe(command.summary);
    }
  });

  it('aerobak --help loads no command and no job', async () => {
    const r = await modulesOf(['--help']);
    expect(r.code).toBe(0);
    const ours = r.modules.filter((m) => m.startsWith('src/'));
    expect(ours.filter((m) => m.startsWith('src/jobs/') || m.startsWith('src/aerospike/') || m.startsWith('src/avro/'))).toEqual([]);
    expect(ours.filter((m) => /^src\/cli\/(backup|restore|export|serve|verify|list|prune|rekey|options)\.ts$/.test(m))).toEqual([]);
    expect(r.modules.map(packageOf).filter((p) => p !== undefined && p !== 'tsx')).toEqual([]);
  });

  it('a backup loads what it needs and nothing of restore, export, the service, bcryptjs or the cloud SDKs', async () => {
    const r = await modulesOf(['backup', '-h', cluster.hosts, '-n', 'test', '-s', 'startup_empty', '--to', join(tmp, 'backup')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.modules).toContain('src/jobs/backup.ts');
    expect(r.modules).toContain('src/aerospike/auth.ts');
    const unwanted = r.modules.filter((m) => /^src\/(jobs\/(restore|export|verify|prune|rekey|chain-restore)|export\/|service\/|cli\/(restore|export|serve|verify|prune|rekey)\.ts)/.test(m));
    expect(unwanted).toEqual([]);
    const packages = new Set(r.modules.map(packageOf).filter((p) => p !== undefined));
    expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
  });

  it('backup --help loads the backup command only', async () => {
    const r = await modulesOf(['backup', '--help']);
    expect(r.code).toBe(0);
    expect(r.modules).toContain('src/cli/backup.ts');
    expect(r.modules.filter((m) => /^src\/cli\/(restore|export|serve)\.ts$/.test(m))).toEqual([]);
    const packages = new Set(r.modules.map(packageOf).filter((p) => p !== undefined));
    expect(HEAVY.filter((p) => packages.has(p))).toEqual([]);
  });
});
