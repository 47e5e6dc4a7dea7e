/**
 * The command dispatcher: picks the command, runs it, and turns what it throws into one
 * line on stderr and an exit code (errors.ts). Known errors (AerobakError, StorageError)
 * print their message only; anything else is a bug or an unforeseen failure and prints
 * its stack with --debug (or AEROBAK_DEBUG=1).
 */
import pkg from '../../package.json' with { type: 'json' };
import { AerobakError, ExitCode, exitCodeOf } from '../errors.js';
import { StorageError, isAbortError } from '../storage/errors.js';
import { backupCommand } from './backup.js';
import type { CliCommand, CliContext } from './command.js';
import { exportCommand } from './export.js';
import { pruneCommand } from './prune.js';
import { rekeyCommand } from './rekey.js';
import { serveCommand } from './serve.js';
import { listCommand } from './list.js';
import { renderHelp } from './options.js';
import { jsonLine } from './output.js';
import { restoreCommand } from './restore.js';
import { verifyCommand } from './verify.js';

export const commands: readonly CliCommand[] = [backupCommand, restoreCommand, verifyCommand, listCommand, exportCommand, pruneCommand, rekeyCommand, serveCommand];

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
    const sub = commands.find((c) => c.name === rest[0]);
    io.stdout.write(sub ? renderHelp(sub.help) : topLevelHelp());
    return name === undefined ? ExitCode.USAGE : ExitCode.OK;
  }
  if (name === '--version') {
    io.stdout.write(`aerobak ${pkg.version}\n`);
    return ExitCode.OK;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`aerobak: error: unknown command "${name}"; the commands are ${commands.map((c) => c.name).join(', ')} (see aerobak --help)\n`);
    return ExitCode.USAGE;
  }
  try {
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
