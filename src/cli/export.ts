/** `aerobak export`: parses the options and calls runExport. */
import { ExitCode, UsageError } from '../errors.js';
import { DEFAULT_PARALLEL } from '../jobs/backup-plan.js';
import { runExport, type ExportOptions, type ExportSummary } from '../jobs/export.js';
import { EXPORT_CODECS, EXPORT_FORMATS, type ExportCodec } from '../export/format.js';
import { DEFAULT_EXPORT_FILE_BYTES, DEFAULT_ROW_GROUP_BYTES } from '../export/sink.js';
import { exitCodes, type CliCommand } from './command.js';
import { kekFrom, keySourceOptions } from './keys.js';
import { s3OptionSpecs, s3StoreOptions, storeDeps } from './s3-options.js';
import { bool, clusterOptions, connectionOptions, date, integer, oneOf, outputOptions, parseCommandLine, renderHelp, scanSelection, str, size, type OptionSpec, type ParsedValues } from './options.js';
import { formatBytes, formatCount, formatDuration, jsonLine, withProgress, type Io } from './output.js';

const sourceOptions: readonly OptionSpec[] = [
  { name: 'namespace', short: 'n', type: 'string', value: 'NS', description: 'namespace to export (required from a cluster; from a backup, a check)' },
  { name: 'from', type: 'string', value: 'BACKUP', description: 'export a backup (or the chain ending at it: the newest version of each record) instead of scanning the cluster' },
  { name: 'at', type: 'string', value: 'TIME', description: 'with --from REPO: the newest complete backup of the namespace that finished at or before TIME' },
  { name: 'set', short: 's', type: 'string', multiple: true, value: 'SET[,SET]', description: 'only these sets (repeatable)' },
  { name: 'bins', short: 'B', type: 'string', multiple: true, value: 'BIN[,BIN]', description: 'only these bins of each record' },
  { name: 'modified-after', short: 'a', type: 'string', value: 'TIME', description: 'cluster only: records last updated at or after TIME' },
  { name: 'modified-before', short: 'b', type: 'string', value: 'TIME', description: 'cluster only: records last updated before TIME' },
  { name: 'no-ttl-only', type: 'boolean', description: 'cluster only: records that never expire' },
  { name: 'partitions', type: 'string', value: 'FIRST-LAST[,...]', defaultText: '0-4095', description: 'cluster only: these partitions' },
];

const outputFileOptions: readonly OptionSpec[] = [
  { name: 'to', short: 'd', type: 'string', value: 'LOCATION', description: 'where to write (required): a directory, s3://bucket/prefix or gs://bucket/prefix; must be empty unless --snapshot' },
  { name: 'format', type: 'string', value: EXPORT_FORMATS.join('|'), defaultText: 'parquet', description: 'file format: Parquet, or Avro object container files' },
  {
    name: 'codec',
    type: 'string',
    value: 'CODEC',
    defaultText: 'parquet snappy, avro deflate',
    description: `compression inside the files: parquet ${EXPORT_CODECS.parquet.join('|')}; avro ${EXPORT_CODECS.avro.join('|')}`,
  },
  { name: 'snapshot', type: 'boolean', description: 'add a snapshot=<UTC time> level under each set (the export\'s start, or the backup\'s), so exports accumulate as partitions of one table' },
  { name: 'file-size', short: 'F', type: 'string', value: 'SIZE', defaultText: formatBytes(DEFAULT_EXPORT_FILE_BYTES).replace(' ', ''), description: 'start a new file at about SIZE' },
  { name: 'row-group-size', type: 'string', value: 'SIZE', defaultText: formatBytes(DEFAULT_ROW_GROUP_BYTES).replace(' ', ''), description: 'values buffered per row group (Parquet) or per write (Avro)' },
  { name: 'parallel', short: 'w', type: 'string', value: 'N', defaultText: String(DEFAULT_PARALLEL), description: 'partition groups scanned, or backup files read, at once (1-256)' },
  { name: 'records-per-second', short: 'L', type: 'string', value: 'N', description: 'cluster only: limit the scan to N records per second overall' },
];

const keyOptions = keySourceOptions('', 'with --from, the key of an encrypted backup');

export const exportSpecs = [...sourceOptions, ...outputFileOptions, ...keyOptions, ...s3OptionSpecs, ...connectionOptions, ...outputOptions];

export function exportOptionsFrom(values: ParsedValues): ExportOptions {
  const to = str(values, 'to');
  if (to === undefined) throw new UsageError('export needs --to LOCATION (a new directory, s3://bucket/prefix or gs://bucket/prefix)');
  const format = oneOf(values, 'format', EXPORT_FORMATS) ?? 'parquet';
  const codecs: readonly string[] = EXPORT_CODECS[format];
  const codec = str(values, 'codec');
  if (codec !== undefined && !codecs.includes(codec)) throw new UsageError(`--codec ${codec} is not a ${format} codec: ${codecs.join(', ')}`);
  const namespace = str(values, 'namespace');
  const from = str(values, 'from');
  const at = date(values, 'at');
  if (at && from === undefined) throw new UsageError('--at picks a backup in the repository given with --from');
  let source: ExportOptions['source'];
  if (from !== undefined) {
    for (const name of ['modified-after', 'modified-before', 'no-ttl-only', 'partitions', 'records-per-second']) {
      if (values[name] !== undefined) throw new UsageError(`--${name} filters a cluster scan: it does not apply to --from`);
    }
    source = { from, ...(at ? { at } : {}), ...(namespace !== undefined ? { namespace } : {}) };
  } else {
    if (namespace === undefined) throw new UsageError('export needs --namespace NS (or --from BACKUP)');
    source = { cluster: clusterOptions(values), namespace };
  }
  const opts: ExportOptions = { source, to, format, parallel: integer(values, 'parallel', { min: 1, max: 256 }) ?? DEFAULT_PARALLEL };
  if (codec !== undefined) opts.codec = codec as ExportCodec;
  Object.assign(opts, scanSelection(values));
  if (bool(values, 'snapshot')) opts.snapshot = true;
  const fileSize = size(values, 'file-size');
  if (fileSize !== undefined) opts.fileBytes = fileSize;
  const rowGroup = size(values, 'row-group-size');
  if (rowGroup !== undefined) opts.rowGroupBytes = rowGroup;
  const rps = integer(values, 'records-per-second', { min: 1 });
  if (rps !== undefined) opts.recordsPerSecond = rps;
  return opts;
}

export function printExportSummary(io: Io, s: ExportSummary): void {
  const sets = Object.entries(s.sets).map(([set, v]) => `  ${set === '' ? '(no set)' : set}: ${formatCount(v.records)} rows in ${v.files} file(s), ${v.columns} columns`);
  io.stdout.write(
    [
      `export complete: ${formatCount(s.records)} records of namespace ${s.namespace} as ${s.format} (${s.codec}) in ${s.files} file(s), ${formatBytes(s.bytes)}, ${formatDuration(s.durationMs / 1000)}`,
      `location: ${s.location}${s.snapshot ? ` (snapshot ${s.snapshot})` : ''}`,
      ...sets,
      ...(s.superseded ? [`left out: ${formatCount(s.superseded)} older versions, ${formatCount(s.deleted ?? 0)} deleted records`] : []),
      '',
    ].join('\n'),
  );
}

export const exportCommand: CliCommand = {
  name: 'export',
  summary: 'export a namespace (from the cluster or a backup) as Parquet or Avro tables',
  help: {
    usage: 'aerobak export (-n NAMESPACE | --from BACKUP) --to LOCATION [--format parquet|avro] [options]',
    summary: 'Writes one typed table per set, in the Hive layout LOCATION/namespace=NS/set=SET/part-*.parquet, that DuckDB, Spark, Trino and Athena read directly.',
    details: [
      'Every bin becomes a column typed from its values (integer int64, float double, string, bool, blob binary, GeoJSON text, lists and maps as ' +
        'native LIST/MAP when their elements have one type, else JSON text). A column never changes type: a value of another type goes to the ' +
        'sibling column <bin>__<type>. Metadata columns: _digest, _set, _key, _generation, _expires_at, _last_update (see docs/export.md).',
      'LOCATION/_manifest.json lists every file (rows, size, SHA-256, schema); LOCATION/_SUCCESS is written last. An export that fails removes its ' +
        'files; one without _SUCCESS is not complete.',
    ],
    sections: [
      { title: 'What to export', options: sourceOptions },
      { title: 'Files', options: outputFileOptions },
      { title: 'Encrypted backups', options: keyOptions },
      { title: 'S3 objects', options: s3OptionSpecs },
      { title: 'Connection', options: connectionOptions },
      { title: 'Output', options: outputOptions },
    ],
    examples: [
      'aerobak export -n users --to s3://lake/aerospike/users',
      'aerobak export --from s3://backups/aerospike/users-20261201T020000Z --to s3://lake/aerospike/users --snapshot   # from last night\'s backup',
      'aerobak export --from s3://backups/aerospike --at 2026-12-01T06:00:00Z -n users --to ./users-at-six',
      'aerobak export -n test -s events -B user,ts,payload --format avro --codec zstandard --to gs://lake/events',
      "duckdb -c \"SELECT set, count(*) FROM read_parquet('users/**/*.parquet', hive_partitioning = true, union_by_name = true) GROUP BY set\"",
    ],
    exitCodes: exitCodes('the export failed (its files were removed, no _SUCCESS written)', { cluster: true }),
  },
  async run(argv, { io, signal }) {
    const { values } = parseCommandLine('export', argv, exportSpecs, io.env, 0);
    if (values.help) {
      io.stdout.write(renderHelp(exportCommand.help));
      return ExitCode.OK;
    }
    const opts = exportOptionsFrom(values);
    const storeOptions = s3StoreOptions(values, opts.to);
    const kek = await kekFrom(values, io.env);
    if (kek) opts.key = kek;
    const json = bool(values, 'json');
    const summary = await withProgress(io, json, (hooks) => runExport(opts, { signal, ...hooks, ...storeDeps(storeOptions) }));
    if (json) jsonLine(io.stdout, 'summary', summary);
    else printExportSummary(io, summary);
    return ExitCode.OK;
  },
};
