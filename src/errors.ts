/**
 * The user-facing error base. An AerobakError is an error a person can act on: its
 * message is one sentence that says what went wrong and names the thing involved
 * (host, namespace, location, file, record). The CLI prints only the message for these
 * (no stack trace) and exits with the code of the error's kind.
 *
 * `code` is stable across releases: scripts and JSON consumers may match on it.
 * `kind` decides the exit code; see `exitCodeOf`.
 */

/** Process exit codes of every aerobak command (listed in each command's --help). */
export const ExitCode = {
  /** Everything worked. */
  OK: 0,
  /** The run failed: a record could not be written, verification failed, an index conflicts. */
  FAILED: 1,
  /** The command line is wrong (unknown option, bad value). Nothing was done. */
  USAGE: 2,
  /** The cluster could not be reached or refused the request (host down, bad namespace, auth). */
  CLUSTER: 3,
  /** The backup location could not be read or written (missing bucket, permissions, not a backup). */
  STORAGE: 4,
  /** Interrupted (Ctrl-C / SIGINT, SIGTERM). A backup interrupted this way has no manifest. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind = 'failed' | 'usage' | 'cluster' | 'storage' | 'interrupted';

const exitCodeByKind: Record<ErrorKind, ExitCode> = {
  failed: ExitCode.FAILED,
  usage: ExitCode.USAGE,
  cluster: ExitCode.CLUSTER,
  storage: ExitCode.STORAGE,
  interrupted: ExitCode.INTERRUPTED,
};

export function exitCodeOf(kind: ErrorKind): ExitCode {
  return exitCodeByKind[kind];
}

export class AerobakError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad command line or option value. */
export class UsageError extends AerobakError {
  constructor(message: string) {
    super('usage', 'USAGE', message);
  }
}

/** The namespace named on the command line (or by a namespace map) is not on the cluster. */
export class NamespaceNotFoundError extends AerobakError {
  constructor(
    readonly namespace: string,
    readonly available: readonly string[],
  ) {
    super(
      'cluster',
      'NAMESPACE_NOT_FOUND',
      `namespace "${namespace}" does not exist on the cluster; its namespaces are: ${available.length > 0 ? available.join(', ') : '(none)'}`,
    );
  }
}

/** An info command (index, UDF, statistics) was refused by a node. */
export class InfoCommandError extends AerobakError {
  constructor(
    readonly command: string,
    readonly resultCode: number,
    readonly detail: string,
  ) {
    super('cluster', 'INFO_COMMAND_FAILED', `the cluster refused "${command}": ${detail} (code ${resultCode})`);
  }
}

/** The user pressed Ctrl-C (or the process got SIGTERM) while a job ran. */
export class InterruptedError extends AerobakError {
  constructor(message: string) {
    super('interrupted', 'INTERRUPTED', message);
  }
}

/** Builds the message of a Node `AbortSignal` reason that is not already an Error. */
export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new InterruptedError(`aborted: ${String(r)}`);
}
