/**
 * The command dispatcher: picks the command, runs it, and turns what it throws into one
 * line on stderr and an exit code (errors.ts). Known errors (AerobakError, StorageError)
 * print their message only; anything else is a bug or an unforeseen failure and prints
 * its stack with --debug (or AEROBAK_DEBUG=1).
 */
import pkg from '../../package.json' with { type: 'json' };
import { AerobakError, ExitCode, exitCodeOf } from '../errors.js';
import { StorageError, isAbortError } from '../storage/errors.js';
import type { CliCommand, CliContext } from './command.js';
import { jsonLine } from './output.js';

/**
 * The commands, each loaded when it runs (a dynamic import()): `aerobak --help` loads none
 * of them, and `aerobak backup` loads the backup command and what it needs, not the
 * export's Parquet writer, the service's scheduler or the restore job. Keep the
 * summaries equal to the commands' own (test/cli/startup.test.ts checks it).
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<CliCommand>;
}

export const commands: readonly CommandEntry[] = [
  { name: 'backup', summary: 'back up a namespace to a directory, S3 or GCS', load: async () => (await import('./backup.js')).backupCommand },
  { name: 'restore', summary: 'restore a backup into a cluster, optionally into another namespace', load: async () => (await import('./restore.js')).restoreCommand },
  { name: 'verify', summary: 'check a backup: every file, size, SHA-256 and record count (no cluster needed)', load: async () => (await import('./verify.js')).verifyCommand },
  { name: 'list', summary: 'list the backups under a location or repository (time, kind, records, size, complete or not, chains)', load: async () => (await import('./list.js')).listCommand },
  { name: 'export', summary: 'export a namespace (from the cluster or a backup) as Parquet or Avro tables', load: async () => (await import('./export.js')).exportCommand },
  { name: 'prune', summary: 'delete the backups of a repository that a retention policy does not keep', load: async () => (await import('./prune.js')).pruneCommand },
  { name: 'rekey', summary: 'rotate the key of encrypted backups (the data files are not touched)', load: async () => (await import('./rekey.js')).rekeyCommand },
  { name: 'serve', summary: 'run the backup service: schedules, retention, REST API, Prometheus metrics', load: async () => (await import('./serve.js')).serveCommand },
];

export function topLevelHelp(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return [
    'Usage: aerobak <command> [options]',
    '',
    'Lossless backup, restore and export for Aerospike: every bin keeps its exact particle type and bytes;',
    'backups go to a local directory, S3 (s3://bucket/prefix) or Google Cloud Storage (gs://bucket/prefix).',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Run "aerobak <command> --help" for a command\'s options, examples and exit codes,',
    '"aerobak --version" for the version.',
    '',
    'Quick start:',
    '  aerobak backup -n test                  # to ./aerobak-backups/test-<UTC time>/',
    '  aerobak list                            # backups under ./aerobak-backups',
    '  aerobak verify ./aerobak-backups/test-20260124T101500Z',
    '  aerobak restore --from ./aerobak-backups/test-20260124T101500Z -n test:bar',
    '  aerobak export --from ./aerobak-backups/test-20260124T101500Z --to ./lake/test   # Parquet tables',
    '',
  ].join('\n');
}

export async function runCli(argv: readonly string[], ctx: CliContext): Promise<number> {
  const { io } = ctx;
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === 'help') {
    const entry = commands.find((c) => c.name === rest[0]);
    if (entry) {
      const [sub, { renderHelp }] = await Promise.all([entry.load(), import('./options.js')]);
      io.stdout.write(renderHelp(sub.help));
    } else io.stdout.write(topLevelHelp());
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (name === '--version') {
    io.stdout.write(`aerobak ${pkg.version}\n`);
    return ExitCode.OK;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) {
    io.stderr.write(`aerobak: error: unknown command "${name}"; the commands are ${commands.map((c) => c.name).join(', ')} (see aerobak --help)\n`);
    return ExitCode.USAGE;
  }
  try {
    const command = await entry.load();
    return await command.run(rest, ctx);
  } catch (err) {
    const debug = rest.includes('--debug') || io.env.AEROBAK_DEBUG === '1';
    const json = rest.includes('--json');
    return reportError(err, ctx, { debug, json });
  }
}

/** Exit code and stable error code of what a command threw; `known` errors need no stack trace. */
function classify(error: unknown): { exitCode: number; code: string; known: boolean } {
  if (error instanceof AerobakError) return { exitCode: exitCodeOf(error.kind), code: error.code, known: true };
  if (error instanceof StorageError) return { exitCode: ExitCode.STORAGE, code: `STORAGE_${error.code}`, known: true };
  return { exitCode: ExitCode.FAILED, code: 'UNEXPECTED', known: false };
}

function reportError(err: unknown, ctx: CliContext, opts: { debug: boolean; json: boolean }): number {
  const { io, signal } = ctx;
  // An abort surfaces as a stream's AbortError; the signal's reason says why (Ctrl-C).
  const error = isAbortError(err) && signal.aborted ? signal.reason : err;
  const { exitCode, code, known } = classify(error);
  const message = error instanceof Error ? error.message : String(error);
  if (opts.json) jsonLine(io.stdout, 'error', { code, exitCode, message });
  io.stderr.write(`aerobak: ${known ? 'error' : 'unexpected error'}: ${message}\n`);
  if (!known) {
    if (opts.debug && error instanceof Error && error.stack) io.stderr.write(`${error.stack}\n`);
    else io.stderr.write('aerobak: run again with --debug for the stack trace\n');
  }
  return exitCode;
}
