/**
 * A test cluster: one or more nodes in this process sharing one data store, with each
 * of the 4096 partitions mastered by one node (replication factor 1), plus the fault
 * controls tests use. Runs in whatever thread starts it: tests get it through the
 * worker-thread handle (handle.ts); the CLI runs it directly.
 *
 * Partition p starts on node p % nodes. A node answers for partitions it does not own
 * the way a real node does: single-record and batch requests are served through the
 * owner (the server proxies them), scans answer partition-done with 11.
 */
import { PARTITION_COUNT, CITRUSLEAF_EPOCH_UNIX_S, type RawRecord } from '../../../src/aerospike/types.js';
import { ServerClock, clepochMsToUnixNs } from './clock.js';
import { Metadata } from './metadata.js';
import { TestNode } from './node.js';
import { Security } from './security.js';
import { Namespace, type StoredRecord } from './store.js';
import type { TestServerOptions, TestTlsOptions } from './index.js';

export interface ServerSettings {
  clusterName: string | undefined;
  /** Target size of scan and batch reply frames. */
  frameBytes: number;
  /** The nodes serve TLS with these settings. */
  tls: TestTlsOptions | undefined;
  /** The -std peers and service lists announce unreachable addresses, the -alt ones the real ones. */
  natAddresses: boolean;
  /** What each node announces instead of its own address (index.ts TestServerOptions.announce). */
  announce: readonly string[];
}

/** Synchronous data access, for code running in the server's own thread. */
export interface StoreAccess {
  records(namespace: string, set?: string): RawRecord[];
  get(namespace: string, digest: Buffer): RawRecord | undefined;
  put(record: RawRecord): void;
  remove(namespace: string, digest: Buffer): boolean;
  count(namespace: string, set?: string): number;
  clear(namespace?: string): void;
}

interface ResolvedOptions {
  nodes: number;
  namespaces: string[];
  recordSizeLimit: number;
  defaultTtl: number;
  host: string;
  ports: number[];
  clusterName: string | undefined;
  frameBytes: number;
  security: TestServerOptions['security'];
  tls: TestTlsOptions | undefined;
  natAddresses: boolean;
  announce: string[];
}

/** Defaults for every option left out or undefined; throws RangeError on nonsense. */
function resolveOptions(o: TestServerOptions): ResolvedOptions {
  const opts: ResolvedOptions = {
    nodes: o.nodes ?? 1,
    namespaces: o.namespaces ?? ['test', 'bar'],
    recordSizeLimit: o.recordSizeLimit ?? 1024 * 1024,
    defaultTtl: o.defaultTtl ?? 0,
    host: o.host ?? '127.0.0.1',
    ports: o.ports ?? [],
    clusterName: o.clusterName,
    frameBytes: o.frameBytes ?? 128 * 1024,
    security: o.security,
    tls: o.tls,
    natAddresses: o.natAddresses ?? false,
    announce: o.announce ?? [],
  };
  const positive = (name: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) throw new RangeError(`${name} must be a positive integer, got ${v}`);
  };
  positive('nodes', opts.nodes);
  positive('recordSizeLimit', opts.recordSizeLimit);
  positive('frameBytes', opts.frameBytes);
  if (!Number.isInteger(opts.defaultTtl) || opts.defaultTtl < 0) throw new RangeError(`defaultTtl must be a non-negative integer, got ${opts.defaultTtl}`);
  if (opts.namespaces.length === 0) throw new RangeError('at least one namespace is needed');
  for (const ns of opts.namespaces) {
    if (!/^[A-Za-z0-9_-]{1,31}$/.test(ns)) throw new RangeError(`bad namespace name '${ns}'`);
  }
  return opts;
}

export class TestServer {
  readonly clock = new ServerClock();
  readonly metadata = new Metadata();
  readonly settings: ServerSettings;
  /** Access control; undefined when the server runs without security (the default). */
  readonly security: Security | undefined;
  readonly nodes: TestNode[];
  private readonly namespaceMap = new Map<string, Namespace>();
  /** Owner node index per partition. */
  private readonly owners = new Int32Array(PARTITION_COUNT);
  private readonly unavailable = new Uint8Array(PARTITION_COUNT);
  private readonly writeFaults: { code: number; count: number }[] = [];
  /** Writes answered with an injected fault so far. */
  injectedWriteFaults = 0;

  private constructor(opts: ResolvedOptions) {
    this.settings = { clusterName: opts.clusterName, frameBytes: opts.frameBytes, tls: opts.tls, natAddresses: opts.natAddresses, announce: opts.announce };
    this.security = opts.security ? new Security(opts.security, this.clock) : undefined;
    for (const name of opts.namespaces) {
      this.namespaceMap.set(name, new Namespace(name, { defaultTtl: opts.defaultTtl, maxRecordSize: opts.recordSizeLimit }, this.clock));
    }
    this.nodes = Array.from({ length: opts.nodes }, (_, i) => new TestNode(this, i, opts.host, opts.ports[i] ?? 0));
    for (let pid = 0; pid < PARTITION_COUNT; pid++) this.owners[pid] = pid % opts.nodes;
  }

  static async start(options: TestServerOptions = {}): Promise<TestServer> {
    const server = new TestServer(resolveOptions(options));
    try {
      for (const node of server.nodes) await node.start();
    } catch (err) {
      await server.stop();
      throw err;
    }
    return server;
  }

  get hosts(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  get seeds(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: n.host, port: n.port }));
  }

  get namespaces(): string[] {
    return [...this.namespaceMap.keys()];
  }

  namespace(name: string): Namespace | undefined {
    return this.namespaceMap.get(name);
  }

  namespaceObjects(): Namespace[] {
    return [...this.namespaceMap.values()];
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.kill()));
  }

  // ------------------------------------------------------------------ write faults

  /** Queues a fault for the next `count` record writes (see index.ts WriteFault). */
  failWrites(code: number, count: number): void {
    if (!Number.isInteger(code) || code <= 0 || code > 255) throw new RangeError(`failWrites: bad result code ${code}`);
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`failWrites: bad count ${count}`);
    this.writeFaults.push({ code, count });
  }

  clearWriteFaults(): void {
    this.writeFaults.length = 0;
  }

  /** The result code a write about to run must answer instead, if a fault is queued (consumes it). */
  takeWriteFault(): number | undefined {
    const fault = this.writeFaults[0];
    if (!fault) return undefined;
    if (--fault.count === 0) this.writeFaults.shift();
    this.injectedWriteFaults++;
    return fault.code;
  }

  // ------------------------------------------------------------------ partitions

  owner(pid: number): TestNode {
    return this.nodes[this.owners[checkPid(pid)]!]!;
  }

  partitionsOf(node: TestNode): number[] {
    const out: number[] = [];
    for (let pid = 0; pid < PARTITION_COUNT; pid++) if (this.owners[pid] === node.index) out.push(pid);
    return out;
  }

  isAvailable(pid: number): boolean {
    return this.unavailable[checkPid(pid)] === 0;
  }

  /** True when `node` may scan the partition: it owns it and it is available. */
  servesPartition(node: TestNode, pid: number): boolean {
    return this.owners[pid] === node.index && this.unavailable[pid] === 0;
  }

  /**
   * Whether a single-record request that reached `node` can run: true for its own
   * partitions, and for another live node's partitions once that owner answers (a paused
   * owner makes the request wait, as a proxied transaction would); false for
   * unavailable partitions and partitions of a killed node.
   */
  async reservePartition(node: TestNode, pid: number): Promise<boolean> {
    if (this.unavailable[pid]) return false;
    const owner = this.nodes[this.owners[pid]!]!;
    if (owner === node) return node.state !== 'killed';
    node.proxied++;
    return owner.gate();
  }

  /** Gives the partitions to `to`; bumps partition-generation on every node that gained or lost one. */
  movePartitions(pids: Iterable<number>, to: TestNode | number): void {
    const target = typeof to === 'number' ? this.nodes[to] : to;
    if (!target || this.nodes[target.index] !== target) throw new RangeError('movePartitions: unknown target node');
    const touched = new Set<TestNode>();
    for (const pid of pids) {
      const from = this.nodes[this.owners[checkPid(pid)]!]!;
      if (from === target) continue;
      this.owners[pid] = target.index;
      touched.add(from).add(target);
    }
    for (const node of touched) node.partitionGeneration++;
  }

  /** Marks partitions unavailable (requests answer 11, scans send partition-done 11) or available again. */
  setPartitionsAvailable(pids: Iterable<number>, available: boolean): void {
    for (const pid of pids) this.unavailable[checkPid(pid)] = available ? 0 : 1;
  }

  /** A node was killed or restarted: the peer lists changed, so every peers-generation moves. */
  peersChanged(): void {
    for (const node of this.nodes) node.peersGeneration++;
  }

  /** The nodes a node lists as peers: every other node that is not killed. */
  peersOf(node: TestNode): TestNode[] {
    return this.nodes.filter((n) => n !== node && n.state !== 'killed');
  }

  // ------------------------------------------------------------------ data access

  readonly data: StoreAccess = {
    records: (namespace, set) => [...this.ns(namespace).records(set)].map((r) => toRaw(namespace, r)),
    get: (namespace, digest) => {
      const rec = this.ns(namespace).get(digest);
      return rec && toRaw(namespace, rec);
    },
    put: (record) => this.ns(record.namespace).put(fromRaw(record, this.clock)),
    remove: (namespace, digest) => this.ns(namespace).remove(digest),
    count: (namespace, set) => this.ns(namespace).liveStats(set).objects,
    clear: (namespace) => {
      for (const ns of namespace === undefined ? this.namespaceObjects() : [this.ns(namespace)]) ns.clear();
    },
  };

  private ns(name: string): Namespace {
    const ns = this.namespaceMap.get(name);
    if (!ns) throw new RangeError(`no namespace '${name}' on the test server`);
    return ns;
  }
}

function checkPid(pid: number): number {
  if (!Number.isInteger(pid) || pid < 0 || pid >= PARTITION_COUNT) throw new RangeError(`partition id ${pid} out of range`);
  return pid;
}

function toRaw(namespace: string, r: StoredRecord): RawRecord {
  const raw: RawRecord = {
    namespace,
    set: r.set,
    digest: Buffer.from(r.digest),
    generation: r.generation,
    voidTime: r.voidTime,
    lastUpdateTime: clepochMsToUnixNs(r.lutMs),
    bins: r.bins.map((b) => ({ name: b.name, type: b.type, value: Buffer.from(b.value) })),
  };
  if (r.key) raw.userKey = { type: r.key[0]!, bytes: Buffer.from(r.key.subarray(1)) };
  return raw;
}

function fromRaw(raw: RawRecord, clock: ServerClock): StoredRecord {
  if (raw.digest.length !== 20) throw new RangeError('digest must be 20 bytes');
  return {
    digest: Buffer.from(raw.digest),
    set: raw.set,
    key: raw.userKey ? Buffer.concat([Buffer.from([raw.userKey.type]), raw.userKey.bytes]) : undefined,
    bins: raw.bins.map((b) => ({ name: b.name, type: b.type, value: Buffer.from(b.value) })),
    generation: raw.generation,
    voidTime: raw.voidTime,
    lutMs: raw.lastUpdateTime === undefined ? clock.nowClepochMs() : Number(raw.lastUpdateTime / 1_000_000n) - CITRUSLEAF_EPOCH_UNIX_S * 1000,
  };
}
