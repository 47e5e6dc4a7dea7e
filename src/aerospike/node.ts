/**
 * A cluster node and its connection pool.
 *
 * Pool contract: `acquire()` hands out an idle healthy connection or opens a new one;
 * the borrower returns it with `release()` only if the conversation on it finished
 * cleanly (nothing left unread), and otherwise calls `discard()`. The pool does not cap
 * how many connections are open at once: its users bound their own concurrency (a scan
 * holds one connection per node scan, the batch writer at most `maxInFlightPerNode`).
 * At most `maxIdle` idle connections are kept; idle ones do not hold the process open.
 */
import { Connection, formatEndpoint, type Endpoint } from './connection.js';
import { ClusterError } from './errors.js';

export interface NodeOptions {
  connectTimeoutMs: number;
  infoTimeoutMs: number;
  maxIdle?: number;
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
  ) {}

  get endpoint(): Endpoint {
    return { host: this.host, port: this.port };
  }

  get address(): string {
    return formatEndpoint(this.endpoint);
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
    return Connection.open(this.endpoint, { connectTimeoutMs: this.opts.connectTimeoutMs });
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
  async info(commands: readonly string[]): Promise<Map<string, string>> {
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
