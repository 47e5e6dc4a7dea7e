/**
 * On a runtime whose node:zlib has no zstd streams (Node before 22.15, simulated by
 * mocking them away): asking for zstd is a usage error, and a zstd backup is still
 * listed and its manifest read, but verify, restore and restore --force refuse it with
 * one line (ZSTD_UNAVAILABLE) naming the backup and the runtime, before touching a
 * cluster. gzip backups are unaffected.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type * as Zlib from 'node:zlib';
import { describe, expect, it, vi } from 'vitest';
import { backupOptionsFrom, backupSpecs } from '../../src/cli/backup.js';
import { parseCommandLine } from '../../src/cli/options.js';
import { checkCompressOptions, runBackup } from '../../src/jobs/backup.js';
import { zstdAvailable } from '../../src/jobs/compression.js';
import { DataFileSink, type DataFileEntry } from '../../src/jobs/data-files.js';
import { listBackups } from '../../src/jobs/list.js';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, readManifest, requiredFeatures, writeManifest, type Manifest } from '../../src/jobs/manifest.js';
import { runRestore } from '../../src/jobs/restore.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { createStore, type ObjectStore } from '../../src/storage/index.js';
import { goldenRecords } from '../avro/records.js';

vi.mock('node:zlib', async (importOriginal) => {
  const actual = await importOriginal<typeof Zlib>();
  return { ...actual, createZstdCompress: undefined, createZstdDecompress: undefined };
});

/** The real node:zlib, to make zstd files this (simulated) runtime cannot. */
const realZlib = await vi.importActual<typeof Zlib>('node:zlib');

const records = goldenRecords();
const nowhere = { hosts: '127.0.0.1:1' };
const unavailable = expect.objectContaining({ code: 'ZSTD_UNAVAILABLE' });

async function stored(store: ObjectStore, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of await store.read(key)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function backup(location: string, compression: 'gzip' | 'zstd'): Promise<ObjectStore> {
  const store = createStore(location);
  const sink = new DataFileSink({ store, prefix: '', baseName: 'test_00', compress: 'gzip', maxFileBytes: 8 * 1024 });
  await pipeline(Readable.from(records), sink);
  let files: DataFileEntry[] = sink.files();
  if (compression === 'zstd') {
    // The same containers as zstd files, made with the real zlib.
    files = await Promise.all(
      files.map(async (f) => {
        const name = f.name.replace(/\.gz$/, '.zst');
        const bytes = realZlib.zstdCompressSync(realZlib.gunzipSync(await stored(store, f.name)));
        await store.delete(f.name);
        await store.write(name, Readable.from([bytes]));
        return { ...f, name, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
      }),
    );
  }
  const now = new Date().toISOString();
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    tool: { name: 'aerobak-tests', version: '0' },
    schemaVersion: 1,
    createdAt: now,
    startedAt: now,
    finishedAt: now,
    cluster: { hosts: ['test'] },
    namespace: 'test',
    filters: {},
    compression,
    records: files.reduce((n, f) => n + f.records, 0),
    bytes: files.reduce((n, f) => n + f.size, 0),
    files,
  };
  await writeManifest(store, '', { ...m, requires: requiredFeatures(m) });
  return store;
}

const oneLine = (error: unknown) => expect((error as Error).message).not.toContain('\n');

describe('a runtime without zstd', () => {
  it('is detected', () => {
    expect(zstdAvailable()).toBe(false);
  });

  it('makes --compress zstd a usage error naming the runtime, before connecting', async () => {
    const message = new RegExp(`^--compress zstd needs zstd, which Node.js ${process.version.replace(/\./g, '\\.')} does not have .*: use --compress gzip, or run aerobak on Node.js 22.15 or newer$`);
    expect(() => checkCompressOptions('zstd', undefined)).toThrow(message);
    const argv = ['-n', 'test', '--compress', 'zstd'];
    expect(() => backupOptionsFrom(parseCommandLine('backup', argv, backupSpecs, {}, 0).values)).toThrow(expect.objectContaining({ code: 'ZSTD_UNAVAILABLE', kind: 'usage' }));
    await expect(runBackup({ cluster: nowhere, namespace: 'test', compress: 'zstd' })).rejects.toMatchObject({ code: 'ZSTD_UNAVAILABLE', kind: 'usage' });
    expect(() => new DataFileSink({ store: createStore('mem://zstd-unavailable-sink'), prefix: '', baseName: 'x', compress: 'zstd' })).toThrow(unavailable);
    // gzip is still there.
    expect(() => checkCompressOptions('gzip', 9)).not.toThrow();
  });

  it('still lists a zstd backup and reads its manifest', async () => {
    const location = 'mem://zstd-unavailable-list/b';
    const store = await backup(location, 'zstd');
    expect(await readManifest(store, '')).toMatchObject({ compression: 'zstd', requires: ['zstd'] });
    expect(await listBackups(location)).toMatchObject([{ status: 'complete', records: records.length }]);
  });

  it('refuses to verify or restore a zstd backup, in one line naming it', async () => {
    const location = 'mem://zstd-unavailable-read/b';
    const store = await backup(location, 'zstd');
    const verify = await verifyBackup({ store, prefix: '' }).catch((e: unknown) => e);
    expect(verify).toMatchObject({ code: 'ZSTD_UNAVAILABLE', kind: 'failed' });
    expect((verify as Error).message).toMatch(new RegExp(`^the backup at ${store.location}/? needs zstd, which Node.js v[\\d.]+ does not have .*: run aerobak on Node.js 22.15 or newer$`));
    oneLine(verify);

    // Before connecting to the (unreachable) cluster.
    const restore = await runRestore({ cluster: nowhere, from: location }).catch((e: unknown) => e);
    expect(restore).toMatchObject({ code: 'ZSTD_UNAVAILABLE', kind: 'failed' });
    expect((restore as Error).message).toContain(store.location);
    oneLine(restore);

    // Without a manifest, the file names say zstd.
    await store.delete('manifest.json');
    await expect(runRestore({ cluster: nowhere, from: location, force: true })).rejects.toMatchObject({ code: 'ZSTD_UNAVAILABLE' });
  });

  it('verifies gzip backups as ever', async () => {
    const store = await backup('mem://zstd-unavailable-gzip/b', 'gzip');
    expect(await verifyBackup({ store, prefix: '' })).toMatchObject({ ok: true, records: records.length });
  });
});
