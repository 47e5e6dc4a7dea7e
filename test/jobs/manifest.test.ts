import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import pkg from '../../package.json' with { type: 'json' };
import { describe, expect, it } from 'vitest';
import type { IndexDefinition } from '../../src/aerospike/metadata.js';
import type { DataFileEntry } from '../../src/jobs/data-files.js';
import {
  BackupNotFoundError,
  CorruptManifestError,
  IncompleteBackupError,
  MetadataFileError,
  KNOWN_FEATURES,
  UnsupportedManifestError,
  readManifest,
  requiredFeatures,
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
    formatVersion: 2,
    requires: [],
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
      [{ ...manifest(), compression: 'lz4' }, /compression: expected "gzip", "zstd" or "none"/],
      [{ ...manifest(), compression: 'zstd' }, /requires: the backup uses "zstd" but does not list it/],
      [{ ...manifest(), requires: 'zstd' }, /requires: expected an array of strings/],
      [{ ...manifest(), requires: ['zstd', 'zstd'] }, /requires\[1\]: "zstd" is listed twice/],
      // Version 1 knows no zstd.
      [{ ...manifest(), formatVersion: 1, requires: undefined, compression: 'zstd' }, /compression: expected "gzip" or "none"/],
      [{ ...manifest(), formatVersion: 0 }, /formatVersion: unknown version 0/],
    ];
    for (const [m, reason] of cases) {
      await put(store, 'b/manifest.json', JSON.stringify(m));
      const error = await failure(readManifest(store, 'b'));
      expect(error, String(reason)).toBeInstanceOf(CorruptManifestError);
      expect(error.message).toMatch(reason);
    }
  });

  it('refuses a manifest from a newer aerobak, in one line naming the backup and this version', async () => {
    const store = memoryStore();
    const location = `${store.location.replace(/\/$/, '')}/b`;
    await put(store, 'b/manifest.json', JSON.stringify({ ...manifest(), formatVersion: 3 }));
    const error = await failure(readManifest(store, 'b'));
    expect(error).toBeInstanceOf(UnsupportedManifestError);
    expect(error).toMatchObject({ code: 'MANIFEST_UNSUPPORTED', kind: 'storage' });
    expect(error.message).toBe(`backup at ${location} has manifest format version 3, which aerobak ${pkg.version} does not know (it reads 1-2); upgrade aerobak`);

    await put(store, 'b/manifest.json', JSON.stringify({ ...manifest(), schemaVersion: 2 }));
    expect((await failure(readManifest(store, 'b'))).message).toMatch(/has record schema version 2, which aerobak .* does not know \(it reads 1\); upgrade aerobak$/);
  });

  it('reads a manifest that requires the features it uses', async () => {
    const store = memoryStore();
    const zstdFiles = files.map((f) => ({ ...f, name: f.name.replace(/\.gz$/, '.zst') }));
    const m = manifest({ compression: 'zstd', files: zstdFiles, requires: ['zstd'] });
    expect(requiredFeatures(m)).toEqual(['zstd']);
    await writeManifest(store, 'z', m);
    expect(await readManifest(store, 'z')).toEqual(m);
    expect(JSON.parse((await readAll(store, 'z/manifest.json')).toString('utf8'))).toMatchObject({ formatVersion: 2, requires: ['zstd'] });
    // Listing a known feature the backup does not use is harmless; no `requires` at all reads as none.
    await put(store, 'g/manifest.json', JSON.stringify(manifest({ requires: ['zstd'] })));
    expect((await readManifest(store, 'g')).compression).toBe('gzip');
    await put(store, 'n/manifest.json', JSON.stringify({ ...manifest(), requires: undefined }));
    expect(await readManifest(store, 'n')).not.toHaveProperty('requires');
  });

  it('refuses a manifest that requires a feature this aerobak does not know, in one line, before judging other fields', async () => {
    const store = memoryStore();
    const location = `${store.location.replace(/\/$/, '')}/b`;
    // The unknown feature may well explain the unknown compression: unsupported, not corrupt.
    await put(store, 'b/manifest.json', JSON.stringify({ ...manifest(), requires: ['zstd', 'foo'], compression: 'lz4', someNewField: { x: 1 } }));
    const error = await failure(readManifest(store, 'b'));
    expect(error).toBeInstanceOf(UnsupportedManifestError);
    expect(error.message).toBe(`backup at ${location} requires feature "foo" that aerobak ${pkg.version} does not know; upgrade aerobak`);
    expect(error.message).not.toContain('\n');

    await put(store, 'b/manifest.json', JSON.stringify({ ...manifest(), requires: ['foo', 'bar'] }));
    expect((await failure(readManifest(store, 'b'))).message).toMatch(/requires features "foo", "bar" that aerobak .* does not know; upgrade aerobak$/);
  });

  it('ignores unknown optional fields', async () => {
    const store = memoryStore();
    await put(store, 'b/manifest.json', JSON.stringify({ ...manifest(), comment: 'from a later aerobak', stats: { seconds: 3 } }));
    expect((await readManifest(store, 'b')).records).toBe(15);
  });

  it('reads a version 1 manifest exactly as it is stored: no requires, and a requires field of its own ignored', async () => {
    const store = memoryStore();
    const { requires: _, ...v1 } = { ...manifest(), formatVersion: 1 as const };
    await put(store, 'b/manifest.json', JSON.stringify(v1));
    expect(await readManifest(store, 'b')).toEqual(v1);
    await put(store, 'c/manifest.json', JSON.stringify({ ...v1, requires: ['foo'] }));
    expect((await readManifest(store, 'c')).formatVersion).toBe(1);
  });

  it('refuses to write an invalid manifest, or one of another version, and writes nothing', async () => {
    const store = memoryStore();
    await expect(writeManifest(store, 'b', manifest({ records: 99 }))).rejects.toThrow(RangeError);
    await expect(writeManifest(store, 'b', manifest({ formatVersion: 1 }))).rejects.toThrow(/writes 2/);
    await expect(writeManifest(store, 'b', manifest({ compression: 'zstd' }))).rejects.toThrow(/does not list it/);
    expect(await store.stat('b/manifest.json')).toBeNull();
  });

  it('knows each feature once, with a doc, and docs/format.md lists every one', async () => {
    const names = KNOWN_FEATURES.map((f) => f.name);
    expect(new Set(names).size).toBe(names.length);
    for (const f of KNOWN_FEATURES) expect(f.doc.length).toBeGreaterThan(10);
    const format = await readFile(new URL('../../docs/format.md', import.meta.url), 'utf8');
    const table = format.slice(format.indexOf('### Required features'));
    for (const name of names) expect(table, name).toContain(`| \`${name}\` |`);
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
