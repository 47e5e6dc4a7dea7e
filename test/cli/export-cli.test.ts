/**
 * `aerobak export` as a person runs it: help, a JSON summary, and for bad input one
 * line on stderr, the documented exit code, no stack trace, and no _SUCCESS.
 */
import { access, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { ExitCode } from '../../src/errors.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, tearDown, writeRaw } from '../jobs/support.js';
import { aerobak, inProcess, noStack } from './run.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('xcli');

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-export-cli-'));
  await writeRaw(wire, Array.from({ length: 120 }, (_, i) => record('test', set, i, { n: i, s: `value ${i}` })));
}, 60_000);

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: [set] }));

const exists = (path: string) => access(path).then(() => true, () => false);
const oneLine = (stderr: string) => expect(stderr.trim().split('\n'), stderr).toHaveLength(1);

describe('aerobak export', () => {
  it('has help with examples and exit codes', async () => {
    const run = await aerobak(['export', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/Usage: aerobak export/);
    expect(run.stdout).toMatch(/--format parquet\|avro/);
    expect(run.stdout).toMatch(/Examples:/);
    expect(run.stdout).toMatch(/_SUCCESS/);
  });

  it('exports with a JSON summary on stdout', async () => {
    const dir = join(tmp, 'ok');
    const run = await inProcess(['export', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', dir, '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(ExitCode.OK);
    const events = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; records?: number; sets?: Record<string, { records: number }> });
    const summary = events.find((e) => e.event === 'summary')!;
    expect(summary.records).toBe(120);
    expect(summary.sets![set]!.records).toBe(120);
    expect(await exists(join(dir, '_SUCCESS'))).toBe(true);
  });

  it('refuses an unknown format before doing anything (exit 2)', async () => {
    const dir = join(tmp, 'csv');
    const run = await aerobak(['export', '-h', cluster.hosts, '-n', 'test', '--to', dir, '--format', 'csv']);
    expect(run.code).toBe(ExitCode.USAGE);
    oneLine(run.stderr);
    expect(run.stderr).toMatch(/--format/);
    noStack(run.stderr);
    expect(await exists(dir)).toBe(false);
  });

  it('refuses a destination that is not empty (exit 4), naming it', async () => {
    const dir = join(tmp, 'full');
    await inProcess(['export', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', dir]);
    await writeFile(join(dir, 'notes.txt'), 'mine');
    const run = await inProcess(['export', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', dir]);
    expect(run.code).toBe(ExitCode.STORAGE);
    oneLine(run.stderr);
    expect(run.stderr).toContain(dir);
  });

  it('refuses a namespace that does not exist (exit 3)', async () => {
    const run = await inProcess(['export', '-h', cluster.hosts, '-n', 'no_such_ns', '--to', join(tmp, 'nons')]);
    expect(run.code).toBe(ExitCode.CLUSTER);
    oneLine(run.stderr);
    expect(run.stderr).toMatch(/no_such_ns/);
  });

  it('fails on a corrupt backup (exit 1): the file is named, the files written are removed, no _SUCCESS', async () => {
    const backupDir = join(tmp, 'backup');
    expect((await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', backupDir, '--compress', 'none', '-w', '1'])).code).toBe(0);
    const name = (await readdir(backupDir)).find((f) => f.startsWith('test_') && f.endsWith('.avro'))!;
    const bytes = await readFile(join(backupDir, name));
    bytes[bytes.length - 30] ^= 0x55;
    await writeFile(join(backupDir, name), bytes);
    const dir = join(tmp, 'from-corrupt');
    const run = await inProcess(['export', '--from', backupDir, '--to', dir, '--row-group-size', '1KiB', '--file-size', '4KiB']);
    expect(run.code).toBe(ExitCode.FAILED);
    oneLine(run.stderr);
    expect(run.stderr).toContain(name);
    expect(await exists(join(dir, '_SUCCESS'))).toBe(false);
    expect(await exists(join(dir, '_manifest.json'))).toBe(false);
    const left = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    expect(left.filter((f) => String(f).endsWith('.parquet'))).toEqual([]);
  });

  it('refuses a backup location that holds no backup (exit 4)', async () => {
    const run = await inProcess(['export', '--from', join(tmp, 'nothing-here'), '--to', join(tmp, 'x')]);
    expect([ExitCode.STORAGE, ExitCode.FAILED]).toContain(run.code);
    oneLine(run.stderr);
    noStack(run.stderr);
  });
});
