import { describe, expect, it } from 'vitest';
import { backupOptionsFrom, backupSpecs } from '../../src/cli/backup.js';
import { parseCommandLine } from '../../src/cli/options.js';
import { restoreOptionsFrom, restoreSpecs } from '../../src/cli/restore.js';
import { UsageError } from '../../src/errors.js';

const backup = (...argv: string[]) => backupOptionsFrom(parseCommandLine('backup', argv, backupSpecs, {}, 0).values);
const restore = (...argv: string[]) => restoreOptionsFrom(parseCommandLine('restore', argv, restoreSpecs, {}, 0).values);

describe('backup options', () => {
  it('takes the chain flags, and --resume with only what may be repeated', () => {
    expect(backup('-n', 'users', '--repo', 's3://b/r', '--incremental', '--track-deletes', '--full-if-truncated')).toMatchObject({
      repo: 's3://b/r',
      incremental: true,
      trackDeletes: true,
      fullIfTruncated: true,
    });
    expect(backup('-n', 'users', '--incremental-from', 's3://b/r/users-1')).toMatchObject({ incrementalFrom: 's3://b/r/users-1' });
    // No hosts typed: the resumed backup connects to the ones it was started with.
    expect(backup('--resume', 's3://b/r/users-1')).toEqual({ cluster: { hosts: '' }, namespace: '', resume: 's3://b/r/users-1', resumeGiven: {} });
    expect(backup('--resume', 'x', '-n', 'users', '-z', 'gzip', '-h', 'db1')).toMatchObject({
      cluster: { hosts: [{ host: 'db1', port: 3000 }] },
      resumeGiven: { namespace: 'users', compress: 'gzip' },
    });
    expect(() => backup('--resume', 'x', '--to', 'y')).toThrow(/--to cannot be given with it/);
    expect(() => backup('-n', 'users', '--full-if-truncated')).toThrow(/--full-if-truncated applies to --incremental only/);
  });

  it('reads asbackup-style short options', () => {
    expect(backup('-h', 'db1:3100,db2', '-n', 'test', '-s', 'a,b', '-B', 'x', '-w', '8', '-L', '1000', '-F', '1GiB', '-z', 'none', '-d', 's3://b/p', '--partitions', '0-99')).toEqual({
      cluster: { hosts: [{ host: 'db1', port: 3100 }, { host: 'db2', port: 3000 }] },
      namespace: 'test',
      sets: ['a', 'b'],
      bins: ['x'],
      parallel: 8,
      recordsPerSecond: 1000,
      fileSizeBytes: 1024 ** 3,
      compress: 'none',
      to: 's3://b/p',
      partitions: [{ first: 0, last: 99 }],
    });
  });

  it('takes zstd with levels 1-22 and gzip with 0-9, the codec default when no level is given; zstd by default', () => {
    expect(backup('-n', 'test')).toMatchObject({ compress: 'zstd' });
    expect(backup('-n', 'test')).not.toHaveProperty('compressLevel');
    expect(backup('-n', 'test', '-z', 'zstd')).toMatchObject({ compress: 'zstd' });
    expect(backup('-n', 'test', '-z', 'zstd')).not.toHaveProperty('compressLevel');
    expect(backup('-n', 'test', '--compress', 'zstd', '--compress-level', '1')).toMatchObject({ compress: 'zstd', compressLevel: 1 });
    expect(backup('-n', 'test', '--compress', 'zstd', '--compress-level', '22')).toMatchObject({ compress: 'zstd', compressLevel: 22 });
    expect(backup('-n', 'test', '-z', 'gzip', '--compress-level', '0')).toMatchObject({ compress: 'gzip', compressLevel: 0 });
    expect(backup('-n', 'test', '-z', 'gzip', '--compress-level', '9')).toMatchObject({ compress: 'gzip', compressLevel: 9 });
    expect(backup('-n', 'test', '--compress-level', '19')).toMatchObject({ compress: 'zstd', compressLevel: 19 });
  });

  it.each([
    [['-s', 'a'], /--namespace is required/],
    [['-n', 'test', '-w', '0'], /--parallel 0 is out of range \(1-256\)/],
    [['-n', 'test', '-z', 'lz4'], /--compress "lz4" must be one of: gzip, zstd, none/],
    [['-n', 'test', '-z', 'none', '--compress-level', '9'], /--compress-level applies to --compress gzip or zstd, not none/],
    [['-n', 'test', '-z', 'gzip', '--compress-level', '10'], /--compress-level 10 is not a gzip level \(0-9\)/],
    [['-n', 'test', '--compress-level', '0'], /--compress-level 0 is not a zstd level \(1-22\)/],
    [['-n', 'test', '-z', 'zstd', '--compress-level', '0'], /--compress-level 0 is not a zstd level \(1-22\)/],
    [['-n', 'test', '-z', 'zstd', '--compress-level', '23'], /--compress-level 23 is out of range \(0-22\)/],
    [['-n', 'test', '-z', 'zstd', '--compress-level', 'max'], /--compress-level "max" is not a whole number/],
    [['-n', 'test', '-a', '2026-01-02', '-b', '2026-01-01'], /is not before --modified-before/],
    [['-n', 'test', '-F', '100'], /with a unit/],
  ])('refuses %j', (argv, message) => {
    expect(() => backup(...argv)).toThrow(UsageError);
    expect(() => backup(...argv)).toThrow(message);
  });
});

describe('restore options', () => {
  it('takes --at, --resume, --journal and --apply-deletes', () => {
    expect(restore('--from', 'r', '--at', '2026-11-30T02:00:00Z', '--resume', '--journal', '/tmp/j.json', '--apply-deletes')).toMatchObject({
      at: new Date('2026-11-30T02:00:00Z'),
      resume: true,
      journalPath: '/tmp/j.json',
      applyDeletes: true,
    });
    expect(() => restore('--from', 'r', '--at', '2026-11-30T02:00:00Z', '--force')).toThrow(/--at picks a complete backup/);
  });

  it('reads namespace maps as SRC:DST or asrestore\'s SRC,DST, and result codes by number or name', () => {
    expect(restore('-d', './b', '-n', 'test,bar').namespaceMap).toEqual(new Map([['test', 'bar']]));
    expect(restore('-d', './b', '-n', 'a:b,c:d', '-n', 'e:f').namespaceMap).toEqual(new Map([['a', 'b'], ['c', 'd'], ['e', 'f']]));
    expect(restore('-d', './b', '--ignore-codes', 'RECORD_TOO_BIG,5', '--ignore-codes', 'bin_name').ignoreCodes).toEqual([13, 5, 21]);
    expect(restore('--from', './b', '--mode', 'create-only', '--extra-ttl', '60', '--indexes-last')).toMatchObject({
      from: './b',
      mode: 'create-only',
      extraTtlSeconds: 60,
      indexesLast: true,
    });
  });

  it.each([
    [['-n', 'test:bar'], /--from is required/],
    [['-d', 'x', '-n', 'test'], /is not SRC:DST/],
    [['-d', 'x', '-n', 'a:b', '-n', 'a:c'], /maps a twice/],
    [['-d', 'x', '--mode', 'unique'], /must be one of: generation-greater, create-only, replace, ignore-generation/],
    [['-d', 'x', '--ignore-codes', 'OOPS'], /neither a number nor a result code name/],
  ])('refuses %j', (argv, message) => {
    expect(() => restore(...argv)).toThrow(UsageError);
    expect(() => restore(...argv)).toThrow(message);
  });
});
