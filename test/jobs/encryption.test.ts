/**
 * Encrypted backups end to end: the golden data (every particle type) round-trips with a
 * key file, an env key and a passphrase; no stored file holds a plaintext bin value; each
 * kind of tampering stops restore with a named error before anything is written from bad
 * data; verify works with and without the key; rekey rotates the key; export and chains
 * read encrypted backups.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { passphraseKek, rawKek } from '../../src/crypto/keys.js';
import { HEADER_BYTES, SEGMENT_BYTES, TAG_BYTES } from '../../src/crypto/stream-aead.js';
import { runBackup, type BackupOptions } from '../../src/jobs/backup.js';
import { runExport } from '../../src/jobs/export.js';
import { listBackups } from '../../src/jobs/list.js';
import { runRekey } from '../../src/jobs/rekey.js';
import { runRestore, type RestoreOptions } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { query, table } from '../export/support.js';
import { connectWire, expectSameRecords, goldenRecords, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
const golden = uniqueSetName('encg');
const blobs = uniqueSetName('encb');
const sets = [golden, blobs];
const MARKER = 'plaintext-marker-visible-only-if-not-encrypted';
let original: Map<string, RawRecord>;
const key = rawKek(randomBytes(32), 'test key');

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-enc-'));
  await writeRaw(wire, [
    ...goldenRecords('test', golden),
    // About 3 MiB that does not compress: data files of several 1 MiB segments.
    ...Array.from({ length: 380 }, (_, i) => record('test', blobs, i, { blob: randomBytes(8 * 1024), note: `${MARKER} ${i}` })),
  ]);
  original = await scanSets(wire, 'test', sets);
}, 120_000);

afterAll(() => tearDown({ client, wire, cluster, tmp, sets }));

const backup = (to: string, more: Partial<BackupOptions> = {}) =>
  runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets, to, noUdfs: true, parallel: 1, encrypt: key, ...more } as BackupOptions);
const restore = async (from: string, more: Partial<RestoreOptions> = {}) => {
  await truncateSets(client, 'bar', sets);
  return runRestore({ cluster: { hosts: cluster.hosts }, from, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, mode: 'replace', key, ...more } as RestoreOptions);
};
const restoredCount = async () => (await scanSets(wire, 'bar', sets)).size;
const dataFiles = async (dir: string) => (await readdir(dir)).filter((f) => f.startsWith('test_') && !f.endsWith('.digests')).sort();

describe('an encrypted backup', () => {
  let dir: string;

  beforeAll(async () => {
    dir = join(tmp, 'enc');
    await backup(dir, { compress: 'none' });
  }, 60_000);

  it('restores the golden data identically', async () => {
    const summary = await restore(dir);
    expect(summary.written).toBe(original.size);
    const restored = await scanSets(wire, 'bar', sets);
    for (const r of restored.values()) r.namespace = 'test';
    expectSameRecords(original, restored);
  });

  it('stores no plaintext: no bin value, and no data file or metadata that reads as Avro', async () => {
    const names = await readdir(dir);
    for (const name of names) {
      if (name === 'manifest.json' || name === 'manifest.hmac' || name === 'keys') continue;
      const bytes = await readFile(join(dir, name));
      expect(bytes.subarray(0, 4).toString('latin1'), name).toBe('AEBK');
      expect(bytes.includes(Buffer.from(MARKER)), name).toBe(false);
      expect(bytes.includes(Buffer.from('Obj\x01', 'latin1')), name).toBe(false);
      for (const r of goldenRecords('test', golden)) {
        for (const b of r.bins) if (b.value.length >= 6) expect(bytes.includes(b.value), `${name}: bin ${b.name}`).toBe(false);
      }
    }
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as { requires: string[]; encryption: unknown };
    expect(manifest.requires).toContain('encryption');
    expect(manifest.encryption).toMatchObject({ scheme: 'aes256gcm-hkdf-stream-v1', segmentBytes: SEGMENT_BYTES });
    expect((await listBackups(tmp)).find((b) => b.prefix === 'enc')).toMatchObject({ status: 'complete', encrypted: true });
  });

  it('verifies with its key; without it, checks the stored bytes only and says so; with another key, fails', async () => {
    const store = await openStore(dir, 'read');
    const withKey = await verifyBackup({ store, prefix: '', key });
    expect(withKey).toMatchObject({ ok: true, records: original.size });
    expect(withKey.contentUnchecked).toBeUndefined();
    const without = await verifyBackup({ store, prefix: '' });
    expect(without).toMatchObject({ ok: true, records: 0, contentUnchecked: true });
    const wrong = await verifyBackup({ store, prefix: '', key: rawKek(randomBytes(32), 'another key') });
    expect(wrong.ok).toBe(false);
    expect(wrong.problems.map((p) => p.code)).toEqual(['WRONG_KEY']);
  });

  it('exports from the backup with its key', async () => {
    const out = join(tmp, 'enc-export');
    const summary = await runExport({ source: { from: dir }, to: out, format: 'parquet', key });
    expect(summary.records).toBe(original.size);
    const [{ n }] = (await query(`SELECT count(*) AS n FROM ${table(out)} WHERE note LIKE '${MARKER}%'`)) as [{ n: bigint }];
    expect(Number(n)).toBe(380);
  });

  it('refuses without a key, and with a wrong key, before writing anything', async () => {
    await expect(restore(dir, { key: undefined })).rejects.toMatchObject({ code: 'KEY_REQUIRED' });
    await expect(restore(dir, { key: rawKek(randomBytes(32), 'another key') })).rejects.toMatchObject({ code: 'WRONG_KEY' });
    expect(await restoredCount()).toBe(0);
  });
});

describe('tampering is detected, naming the file, before bad data is written', () => {
  /** A fresh copy of a good encrypted backup to damage. */
  let good: string;
  beforeAll(async () => {
    good = join(tmp, 'good');
    await backup(good, { compress: 'none', fileSizeBytes: 2 * 1024 * 1024 });
    expect((await dataFiles(good)).length).toBeGreaterThanOrEqual(2);
  }, 60_000);

  const copy = async (name: string) => {
    const dir = join(tmp, `t-${name}`);
    await rm(dir, { recursive: true, force: true });
    await cp(good, dir, { recursive: true });
    return dir;
  };
  const flip = async (path: string, at: (length: number) => number) => {
    const bytes = await readFile(path);
    bytes[at(bytes.length)]! ^= 0x20;
    await writeFile(path, bytes);
  };

  it.each([
    ['first', () => HEADER_BYTES + 7],
    ['middle', () => HEADER_BYTES + SEGMENT_BYTES + TAG_BYTES + 1000],
    ['last', (n: number) => n - 5],
  ] as const)('a flipped bit in the %s segment of a data file: DATA_FILE_DECRYPT, or a checksum mismatch, naming it', async (where, at) => {
    const dir = await copy(`flip-${where}`);
    const [file] = await dataFiles(dir);
    await flip(join(dir, file!), at);
    const error = await restore(dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ file: file });
    expect(['DATA_FILE_DECRYPT', 'DATA_FILE_CHECKSUM_MISMATCH']).toContain((error as { code: string }).code);
    // A bad first segment lets nothing of the file through.
    if (where === 'first') expect(await restoredCount()).toBeLessThan(original.size);
  });

  it('a truncated file, a missing file, two files swapped, or a file from another backup', async () => {
    const truncated = await copy('truncated');
    const [a, b] = await dataFiles(truncated);
    const bytes = await readFile(join(truncated, a!));
    await writeFile(join(truncated, a!), bytes.subarray(0, bytes.length - 100));
    await expect(restore(truncated)).rejects.toMatchObject({ code: 'DATA_FILE_SIZE_MISMATCH', file: a });

    const missing = await copy('missing');
    await rm(join(missing, a!));
    await expect(restore(missing)).rejects.toMatchObject({ code: 'DATA_FILE_MISSING', file: a });

    const swapped = await copy('swapped');
    await rename(join(swapped, a!), join(swapped, 'tmp'));
    await rename(join(swapped, b!), join(swapped, a!));
    await rename(join(swapped, 'tmp'), join(swapped, b!));
    await expect(restore(swapped)).rejects.toMatchObject({ file: expect.stringMatching(/^test_/) });

    // The same file name in another backup of the same data under the same key: its key differs (another data key).
    const other = join(tmp, 'other');
    await backup(other, { compress: 'none', fileSizeBytes: 2 * 1024 * 1024 });
    const spliced = await copy('spliced');
    const [first] = await dataFiles(other);
    await cp(join(other, first!), join(spliced, first!));
    const error = await restore(spliced).catch((e: unknown) => e);
    expect(['DATA_FILE_DECRYPT', 'DATA_FILE_SIZE_MISMATCH']).toContain((error as { code: string }).code);
    expect(error).toMatchObject({ file: first });
  }, 60_000);

  it('an edited manifest, or a replaced key object', async () => {
    const edited = await copy('edited');
    const manifest = JSON.parse(await readFile(join(edited, 'manifest.json'), 'utf8')) as { finishedAt: string };
    manifest.finishedAt = '2020-01-01T00:00:00.000Z';
    await writeFile(join(edited, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    await expect(restore(edited)).rejects.toMatchObject({ code: 'MANIFEST_NOT_AUTHENTIC' });

    const replaced = await copy('replaced');
    const [keyObject] = await readdir(join(replaced, 'keys'));
    const other = join(tmp, 'other');
    const [otherKey] = await readdir(join(other, 'keys'));
    expect(otherKey).toBe(keyObject);
    await cp(join(other, 'keys', otherKey!), join(replaced, 'keys', keyObject!));
    await expect(restore(replaced)).rejects.toMatchObject({ code: 'MANIFEST_NOT_AUTHENTIC' });
    expect(await restoredCount()).toBe(0);
  });
});

describe('key sources and rotation', () => {
  it('an env key and a passphrase work as the key file does', async () => {
    const envKey = rawKek(randomBytes(32), 'the key in $K');
    const a = join(tmp, 'env');
    await backup(a, { encrypt: envKey, sets: [golden] });
    expect((await restore(a, { key: envKey, sets: [golden] })).written).toBe(goldenRecords('test', golden).length);

    const pass = passphraseKek(Buffer.from('a long test passphrase, not a real one'), 'the passphrase in p');
    const b = join(tmp, 'pass');
    await backup(b, { encrypt: pass, sets: [golden] });
    expect((await restore(b, { key: pass, sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
  }, 60_000);

  it('rekey: the new key opens the backup; after --remove-old the old one does not', async () => {
    const dir = join(tmp, 'rekey');
    await backup(dir, { sets: [golden] });
    const fresh = rawKek(randomBytes(32), 'new key');
    const before = await readFile(join(dir, 'manifest.json'));
    const kept = await runRekey({ location: dir, key, newKey: fresh });
    expect(kept.backups).toHaveLength(1);
    expect((await restore(dir, { key: fresh, sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    expect((await restore(dir, { key, sets: [golden] })).written).toBe(goldenRecords('test', golden).length);
    const removed = await runRekey({ location: dir, key: fresh, newKey: rawKek(randomBytes(32), 'third key'), removeOld: true });
    expect(removed.backups[0]!.removed).toMatch(/^keys\//);
    await expect(restore(dir, { key: fresh, sets: [golden] })).rejects.toMatchObject({ code: 'WRONG_KEY' });
    expect((await readFile(join(dir, 'manifest.json'))).equals(before)).toBe(true);
  }, 60_000);

  it('an encrypted chain with deletions restores with its key (the digest lists are encrypted too)', async () => {
    const repo = join(tmp, 'repo');
    await backup('', { to: undefined, repo, sets: [golden], trackDeletes: true } as Partial<BackupOptions>);
    await new Promise((r) => setTimeout(r, 1100));
    const g = goldenRecords('test', golden);
    await client.remove({ ns: 'test', set: golden, digest: g[0]!.digest } as unknown as Aerospike.Key);
    await new Promise((r) => setTimeout(r, 1100));
    const inc = await backup('', { to: undefined, repo, sets: [golden], trackDeletes: true, incremental: true } as Partial<BackupOptions>);
    expect(inc.kind).toBe('incremental');
    const digests = (await readdir(inc.location)).filter((f) => f.endsWith('.digests'));
    expect(digests.length).toBeGreaterThan(0);
    for (const f of digests) expect((await readFile(join(inc.location, f))).subarray(0, 4).toString('latin1')).toBe('AEBK');
    const summary = await restore(inc.location, { sets: [golden] });
    expect(summary.deleted).toBe(1);
    expect(await restoredCount()).toBe(g.length - 1);
    await writeRaw(wire, [g[0]!]);
  }, 60_000);
});
