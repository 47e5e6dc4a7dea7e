/**
 * Errors of the Aerospike data plane. Every one is an AerobakError of kind 'cluster'
 * (exit code 3): the cluster could not be reached, refused a request or lost data in
 * flight. `code` is stable; the message names the node (host:port), the result code or
 * the partitions involved, so a person can act on it.
 */
import { AerobakError } from '../errors.js';
import { resultCodeHint, resultCodeName } from './wire/result-codes.js';

export class AerospikeError extends AerobakError {
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super('cluster', code, message, options);
  }
}

/**
 * A node could not be reached, or its connection failed or timed out mid-request. Code
 * TLS: the TLS handshake failed (certificate not trusted, name mismatch, protocol).
 */
export class ConnectionError extends AerospikeError {
  constructor(
    readonly host: string,
    readonly port: number,
    message: string,
    options?: { cause?: unknown; code?: 'CONNECTION' | 'TIMEOUT' | 'TLS' },
  ) {
    super(options?.code ?? 'CONNECTION', `${host.includes(':') ? `[${host}]` : host}:${port}: ${message}`, options);
  }

  /** True when the node stopped answering in time (as opposed to refusing or resetting). */
  get isTimeout(): boolean {
    return this.code === 'TIMEOUT';
  }
}

/** The server answered a request with a non-zero result code. */
export class ServerError extends AerospikeError {
  readonly resultName: string;
  constructor(
    readonly resultCode: number,
    context: string,
  ) {
    const name = resultCodeName(resultCode);
    const hint = resultCodeHint(resultCode);
    super('SERVER', `${context}: server returned ${name} (${resultCode})${hint ? `: ${hint}` : ''}`);
    this.resultName = name;
  }
}

/** The cluster view is unusable: no seed answered, a namespace has no partition owners. */
export class ClusterError extends AerospikeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CLUSTER', message, options);
  }
}

/** A scan gave up with partitions unfinished; `partitions` lists them (resume from `cursors()`). */
export class ScanError extends AerospikeError {
  constructor(
    readonly namespace: string,
    readonly partitions: readonly number[],
    reason: string,
    options?: { cause?: unknown },
  ) {
    super('SCAN_INCOMPLETE', `scan of namespace "${namespace}" stopped with ${partitions.length} partition(s) unfinished (${summarize(partitions)}): ${reason}`, options);
  }
}

/**
 * The cluster refused the login (LOGIN) or a connection's authentication (AUTHENTICATE):
 * wrong user or password, an expired password, a PKI certificate naming no user, a
 * server without security. The message names the node and the user, never a password.
 */
export class LoginError extends AerospikeError {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly user: string | undefined,
    readonly resultCode: number,
    message: string,
  ) {
    super('LOGIN_FAILED', `${host.includes(':') ? `[${host}]` : host}:${port}: ${message}`);
  }
}

/** "1-3, 7, 4000-4095" for a list of partition ids. */
function summarize(ids: readonly number[]): string {
  const sorted = [...ids].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.length > 20 ? parts.slice(0, 20).join(', ') + ', ...' : parts.join(', ');
}
