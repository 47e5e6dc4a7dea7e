/**
 * An Aerospike-protocol test server, in the spirit of miniredis or moto: enough of the
 * wire protocol of a real Aerospike 8.1 server for the official client (aerospike npm
 * 6.x, C client 7.x) and for aerobak's wire-level scan reader and batch writer, with
 * namespaces held in memory, several nodes per cluster and fault controls.
 *
 * Module map:
 *   cluster.ts      TestServer: nodes, partition ownership, fault controls, data access
 *   node.ts         one node: listener (TCP, or TLS when `tls` is set), connections, pause/kill/restart
 *   connection.ts   framing, request queueing, backpressure, proto-type dispatch
 *   info.ts         info commands
 *   transaction.ts  AS_MSG routing: batch / scan / single record
 *   ops.ts          single-record read, write, operate, delete semantics
 *   batch.ts        batch index requests (field 41)
 *   scan.ts         partition scans and queries without an index
 *   security.ts     users, roles, LOGIN/AUTHENTICATE and session tokens (when `security` is set)
 *   expressions.ts  filter expressions (record metadata)
 *   cdt.ts hll.ts geo.ts  map put ops, HyperLogLog init/add, GeoJSON cell prefix
 *   cdt-rewrite.ts  written lists and maps: validation, key order, compaction (as stored)
 *   store.ts        namespaces: per-partition digest-ordered record arrays
 *   metadata.ts     secondary-index definitions and UDF modules (SMD)
 *   reply.ts        multi-message reply frames with socket backpressure
 *   clock.ts errors.ts msgpack-raw.ts  server clock, result-code errors, raw msgpack spans
 *   handle.ts worker.ts transfer.ts  the server in a worker thread, driven by async calls
 *   certs.ts        a test CA and certificates made with openssl at run time, for `tls`
 *   wire-client.ts  a raw-protocol client for tests (frames in, decoded replies out)
 *   cli.ts          `npx tsx test/support/aerospike-server/cli.ts --port 3000`
 *
 * Where the real server's behaviour is not reproduced, the module says so in its header.
 */
import type { RawRecord } from '../../../src/aerospike/types.js';
import { WorkerServer, type GenerateSpec } from './handle.js';
import type { NodeState } from './node.js';
import type { SecurityOptions, SecurityStats } from './security.js';

export { TestServer } from './cluster.js';
export type { GenerateSpec } from './handle.js';
export type { NodeState } from './node.js';
export type { SecurityOptions, SecurityStats, TestUser } from './security.js';

/** A TLS service on every node instead of the clear one (PEM texts; see certs.ts). */
export interface TestTlsOptions {
  key: string;
  cert: string;
  /** CAs that issue client certificates (needed with requestCert). */
  ca?: string;
  /** Require a client certificate signed by `ca` (mutual TLS; PKI logins need it). */
  requestCert?: boolean;
  /** The TLS name the nodes announce in peers-tls-std/alt (the server's tls-name); default none. */
  name?: string;
}

export interface TestServerOptions {
  /** Nodes in the cluster (default 1). */
  nodes?: number;
  /** Namespaces, in memory (default ['test', 'bar']). */
  namespaces?: string[];
  /** Namespace max-record-size in bytes; larger writes fail with 13 (default 1 MiB). */
  recordSizeLimit?: number;
  /** Namespace default-ttl in seconds, used for writes with ttl 0 (default 0: never expire). */
  defaultTtl?: number;
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Port per node; 0 or missing picks a free port (default). */
  ports?: number[];
  /** Reported by `cluster-name` (default unset: the server replies "null"). */
  clusterName?: string;
  /** Target size of scan and batch reply frames (default 128 KiB). */
  frameBytes?: number;
  /** Access control as Aerospike Enterprise (security.ts); default none: admin messages get the community edition's 51. */
  security?: SecurityOptions;
  /** Serve TLS instead of clear text on every node's port. */
  tls?: TestTlsOptions;
  /**
   * Announce, as a cluster behind NAT does, addresses clients cannot reach in the
   * `-std` peers and service lists (127.0.0.1:1, a refused port), and the addresses the
   * nodes listen on in the `-alt` lists (what clients reach with --services-alternate).
   */
  natAddresses?: boolean;
  /**
   * The address each node announces (`service*`, `peers-*`, `services`) instead of its
   * own, by node index, as a node configured with `access-address` does: a proxy's, so
   * that clients discovering the cluster keep going through the proxy (chaos tests put
   * a Toxiproxy in front of every node).
   */
  announce?: string[];
}

/** Write faults: the next `count` record writes (single or batch rows, on any node) answer `code` without writing. */
export interface WriteFault {
  code: number;
  count: number;
}

/** Direct access to the stored records, for seeding and assertions (no network). */
export interface DataAccess {
  /** Live records, in partition then descending digest order. */
  records(namespace: string, set?: string): Promise<RawRecord[]>;
  get(namespace: string, digest: Buffer): Promise<RawRecord | undefined>;
  /**
   * Stores records as given: bins byte for byte (GeoJSON included: no cell prefix is
   * added; lists and maps are neither validated nor put in the server's form as a write
   * would, see cdt-rewrite.ts), generation, void time, and lastUpdateTime (ns since the
   * Unix epoch; now when absent; kept at millisecond resolution like the real server).
   */
  put(records: RawRecord | RawRecord[]): Promise<void>;
  remove(namespace: string, digest: Buffer): Promise<boolean>;
  /** Live records (expired ones excluded, unlike the info statistics), counted by walking them. */
  count(namespace: string, set?: string): Promise<number>;
  /** Drops every record and set of one namespace, or of all. */
  clear(namespace?: string): Promise<void>;
  /** Writes `count` synthetic records in the server thread (fast seeding for load tests). */
  generate(spec: GenerateSpec): Promise<void>;
}

export interface NodeStatus {
  state: NodeState;
  /** Open client connections. */
  connections: number;
  partitionGeneration: number;
  peersGeneration: number;
  /** Partitions this node masters, ascending. */
  partitions: number[];
  /** Single-record requests and batch rows served for partitions another node owns (the real server proxies them). */
  proxied: number;
  /** Records all scans on this node have put into reply frames (sent or waiting for the socket to drain). */
  scannedRecords: number;
  /** The last scan this node completed: records sent and milliseconds from request to LAST. */
  lastScan: { records: number; ms: number } | undefined;
}

/** One node and its fault controls. */
export interface TestNodeHandle {
  readonly index: number;
  /** Hex node id, as `node` reports it. */
  readonly name: string;
  readonly host: string;
  /** Stays the same across kill() and restart(). */
  readonly port: number;
  /** "127.0.0.1:port" */
  readonly address: string;
  /** Closes the listener and every connection; the node's partitions stay assigned to it (unavailable) and peers drop it. */
  kill(): Promise<void>;
  /** Listens again on the same port after kill(). */
  restart(): Promise<void>;
  /** Stops reading and answering (connections stay open, requests wait) until resume(). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Closes every client connection; the listener stays. */
  dropConnections(): Promise<void>;
  status(): Promise<NodeStatus>;
}

export interface TestServerHandle {
  readonly nodes: readonly TestNodeHandle[];
  /** "127.0.0.1:p1,127.0.0.1:p2" */
  readonly hosts: string;
  readonly seeds: { host: string; port: number }[];
  readonly namespaces: string[];
  readonly data: DataAccess;
  /** The server's clock: `advance(ms)` expires records without sleeping. */
  readonly clock: { advance(ms: number): Promise<void>; nowMs(): Promise<number> };
  /** Security controls (a server started with `security`): expire tokens, count logins. */
  readonly security: {
    /** Every token issued so far becomes expired (AUTHENTICATE answers EXPIRED_SESSION); connections already authenticated keep working. */
    expireSessions(): Promise<void>;
    stats(): Promise<SecurityStats>;
  };
  /** Index of the node that masters a partition (the same in every namespace). */
  owner(pid: number): Promise<number>;
  /** Moves partitions to node `to`, bumping partition-generation on the nodes involved. */
  movePartitions(pids: Iterable<number>, to: number): Promise<void>;
  /** Unavailable partitions answer 11 to single-record and batch requests and partition-done 11 to scans. */
  setPartitionsAvailable(pids: Iterable<number>, available: boolean): Promise<void>;
  isAvailable(pid: number): Promise<boolean>;
  /** Queues write faults (see WriteFault); `clearWriteFaults` drops the ones not yet used. */
  failWrites(fault: WriteFault): Promise<void>;
  clearWriteFaults(): Promise<void>;
  /** Writes answered with an injected fault so far. */
  injectedWriteFaults(): Promise<number>;
  /** Closes every node and ends the server thread. */
  stop(): Promise<void>;
}

/**
 * Starts a test cluster on 127.0.0.1 (free ports unless `ports` says otherwise), in a
 * worker thread of this process (see handle.ts for why).
 */
export function startTestServer(opts?: TestServerOptions): Promise<TestServerHandle> {
  return WorkerServer.start(opts);
}
