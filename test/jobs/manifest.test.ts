import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { IndexDefinition } from '../../src/aerospike/metadata.js';
import type { DataFileEntry } from '../../src/jobs/data-files.js';
import {
  BackupNotFoundError,
  CorruptManifestError,
  IncompleteBackupError,
  MetadataFileError,
  UnsupportedManifestError,
  readManifest,
  readMetadata,
  writeManifest,
  writeMetadata,
  type BackupMetadata,
  type Manifest,
} from '../../src/jobs/manifest.js';
import { createStore, type ObjectStore } from '../../src/storage/index.js';

let stores = 0;
const memoryStore = (): ObjectStore => createStore(`mem://manifest-test-${stores++}`);

const files: DataFileEntry[] = [
  { name: 'test_0_00000.avro.gz', size: 1000, sha256: 'a'.repeat(64), records: 10, partitions: { first: 0, last: 2047 } },
  { name: 'test_1_00000.avro.gz', size: 500, sha256: 'b'.repeat(64), records: 5, partitions: [2048, 2050, 4095] },
];

function manifest(extra: Partial<Manifest> = {}): Manifest {
  return {
    format: 'aerobak-backup',
    formatVersion: 1,
    tool: { name: 'aerobak', version: '0.1.0' },
    schemaVersion: 1,
    createdAt: '2026-11-24T06:10:03.000Z',
    startedAt: '2026-11-24T06:10:00.000Z',
    finishedAt: '2026-11-24T06:10:02.500Z',
    cluster: { hosts: ['127.0.0.1:3000'], build: '8.1.2.0', clusterName: 'aetest' },
    namespace: 'test',
    filters: { sets: ['golden'], modifiedAfter: '2026-01-01T00:00:00.000Z', partitions: [{ first: 0, last: 4095 }] },
    compression: 'gzip',
    records: 15,
    bytes: 1500,
    files,
    ...extra,
  };
}

async function put(store: ObjectStore, key: string, text: string): Promise<void> {
  await store.write(key, Readable.from([Buffer.from(text)]));
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => expect.fail('expected a rejection'),
    (e: Error & { code?: string }) => e,
  );
}

describe('manifest', () => {
  it('round-trips through manifest.json under the prefix', async () => {
    const store = memoryStore();
    const m = manifest({ metadata: { name: 'metadata.avro', size: 10, sha256: 'c'.repeat(64), indexes: 2, udfs: 1 } });
    await writeManifest(store, 'backups/b1/', m);
    expect(await readManifest(store, 'backups/b1')).toEqual(m);
    const json = JSON.parse((await readAll(store, 'backups/b1/manifest.json')).toString('utf8')) as Manifest;
    expect(json.format).toBe('aerobak-backup');
  });

  it('tells no backup, an incomplete backup and a corrupt manifest apart', async () => {
    const store = memoryStore();
    const location = `${store.location.replace(/\/$/, '')}/b1`;
    const none = await failure(readManifest(store, 'b1'));
    expect(none).toBeInstanceOf(BackupNotFoundError);
    expect(none.message).toBe(`there is no backup at ${location}: nothing is stored there`);

    await put(store, 'b1/test_0_00000.avro.gz', 'data');
    await put(store, 'b10/manifest.json', JSON.stringify(manifest())); // another backup, not b1's
    const incomplete = await failure(readManifest(store, 'b1'));
    expect(incomplete).toBeInstanceOf(IncompleteBackupError);
    expect(incomplete).toMatchObject({ code: 'BACKUP_INCOMPLETE', kind: 'storage' });
    expect(incomplete.message).toBe(
      `backup at ${location} is incomplete: no manifest.json (the backup was interrupted or is still running)`,
    );

    await put(store, 'b1/manifest.json', '{"format": "aerobak-backup", ');
    const corrupt = await failure(readManifest(store, 'b1'));
    expect(corrupt).toBeInstanceOf(CorruptManifestError);
    expect(corrupt.message).toMatch(/manifest.json is not valid JSON/);
  });

  it('rejects manifests that are not consistent, naming the field', async () => {
    const store = memoryStore();
    const cases: [unknown, RegExp][] = [
      [{ ...manifest(), format: 'something-else' }, /format: expected "aerobak-backup"/],
      [{ ...manifest(), records: 16 }, /records: 16, but the files hold 15/],
      [{ ...manifest(), bytes: 1 }, /bytes: 1, but the files' sizes add up to 1500/],
      [{ ...manifest(), files: [files[0], files[0]], records: 20, bytes: 2000 }, /files\[1\]\.name: "test_0_00000.avro.gz" is listed twice/],
      [{ ...manifest(), files: [{ ...files[0]!, sha256: 'xyz' }, files[1]] }, /files\[0\]\.sha256/],
      [{ ...manifest(), files: [{ ...files[0]!, name: '../escape' }, files[1]] }, /files\[0\]\.name: "..\/escape" is not a file name/],
      [{ ...manifest(), files: [files[0], { ...files[1]!, partitions: [5, 3] }] }, /files\[1\]\.partitions: .*ascending/],
      [{ ...manifest(), startedAt: 'yesterday' }, /startedAt: expected an ISO 8601 date-time/],
      [{ ...manifest(), compression: 'zstd' }, /compression/],
    ];
    for (const [m, reason] of cases) {
      await put(store, 'b/manifest.json', JSON.stringify(m));
      const error = await failure(readManifest(store, 'b'));
      expect(error, String(reason)).toBeInstanceOf(CorruptManifestError);
      expect(error.message).toMatch(reason);
    }
  });

  it('refuses a manifest from a newer aerobak', async () => {
    const store = memoryStore();
    await put(store, 'b/manifest.json', JSON.stringify({ ...manifest(), formatVersion: 2 }));
    const error = await failure(readManifest(store, 'b'));
    expect(error).toBeInstanceOf(UnsupportedManifestError);
    expect(error.message).toMatch(/needs a newer aerobak: manifest format version 2/);
  });

  it('refuses to write an invalid manifest, and writes nothing', async () => {
    const store = memoryStore();
    await expect(writeManifest(store, 'b', manifest({ records: 99 }))).rejects.toThrow(RangeError);
    expect(await store.stat('b/manifest.json')).toBeNull();
  });
});

describe('metadata file', () => {
  const indexes: IndexDefinition[] = [
    { namespace: 'test', name: 'idx_golden_int', set: 'golden', bin: 'i_small', type: 'numeric', indexType: 'default' },
    { namespace: 'test', name: 'idx_golden_ctx', set: 'golden', bin: 'l_nested', type: 'numeric', indexType: 'default', context: 'khAA' },
    { namespace: 'test', name: 'idx_all_sets', bin: 'tags', type: 'string', indexType: 'mapkeys' },
    { namespace: 'test', name: 'idx_exp', type: 'numeric', indexType: 'default', expression: 'k1EB' },
  ];
  const metadata: BackupMetadata = {
    indexes,
    udfs: [{ filename: 'golden_udf.lua', type: 'LUA', content: Buffer.from('function hello(rec)\n  return "hi"\nend\n') }],
  };

  it('round-trips index and UDF definitions, checked against the entry', async () => {
    const store = memoryStore();
    const entry = await writeMetadata(store, 'b', metadata);
    expect(entry).toMatchObject({ name: 'metadata.avro', size: (await store.stat('b/metadata.avro'))!.size, indexes: 4, udfs: 1 });
    expect(await readMetadata(store, 'b', entry)).toEqual(metadata);
    const empty = await writeMetadata(store, 'e', { indexes: [], udfs: [] });
    expect(await readMetadata(store, 'e', empty)).toEqual({ indexes: [], udfs: [] });
  });

  it('reports a missing or corrupt metadata file', async () => {
    const store = memoryStore();
    const entry = await writeMetadata(store, 'b', metadata);
    expect(await failure(readMetadata(store, 'c', entry))).toMatchObject({ code: 'METADATA_MISSING', file: 'metadata.avro' });

    const bytes = await readAll(store, 'b/metadata.avro');
    bytes[bytes.length - 30]! ^= 0x01;
    await store.write('b/metadata.avro', Readable.from([bytes]));
    const error = await failure(readMetadata(store, 'b', entry));
    expect(error).toBeInstanceOf(MetadataFileError);
    expect(error).toMatchObject({ code: 'METADATA_CORRUPT' });
    expect(error.message).toMatch(/metadata.avro has SHA-256 [0-9a-f]{64} but the manifest says/);
  });
});

async function readAll(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
