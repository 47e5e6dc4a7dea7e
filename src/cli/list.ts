/** `aerobak list`: the backups under a location, complete or not. */
import { ExitCode } from '../errors.js';
import { StorageError } from '../storage/index.js';
import { BACKUPS_DIRECTORY } from '../jobs/backup.js';
import { listBackups, type BackupListing } from '../jobs/list.js';
import { exitCodes, type CliCommand } from './command.js';
import { bool, outputOptions, parseCommandLine, renderHelp } from './options.js';
import { formatBytes, formatCount, jsonLine, type Io } from './output.js';

const specs = [...outputOptions];

function when(b: BackupListing): string {
  return b.status === 'complete' ? b.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '-';
}

export function printListing(io: Io, location: string, backups: readonly BackupListing[]): void {
  if (backups.length === 0) {
    io.stdout.write(`no backups under ${location}\n`);
    return;
  }
  const rows = backups.map((b) => [
    when(b),
    b.status === 'unreadable' ? '-' : (b.namespace ?? '-'),
    b.status === 'complete' ? formatCount(b.records) : '-',
    formatBytes(b.bytes),
    b.status === 'unreadable' ? `unreadable: ${b.reason}` : b.status,
    b.prefix === '' ? '.' : b.prefix,
  ]);
  const header = ['STARTED (UTC)', 'NAMESPACE', 'RECORDS', 'SIZE', 'STATUS', 'NAME'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (r: string[]) =>
    r
      .map((c, i) => (i === 2 || i === 3 ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ');
  io.stdout.write([`backups under ${location}:`, format(header), ...rows.map(format)].join('\n') + '\n');
}

export const listCommand: CliCommand = {
  name: 'list',
  summary: 'list the backups under a location (time, namespace, records, size, complete or not)',
  help: {
    usage: `aerobak list [LOCATION] [--json]`,
    summary: `Lists the backups under LOCATION (default ./${BACKUPS_DIRECTORY}): every folder with a manifest is complete; one with data files and no manifest is incomplete (interrupted, or still running).`,
    sections: [{ title: 'Output', options: outputOptions }],
    examples: ['aerobak list', 'aerobak list s3://backups/aerospike/ --json'],
    exitCodes: exitCodes('an unexpected failure (run with --debug for details)', { cluster: false }),
  },
  async run(argv, { io, signal }) {
    const { values, positionals } = parseCommandLine('list', argv, specs, io.env, 1);
    if (values.help) {
      io.stdout.write(renderHelp(listCommand.help));
      return ExitCode.OK;
    }
    const location = positionals[0] ?? `./${BACKUPS_DIRECTORY}`;
    let backups: BackupListing[];
    try {
      backups = await listBackups(location, { signal });
    } catch (err) {
      // The default directory appears with the first backup: before that there is simply nothing to list.
      if (positionals[0] !== undefined || !(err instanceof StorageError) || err.code !== 'NO_BUCKET') throw err;
      backups = [];
    }
    if (bool(values, 'json')) jsonLine(io.stdout, 'summary', { location, backups });
    else printListing(io, location, backups);
    return ExitCode.OK;
  },
};
