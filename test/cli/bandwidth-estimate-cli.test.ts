/**
 * `aerobak backup --bandwidth` and `restore --bandwidth` (a limit shared by every file of
 * the run), and `aerobak backup --estimate` (nothing written), through the command line.
 *
 * The bandwidth runs assert a lower bound on their elapsed time (bytes / limit, less one
 * burst, with slack) and that the data is intact: the limit's behaviour, not a benchmark.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { ExitCode } from '../../src/errors.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, scanSets, truncateSets, writeRaw } from '../jobs/support.js';
import { aerobak, inProcess, noStack } from './run.js';

const RECORDS = 1500;
const MiB = 1024 * 1024;

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('bw');

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-bw-'));
  // ~1 KiB of random (incompressible) bytes a record: ~1.5 MiB stored whatever the codec.
  await writeRaw(wire, Array.from({ length: RECORDS }, (_, i) => record('test', set, i, { n: i, b: randomBytes(1000) })));
}, 120_000);

afterAll(async () => {
  if (client) {
    for (const ns of ['test', 'bar']) await truncateSets(client, ns, [set]);
    await client.close();
  }
  await wire?.close();
  await cluster?.stop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const summaryOf = (stdout: string): Record<string, unknown> => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

describe('--bandwidth', () => {
  it('backs up at no more than the limit, every file sharing it, and the backup verifies', async () => {
    const to = join(tmp, 'limited');
    const limit = 1; // MiB/s
    const { value: r, seconds } = await timed(() => inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '-z', 'none', '-w', '4', '--bandwidth', String(limit), '--json', '--to', to]));
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    const summary = summaryOf(r.stdout) as unknown as { records: number; bytes: number; files: number };
    expect(summary.records).toBe(RECORDS);
    expect(summary.files).toBe(4);
    expect(summary.bytes).toBeGreaterThan(1.4 * MiB);
    // Four groups at once, one limit: the whole backup takes bytes / limit (less a 50 ms burst), not a quarter of it.
    expect(seconds).toBeGreaterThanOrEqual(summary.bytes / (limit * MiB) - 0.15);

    const verify = await inProcess(['verify', to, '--json']);
    expect(verify.code, verify.stdout).toBe(ExitCode.OK);
    expect(summaryOf(verify.stdout)).toMatchObject({ records: RECORDS });
  }, 60_000);

  it('restores reading at no more than the limit, the records intact', async () => {
    const from = join(tmp, 'for-restore');
    const b = await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '-z', 'none', '--json', '--to', from]);
    expect(b.code, b.stderr).toBe(ExitCode.OK);
    const bytes = (summaryOf(b.stdout) as unknown as { bytes: number }).bytes;
    const limit = 2; // MiB/s
    const { value: r, seconds } = await timed(() => inProcess(['restore', '-h', cluster.hosts, '--from', from, '-n', 'test:bar', '--mode', 'replace', '-N', String(limit), '--json']));
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(summaryOf(r.stdout)).toMatchObject({ written: RECORDS });
    expect(seconds).toBeGreaterThanOrEqual(bytes / (limit * MiB) - 0.15);
    const [source, target] = await Promise.all([scanSets(wire, 'test', [set]), scanSets(wire, 'bar', [set])]);
    expect(target.size).toBe(RECORDS);
    for (const [digest, rec] of source) expect(target.get(digest)?.bins).toEqual(rec.bins);
  }, 60_000);

  it('refuses a value that is not a positive bandwidth, in one line naming the flag', async () => {
    for (const [command, value] of [
      ['backup', 'abc'],
      ['backup', '0'],
      ['backup', '-3'],
      ['backup', '10 parsecs'],
      ['restore', '0.0'],
    ] as const) {
      const args = command === 'backup' ? ['backup', '-n', 'test', `--bandwidth=${value}`] : ['restore', '--from', join(tmp, 'limited'), `--bandwidth=${value}`];
      const r = await inProcess(args);
      expect(r.code, `${command} ${value}`).toBe(ExitCode.USAGE);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/^aerobak: error: --bandwidth ".*" is not a positive bandwidth/);
    }
  });

  it('takes MiB/s, or a unit', async () => {
    const to = join(tmp, 'unit');
    const r = await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--bandwidth', '64MiB/s', '--json', '--to', to]);
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(summaryOf(r.stdout)).toMatchObject({ records: RECORDS });
  });

  it('is in the help of backup and restore', async () => {
    for (const command of ['backup', 'restore']) {
      const r = await aerobak([command, '--help']);
      expect(r.stdout).toMatch(/-N, --bandwidth MIB\/S/);
    }
  });
});

describe('backup --estimate', () => {
  it('prints the estimate and how it was made, and writes nothing', async () => {
    const to = join(tmp, 'never-written');
    const r = await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--estimate', '--to', to]);
    expect(r.code, r.stderr).toBe(ExitCode.OK);
    expect(r.stdout).toMatch(/^estimate for a backup of namespace test \(sets .*\), partitions 0-4095, zstd level 1 \(nothing was written\):/);
    expect(r.stdout).toMatch(/ records +[\d,]+ \(the cluster counts 1,500 objects/);
    expect(r.stdout).toMatch(/ stored +[\d.]+ (KiB|MiB)/);
    expect(r.stdout).toMatch(/ duration +about /);
    expect(r.stdout).toMatch(/how: [\d,]+ records \(aiming at 10,000\) backed up in memory from 256 of 4,096 partitions, whole and evenly spread/);
    expect(r.stdout).toMatch(/compression ratio \d+\.\d\d/);
    expect(existsSync(to)).toBe(false);
  });

  it('gives JSON with --json, close to the real backup', async () => {
    const e = await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '-z', 'gzip', '-e', '--estimate-samples', '80', '--bandwidth', '0.1', '--json']);
    expect(e.code, e.stderr).toBe(ExitCode.OK);
    const lines = e.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const est = JSON.parse(lines[0]!) as { event: string; records: number; storedBytes: number; seconds: number; bandwidthBound: boolean; compression: string; level: number; sample: { target: number; partitions: number; records: number } };
    expect(est).toMatchObject({ event: 'estimate', compression: 'gzip', level: 6, bandwidthBound: true });
    expect(est.sample.target).toBe(80);
    expect(est.sample.partitions).toBe(Math.ceil(80 / (RECORDS / 4096)));
    expect(est.seconds).toBeCloseTo(est.storedBytes / (0.1 * MiB), 1);

    const real = JSON.parse(await readFile(join(tmp, 'limited', 'manifest.json'), 'utf8')) as { records: number; bytes: number };
    expect(est.records / real.records).toBeGreaterThan(0.55);
    expect(est.records / real.records).toBeLessThan(1.6);
    // Random bytes: gzip stores about what --compress none did.
    expect(est.storedBytes / real.bytes).toBeGreaterThan(0.55);
    expect(est.storedBytes / real.bytes).toBeLessThan(1.6);
  });

  it('refuses options of a run that writes, and --estimate-samples without --estimate', async () => {
    for (const extra of [['--resume', join(tmp, 'limited')], ['--incremental'], ['--track-deletes'], ['--shard', '0/2']]) {
      const r = await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '--estimate', ...extra]);
      expect(r.code, extra.join(' ')).toBe(ExitCode.USAGE);
      expect(r.stderr).toMatch(new RegExp(`^aerobak: error: --estimate estimates a full backup and writes nothing: ${extra[0]} cannot be given with it`));
    }
    const r = await inProcess(['backup', '-h', cluster.hosts, '-n', 'test', '--estimate-samples', '10']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.stderr).toMatch(/--estimate-samples applies to --estimate only/);
  });

  it('names a namespace that does not exist, with exit code 3 (spawned)', async () => {
    const r = await aerobak(['backup', '-n', 'nope', '--estimate'], { env: { AEROSPIKE_HOSTS: cluster.hosts } });
    expect(r.code).toBe(ExitCode.CLUSTER);
    expect(r.stderr).toMatch(/namespace "nope" does not exist/);
    noStack(r.stderr);
  });
});
