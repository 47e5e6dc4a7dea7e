/**
 * Retention over two months of daily fulls and hourly incrementals (each day a chain
 * of 24 backups), made by hand with the backup's own writers on the memory store: the
 * kept set is what the policy says (worked out by hand below), no kept incremental loses
 * its chain, incomplete backups inside the grace period survive (and keep the parent
 * they are building on), and a prune killed part way leaves every backup either complete
 * and verifiable or visibly incomplete, which the next prune finishes. Then the same on
 * MinIO (S3) and a local directory, with the command line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPOSITORY_MARKER } from '../../src/catalog/repository.js';
import { applyPolicy, isoWeek, subtractDuration } from '../../src/jobs/retention.js';
import { BACKUP_STATE_FILE } from '../../src/jobs/backup-state.js';
import { DataFileSink } from '../../src/jobs/data-files.js';
import { listBackups } from '../../src/jobs/list.js';
import { MANIFEST_FORMAT, MANIFEST_FORMAT_VERSION, requiredFeatures, writeManifest, type Manifest } from '../../src/jobs/manifest.js';
import { PRUNE_MARKER, runPrune } from '../../src/jobs/prune.js';
import { verifyBackup } from '../../src/jobs/verify.js';
import { RECORD_SCHEMA_VERSION } from '../../src/avro/schemas.js';
import { openStore, type ObjectStore, type OpenIntent } from '../../src/storage/index.js';
import { startS3Server, SERVER_START_TIMEOUT_MS, type S3TestServer } from '../support/s3-server.js';
import { inProcess } from '../cli/run.js';
import { record } from './support.js';

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const HOUR = 3_600_000;

/** One backup of one record at `at`: a real data file, and a manifest naming `parent` (prefix and manifest SHA-256). */
async function fakeBackup(store: ObjectStore, at: Date, parent?: { prefix: string; sha256: string }): Promise<{ prefix: string; sha256: string }> {
  const prefix = `test-${stamp(at)}`;
  const sink = new DataFileSink({ store, prefix, baseName: 'test_00', compress: 'none' });
  await pipeline(Readable.from([record('test', 's', stamp(at), { at: at.toISOString() })]), sink);
  const files = sink.files();
  const m: Manifest = {
    format: MANIFEST_FORMAT,
    formatVersion: MANIFEST_FORMAT_VERSION,
    requires: [],
    tool: { name: 'aerobak-tests', version: '0' },
    schemaVersion: RECORD_SCHEMA_VERSION,
    createdAt: at.toISOString(),
    startedAt: new Date(at.getTime() - 60_000).toISOString(),
    finishedAt: at.toISOString(),
    cluster: { hosts: ['test'] },
    namespace: 'test',
    filters: {},
    compression: 'none',
    records: 1,
    bytes: files.reduce((n, f) => n + f.size, 0),
    files,
    kind: parent ? 'incremental' : 'full',
    ...(parent ? { parent: { path: parent.prefix, sha256: parent.sha256 }, since: new Date(at.getTime() - HOUR).toISOString() } : {}),
    clusterTime: new Date(at.getTime() - 60_000).toISOString(),
    truncateThresholds: {},
  };
  m.requires = requiredFeatures(m);
  let sha256 = '';
  await writeManifest(store, prefix, m, { beforeCommit: async (s) => void (sha256 = s) });
  return { prefix, sha256 };
}

/** Daily fulls at 00:00 and incrementals at every other hour, from `first` for `days` days. */
async function twoMonths(store: ObjectStore, first: Date, days: number): Promise<string[]> {
  await store.write(REPOSITORY_MARKER, [Buffer.from(JSON.stringify({ format: 'aerobak-repository', formatVersion: 1, createdAt: first.toISOString() }))]);
  const prefixes: string[] = [];
  for (let d = 0; d < days; d++) {
    let parent: { prefix: string; sha256: string } | undefined;
    for (let h = 0; h < 24; h++) {
      parent = await fakeBackup(store, new Date(first.getTime() + (d * 24 + h) * HOUR), parent);
      prefixes.push(parent.prefix);
    }
  }
  return prefixes;
}

const dayOf = (prefix: string) => `${prefix.slice(5, 9)}-${prefix.slice(9, 11)}-${prefix.slice(11, 13)}`;

describe('retention rules', () => {
  it('buckets by UTC hour, day, ISO week and month, newest point of each; keep-within from the newest point', () => {
    expect(isoWeek(new Date('2026-11-30T12:00:00Z'))).toBe('2026-W49');
    expect(isoWeek(new Date('2026-11-29T23:00:00Z'))).toBe('2026-W48');
    expect(isoWeek(new Date('2027-01-01T00:00:00Z'))).toBe('2026-W53');
    expect(subtractDuration(new Date('2026-03-31T00:00:00Z'), '1m').toISOString()).toBe('2026-03-03T00:00:00.000Z');
    expect(subtractDuration(new Date('2026-12-02T12:00:00Z'), '1w2d3h').toISOString()).toBe('2026-11-23T09:00:00.000Z');
    expect(() => subtractDuration(new Date(), '7 days')).toThrow(/--keep-within 7 days/);
    const points = [0, 1, 2, 30, 31, 60].map((h) => ({ id: `p${h}`, at: new Date(Date.UTC(2026, 0, 1, h)) }));
    const kept = applyPolicy(points, { keepLast: 2, keepDaily: 2, keepWithin: '30h' });
    expect([...kept.keys()].sort()).toEqual(['p30', 'p31', 'p60']);
    expect(kept.get('p60')).toEqual(['last 1/2', 'daily 2026-01-03', 'within 30h']);
    expect(kept.get('p31')).toEqual(['last 2/2', 'daily 2026-01-02', 'within 30h']);
  });
});

describe('prune over two months of daily fulls and hourly incrementals', () => {
  const first = new Date('2026-10-01T00:00:00Z');
  const now = new Date('2026-12-01T00:30:00Z');
  const policy = { keepHourly: 24, keepDaily: 7, keepWeekly: 4, keepMonthly: 2 };
  // By hand: the 24 newest hours are 2026-11-30; daily: 11-24..11-30 (their 23:00 backup, which keeps its day's chain);
  // weekly (ISO): W49 → 11-30, W48 → 11-29, W47 → 11-22, W46 → 11-15; monthly: 11 → 11-30, 10 → 10-31.
  const keptDays = ['2026-10-31', '2026-11-15', '2026-11-22', '2026-11-24', '2026-11-25', '2026-11-26', '2026-11-27', '2026-11-28', '2026-11-29', '2026-11-30'];
  let store: ObjectStore;
  let all: string[];

  beforeAll(async () => {
    store = await openStore(`mem://prune-${process.pid}-${Date.now()}`, 'write');
    all = await twoMonths(store, first, 61);
    // An incremental still running (state saved an hour ago) on top of 10-05 10:00, which the policy alone would delete.
    await store.write(`test-20261005T103000Z/${BACKUP_STATE_FILE}`, [
      Buffer.from(JSON.stringify({ startedAt: '2026-11-30T23:00:00.000Z', savedAt: '2026-11-30T23:30:00.000Z', options: { namespace: 'test' }, parent: { ref: { path: 'test-20261005T100000Z', sha256: 'x' } }, groups: [] })),
    ]);
    await store.write('test-20261005T103000Z/test_00_00000.avro', [Buffer.from('partial')]);
    // Abandoned three days ago, and one a prune left half-deleted.
    await store.write(`test-20261127T000000Z-abandoned/${BACKUP_STATE_FILE}`, [Buffer.from(JSON.stringify({ startedAt: '2026-11-27T00:00:00Z', savedAt: '2026-11-27T01:00:00Z', options: { namespace: 'test' }, groups: [] }))]);
    await store.write('test-20261127T000000Z-abandoned/test_00_00000.avro', [Buffer.from('x')]);
    await store.write(`test-20261130T235900Z-halfpruned/${PRUNE_MARKER}`, [Buffer.from('{}')]);
    await store.write('test-20261130T235900Z-halfpruned/test_00_00000.avro', [Buffer.from('x')]);
  }, 120_000);

  const openMem = async (location: string, _intent: OpenIntent) => (location === store.location ? store : openStore(location, 'read'));

  it('a dry run reports exactly what the policy says and deletes nothing', async () => {
    const report = await runPrune({ repo: store.location, policy, dryRun: true }, { now: () => now, openStore: openMem });
    const kept = report.kept.map((k) => k.location.split('/').pop()!);
    const expected = all.filter((p) => keptDays.includes(dayOf(p)) || (dayOf(p) === '2026-10-05' && p <= 'test-20261005T100000Z'));
    expect(kept.sort()).toEqual(expected.sort());
    expect(report.deleted).toHaveLength(all.length - expected.length);
    expect(report.kept.find((k) => k.location.endsWith('test-20261005T100000Z'))!.reasons).toEqual(['needed by test-20261005T103000Z']);
    expect(report.kept.find((k) => k.location.endsWith('test-20261124T000000Z'))!.reasons).toEqual(['needed by test-20261124T010000Z']);
    expect(report.incompleteKept.map((i) => i.location.split('/').pop())).toEqual(['test-20261005T103000Z']);
    expect(report.incompleteRemoved.map((l) => l.split('/').pop()).sort()).toEqual(['test-20261127T000000Z-abandoned', 'test-20261130T235900Z-halfpruned']);
    expect((await listBackups(store.location, { openStore: openMem })).filter((b) => b.status === 'complete')).toHaveLength(all.length);
  });

  it('a prune killed part way leaves only complete, verifiable backups and visibly incomplete ones; the next prune finishes', async () => {
    let deletes = 0;
    const dying = new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        const method = (value as (...a: unknown[]) => unknown).bind(target);
        if (prop !== 'delete' && prop !== 'deleteMany') return method;
        return async (...args: unknown[]) => {
          if (++deletes > 301) throw Object.assign(new Error('killed'), { code: 'IO' });
          return method(...args);
        };
      },
    });
    await expect(runPrune({ repo: store.location, policy }, { now: () => now, openStore: async () => dying })).rejects.toThrow('killed');
    const listing = await listBackups(store.location, { openStore: openMem });
    for (const b of listing) {
      if (b.status === 'complete') {
        const report = await verifyBackup({ store, prefix: b.prefix, location: b.location, openStore: openMem });
        expect(report.ok, `${b.location}: ${JSON.stringify(report.problems)}`).toBe(true);
      } else expect(b.status).toBe('incomplete');
    }
    expect(listing.some((b) => b.status === 'incomplete' && (b.prefix.startsWith('test-2026') && !b.prefix.includes('-abandoned')))).toBe(true);

    const report = await runPrune({ repo: store.location, policy }, { now: () => now, openStore: openMem });
    const after = await listBackups(store.location, { openStore: openMem });
    const complete = after.filter((b) => b.status === 'complete').map((b) => b.prefix);
    expect(complete.sort()).toEqual(all.filter((p) => keptDays.includes(dayOf(p)) || (dayOf(p) === '2026-10-05' && p <= 'test-20261005T100000Z')).sort());
    // Every kept incremental still has its chain.
    for (const b of after) if (b.status === 'complete' && b.kind === 'incremental') expect(b.chain, b.prefix).toBeDefined();
    expect(after.filter((b) => b.status === 'incomplete').map((b) => b.prefix)).toEqual(['test-20261005T103000Z']);
    expect(report.deleted.length + report.incompleteRemoved.length).toBeGreaterThan(0);
  }, 120_000);
});

describe('prune and retention locks', () => {
  // A store that reports a retention lock on one manifest, as S3 Object Lock or a GCS hold
  // does (fake-gcs-server keeps no holds, so the GCS check itself is not exercised here).
  it('a locked backup is reported and kept, with its chain; nothing is an error', async () => {
    const inner = await openStore(`mem://prune-locks-${process.pid}-${Date.now()}`, 'write');
    await inner.write(REPOSITORY_MARKER, [Buffer.from('{"format":"aerobak-repository","formatVersion":1,"createdAt":"2026-11-01T00:00:00Z"}')]);
    const full = await fakeBackup(inner, new Date('2026-11-01T00:00:00Z'));
    const inc = await fakeBackup(inner, new Date('2026-11-01T01:00:00Z'), full);
    const newest = await fakeBackup(inner, new Date('2026-11-02T00:00:00Z'));
    const retainedUntil = async (key: string) =>
      key === `${inc.prefix}/manifest.json` ? { until: new Date('2027-01-01T00:00:00Z'), reason: 'S3 Object Lock (COMPLIANCE) until 2027-01-01T00:00:00.000Z' } : undefined;
    const locked = new Proxy(inner, {
      get(target, prop) {
        if (prop === 'retainedUntil') return retainedUntil;
        const value = Reflect.get(target, prop, target) as unknown;
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    const open = async (l: string, intent: OpenIntent) => (l === inner.location ? locked : openStore(l, intent));
    const report = await runPrune({ repo: inner.location, policy: { keepLast: 1 } }, { openStore: open, now: () => new Date('2026-11-03T00:00:00Z') });
    expect(report.locked.map((l) => l.location.split('/').pop())).toEqual([inc.prefix]);
    expect(report.locked[0]!.reason).toMatch(/Object Lock/);
    expect(report.deleted).toEqual([]);
    const left = (await listBackups(inner.location, { openStore: open })).filter((b) => b.status === 'complete').map((b) => b.prefix).sort();
    expect(left).toEqual([full.prefix, inc.prefix, newest.prefix].sort());
  });
});

describe('prune on S3 (MinIO) and a local directory, from the command line', () => {
  let s3: S3TestServer;
  let tmp: string;
  beforeAll(async () => {
    s3 = await startS3Server();
    await s3.createBucket('prune');
    tmp = await mkdtemp(join(tmpdir(), 'aerobak-prune-'));
  }, SERVER_START_TIMEOUT_MS);
  afterAll(async () => {
    await s3?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  it.each(['s3', 'local'] as const)('keeps the last 2 chains of 4 days (%s), deleting in batches', async (kind) => {
    const location = kind === 's3' ? `s3://prune/${process.pid}` : join(tmp, 'repo');
    const store = await openStore(location, 'write', { s3: s3.options });
    const first = new Date(Date.now() - 4 * 24 * HOUR);
    first.setUTCHours(0, 0, 0, 0);
    const prefixes: string[] = [];
    await store.write(REPOSITORY_MARKER, [Buffer.from(JSON.stringify({ format: 'aerobak-repository', formatVersion: 1, createdAt: first.toISOString() }))]);
    for (let d = 0; d < 4; d++) {
      let parent: { prefix: string; sha256: string } | undefined;
      for (let h = 0; h < 3; h++) {
        parent = await fakeBackup(store, new Date(first.getTime() + (d * 24 + h) * HOUR), parent);
        prefixes.push(parent.prefix);
      }
    }
    const saved = { ...process.env };
    if (kind === 's3') Object.assign(process.env, { AWS_ENDPOINT_URL: s3.options.endpoint, AWS_REGION: s3.options.region ?? 'us-east-1', AWS_ACCESS_KEY_ID: s3.options.credentials?.accessKeyId ?? process.env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: s3.options.credentials?.secretAccessKey ?? process.env.AWS_SECRET_ACCESS_KEY });
    try {
      const dry = await inProcess(['prune', location, '--keep-daily', '2', '--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.stdout).toMatch(/dry run: 6 kept, 6 to delete/);
      const run = await inProcess(['prune', location, '--keep-daily', '2', '--json']);
      expect(run.code, run.stderr).toBe(0);
      const summary = JSON.parse(run.stdout.trim()) as { deleted: string[] };
      expect(summary.deleted).toHaveLength(6);
      const left = (await listBackups(location, { openStore: (l, i) => openStore(l, i, { s3: s3.options }) })).map((b) => b.prefix).sort();
      expect(left).toEqual(prefixes.slice(6).sort());
      const empty = await inProcess(['prune', location]);
      expect(empty.code).toBe(2);
      expect(empty.stderr).toMatch(/at least one --keep/);
    } finally {
      for (const k of ['AWS_ENDPOINT_URL', 'AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) delete process.env[k];
      Object.assign(process.env, saved);
    }
  }, 120_000);
});
