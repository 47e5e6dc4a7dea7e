/**
 * zstd end to end, against the test server (or AEROSPIKE_HOSTS): `aerobak backup
 * --compress zstd` of every particle type (the golden records) gives a version 2
 * manifest requiring "zstd" and `.avro.zst` files; verify passes it; restore gives back
 * identical records, with the manifest and with --force from the file names alone; a
 * flipped byte is reported by verify and stops restore, both naming the file.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { inProcess as aerobak } from '../cli/run.js';
import { runBackup } from '../../src/jobs/backup.js';
import { readManifest, type Manifest } from '../../src/jobs/manifest.js';
import { runRestore } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { connectWire, expectSameRecords, goldenRecords, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const set = uniqueSetName('zstd');

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2 });
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-zstd-'));
  await writeRaw(wire, [
    ...goldenRecords('test', set),
    ...Array.from({ length: 300 }, (_, i) => record('test', set, `r${i}`, { n: i, s: `value ${i} `.repeat(20), b: Buffer.alloc(200, i) })),
  ]);
});

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: [set] }));

const toBar = (from: string, more: { force?: boolean } = {}) => ({ cluster: { hosts: cluster.hosts }, from, namespaceMap: new Map([['test', 'bar']]), mode: 'replace' as const, ...more });

describe('zstd backups', () => {
  let location: string;
  let manifest: Manifest;

  it('back up with --compress zstd into .avro.zst files and a manifest that requires zstd', async () => {
    location = join(tmp, 'zstd');
    const r = await aerobak(['backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', location, '-w', '3', '--compress', 'zstd', '--compress-level', '7']);
    expect(r.code, r.stderr).toBe(0);
    manifest = await readManifest(await openStore(location, 'read'), '');
    expect(manifest).toMatchObject({ formatVersion: 2, requires: ['zstd'], compression: 'zstd', records: 21 + 300 });
    expect(manifest.files.length).toBe(3);
    for (const f of manifest.files) expect(f.name).toMatch(/^test_\d+_00000\.avro\.zst$/);
    const json = JSON.parse(await readFile(join(location, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    expect(json).toMatchObject({ formatVersion: 2, requires: ['zstd'] });
  });

  it('verify, and restore to identical records of every particle type', async () => {
    const report = await verifyBackup({ store: await openStore(location, 'read'), prefix: '' });
    expect(report).toMatchObject({ ok: true, problems: [], records: 21 + 300 });
    const summary = await runRestore(toBar(location));
    expect(summary).toMatchObject({ read: 21 + 300, written: 21 + 300, failed: {} });
    expectSameRecords(await scanSets(wire, 'test', [set]), await scanSets(wire, 'bar', [set]));
  });

  it('restore with --force from the file names alone when the manifest is missing', async () => {
    const copy = `mem://${uniqueSetName('zstd')}/forced`;
    await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to: copy, compress: 'zstd', fileSizeBytes: 16 * 1024 });
    const store = await openStore(copy, 'write');
    expect((await readManifest(store, '')).files.length).toBeGreaterThan(3);
    await store.delete('manifest.json');
    await truncateSets(client, 'bar', [set]);
    const summary = await runRestore(toBar(copy, { force: true }));
    expect(summary).toMatchObject({ unverified: true, read: 21 + 300, failed: {} });
    expectSameRecords(await scanSets(wire, 'test', [set]), await scanSets(wire, 'bar', [set]));
  });

  it('report a flipped byte: verify names the file, restore stops naming it', async () => {
    const victim = manifest.files[1]!;
    const path = join(location, victim.name);
    const bytes = await readFile(path);
    bytes[Math.floor(bytes.length / 2)]! ^= 0x01;
    await writeFile(path, bytes);

    const verify = await aerobak(['verify', location]);
    expect(verify.code).toBe(1);
    expect(verify.stdout).toMatch(new RegExp(`^backup FAILED verification`));
    expect(verify.stdout).toContain(`${victim.name}: data file`);
    expect(verify.stdout).toContain('[DATA_FILE_CHECKSUM_MISMATCH]');
    const others = manifest.files.filter((f) => f !== victim).map((f) => f.name);
    for (const name of others) expect(verify.stdout).not.toContain(`${name}:`);

    const restore = await runRestore(toBar(location)).catch((e: unknown) => e);
    expect(restore).toMatchObject({ code: expect.stringMatching(/^DATA_FILE_(DECOMPRESS|UNDECODABLE|CHECKSUM_MISMATCH)$/), file: victim.name });
    expect((restore as Error).message).toContain(victim.name);
  });
});
