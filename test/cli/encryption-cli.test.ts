/**
 * Encryption as a person uses it from the command line: key files in each accepted form,
 * the usage errors (exit 2), a wrong key (exit 1, one line, no key material printed),
 * verify with and without the key, and rekey (resume: test/jobs/resume.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { ExitCode } from '../../src/errors.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, record, tearDown, truncateSets, writeRaw } from '../jobs/support.js';
import { aerobak, inProcess, noStack } from './run.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('enccli');
const key = randomBytes(32);
let keyFile: string;

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-enc-cli-'));
  keyFile = join(tmp, 'backup.key');
  await writeFile(keyFile, `${key.toString('base64')}\n`);
  await writeRaw(wire, Array.from({ length: 150 }, (_, i) => record('test', set, i, { n: i, s: `secret value ${i}` })));
}, 60_000);

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: [set] }));

const oneLine = (stderr: string) => expect(stderr.trim().split('\n'), stderr).toHaveLength(1);
const backupArgs = (to: string, ...more: string[]) => ['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', to, '--no-udfs', ...more];

describe('encryption on the command line', () => {
  it('backs up with --encrypt and a key file, restores with it, and the key is never printed', async () => {
    const dir = join(tmp, 'b1');
    const backup = await inProcess(backupArgs(dir, '--encrypt', '--key-file', keyFile, '--json'));
    expect(backup.code, backup.stderr).toBe(ExitCode.OK);
    await truncateSets(client, 'bar', [set]);
    const restore = await inProcess(['restore', '-h', cluster.hosts, '--from', dir, '-n', 'test:bar', '--key-file', keyFile, '--json']);
    expect(restore.code, restore.stderr).toBe(ExitCode.OK);
    expect(JSON.parse(restore.stdout.trim().split('\n').at(-1)!)).toMatchObject({ written: 150 });
    for (const out of [backup.stdout, backup.stderr, restore.stdout, restore.stderr]) {
      expect(out).not.toContain(key.toString('base64'));
      expect(out).not.toContain(key.toString('hex'));
    }
    const list = await inProcess(['list', tmp]);
    expect(list.stdout).toMatch(/full\+enc/);
  });

  it('refuses --encrypt without a key, a key without --encrypt, two key sources, and a malformed key file (exit 2)', async () => {
    const bad = join(tmp, 'bad.key');
    await writeFile(bad, 'not a key');
    for (const args of [
      backupArgs(join(tmp, 'u1'), '--encrypt'),
      backupArgs(join(tmp, 'u2'), '--key-file', keyFile),
      backupArgs(join(tmp, 'u3'), '--encrypt', '--key-file', keyFile, '--key-env', 'K'),
      backupArgs(join(tmp, 'u4'), '--encrypt', '--key-file', bad),
      backupArgs(join(tmp, 'u5'), '--encrypt', '--key-file', join(tmp, 'missing.key')),
    ]) {
      const run = await inProcess(args);
      expect(run.code, args.join(' ')).toBe(ExitCode.USAGE);
      oneLine(run.stderr);
    }
    expect((await inProcess(backupArgs(join(tmp, 'u4'), '--encrypt', '--key-file', bad))).stderr).toContain(bad);
  });

  it('a wrong key, or none, stops restore with one line before anything is written', async () => {
    const dir = join(tmp, 'b1');
    const other = join(tmp, 'other.key');
    await writeFile(other, randomBytes(32));
    await truncateSets(client, 'bar', [set]);
    const wrong = await aerobak(['restore', '-h', cluster.hosts, '--from', dir, '-n', 'test:bar', '--key-file', other]);
    expect(wrong.code).toBe(ExitCode.FAILED);
    oneLine(wrong.stderr);
    expect(wrong.stderr).toMatch(/does not open the backup/);
    noStack(wrong.stderr);
    const none = await inProcess(['restore', '-h', cluster.hosts, '--from', dir, '-n', 'test:bar']);
    expect(none.code).toBe(ExitCode.USAGE);
    expect(none.stderr).toMatch(/is encrypted: give its key/);
    expect((await inProcess(['verify', dir, '--key-file', other])).code).toBe(ExitCode.FAILED);
  });

  it('verify says when it could not check the content', async () => {
    const dir = join(tmp, 'b1');
    const without = await inProcess(['verify', dir]);
    expect(without.code).toBe(ExitCode.OK);
    expect(without.stdout).toMatch(/NOT checked/);
    const withKey = await inProcess(['verify', dir, '--key-file', keyFile]);
    expect(withKey.code).toBe(ExitCode.OK);
    expect(withKey.stdout).toMatch(/^backup OK: .*150 records/);
  });

  it('rekey to a key in the environment, then the old key file no longer opens it', async () => {
    const dir = join(tmp, 'b1');
    const env = randomBytes(32).toString('base64');
    const run = await aerobak(['rekey', dir, '--key-file', keyFile, '--new-key-env', 'NEW_KEY', '--remove-old'], { env: { NEW_KEY: env } });
    expect(run.code, run.stderr).toBe(ExitCode.OK);
    expect(run.stdout).toMatch(/rekeyed .*added keys\/key-[0-9a-f]{16}\.json, removed keys\/key-/);
    expect((await inProcess(['verify', dir, '--key-file', keyFile])).code).toBe(ExitCode.FAILED);
    const ok = await aerobak(['verify', dir, '--key-env', 'NEW_KEY'], { env: { NEW_KEY: env } });
    expect(ok.code, ok.stdout + ok.stderr).toBe(ExitCode.OK);
  });
});
