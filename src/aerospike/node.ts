/**
 * A cluster node and its connection pool.
 *
 * Pool contract: `acquire()` hands out an idle healthy connection or opens a new one;
 * the borrower returns it with `release()` only if the conversation on it finished
 * cleanly (nothing left unread), and otherwise calls `discard()`. The pool does not cap
 * how many connections are open at once: its users bound their own concurrency (a scan
 * holds one connection per node scan, the batch writer at most `maxInFlightPerNode`).
 * At most `maxIdle` idle connections are kept; idle ones do not hold the process open.
 *
 * A new connection is dialled with the cluster's TLS settings, if any, and on a cluster
 * with security it is authenticated by the node's session (auth.ts: AUTHENTICATE with
 * the token, or LOGIN) before it is handed out; a connection that fails either is
 * closed and the error (ConnectionError, LoginError) goes to the borrower.
 */
import type { NodeSession } from './auth.js';
import { Connection, formatAddress, type ConnectOptions, type Endpoint } from './connection.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterError, ConnectionError } from './errors.js';

/** Tries of an info request lost to a closed or reset connection (see Node.info). */
const INFO_ATTEMPTS = 3;
const INFO_RETRY_PAUSE_MS = 100;

export interface NodeOptions extends ConnectOptions {
  infoTimeoutMs: number;
  maxIdle?: number;
  /** The node's login session, on a cluster with security. */
  session?: NodeSession;
}

export class Node {
  private readonly idle: Connection[] = [];
  private closed = false;

  constructor(
    /** The server's node id (the `node` info value). */
    readonly name: string,
    readonly host: string,
    readonly port: number,
    private readonly opts: NodeOptions,
    /** The name its TLS certificate must carry, when connecting with TLS. */
    readonly tlsName?: string,
  ) {}

  get endpoint(): Endpoint {
    return this.tlsName !== undefined ? { host: this.host, port: this.port, tlsName: this.tlsName } : { host: this.host, port: this.port };
  }

  /** "host:port", for messages. */
  get address(): string {
    return formatAddress(this.endpoint);
  }

  /** The login session's counters (LOGINs sent, tokens refused); undefined without security. */
  get sessionStats(): { logins: number; refusedTokens: number } | undefined {
    return this.opts.session?.stats;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async acquire(): Promise<Connection> {
    if (this.closed) throw new ClusterError(`node ${this.name} (${this.address}) is no longer part of the cluster`);
    for (let conn = this.idle.pop(); conn; conn = this.idle.pop()) {
      if (conn.isIdle) {
        conn.setRef(true);
        return conn;
      }
      conn.close();
    }
    const conn = await Connection.open(this.endpoint, this.opts);
    if (this.opts.session) {
      try {
        await this.opts.session.ready(conn);
      } catch (err) {
        conn.close();
        throw err;
      }
    }
    return conn;
  }

  release(conn: Connection): void {
    if (this.closed || !conn.isIdle || this.idle.length >= (this.opts.maxIdle ?? 16)) {
      conn.close();
      return;
    }
    conn.setRef(false);
    this.idle.push(conn);
  }

  discard(conn: Connection): void {
    conn.close();
  }

  /** Runs info commands on a pooled connection. */
  /**
   * Info commands are reads, so one lost to a connection that closed or reset (a pooled
   * connection the server dropped as idle, a node restarting, a network blip) is sent
   * again on a new connection, twice at most, after a short pause. A timeout is not
   * retried here: the node was given its whole info timeout already.
   */
  async info(commands: readonly string[]): Promise<Map<string, string>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.infoOnce(commands);
      } catch (err) {
        if (!(err instanceof ConnectionError) || err.isTimeout || err.code === 'TLS' || attempt >= INFO_ATTEMPTS || this.closed) throw err;
        await sleep(INFO_RETRY_PAUSE_MS * attempt);
      }
    }
  }

  private async infoOnce(commands: readonly string[]): Promise<Map<string, string>> {
    const conn = await this.acquire();
    try {
      const reply = await conn.info(commands, this.opts.infoTimeoutMs);
      this.release(conn);
      return reply;
    } catch (err) {
      this.discard(conn);
      throw err;
    }
  }

  /** Closes idle connections; borrowed ones are closed when they come back. */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.close();
  }

  toString(): string {
    return `${this.name} (${this.address})`;
  }
}
