/** `aerobak restore`: parses the options and calls runRestore. */
import { DEFAULT_BATCH_BYTES, DEFAULT_BATCH_SIZE, type WritePolicy } from '../aerospike/batch-writer.js';
import { ResultCode } from '../aerospike/wire/result-codes.js';
import { ExitCode, UsageError } from '../errors.js';
import { RecordWriteError, runRestore, type RestoreOptions, type RestoreSummary } from '../jobs/restore.js';
import { exitCodes, type CliCommand } from './command.js';
import { kekFrom, keySourceOptions } from './keys.js';
import { shardFrom } from './backup.js';
import { storeDeps } from './s3-options.js';
import { finalizeRestore, runRestoreShard } from '../jobs/restore-shards.js';
import {
  bandwidth,
  bool,
  clusterOptions,
  date,
  connectionOptions,
  integer,
  list,
  oneOf,
  outputOptions,
  parseCommandLine,
  renderHelp,
  required,
  str,
  type OptionSpec,
  type ParsedValues,
} from './options.js';
import { formatCount, formatDuration, jsonLine, withProgress, type Io } from './output.js';

const MODES: readonly WritePolicy[] = ['generation-greater', 'create-only', 'replace', 'ignore-generation'];

const restoreOptions: readonly OptionSpec[] = [
  { name: 'from', short: 'd', type: 'string', value: 'LOCATION', description: 'the backup: a directory, s3://bucket/prefix or gs://bucket/prefix (required)' },
  { name: 'namespace-map', short: 'n', type: 'string', multiple: true, value: 'SRC:DST', description: 'restore namespace SRC into DST (asrestore\'s SRC,DST also works)' },
  { name: 'set', short: 's', type: 'string', multiple: true, value: 'SET[,SET]', description: 'only records (and indexes) of these sets' },
  { name: 'bins', short: 'B', type: 'string', multiple: true, value: 'BIN[,BIN]', description: 'only these bins; a record left with none is skipped' },
  {
    name: 'mode',
    type: 'string',
    value: 'MODE',
    defaultText: 'generation-greater',
    description:
      'generation-greater: write unless the database holds the same or a newer generation; create-only: only records that do not exist (asrestore -u); ' +
      'replace: replace whole records, removing bins not in the backup (-r); ignore-generation: write over, merging bins (-g)',
  },
  {
    name: 'extra-ttl',
    type: 'string',
    value: 'SECONDS',
    description: 'add SECONDS to the void time of records that expire, before the expiry check (as asrestore: records expired less than SECONDS ago come back)',
  },
  { name: 'ignore-codes', type: 'string', multiple: true, value: 'CODE[,CODE]', description: 'skip and count records refused with these result codes (numbers or names: 13 or RECORD_TOO_BIG) instead of stopping' },
  { name: 'indexes-last', type: 'boolean', description: 'build secondary indexes after the records (default: before, as asrestore)' },
  { name: 'no-indexes', type: 'boolean', description: 'do not restore secondary indexes' },
  { name: 'no-udfs', type: 'boolean', description: 'do not restore UDF modules' },
  { name: 'force', type: 'boolean', description: 'restore a backup that has no manifest (interrupted): its complete data files, unverified' },
  {
    name: 'at',
    type: 'string',
    value: 'TIME',
    description: 'point in time: --from is a repository; restore the newest complete backup (or chain point) of the namespace that finished at or before TIME',
  },
  {
    name: 'apply-deletes',
    type: 'boolean',
    description: 'restoring a chain whose newest backup tracked deletes: also delete from the target the records deleted since (default: only write, leave them)',
  },
  { name: 'resume', type: 'boolean', description: 'after an interrupted run of the same restore: skip the data files it finished (kept in a journal, see --journal)' },
  { name: 'journal', type: 'string', value: 'PATH', defaultText: '~/.cache/aerobak/restore-<id>.json', description: 'where the restore records the data files it finished (removed when it completes)' },
];

const performanceOptions: readonly OptionSpec[] = [
  { name: 'parallel', short: 'w', type: 'string', value: 'N', defaultText: '4', description: 'data files restored at once (1-256)' },
  { name: 'records-per-second', short: 'L', type: 'string', value: 'N', description: 'limit writes to N records per second overall' },
  { name: 'batch-size', type: 'string', value: 'N', defaultText: String(DEFAULT_BATCH_SIZE), description: `records per batch write (1-5000; a batch also stops at ${DEFAULT_BATCH_BYTES / (1024 * 1024)} MiB of rows)` },
  {
    name: 'bandwidth',
    short: 'N',
    type: 'string',
    value: 'MIB/S',
    description: 'limit the bytes read from the backup (as stored: compressed, encrypted) to MIB/S MiB per second overall, shared by all files (as asrestore -N); a unit may be given: 512KiB, 20MB',
  },
];

const keyOptions = keySourceOptions('', 'the key of an encrypted backup (every link of its chain)');

const shardOptions: readonly OptionSpec[] = [
  { name: 'shard', type: 'string', value: 'I/N', description: 'be worker I (0-based) of a sharded restore of N workers: only the records of shard I\'s partitions (docs/distributed.md)' },
  { name: 'shards', type: 'string', value: 'N', description: 'a sharded restore of N workers, this worker\'s index from JOB_COMPLETION_INDEX; with --finalize, how many shards to sum' },
  { name: 'shard-reports', type: 'string', value: 'LOCATION', description: 'where each shard stores its report, and --finalize reads them' },
  { name: 'finalize', type: 'boolean', description: 'after every shard of a sharded restore: sum their reports and restore indexes and UDFs once' },
];

export const restoreSpecs = [...restoreOptions, ...performanceOptions, ...shardOptions, ...keyOptions, ...connectionOptions, ...outputOptions];

const codeByName = new Map<string, number>(Object.entries(ResultCode));

function namespaceMap(values: ParsedValues): Map<string, string> {
  const raw = values['namespace-map'];
  const items = raw === undefined ? [] : (Array.isArray(raw) ? raw : [raw]).map(String);
  const map = new Map<string, string>();
  for (const item of items) {
    const pairs = item.includes(':') ? item.split(',').map((p) => p.split(':')) : [item.split(',')];
    for (const pair of pairs) {
      const [src, dst] = pair.map((s) => s.trim());
      if (pair.length !== 2 || !src || !dst) throw new UsageError(`--namespace-map "${item}" is not SRC:DST (for example test:bar)`);
      if (map.has(src) && map.get(src) !== dst) throw new UsageError(`--namespace-map maps ${src} twice`);
      map.set(src, dst);
    }
  }
  return map;
}

function ignoreCodes(values: ParsedValues): number[] {
  return list(values, 'ignore-codes').map((c) => {
    if (/^-?\d+$/.test(c)) return Number(c);
    const code = codeByName.get(c.toUpperCase());
    if (code === undefined) throw new UsageError(`--ignore-codes "${c}" is neither a number nor a result code name such as RECORD_TOO_BIG`);
    return code;
  });
}

export function restoreOptionsFrom(values: ParsedValues): RestoreOptions {
  const opts: RestoreOptions = {
    cluster: clusterOptions(values),
    from: required(values, 'from', 'restore'),
    mode: oneOf(values, 'mode', MODES) ?? 'generation-greater',
    parallel: integer(values, 'parallel', { min: 1, max: 256 }) ?? 4,
  };
  const map = namespaceMap(values);
  if (map.size > 0) opts.namespaceMap = map;
  const sets = list(values, 'set');
  const bins = list(values, 'bins');
  if (sets.length > 0) opts.sets = sets;
  if (bins.length > 0) opts.bins = bins;
  const extraTtl = integer(values, 'extra-ttl', { min: 0 });
  if (extraTtl !== undefined) opts.extraTtlSeconds = extraTtl;
  const rps = integer(values, 'records-per-second', { min: 1 });
  if (rps !== undefined) opts.recordsPerSecond = rps;
  const batch = integer(values, 'batch-size', { min: 1, max: 5000 });
  if (batch !== undefined) opts.batchSize = batch;
  const codes = ignoreCodes(values);
  if (codes.length > 0) opts.ignoreCodes = codes;
  if (bool(values, 'indexes-last')) opts.indexesLast = true;
  if (bool(values, 'no-indexes')) opts.noIndexes = true;
  if (bool(values, 'no-udfs')) opts.noUdfs = true;
  if (bool(values, 'force')) opts.force = true;
  if (bool(values, 'resume')) opts.resume = true;
  if (bool(values, 'apply-deletes')) opts.applyDeletes = true;
  const journal = str(values, 'journal');
  if (journal !== undefined) opts.journalPath = journal;
  const at = date(values, 'at');
  if (at !== undefined) {
    if (opts.force) throw new UsageError('--at picks a complete backup; --force is for one without a manifest');
    opts.at = at;
  }
  return opts;
}

function byCode(counts: Record<string, number>): string {
  return Object.entries(counts)
    .map(([name, n]) => `${formatCount(n)} ${name}`)
    .join(', ');
}

export function printRestoreSummary(io: Io, s: RestoreSummary, complete: boolean): void {
  const failed = Object.values(s.failed).reduce((a, b) => a + b, 0);
  const ignored = Object.values(s.ignored).reduce((a, b) => a + b, 0);
  const target = Object.entries(s.namespaces)
    .map(([src, dst]) => (src === dst ? src : `${src} -> ${dst}`))
    .join(', ');
  const lines = [
    `${complete ? 'restore complete' : 'restore stopped'}: namespace ${target}, ${formatDuration(s.durationMs / 1000)}`,
    `  read from backup        ${formatCount(s.read)}`,
    `  written                 ${formatCount(s.written)}`,
    `  fresher in database     ${formatCount(s.fresher)}`,
    `  already existed         ${formatCount(s.existed)}`,
    `  expired                 ${formatCount(s.expired)}`,
    `  skipped by filter       ${formatCount(s.skippedByFilter)}`,
    `  skipped (ignored codes) ${formatCount(ignored)}${ignored > 0 ? ` (${byCode(s.ignored)})` : ''}`,
    `  failed                  ${formatCount(failed)}${failed > 0 ? ` (${byCode(s.failed)})` : ''}`,
    `  indexes                 ${s.indexes.created} created, ${s.indexes.existing} already present, ${s.indexes.skipped} skipped by set filter`,
    `  UDF modules             ${s.udfs.written} written, ${s.udfs.unchanged} unchanged`,
  ];
  if (s.links) {
    lines.push(`  superseded (newer link) ${formatCount(s.superseded)}`, `  deleted since           ${formatCount(s.deleted)}`, `  chain of ${s.links.length} backups, oldest first:`);
    for (const l of s.links) lines.push(`    ${l.location}: ${formatCount(l.restored)} restored, ${formatCount(l.superseded)} superseded, ${formatCount(l.deleted)} deleted`);
  }
  if (s.deletedInTarget + s.absentInTarget > 0) lines.push(`  deleted in target       ${formatCount(s.deletedInTarget)} (${formatCount(s.absentInTarget)} more were not there)`);
  if (s.resumedFiles > 0) lines.push(`  resumed: skipped ${formatCount(s.resumedFiles)} data file(s) (${formatCount(s.resumedRecords)} records) an earlier run had finished`);
  if (s.unverified) lines.push('  (backup had no manifest: data files were not verified)');
  io.stdout.write(lines.join('\n') + '\n');
}

export const restoreCommand: CliCommand = {
  name: 'restore',
  summary: 'restore a backup into a cluster, optionally into another namespace',
  help: {
    usage: 'aerobak restore --from LOCATION [options]',
    summary: 'Restores a backup\'s records, secondary indexes and UDF modules, byte for byte.',
    details: [
      'Records keep their original expiration (void time); those already expired are skipped and counted. ' +
        'By default a record is written only if the backup\'s generation is greater than the stored one, so ' +
        'fresher data in the database wins. UDFs and indexes are restored before the records (--indexes-last: after); ' +
        'an index that exists with the same definition is kept, a conflicting one stops the restore before any write.',
      'Every data file is checked against the manifest (size, SHA-256, record count) as it is read; a mismatch stops ' +
        'the restore naming the file. Run "aerobak verify" first to check the whole backup before writing anything.',
      'A record the cluster refuses stops the restore, naming the record and the result code, unless its code is ' +
        'listed in --ignore-codes.',
    ],
    sections: [
      { title: 'What to restore', options: restoreOptions },
      { title: 'Performance', options: performanceOptions },
      { title: 'Sharded restores', options: shardOptions },
      { title: 'Encrypted backups', options: keyOptions },
      { title: 'Connection', options: connectionOptions },
      { title: 'Output', options: outputOptions },
    ],
    examples: [
      'aerobak restore --from ./aerobak-backups/test-20260124T101500Z',
      'aerobak restore --from s3://backups/aerospike/users-daily -n users:users_copy --mode replace',
      'aerobak restore --from gs://my-bucket/incremental/2026-01-24 -s profiles --ignore-codes RECORD_TOO_BIG',
      'aerobak restore --from ./interrupted-backup --force --no-indexes',
      'aerobak restore --from s3://backups/aerospike/users-20261202T020000Z -n users:users_dr   # an incremental: its whole chain',
      'aerobak restore --from s3://backups/aerospike --at 2026-12-02T02:00:00Z -n users:users_dr   # point in time',
    ],
    exitCodes: exitCodes('the restore failed: a record was refused (code not ignored), a data file does not match its manifest, an index conflicts', { cluster: true }),
  },
  async run(argv, { io, signal }) {
    const { values } = parseCommandLine('restore', argv, restoreSpecs, io.env, 0);
    if (values.help) {
      io.stdout.write(renderHelp(restoreCommand.help));
      return ExitCode.OK;
    }
    const opts = restoreOptionsFrom(values);
    const limit = bandwidth(values, 'bandwidth');
    const deps = storeDeps(undefined, limit === undefined ? undefined : { bytesPerSecond: limit, sides: { write: false, read: true } });
    const key = await kekFrom(values, io.env);
    if (key) opts.key = key;
    const reports = str(values, 'shard-reports');
    if (reports !== undefined) opts.shardReports = reports;
    const finalize = bool(values, 'finalize');
    const shard = finalize ? undefined : shardFrom(values, io.env);
    if (shard) opts.shard = shard;
    const shards = finalize ? Number(str(values, 'shards')) : undefined;
    if (finalize && !(Number.isInteger(shards) && shards! > 0)) throw new UsageError('restore --finalize needs --shards N, the number of shards to sum');
    const json = bool(values, 'json');
    let summary: RestoreSummary;
    try {
      summary = await withProgress(io, json, (hooks) =>
        finalize
          ? finalizeRestore({ ...opts, shards: shards! }, { signal, ...hooks, ...deps })
          : shard
            ? runRestoreShard(opts, { signal, ...hooks, ...deps })
            : runRestore(opts, { signal, ...hooks, ...deps }),
      );
    } catch (err) {
      // The counts up to the failure tell what was written before it.
      if (err instanceof RecordWriteError && err.summary) {
        if (json) jsonLine(io.stdout, 'summary', { ...err.summary, complete: false });
        else printRestoreSummary(io, err.summary, false);
      }
      throw err;
    }
    if (json) jsonLine(io.stdout, 'summary', { ...summary, complete: true });
    else printRestoreSummary(io, summary, true);
    return ExitCode.OK;
  },
};
