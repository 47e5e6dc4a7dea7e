/**
 * Sharded restores (docs/distributed.md): worker i of N writes the records of its share of
 * the partitions (the backup's shard split) and stores a report; `restore --finalize`
 * checks that every shard reported, sums the reports, and restores indexes and UDFs once.
 * Every worker checks index conflicts before writing, as a single restore does.
 *
 *   REPORTS/restore-shard-<i>-of-<N>.json   a shard's RestoreSummary, once its records are written
 */
import { AerobakError, UsageError } from '../errors.js';
import { openStore } from '../storage/index.js';
import { readAll } from '../storage/small-objects.js';
import type { StoreOpener } from '../storage/types.js';
import { runRestore, type RestoreDeps, type RestoreOptions, type RestoreSummary } from './restore.js';
import { checkShard } from './shards.js';

const reportName = (index: number, count: number) => `restore-shard-${index}-of-${count}.json`;

interface ShardReport {
  shard: { index: number; count: number };
  from: string;
  summary: RestoreSummary;
}

/** One worker: restores its shard, then stores its report. */
export async function runRestoreShard(opts: RestoreOptions, deps: RestoreDeps = {}): Promise<RestoreSummary> {
  const shard = opts.shard!;
  checkShard(shard);
  if (opts.shardReports === undefined) throw new UsageError('a sharded restore needs --shard-reports LOCATION, where each shard stores its report for --finalize');
  const open = deps.openStore ?? openStore;
  const reports = await open(opts.shardReports, 'write');
  const summary = await runRestore(opts, deps);
  const report: ShardReport = { shard, from: opts.from, summary };
  await reports.write(reportName(shard.index, shard.count), [Buffer.from(`${JSON.stringify(report, null, 2)}\n`)]);
  return summary;
}

const COUNTS = ['read', 'written', 'fresher', 'existed', 'expired', 'skippedByFilter', 'superseded', 'deleted', 'resumedFiles', 'resumedRecords', 'deletedInTarget', 'absentInTarget'] as const;

/** `restore --finalize`: every shard's report, summed, then the indexes and UDFs. */
export async function finalizeRestore(opts: RestoreOptions & { shards: number }, deps: RestoreDeps & { openStore?: StoreOpener } = {}): Promise<RestoreSummary & { shards: number }> {
  if (opts.shardReports === undefined) throw new UsageError('restore --finalize needs --shard-reports LOCATION (where the shards stored their reports)');
  const open = deps.openStore ?? openStore;
  const store = await open(opts.shardReports, 'read');
  const reports: ShardReport[] = [];
  const missing: number[] = [];
  for (let i = 0; i < opts.shards; i++) {
    const key = reportName(i, opts.shards);
    if ((await store.stat(key)) === null) {
      missing.push(i);
      continue;
    }
    reports.push(JSON.parse((await readAll(await store.read(key))).toString('utf8')) as ShardReport);
  }
  if (missing.length > 0) throw new AerobakError('failed', 'SHARDS_MISSING', `restore shard(s) ${missing.join(', ')} of ${opts.shards} have no report in ${store.location}: not finalized`);
  const other = reports.find((r) => r.from !== opts.from);
  if (other) throw new AerobakError('failed', 'SHARDS_CONFLICT', `restore shard ${other.shard.index} restored ${other.from}, not ${opts.from}`);
  const summary = await runRestore({ ...opts, shard: undefined, metadataOnly: true }, deps);
  for (const r of reports) {
    for (const k of COUNTS) summary[k] += r.summary[k];
    for (const [code, n] of Object.entries(r.summary.failed)) summary.failed[code] = (summary.failed[code] ?? 0) + n;
    for (const [code, n] of Object.entries(r.summary.ignored)) summary.ignored[code] = (summary.ignored[code] ?? 0) + n;
  }
  return { ...summary, shards: opts.shards };
}
