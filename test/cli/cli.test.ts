/**
 * The aerobak command line: help, exit codes and messages as a person sees them
 * (spawned processes), and a whole backup → verify → list → restore cycle through
 * runCli with the output captured.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { aerobak, inProcess, noStack } from './run.js';
import { ExitCode } from '../../src/errors.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, expectSameRecords, record, scanSets, truncateSets, writeRaw } from '../jobs/support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('cli');

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-cli-'));
  await writeRaw(wire, Array.from({ length: 200 }, (_, i) => record('test', set, i, { n: i, s: `value ${i}` })));
});

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) await truncateSets(client, ns, [set]);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('aerobak (spawned)', () => {
  it('prints help with examples and exit codes', async () => {
    const top = await aerobak(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: aerobak <command>/);
    for (const c of ['backup', 'restore', 'verify', 'list']) expect(top.stdout).toContain(`  ${c} `);

    const backup = await aerobak(['backup', '--help']);
    expect(backup.code).toBe(0);
    expect(backup.stdout).toContain('-n, --namespace NS');
    expect(backup.stdout).toContain('Examples:');
    expect(backup.stdout).toMatch(/Exit codes:\n\s+0  success\n\s+1  .*\n\s+2  usage error.*\n\s+3  cluster error.*\n\s+4  storage error.*\n\s+130  interrupted/);
  });

  it('reports a usage error in one line with exit code 2', async () => {
    const r = await aerobak(['backup', '--nmespace', 'test']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^aerobak: error: Unknown option '--nmespace'.*see aerobak backup --help/);
    noStack(r.stderr);
  });

  it('names an unreachable host, with exit code 3', async () => {
    const r = await aerobak(['backup', '-n', 'test', '-h', '127.0.0.1:1', '--to', join(tmp, 'never')]);
    expect(r.code).toBe(ExitCode.CLUSTER);
    expect(r.stderr).toMatch(/^aerobak: error: .*127\.0\.0\.1:1/);
    noStack(r.stderr);
  });

  it('names a namespace that does not exist, with exit code 3', async () => {
    const r = await aerobak(['backup', '-n', 'nope', '--to', join(tmp, 'never')], { env: { AEROSPIKE_HOSTS: cluster.hosts } });
    expect(r.code).toBe(ExitCode.CLUSTER);
    expect(r.stderr).toMatch(/namespace "nope" does not exist on the cluster; its namespaces are: /);
  });

  it('stops on SIGINT with exit code 130, saying the backup is incomplete', async () => {
    const to = join(tmp, 'interrupted');
    let sent = false;
    const r = await aerobak(['backup', '-n', 'test', '-s', set, '-L', '40', '--json', '--to', to], {
      env: { AEROSPIKE_HOSTS: cluster.hosts },
      onStdout: (text, kill) => {
        if (!sent && text.includes('"event":"progress"')) {
          sent = true;
          kill('SIGINT');
        }
      },
    });
    expect(r.code).toBe(ExitCode.INTERRUPTED);
    expect(r.stderr).toMatch(/interrupted by SIGINT: the backup at .*interrupted is incomplete \(it has no manifest/);
    expect(r.stdout).toContain('"event":"error"');
    noStack(r.stderr);
  });
});

describe('a whole cycle through the commands', () => {
  it('backs up, verifies, lists and restores into another namespace', async () => {
    const parent = join(tmp, 'backups');
    const location = join(parent, 'nightly');
    const hosts = ['-h', cluster.hosts];

    const backup = await inProcess(['backup', ...hosts, '-n', 'test', '-s', set, '--to', location, '-w', '2']);
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stdout).toMatch(/^backup complete: 200 records of namespace test in \d+ data file\(s\)/);
    expect(backup.stdout).toContain(`location: ${location}`);

    const verify = await inProcess(['verify', location]);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/^backup OK: .* 200 records/);

    const list = await inProcess(['list', parent]);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/nightly/);
    expect(list.stdout).toMatch(/\btest\s+full\s+200\b.*\bcomplete\b/);

    const listJson = await inProcess(['list', parent, '--json']);
    const listed = JSON.parse(listJson.stdout) as { event: string; backups: { status: string; records: number }[] };
    expect(listed).toMatchObject({ event: 'summary', backups: [{ status: 'complete', records: 200, prefix: 'nightly' }] });

    const restore = await inProcess(['restore', ...hosts, '--from', location, '-n', 'test:bar', '--json']);
    expect(restore.code, restore.stderr).toBe(0);
    const lines = restore.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.at(-1)).toMatchObject({ event: 'summary', complete: true, read: 200, written: 200, failed: {} });
    expectSameRecords(await scanSets(wire, 'test', [set]), await scanSets(wire, 'bar', [set]));
  });

  it('runs a chain by its flags: --repo, --incremental --track-deletes, list, verify, restore --at', async () => {
    const repo = join(tmp, 'repo');
    const hosts = ['-h', cluster.hosts];
    const full = await inProcess(['backup', ...hosts, '-n', 'test', '-s', set, '--repo', repo, '--track-deletes', '--json']);
    expect(full.code, full.stderr).toBe(0);
    expect(JSON.parse(full.stdout.trim().split('\n').at(-1)!)).toMatchObject({ event: 'summary', kind: 'full', records: 200, liveDigests: 200 });
    const inc = await inProcess(['backup', ...hosts, '-n', 'test', '-s', set, '--repo', repo, '--incremental', '--track-deletes']);
    expect(inc.code, inc.stderr).toBe(0);
    expect(inc.stdout).toMatch(/incremental of: .*repo\/test-/);
    expect(inc.stdout).toContain('live records tracked: 200');

    const list = await inProcess(['list', repo]);
    expect(list.stdout).toMatch(/\btest\s+full\+del\s+200\b/);
    expect(list.stdout).toMatch(/\bincremental\+del\b.*\bcomplete\b\s+test-\S+ <- test-/);
    const location = /location: (\S+)/.exec(inc.stdout)![1]!;
    const verify = await inProcess(['verify', location]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(verify.stdout).toMatch(/\(a chain of 2 backups\)/);

    await truncateSets(client, 'bar', [set]);
    const restore = await inProcess(['restore', ...hosts, '--from', repo, '--at', new Date().toISOString(), '-n', 'test:bar']);
    expect(restore.code, restore.stderr).toBe(0);
    expect(restore.stdout).toMatch(/chain of 2 backups, oldest first/);
    expectSameRecords(await scanSets(wire, 'test', [set]), await scanSets(wire, 'bar', [set]));
    const none = await inProcess(['restore', ...hosts, '--from', repo, '--at', '2001-01-01T00:00:00Z', '-n', 'test:bar']);
    expect(none.code).toBe(ExitCode.FAILED);
    expect(none.stderr).toMatch(/has no complete backup of namespace test that finished at or before 2001-01-01T00:00:00.000Z/);
  });

  it('fails verify with exit code 1 on a location without a backup', async () => {
    const r = await inProcess(['verify', `mem://${uniqueSetName('cli')}/empty`]);
    expect(r.code).toBe(ExitCode.FAILED);
    expect(r.stdout).toMatch(/^backup FAILED verification: .*\n  manifest.json: there is no backup at .*\[BACKUP_NOT_FOUND\]/);
  });
});
