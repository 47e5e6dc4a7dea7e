/**
 * One server node: a TCP listener on the loopback interface (a TLS one when the server
 * has `tls`: then the node serves TLS only, as a node whose service is TLS-only), its
 * connections, its identity (node name, partition and peers generations) and its fault
 * controls. A TLS handshake that fails (the client does not trust the certificate, or
 * sends none when one is required) just closes that socket, as the server does.
 *
 * States:
 *   running   accepts connections and answers requests
 *   paused    keeps its listener and connections but reads and answers nothing (the
 *             kernel still accepts connections); requests queue up until resume()
 *   killed    listener and every connection closed; restart() listens again on the
 *             same port
 */
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Connection } from './connection.js';
import type { TestServer } from './cluster.js';

export type NodeState = 'running' | 'paused' | 'killed';

export class TestNode {
  readonly host: string;
  /** Known after start(); stays the same across kill()/restart(). */
  port = 0;
  /** Hex node id, as the `node` info command reports it; derived from the first port, so unique per machine. */
  name = '';
  /** Bumped whenever this node's partition ownership changes (`partition-generation`). */
  partitionGeneration = 0;
  /** Bumped whenever this node's peer list changes (`peers-generation`). */
  peersGeneration = 0;
  /** Single-record requests and batch rows this node served for partitions another node owns. */
  proxied = 0;
  /** Records all scans on this node have put into reply frames so far. */
  scannedRecords = 0;
  /** The last scan this node completed: records sent and milliseconds taken. */
  lastScan: { records: number; ms: number } | undefined;
  private listener: Server | undefined;
  private readonly connections = new Set<Connection>();
  private stateValue: NodeState = 'killed';
  private resumeWaiters: Array<(alive: boolean) => void> = [];

  constructor(
    readonly server: TestServer,
    readonly index: number,
    host: string,
    private readonly requestedPort: number,
  ) {
    this.host = host;
  }

  get state(): NodeState {
    return this.stateValue;
  }

  /** "127.0.0.1:3000" */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  /** Open client connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  async start(): Promise<void> {
    const tls = this.server.settings.tls;
    const listener: Server = tls
      ? createTlsServer(
          { key: tls.key, cert: tls.cert, ...(tls.ca !== undefined ? { ca: tls.ca } : {}), requestCert: tls.requestCert === true, rejectUnauthorized: tls.requestCert === true, noDelay: true },
          (socket: TLSSocket) => this.accept(socket, socket),
        ).on('tlsClientError', () => undefined)
      : createServer({ noDelay: true }, (socket) => this.accept(socket, undefined));
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.port || this.requestedPort, this.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    const addr = listener.address();
    if (addr && typeof addr === 'object') this.port = addr.port;
    this.name ||= `BB9${hex(this.port, 4)}0000${hex(this.index + 1, 4)}`;
    this.listener = listener;
    this.stateValue = 'running';
  }

  private accept(socket: Socket, tlsSocket: TLSSocket | undefined): void {
    if (this.stateValue === 'killed') {
      socket.destroy();
      return;
    }
    const conn = new Connection(socket, this, tlsSocket);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
    if (this.stateValue === 'paused') conn.pauseReading();
  }

  /** Resolves true at once when running or at resume() when paused; false when (or once) killed. */
  gate(): Promise<boolean> {
    if (this.stateValue === 'running') return Promise.resolve(true);
    if (this.stateValue === 'killed') return Promise.resolve(false);
    return new Promise((resolve) => this.resumeWaiters.push(resolve));
  }

  /** Stops answering: nothing is read or sent until resume(). */
  pause(): void {
    if (this.stateValue !== 'running') return;
    this.stateValue = 'paused';
    for (const conn of this.connections) conn.pauseReading();
  }

  resume(): void {
    if (this.stateValue !== 'paused') return;
    this.stateValue = 'running';
    for (const conn of this.connections) conn.resumeReading();
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w(true);
  }

  /** Closes every client connection; the listener stays and new connections are served. */
  dropConnections(): void {
    for (const conn of this.connections) conn.destroy();
    this.connections.clear();
  }

  /**
   * Closes the listener and every connection, as a crashed node. Its partitions stay
   * assigned to it (and so unavailable) until the test moves them; the other nodes
   * drop it from their peer lists.
   */
  async kill(): Promise<void> {
    if (this.stateValue === 'killed') return;
    this.stateValue = 'killed';
    this.dropConnections();
    const waiters = this.resumeWaiters;
    this.resumeWaiters = [];
    for (const w of waiters) w(false);
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
    this.server.peersChanged();
  }

  /** Listens again on the same port after kill(). */
  async restart(): Promise<void> {
    if (this.stateValue !== 'killed') return;
    await this.start();
    this.server.peersChanged();
  }

  /** The partitions this node masters (the same in every namespace), ascending. */
  ownedPartitions(): number[] {
    return this.server.partitionsOf(this);
  }
}

function hex(n: number, digits: number): string {
  return n.toString(16).toUpperCase().padStart(digits, '0');
}
