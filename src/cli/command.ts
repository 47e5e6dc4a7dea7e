/**
 * The shape of a command: its help (options, examples, exit codes) and a `run` that
 * parses the command line, calls the job function (runBackup, runRestore, ...) and
 * prints the result. Errors are thrown; app.ts turns them into a message and an exit code.
 */
import { ExitCode } from '../errors.js';
import type { CommandHelp } from './options.js';
import type { Io } from './output.js';

export interface CliContext {
  io: Io;
  /** Aborted on SIGINT / SIGTERM; jobs stop and clean up. */
  signal: AbortSignal;
}

export interface CliCommand {
  name: string;
  /** One line for the top-level help. */
  summary: string;
  help: CommandHelp;
  /** Returns the exit code; throws for failures. */
  run(argv: string[], ctx: CliContext): Promise<number>;
}

/**
 * The exit codes of a command, for its help: the shared ones, its own meaning of 1, and
 * 3 only for commands that talk to a cluster.
 */
export function exitCodes(failure: string, opts: { cluster: boolean }): [number, string][] {
  return [
    [ExitCode.OK, 'success'],
    [ExitCode.FAILED, failure],
    [ExitCode.USAGE, 'usage error: unknown option, bad value, missing argument (nothing was done)'],
    ...(opts.cluster ? [[ExitCode.CLUSTER, 'cluster error: no node reachable, unknown namespace, request refused'] as [number, string]] : []),
    [ExitCode.STORAGE, 'storage error: location missing, not writable or not readable, no such backup'],
    [ExitCode.INTERRUPTED, 'interrupted (Ctrl-C or SIGTERM)'],
  ];
}
