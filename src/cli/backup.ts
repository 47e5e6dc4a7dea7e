/** `aerobak backup`: parses the options and calls runBackup. */
import { ExitCode, UsageError } from '../errors.js';
import { BACKUPS_DIRECTORY, DEFAULT_PARALLEL, checkCompressOptions, runBackup, type BackupOptions, type BackupSummary } from '../jobs/backup.js';
import { COMPRESSIONS, DEFAULT_COMPRESSION } from '../jobs/compression.js';
import { DEFAULT_SAMPLE_RECORDS, estimateBackup, type BackupEstimate } from '../jobs/estimate.js';
import { DEFAULT_MAX_FILE_BYTES } from '../jobs/data-files.js';
import { exitCodes, type CliCommand } from './command.js';
import { kekFrom, keySourceOptions } from './keys.js';
import { s3OptionSpecs, s3StoreOptions, storeDeps } from './s3-options.js';
import { checkShard, finalizeShards, runShard } from '../jobs/shards.js';
import {
  bandwidth,
  bool,
  clusterOptions,
  connectionOptions,
  integer,
  list,
  oneOf,
  outputOptions,
  parseCommandLine,
  renderHelp,
  required,
  scanSelection,
  size,
  str,
  type OptionSpec,
  type ParsedValues,
} from './options.js';
import { formatBytes, formatCount, formatDuration, jsonLine, withProgress, type Io } from './output.js';

const backupOptions: readonly OptionSpec[] = [
  { name: 'namespace', short: 'n', type: 'string', value: 'NS', description: 'namespace to back up (required)' },
  { name: 'to', short: 'd', type: 'string', value: 'LOCATION', defaultText: `./${BACKUPS_DIRECTORY}/<NS>-<UTC time>`, description: 'where to write: a new directory, s3://bucket/prefix or gs://bucket/prefix; must be empty' },
  { name: 'set', short: 's', type: 'string', multiple: true, value: 'SET[,SET]', description: 'only these sets (repeatable); their indexes only' },
  { name: 'bins', short: 'B', type: 'string', multiple: true, value: 'BIN[,BIN]', description: 'only these bins of each record' },
  { name: 'modified-after', short: 'a', type: 'string', value: 'TIME', description: 'only records last updated at or after TIME (ISO 8601, or YYYY-MM-DD_HH:MM:SS local)' },
  { name: 'modified-before', short: 'b', type: 'string', value: 'TIME', description: 'only records last updated before TIME' },
  { name: 'no-ttl-only', type: 'boolean', description: 'only records that never expire' },
  { name: 'partitions', type: 'string', value: 'FIRST-LAST[,...]', defaultText: '0-4095', description: 'only these partitions, inclusive ranges (not asbackup -X begin-count)' },
  { name: 'no-indexes', type: 'boolean', description: 'do not save secondary index definitions' },
  { name: 'no-udfs', type: 'boolean', description: 'do not save UDF modules' },
];

const chainOptions: readonly OptionSpec[] = [
  { name: 'repo', type: 'string', value: 'LOCATION', description: 'back up into this repository (created on first use) as <NS>-<UTC time>/; --incremental finds its parent there' },
  { name: 'incremental', type: 'boolean', description: 'only what changed since the newest complete backup of the same namespace, sets and bins in the repository (a full if there is none)' },
  { name: 'incremental-from', type: 'string', value: 'PARENT', description: 'only what changed since the backup at PARENT (a location)' },
  { name: 'track-deletes', type: 'boolean', description: 'also store the digests of every live record (20 bytes each), so that a restore of the chain leaves records deleted since out' },
  { name: 'full-if-truncated', type: 'boolean', description: 'with --incremental: take a full backup when a set was truncated since the parent, instead of failing' },
  {
    name: 'resume',
    type: 'string',
    value: 'LOCATION',
    description: 'finish the interrupted backup at LOCATION from its saved progress (its options and hosts come from it; options given again must agree)',
  },
];

const performanceOptions: readonly OptionSpec[] = [
  { name: 'parallel', short: 'w', type: 'string', value: 'N', defaultText: String(DEFAULT_PARALLEL), description: 'partition groups scanned at once (1-256)' },
  { name: 'records-per-second', short: 'L', type: 'string', value: 'N', description: 'limit the scan to N records per second overall' },
  { name: 'file-size', short: 'F', type: 'string', value: 'SIZE', defaultText: formatBytes(DEFAULT_MAX_FILE_BYTES).replace(' ', ''), description: 'start a new data file at about SIZE (unit required: 64MiB, 1GiB)' },
  {
    name: 'compress',
    short: 'z',
    type: 'string',
    value: COMPRESSIONS.join('|'),
    defaultText: DEFAULT_COMPRESSION,
    description: 'compression of data files: zstd (.avro.zst: smallest files, least CPU), gzip (.avro.gz: any gunzip reads it), none (.avro)',
  },
  {
    name: 'compress-level',
    type: 'string',
    value: 'N',
    defaultText: 'gzip 6, zstd 1',
    description: 'gzip 0-9 or zstd 1-22: low is fast, high is small (zstd 20-22 take ~700 MiB of memory per --parallel scan)',
  },
  {
    name: 'bandwidth',
    short: 'N',
    type: 'string',
    value: 'MIB/S',
    description: 'limit the bytes stored (after compression and encryption) to MIB/S MiB per second overall, shared by all files and uploads (as asbackup -N); a unit may be given: 512KiB, 20MB',
  },
];

const estimateOptions: readonly OptionSpec[] = [
  {
    name: 'estimate',
    short: 'e',
    type: 'boolean',
    description: 'write nothing: back up a sample of whole partitions in memory and print the estimated records, stored bytes and duration of this backup, and how the estimate was made (as asbackup -e)',
  },
  { name: 'estimate-samples', type: 'string', value: 'N', defaultText: String(DEFAULT_SAMPLE_RECORDS), description: 'records the --estimate sample aims at (whole partitions holding about N records by the cluster\'s count, 1 to 256 partitions)' },
];

const shardOptions: readonly OptionSpec[] = [
  { name: 'shard', type: 'string', value: 'I/N', description: 'be worker I (0-based) of a sharded run of N workers into --to (docs/distributed.md)' },
  { name: 'shards', type: 'string', value: 'N', description: 'a sharded run of N workers, this worker\'s index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)' },
  { name: 'finalize', type: 'string', value: 'LOCATION', description: 'complete the sharded run at LOCATION once every shard is done (idempotent; workers try it themselves)' },
];

const encryptionOptions: readonly OptionSpec[] = [
  { name: 'encrypt', type: 'boolean', description: 'encrypt every file of the backup (AES-256-GCM, authenticated; docs/security.md) with a new data key wrapped for the key given below' },
  ...keySourceOptions('', 'the key-encryption key'),
];

export const backupSpecs = [...backupOptions, ...chainOptions, ...performanceOptions, ...estimateOptions, ...shardOptions, ...encryptionOptions, ...s3OptionSpecs, ...connectionOptions, ...outputOptions];

/** Options for `--resume`: only what was typed, to be checked against the saved state. */
function resumeOptionsFrom(values: ParsedValues, location: string): BackupOptions {
  for (const name of ['to', 'repo', 'incremental', 'incremental-from', 'modified-after', 'modified-before', 'no-ttl-only', 'partitions', 'no-indexes', 'no-udfs', 'full-if-truncated']) {
    if (values[name] !== undefined) throw new UsageError(`--resume continues the backup at ${location} as it was started: --${name} cannot be given with it`);
  }
  const given: NonNullable<BackupOptions['resumeGiven']> = {};
  const namespace = str(values, 'namespace');
  if (namespace !== undefined) given.namespace = namespace;
  if (values.set !== undefined) given.sets = list(values, 'set');
  if (values.bins !== undefined) given.bins = list(values, 'bins');
  const parallel = integer(values, 'parallel', { min: 1, max: 256 });
  if (parallel !== undefined) given.parallel = parallel;
  const fileSize = size(values, 'file-size');
  if (fileSize !== undefined) given.fileSizeBytes = fileSize;
  const compress = oneOf(values, 'compress', COMPRESSIONS);
  if (compress !== undefined) given.compress = compress;
  // Checked against the saved compression's levels by the resume itself.
  const level = integer(values, 'compress-level', { min: 0, max: 22 });
  if (level !== undefined) given.compressLevel = level;
  if (bool(values, 'track-deletes')) given.trackDeletes = true;
  const cluster = clusterOptions(values);
  const opts: BackupOptions = {
    // No --hosts typed: the hosts the backup was started with.
    cluster: values.hosts === undefined ? { ...cluster, hosts: '' } : cluster,
    namespace: namespace ?? '',
    resume: location,
    resumeGiven: given,
  };
  const rps = integer(values, 'records-per-second', { min: 1 });
  if (rps !== undefined) opts.recordsPerSecond = rps;
  return opts;
}

/** The shard of a sharded run: --shard I/N, or --shards N with the index from JOB_COMPLETION_INDEX. */
export function shardFrom(values: ParsedValues, env: NodeJS.ProcessEnv): { index: number; count: number } | undefined {
  const shard = str(values, 'shard');
  const shards = str(values, 'shards');
  if (shard !== undefined && shards !== undefined) throw new UsageError('give --shard I/N, or --shards N with JOB_COMPLETION_INDEX, not both');
  if (shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(shard);
    if (!m) throw new UsageError(`--shard ${shard}: expected I/N, e.g. 0/4`);
    const s = { index: Number(m[1]), count: Number(m[2]) };
    checkShard(s);
    return s;
  }
  if (shards === undefined) return undefined;
  const count = Number(shards);
  const index = env.JOB_COMPLETION_INDEX;
  if (index === undefined || !/^\d+$/.test(index)) throw new UsageError('--shards N takes this worker\'s index from JOB_COMPLETION_INDEX, which is not set (use --shard I/N outside a Kubernetes Indexed Job)');
  const s = { index: Number(index), count };
  checkShard(s);
  return s;
}

/** Turns parsed values into BackupOptions; every check that needs no I/O happens here. */
export function backupOptionsFrom(values: ParsedValues): BackupOptions {
  const resume = str(values, 'resume');
  if (resume !== undefined) return resumeOptionsFrom(values, resume);
  const opts: BackupOptions = {
    cluster: clusterOptions(values),
    namespace: required(values, 'namespace', 'backup'),
    parallel: integer(values, 'parallel', { min: 1, max: 256 }) ?? DEFAULT_PARALLEL,
    compress: oneOf(values, 'compress', COMPRESSIONS) ?? DEFAULT_COMPRESSION,
  };
  Object.assign(opts, scanSelection(values));
  const to = str(values, 'to');
  if (to !== undefined) opts.to = to;
  const repo = str(values, 'repo');
  if (repo !== undefined) opts.repo = repo;
  const from = str(values, 'incremental-from');
  if (from !== undefined) opts.incrementalFrom = from;
  if (bool(values, 'incremental')) opts.incremental = true;
  if (bool(values, 'track-deletes')) opts.trackDeletes = true;
  if (bool(values, 'full-if-truncated')) {
    if (!opts.incremental) throw new UsageError('--full-if-truncated applies to --incremental only');
    opts.fullIfTruncated = true;
  }
  if (bool(values, 'no-indexes')) opts.noIndexes = true;
  if (bool(values, 'no-udfs')) opts.noUdfs = true;
  const rps = integer(values, 'records-per-second', { min: 1 });
  if (rps !== undefined) opts.recordsPerSecond = rps;
  const fileSize = size(values, 'file-size');
  if (fileSize !== undefined) opts.fileSizeBytes = fileSize;
  const level = integer(values, 'compress-level', { min: 0, max: 22 });
  checkCompressOptions(opts.compress!, level);
  if (level !== undefined) opts.compressLevel = level;
  return opts;
}

function shardLines(s: BackupSummary): string[] {
  const shard = (s as BackupSummary & { shard?: { index: number; count: number; attempt: string; accepted: boolean; finalize: { status: string; missing?: number[] } } }).shard;
  if (!shard) return [];
  const done = shard.finalize.status === 'waiting' ? `waiting for shard(s) ${shard.finalize.missing!.join(', ')}` : 'the backup is complete';
  return [`shard ${shard.index} of ${shard.count}: attempt ${shard.attempt} ${shard.accepted ? 'accepted' : 'not accepted (another attempt of this shard was)'}; ${done}`];
}

export function printBackupSummary(io: Io, s: BackupSummary): void {
  io.stdout.write(
    [
      `backup complete: ${formatCount(s.records)} records of namespace ${s.namespace} in ${s.files} data file(s), ${formatBytes(s.bytes)}, ` +
        `${s.indexes} secondary index(es), ${s.udfs} UDF module(s), ${formatDuration(s.durationMs / 1000)}`,
      `location: ${s.location}`,
      ...(s.resumed ? [`resumed: ${formatCount(s.recordsScanned)} records scanned by this run, the rest kept from the interrupted one`] : []),
      ...(s.kind === 'incremental' ? [`incremental of: ${s.parent}`] : []),
      ...(s.liveDigests !== undefined ? [`live records tracked: ${formatCount(s.liveDigests)}`] : []),
      ...shardLines(s),
      '',
    ].join('\n'),
  );
}

/** Options that make no sense for an estimate (of a full backup, nothing written). */
const NOT_WITH_ESTIMATE = ['resume', 'finalize', 'shard', 'shards', 'incremental', 'incremental-from', 'track-deletes', 'full-if-truncated'];

/** `backup --estimate`: the backup's options, checked as for a backup; a sample in memory; the estimate printed. */
async function runEstimate(values: ParsedValues, io: Io, signal: AbortSignal, limit: number | undefined): Promise<number> {
  const given = NOT_WITH_ESTIMATE.find((name) => values[name] !== undefined);
  if (given !== undefined) throw new UsageError(`--estimate estimates a full backup and writes nothing: --${given} cannot be given with it`);
  const opts = backupOptionsFrom(values);
  const samples = integer(values, 'estimate-samples', { min: 1 });
  signal.throwIfAborted();
  const estimate = await estimateBackup(
    {
      cluster: opts.cluster,
      namespace: opts.namespace,
      ...(opts.sets ? { sets: opts.sets } : {}),
      ...(opts.bins ? { bins: opts.bins } : {}),
      ...(opts.partitions ? { partitions: opts.partitions } : {}),
      ...(opts.modifiedAfter ? { modifiedAfter: opts.modifiedAfter } : {}),
      ...(opts.modifiedBefore ? { modifiedBefore: opts.modifiedBefore } : {}),
      ...(opts.noTtlOnly ? { noTtlOnly: true } : {}),
      ...(opts.compress ? { compress: opts.compress } : {}),
      ...(opts.compressLevel !== undefined ? { compressLevel: opts.compressLevel } : {}),
      ...(opts.parallel !== undefined ? { parallel: opts.parallel } : {}),
      ...(opts.fileSizeBytes !== undefined ? { fileSizeBytes: opts.fileSizeBytes } : {}),
      ...(bool(values, 'encrypt') ? { encrypted: true } : {}),
      ...(samples !== undefined ? { sampleRecords: samples } : {}),
      ...(limit !== undefined ? { bandwidthBytesPerSecond: limit } : {}),
    },
    { signal },
  );
  if (bool(values, 'json')) jsonLine(io.stdout, 'estimate', estimate);
  else printEstimate(io, estimate, limit);
  return ExitCode.OK;
}

export function printEstimate(io: Io, e: BackupEstimate, limit: number | undefined): void {
  const s = e.sample;
  const codec = e.compression === 'none' ? 'no compression' : `${e.compression} level ${e.level}`;
  const what = `namespace ${e.namespace}${e.sets.length > 0 ? ` (sets ${e.sets.join(', ')})` : ''}, partitions ${e.partitions}`;
  const rate = `${formatCount(s.recordsPerSecond)} records/s, the sample's speed with ${s.scans} scan(s)`;
  const ids = s.partitionIds.length > 8 ? `${s.partitionIds.slice(0, 8).join(', ')}, ...` : s.partitionIds.join(', ');
  io.stdout.write(
    [
      `estimate for a backup of ${what}, ${codec}${e.encrypted ? ', encrypted' : ''} (nothing was written):`,
      `  records   ${formatCount(e.records)} (the cluster counts ${formatCount(s.clusterObjects)} objects in these partitions and sets)`,
      `  stored    ${formatBytes(e.storedBytes)} (${formatBytes(e.avroBytes)} of Avro before compression)`,
      `  duration  about ${formatDuration(e.seconds)}${e.bandwidthBound ? ` (bound by --bandwidth ${formatBytes(limit!)}/s; ${rate})` : ` (at ${rate})`}`,
      `how: ${formatCount(s.records)} records (aiming at ${formatCount(s.target)}) backed up in memory from ${formatCount(s.partitions)} of ${formatCount(s.partitionsSelected)} partitions, ` +
        `whole and evenly spread (${ids}), in ${formatDuration(s.seconds)}; ${s.avroBytesPerRecord.toFixed(0)} B of Avro and ${s.storedBytesPerRecord.toFixed(0)} B stored per record, ` +
        `compression ratio ${s.compressionRatio.toFixed(2)}; scaled by ${formatCount(s.partitionsSelected)}/${formatCount(s.partitions)} partitions`,
      '',
    ].join('\n'),
  );
}

export const backupCommand: CliCommand = {
  name: 'backup',
  summary: 'back up a namespace to a directory, S3 or GCS',
  help: {
    usage: 'aerobak backup -n NAMESPACE [--to LOCATION] [options]',
    summary: 'Backs up one namespace (or some of its sets), with its secondary index definitions and UDF modules.',
    details: [
      'Every bin is saved as its exact particle type and bytes. Data files are zstd- (or gzip-) compressed Avro; the manifest, ' +
        'written last, lists each file with its size, SHA-256 and record count. A backup without a manifest is ' +
        'incomplete (interrupted) and restore refuses it unless forced.',
      'Progress (records, bytes, rate, ETA from the cluster\'s object counts) is shown on stderr when it is a terminal.',
    ],
    sections: [
      { title: 'What to back up', options: backupOptions },
      { title: 'Repositories and incremental chains', options: chainOptions },
      { title: 'Performance and files', options: performanceOptions },
      { title: 'Estimate', options: estimateOptions },
      { title: 'Sharded runs', options: shardOptions },
      { title: 'Encryption', options: encryptionOptions },
      { title: 'S3 objects', options: s3OptionSpecs },
      { title: 'Connection', options: connectionOptions },
      { title: 'Output', options: outputOptions },
    ],
    examples: [
      'aerobak backup -n test',
      'aerobak backup -h 10.0.0.5:3000 -n users -s profiles,sessions --to s3://backups/aerospike/users-daily',
      'aerobak backup -n users --repo s3://backups/aerospike --track-deletes                 # weekly full',
      'aerobak backup -n users --repo s3://backups/aerospike --incremental --track-deletes   # nightly incremental',
      'aerobak backup -n test -a 2026-01-24_00:00:00 --to gs://my-bucket/changed/2026-01-24   # records changed since a time',
      'aerobak backup -n test -w 8 -L 50000 -F 1GiB --json > backup.jsonl',
      'aerobak backup -n test --compress zstd --compress-level 9',
      'aerobak backup -n test --to s3://backups/aerospike/test-nightly --bandwidth 20   # at most 20 MiB/s to S3',
      'aerobak backup -n test -s profiles --estimate   # how big and how long, nothing written',
      'aerobak backup --resume s3://backups/aerospike/users-20261202T020000Z   # after a crash: keeps the sealed files',
      'aerobak backup -n users --repo s3://backups/aerospike --encrypt --kms aws:arn:aws:kms:eu-west-1:111122223333:key/1234abcd-...',
      'aerobak backup -n users --to ./users-enc --encrypt --key-file /etc/aerobak/backup.key',
    ],
    exitCodes: exitCodes('the backup failed, no manifest written (finish it with --resume)', { cluster: true }),
  },
  async run(argv, { io, signal }) {
    const { values } = parseCommandLine('backup', argv, backupSpecs, io.env, 0);
    if (values.help) {
      io.stdout.write(renderHelp(backupCommand.help));
      return ExitCode.OK;
    }
    const finalize = str(values, 'finalize');
    if (finalize !== undefined) {
      const result = await finalizeShards(finalize, { ...(str(values, 'shards') ? { count: Number(str(values, 'shards')) } : {}) });
      if (bool(values, 'json')) jsonLine(io.stdout, 'summary', result);
      else io.stdout.write(result.status === 'complete' ? `sharded backup complete: ${formatCount(result.records)} records in ${result.files} data file(s) at ${result.location}${result.removedAttempts > 0 ? ` (${result.removedAttempts} unaccepted attempt(s) removed)` : ''}\n` : `the sharded backup at ${result.location} was already complete\n`);
      return ExitCode.OK;
    }
    const limit = bandwidth(values, 'bandwidth');
    if (bool(values, 'estimate')) return runEstimate(values, io, signal, limit);
    if (values['estimate-samples'] !== undefined) throw new UsageError('--estimate-samples applies to --estimate only');
    const opts = backupOptionsFrom(values);
    const storeOptions = s3StoreOptions(values, opts.to ?? opts.repo ?? opts.resume);
    const shard = shardFrom(values, io.env);
    if (shard) opts.shard = shard;
    const kek = await kekFrom(values, io.env);
    if (bool(values, 'encrypt') && !kek) throw new UsageError('--encrypt needs a key: --key-file, --key-env, --passphrase-file or --kms');
    if (kek && !bool(values, 'encrypt') && opts.resume === undefined) throw new UsageError('a key was given without --encrypt: add --encrypt to encrypt the backup');
    if (kek) opts.encrypt = kek;
    const json = bool(values, 'json');
    const deps = storeDeps(storeOptions, limit === undefined ? undefined : { bytesPerSecond: limit });
    const summary = await withProgress(io, json, (hooks) => (opts.shard ? runShard : runBackup)(opts, { signal, ...hooks, ...deps }));
    if (json) jsonLine(io.stdout, 'summary', summary);
    else printBackupSummary(io, summary);
    return ExitCode.OK;
  },
};
