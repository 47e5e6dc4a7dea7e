/**
 * Crash-safe backups: `aerobak backup` SIGKILLed at several points (before the first data
 * file is sealed, between files, after the data and before the manifest), then `backup
 * --resume`: the backup that results restores to exactly the source, no record is stored
 * twice, and the resumed run scans fewer records than a whole backup.
 *
 * The backup runs as a person runs it (a spawned process, killed with SIGKILL, which no
 * handler can see); many small files and a rate limit make every kill point land.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type Aerospike from 'aerospike';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { rawKek } from '../../src/crypto/keys.js';
import { BACKUP_STATE_FILE, type BackupState } from '../../src/jobs/backup-state.js';
import { runBackup } from '../../src/jobs/backup.js';
import { readManifest } from '../../src/jobs/manifest.js';
import { runRestore } from '../../src/jobs/restore.js';
import { openStore } from '../../src/storage/index.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { backupRecords, connectWire, expectSameRecords, record, scanSets, tearDown, truncateSets, writeRaw } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const COUNT = 3000;

let cluster: TestCluster;
let client: Aerospike.Client;
let wire: Cluster;
let tmp: string;
let source: Map<string, RawRecord>;
const set = uniqueSetName('resume');

beforeAll(async () => {
  cluster = await startCluster({ nodes: 2 });
  client = await connectClient(cluster);
  wire = await connectWire(cluster);
  tmp = await mkdtemp(join(tmpdir(), 'aerobak-resume-'));
  await writeRaw(wire, Array.from({ length: COUNT }, (_, i) => record('test', set, `r${i}`, { i, pad: `${i}`.repeat(20) })));
  source = await scanSets(wire, 'test', [set]);
});

afterAll(() => tearDown({ client, wire, cluster, tmp, sets: [set] }));

async function readState(dir: string): Promise<BackupState | undefined> {
  try {
    return JSON.parse(await readFile(join(dir, BACKUP_STATE_FILE), 'utf8')) as BackupState;
  } catch {
    return undefined;
  }
}

/**
 * Starts `aerobak backup` into `dir` and SIGKILLs it as soon as `when(state)` holds for its
 * saved state (polled); resolves once it is dead, with the exit signal.
 */
async function killedBackup(dir: string, when: (s: BackupState) => boolean, extra: string[] = []): Promise<NodeJS.Signals | null> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', 'backup', '-h', cluster.hosts, '-n', 'test', '-s', set, '--to', dir, '-F', '4KiB', '-w', '4', '-L', '3000', '--no-udfs', '--no-indexes', ...extra],
    { cwd: root, env: { ...process.env, AEROSPIKE_HOSTS: '' }, stdio: 'ignore' },
  );
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  let done = false;
  void exited.then(() => (done = true));
  while (!done) {
    const s = await readState(dir);
    if (s && when(s)) {
      child.kill('SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  return exited;
}

/** Every record of every data file of the backup, by digest, failing on a record stored twice. */
async function storedRecords(dir: string): Promise<Map<string, RawRecord>> {
  const out = new Map<string, RawRecord>();
  for (const { file, record } of await backupRecords(dir)) {
    const key = record.digest.toString('hex');
    expect(out.has(key), `record ${key} is stored twice (again in ${file})`).toBe(false);
    out.set(key, record);
  }
  return out;
}

async function expectRestoresToSource(dir: string): Promise<void> {
  const stored = await storedRecords(dir);
  expect(stored.size).toBe(COUNT);
  await truncateSets(client, 'bar', [set]);
  await runRestore({ cluster: { hosts: cluster.hosts }, from: dir, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, noIndexes: true });
  const restored = await scanSets(wire, 'bar', [set]);
  for (const r of restored.values()) r.namespace = 'test';
  expectSameRecords(source, restored);
}

const sealedFiles = (s: BackupState) => s.groups.reduce((n, g) => n + g.files.length, 0);

describe('backup --resume after SIGKILL', () => {
  const cases: Array<{ name: string; when: (s: BackupState) => boolean; extra?: string[] }> = [
    { name: 'before the first data file is sealed', when: (s) => sealedFiles(s) === 0 },
    { name: 'between data files', when: (s) => sealedFiles(s) >= 6 },
    { name: 'after every data file, before the manifest', when: (s) => s.groups.every((g) => g.complete), extra: ['--track-deletes'] },
  ];
  for (const c of cases) {
    it(`finishes a backup killed ${c.name}: it restores to the source and stores no record twice`, async () => {
      const dir = join(tmp, c.name.replace(/\W+/g, '-'));
      expect(await killedBackup(dir, c.when, c.extra)).toBe('SIGKILL');
      const before = await readState(dir);
      expect(before).toBeDefined();
      await expect(stat(join(dir, 'manifest.json'))).rejects.toThrow();
      const kept = sealedFiles(before!);

      const summary = await runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir, resumeGiven: {} });
      expect(summary).toMatchObject({ resumed: true, records: COUNT });
      if (kept > 0) expect(summary.recordsScanned).toBeLessThan(COUNT);
      // The state is gone once the backup is complete; only listed files are left.
      const names = await readdir(dir);
      expect(names).not.toContain(BACKUP_STATE_FILE);
      const manifest = await readManifest(await openStore(dir, 'read'), '');
      const listed = new Set(['manifest.json', ...manifest.files.map((f) => f.name), ...(manifest.liveDigests ?? []).map((l) => l.name)]);
      expect(names.filter((n) => !listed.has(n))).toEqual([]);
      await expectRestoresToSource(dir);
    });
  }

  it('finishes an encrypted backup killed between data files, with its key given again (never without it)', async () => {
    const dir = join(tmp, 'encrypted');
    const keyFile = join(tmp, 'resume.key');
    const key = randomBytes(32);
    await writeFile(keyFile, key);
    expect(await killedBackup(dir, (s) => sealedFiles(s) >= 4, ['--encrypt', '--key-file', keyFile])).toBe('SIGKILL');
    expect((await readState(dir))!.options.encrypted).toBe(true);
    await expect(runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir, resumeGiven: {} })).rejects.toMatchObject({ name: 'UsageError', message: expect.stringMatching(/is encrypted: give its key again/) });
    await expect(runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir, resumeGiven: {}, encrypt: rawKek(randomBytes(32), 'another key') })).rejects.toMatchObject({ code: 'WRONG_KEY' });
    const kek = rawKek(key, 'key file');
    const summary = await runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir, resumeGiven: {}, encrypt: kek });
    expect(summary).toMatchObject({ resumed: true, records: COUNT });
    // The key object survived the resume's clean-up, and every file is encrypted.
    expect(await readdir(join(dir, 'keys'))).toHaveLength(1);
    for (const f of (await readdir(dir)).filter((n) => n.startsWith('test_'))) expect((await readFile(join(dir, f))).subarray(0, 4).toString('latin1')).toBe('AEBK');
    await truncateSets(client, 'bar', [set]);
    await runRestore({ cluster: { hosts: cluster.hosts }, from: dir, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, noIndexes: true, key: kek });
    const restored = await scanSets(wire, 'bar', [set]);
    for (const r of restored.values()) r.namespace = 'test';
    expectSameRecords(source, restored);
  });

  it('refuses options that contradict the interrupted backup, and a backup that is complete', async () => {
    const dir = join(tmp, 'conflict');
    await killedBackup(dir, (s) => sealedFiles(s) >= 2);
    await expect(runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir, resumeGiven: { compress: 'none' } })).rejects.toMatchObject({
      name: 'UsageError',
      message: expect.stringContaining('--compress "none"'),
    });
    await runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir, resumeGiven: { namespace: 'test' } });
    await expect(runBackup({ cluster: { hosts: '' }, namespace: '', resume: dir })).rejects.toMatchObject({ code: 'RESUME_ALREADY_COMPLETE' });
    await expect(runBackup({ cluster: { hosts: cluster.hosts }, namespace: '', resume: join(tmp, 'never') })).rejects.toMatchObject({ code: 'RESUME_NO_STATE' });
  });
});

describe('a restore killed half-way and run again', () => {
  let backupDir: string;
  beforeAll(async () => {
    backupDir = join(tmp, 'for-restore');
    await runBackup({ cluster: { hosts: cluster.hosts }, namespace: 'test', sets: [set], to: backupDir, fileSizeBytes: 4096, parallel: 4, noUdfs: true, noIndexes: true });
  });

  /** Starts `aerobak restore` and SIGKILLs it once its journal lists `files` finished files. */
  async function killedRestore(journal: string, files: number): Promise<void> {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'restore', '-h', cluster.hosts, '--from', backupDir, '-n', 'test:bar', '-w', '1', '-L', '1500', '--journal', journal, '--no-udfs', '--no-indexes'],
      { cwd: root, env: { ...process.env, AEROSPIKE_HOSTS: '' }, stdio: 'ignore' },
    );
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_c, signal) => resolve(signal)));
    let done = false;
    void exited.then(() => (done = true));
    while (!done) {
      const text = await readFile(journal, 'utf8').catch(() => '');
      if (text !== '' && (JSON.parse(text) as { done: string[] }).done.length >= files) {
        child.kill('SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
    expect(await exited).toBe('SIGKILL');
  }

  const restoreAgain = (journal: string, resume: boolean) =>
    runRestore({ cluster: { hosts: cluster.hosts }, from: backupDir, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, noIndexes: true, journalPath: journal, resume });

  const expectBarIsSource = async () => {
    const restored = await scanSets(wire, 'bar', [set]);
    for (const r of restored.values()) r.namespace = 'test';
    expectSameRecords(source, restored);
  };

  it('with --resume reads only the data files the first run had not finished, and ends with the same database', async () => {
    await truncateSets(client, 'bar', [set]);
    const journal = join(tmp, 'journal-resume.json');
    await killedRestore(journal, 4);
    const summary = await restoreAgain(journal, true);
    expect(summary.resumedFiles).toBeGreaterThanOrEqual(4);
    expect(summary.read).toBeLessThan(COUNT);
    expect(summary.read + summary.resumedRecords).toBe(COUNT);
    await expect(stat(journal)).rejects.toThrow();
    await expectBarIsSource();
  });

  it('goes on when its journal cannot be written, saying so once', async () => {
    await truncateSets(client, 'bar', [set]);
    const notes: string[] = [];
    const summary = await runRestore(
      { cluster: { hosts: cluster.hosts }, from: backupDir, namespaceMap: new Map([['test', 'bar']]), noUdfs: true, noIndexes: true, journalPath: '/dev/null/journal.json' },
      { note: (n) => notes.push(n) },
    );
    expect(summary.written).toBe(COUNT);
    expect(notes.filter((n) => n.includes('cannot keep the restore journal /dev/null/journal.json'))).toHaveLength(1);
    await expectBarIsSource();
  });

  it('without --resume writes everything again and ends with the same database', async () => {
    await truncateSets(client, 'bar', [set]);
    const journal = join(tmp, 'journal-again.json');
    await killedRestore(journal, 3);
    const summary = await restoreAgain(journal, false);
    expect(summary).toMatchObject({ resumedFiles: 0, read: COUNT });
    // What the first run wrote is there already at the same generation: not written again.
    expect(summary.fresher).toBeGreaterThan(0);
    await expectBarIsSource();
  });
});
