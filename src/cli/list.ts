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
    b.status === 'complete' ? `${b.kind}${b.tracksDeletes ? '+del' : ''}${b.encrypted ? '+enc' : ''}` : '-',
    b.status === 'complete' ? formatCount(b.records) : '-',
    formatBytes(b.bytes),
    b.status === 'unreadable' ? `unreadable: ${b.reason}` : b.status,
    b.status === 'complete' && b.kind === 'incremental' ? (b.chain === undefined ? `BROKEN (parent ${b.parent} not here)` : `${b.chain} <- ${b.parent}`) : '-',
    b.prefix === '' ? '.' : b.prefix,
  ]);
  const header = ['STARTED (UTC)', 'NAMESPACE', 'KIND', 'RECORDS', 'SIZE', 'STATUS', 'CHAIN (FULL <- PARENT)', 'NAME'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (r: string[]) =>
    r
      .map((c, i) => (i === 3 || i === 4 ? c.padStart(widths[i]!) : i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ');
  io.stdout.write([`backups under ${location}:`, format(header), ...rows.map(format)].join('\n') + '\n');
}

export const listCommand: CliCommand = {
  name: 'list',
  summary: 'list the backups under a location or repository (time, kind, records, size, complete or not, chains)',
  help: {
    usage: `aerobak list [LOCATION] [--json]`,
    summary: `Lists the backups under LOCATION (default ./${BACKUPS_DIRECTORY}): every folder with a manifest is complete; one with data files and no manifest is incomplete (interrupted, or still running: finish it with backup --resume). Incrementals show their chain: the full it starts from and their parent (BROKEN when a parent is not in the listing).`,
    sections: [{ title: 'Output', options: outputOptions }],
    examples: ['aerobak list', 'aerobak list s3://backups/aerospike/ --json', "aerobak list s3://backups/aerospike --json | jq -r '.backups[] | select(.status==\"complete\") | .location' | tail -1   # the newest"],
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
