import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { ContainerWriter } from '../../src/avro/container.js';
import { RECORD_CODEC } from '../../src/avro/record-codec.js';
import { DataFileSink } from '../../src/jobs/data-files.js';
import { readManifest, writeManifest, writeMetadata, type Manifest } from '../../src/jobs/manifest.js';
import { verifyBackup, type VerifyProgress } from '../../src/jobs/verify.js';
import { createStore, type ObjectStore } from '../../src/storage/index.js';
import { goldenRecords, sampleRecords } from '../avro/records.js';

let stores = 0;
const records = [...goldenRecords(), ...sampleRecords(200)];

/** A complete backup at prefix 'bk': several data files, metadata, manifest. */
async function backup(): Promise<{ store: ObjectStore; manifest: Manifest }> {
  const store = createStore(`mem://verify-test-${stores++}`);
  const sink = new DataFileSink({ store, prefix: 'bk', baseName: 'test_0', compress: 'gzip', maxFileBytes: 8 * 1024 });
  await pipeline(Readable.from(records), sink);
  const files = sink.files();
  const metadata = await writeMetadata(store, 'bk', {
    indexes: [{ namespace: 'test', name: 'idx', set: 'golden', bin: 'i_small', type: 'numeric', indexType: 'default' }],
    udfs: [],
  });
  const manifest: Manifest = {
    format: 'aerobak-backup',
    formatVersion: 2,
    requires: [],
    tool: { name: 'aerobak', version: '0.1.0' },
    schemaVersion: 1,
    createdAt: new Date().toISOString(),
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    cluster: { hosts: ['127.0.0.1:3000'] },
    namespace: 'test',
    filters: {},
    compression: 'gzip',
    records: files.reduce((n, f) => n + f.records, 0),
    bytes: files.reduce((n, f) => n + f.size, 0),
    files,
    metadata,
  };
  await writeManifest(store, 'bk', manifest);
  return { store, manifest };
}

async function readAll(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const put = (store: ObjectStore, key: string, bytes: Buffer) => store.write(key, Readable.from([bytes]));
const codes = (report: { problems: { code: string; file: string }[] }) => report.problems.map((p) => `${p.file}: ${p.code}`);

describe('verifyBackup', () => {
  it('passes a sound backup, reading every file and record', async () => {
    const { store, manifest } = await backup();
    expect(manifest.files.length).toBeGreaterThan(3);
    const progress: VerifyProgress[] = [];
    const report = await verifyBackup({ store, prefix: 'bk', onProgress: (p) => progress.push(p) });
    expect(report).toMatchObject({ ok: true, problems: [], filesChecked: manifest.files.length, records: records.length, bytes: manifest.bytes });
    expect(progress.map((p) => p.file)).toEqual(manifest.files.map((f) => f.name));
    expect(progress.at(-1)).toEqual({
      file: manifest.files.at(-1)!.name,
      filesDone: manifest.files.length,
      filesTotal: manifest.files.length,
      bytesDone: manifest.bytes,
      bytesTotal: manifest.bytes,
      records: records.length,
    });
  });

  it('reports a missing manifest as an incomplete backup', async () => {
    const { store } = await backup();
    await store.delete('bk/manifest.json');
    const report = await verifyBackup({ store, prefix: 'bk' });
    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual(['manifest.json: BACKUP_INCOMPLETE']);
  });

  it('reports each damaged file by name and keeps checking the others', async () => {
    const { store, manifest } = await backup();
    const [missing, appended, truncated, flipped] = manifest.files.map((f) => f.name) as [string, string, string, string];
    await store.delete(`bk/${missing}`);
    const a = await readAll(store, `bk/${appended}`);
    await put(store, `bk/${appended}`, Buffer.concat([a, Buffer.from('extra')]));
    const t = await readAll(store, `bk/${truncated}`);
    await put(store, `bk/${truncated}`, t.subarray(0, t.length - 100));
    const f = await readAll(store, `bk/${flipped}`);
    f[f.length - 3]! ^= 0x10; // in the gzip trailer's length field: every record inflates, then gunzip fails
    await put(store, `bk/${flipped}`, f);

    const report = await verifyBackup({ store, prefix: 'bk' });
    expect(report.ok).toBe(false);
    expect(codes(report)).toEqual([
      `${missing}: DATA_FILE_MISSING`,
      `${appended}: DATA_FILE_SIZE_MISMATCH`,
      `${appended}: DATA_FILE_DECOMPRESS`, // gunzip refuses trailing bytes
      `${appended}: DATA_FILE_CHECKSUM_MISMATCH`,
      `${truncated}: DATA_FILE_SIZE_MISMATCH`,
      `${truncated}: DATA_FILE_DECOMPRESS`,
      `${truncated}: DATA_FILE_CHECKSUM_MISMATCH`,
      `${flipped}: DATA_FILE_DECOMPRESS`,
      `${flipped}: DATA_FILE_CHECKSUM_MISMATCH`,
    ]);
    expect(report.problems.find((p) => p.file === truncated && p.code === 'DATA_FILE_SIZE_MISMATCH')!.message).toContain('(truncated)');
    expect(report.filesChecked).toBe(manifest.files.length);
  });

  it('reports a record count that differs from the manifest', async () => {
    const { store, manifest } = await backup();
    const files = manifest.files.map((f, i) => (i === 1 ? { ...f, records: f.records + 1 } : f));
    await writeManifest(store, 'bk', { ...manifest, files, records: manifest.records + 1 });
    const report = await verifyBackup({ store, prefix: 'bk' });
    expect(codes(report)).toEqual([`${manifest.files[1]!.name}: DATA_FILE_RECORD_COUNT_MISMATCH`]);
  });

  it('reports an undecodable record with its position', async () => {
    const { store, manifest } = await backup();
    const entry = manifest.files[0]!;
    const container = gunzipSync(await readAll(store, `bk/${entry.name}`));
    // Block 0: count and size, then record 0, whose namespace gets a negative length.
    const long = avro.Type.forSchema('long');
    const headerBytes = new ContainerWriter(RECORD_CODEC).header.length;
    const recordStart = long.decode(container, long.decode(container, headerBytes).offset).offset;
    container[recordStart] = 0x01;
    const bytes = gzipSync(container);
    await put(store, `bk/${entry.name}`, bytes);
    const files = [{ ...entry, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }, ...manifest.files.slice(1)];
    await writeManifest(store, 'bk', { ...manifest, files, bytes: manifest.bytes - entry.size + bytes.length });

    const report = await verifyBackup({ store, prefix: 'bk' });
    expect(report.problems).toEqual([
      expect.objectContaining({ code: 'DATA_FILE_UNDECODABLE', file: entry.name, position: { offset: recordStart, block: 0, record: 0 } }),
    ]);
    expect(report.problems[0]!.message).toContain(`at byte ${recordStart} (block 0, record 0)`);
  });

  it('reports a damaged metadata file', async () => {
    const { store } = await backup();
    const m = await readAll(store, 'bk/metadata.avro');
    await put(store, 'bk/metadata.avro', m.subarray(1));
    const report = await verifyBackup({ store, prefix: 'bk' });
    expect(codes(report)).toEqual(['metadata.avro: METADATA_CORRUPT']);
    expect((await readManifest(store, 'bk')).metadata!.indexes).toBe(1);
  });
});
