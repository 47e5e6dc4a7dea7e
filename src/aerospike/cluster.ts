/**
 * The cluster view of the data plane: nodes, their connection pools, and the master of
 * every partition. Lossless where the official client is not (it never touches record
 * data), and small: what a partition scan and a batch writer need.
 *
 * Discovery (as the C client does it): each seed is asked for `node`; every known node is
 * tended every `tendIntervalMs` with `node`, `peers-generation`, `partition-generation`.
 * A changed peers generation fetches `peers-clear-std` and connects to peers not yet known
 * (each verified by its `node` name); a changed partition generation fetches `replicas`
 * and rebuilds the partition map. A seed keeps the address it was given (so a proxy or a
 * load balancer in front of a single node keeps being used); peers are dialled at the
 * address they announce, passed through `mapAddress`. A node that failed two tends in a
 * row and that no other node lists as a peer is dropped.
 *
 * Not supported yet: authentication and TLS (`user`/`password`/`tls` are refused with
 * AuthNotSupportedError / TlsNotSupportedError). Both plug into Connection.open.
 */
import { Connection, formatEndpoint, type Endpoint } from './connection.js';
import { AuthNotSupportedError, ClusterError, ConnectionError, TlsNotSupportedError } from './errors.js';
import { Node } from './node.js';
import { PartitionMap, parseReplicas, type MasterClaim } from './partition-map.js';
import { parsePeers, type Peer } from './peers.js';

export interface ClusterOptions {
  /** "host[:port],host[:port]" (port 3000 when omitted; IPv6 as "[::1]:3000") or a list. */
  hosts: string | Array<{ host: string; port: number }>;
  user?: string;
  password?: string;
  tls?: unknown;
  /** TCP connect timeout per connection; default 3000 ms. */
  connectTimeoutMs?: number;
  /** Time allowed for an info reply; default 5000 ms. */
  infoTimeoutMs?: number;
  /** Period of the tend (partition map refresh); default 1000 ms. The timer does not hold the process open. */
  tendIntervalMs?: number;
  /** Maps an address announced by `peers-clear-std` to the address to dial (NAT, test proxies). */
  mapAddress?: (announced: Endpoint) => Endpoint;
}

interface TendState {
  peersGeneration: string | undefined;
  partitionGeneration: string | undefined;
  peers: Peer[];
  claims: ReadonlyMap<string, MasterClaim>;
  failures: number;
}

const DROP_AFTER_FAILURES = 2;

export function parseHosts(hosts: ClusterOptions['hosts']): Endpoint[] {
  if (Array.isArray(hosts)) return hosts.map((h) => ({ host: h.host, port: h.port }));
  return hosts
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
      if (!m) throw new ClusterError(`bad host "${s}": expected host[:port] or [ipv6][:port]`);
      return { host: m[1]!, port: m[2] === undefined ? 3000 : Number(m[2]) };
    });
}

export class Cluster {
  private nodeList: Node[] = [];
  private readonly tendState = new Map<Node, TendState>();
  private map: PartitionMap<Node> = PartitionMap.empty;
  private tending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly nodeOptions;

  private constructor(private readonly opts: ClusterOptions) {
    this.nodeOptions = { connectTimeoutMs: opts.connectTimeoutMs ?? 3000, infoTimeoutMs: opts.infoTimeoutMs ?? 5000 };
  }

  /** Connects to the seeds, discovers the cluster and loads the partition map. */
  static async connect(opts: ClusterOptions): Promise<Cluster> {
    if (opts.user !== undefined || opts.password !== undefined) throw new AuthNotSupportedError();
    if (opts.tls !== undefined && opts.tls !== false) throw new TlsNotSupportedError();
    const seeds = parseHosts(opts.hosts);
    if (seeds.length === 0) throw new ClusterError('no seed host given');
    const cluster = new Cluster(opts);
    await cluster.seed(seeds);
    cluster.schedule();
    return cluster;
  }

  get nodes(): ReadonlyArray<Node> {
    return this.nodeList;
  }

  /** Runs info commands on `node`, or on any healthy node. */
  info(commands: string[], node?: Node): Promise<Map<string, string>> {
    return (node ?? this.anyNode()).info(commands);
  }

  async infoAll(commands: string[]): Promise<Map<Node, Map<string, string>>> {
    const nodes = [...this.nodeList];
    const replies = await Promise.all(nodes.map((n) => n.info(commands)));
    return new Map(nodes.map((n, i) => [n, replies[i]!]));
  }

  ownerOf(namespace: string, partitionId: number): Node | undefined {
    return this.map.ownerOf(namespace, partitionId);
  }

  namespaces(): string[] {
    return this.map.namespaces();
  }

  /** Tends now (or joins the tend in progress): callers retrying after a node failure use it. */
  refresh(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.tending ??= this.tend().finally(() => (this.tending = undefined));
    return this.tending;
  }

  /** Stops tending and closes idle connections; streams still running keep theirs until they end. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    await this.tending?.catch(() => undefined);
    for (const node of this.nodeList) node.close();
  }

  private anyNode(): Node {
    const healthy = this.nodeList.filter((n) => this.tendState.get(n)!.failures === 0);
    const pool = healthy.length > 0 ? healthy : this.nodeList;
    const node = pool[Math.floor(Math.random() * pool.length)];
    if (!node) throw new ClusterError('the cluster has no nodes left');
    return node;
  }

  private async seed(seeds: Endpoint[]): Promise<void> {
    const results = await Promise.allSettled(seeds.map((e) => this.openNode(e)));
    for (const r of results) if (r.status === 'fulfilled' && r.value) this.addNode(r.value);
    if (this.nodeList.length === 0) {
      const errors = results.map((r) => (r.status === 'rejected' ? (r.reason as Error) : new ClusterError('not a node')));
      if (errors.length === 1) throw errors[0];
      throw new ClusterError(
        `no seed answered: ${seeds.map((s, i) => `${formatEndpoint(s)} (${errors[i]!.message})`).join('; ')}`,
        { cause: new AggregateError(errors) },
      );
    }
    await this.refresh();
  }

  /** Connects to an address and asks its node name; `expectedName` guards against a reused address. */
  private async openNode(endpoint: Endpoint, expectedName?: string): Promise<Node | undefined> {
    const conn = await Connection.open(endpoint, this.nodeOptions);
    let name: string | undefined;
    try {
      name = (await conn.info(['node'], this.nodeOptions.infoTimeoutMs)).get('node');
    } catch (err) {
      conn.close();
      throw err;
    }
    if (!name) {
      conn.close();
      throw new ConnectionError(endpoint.host, endpoint.port, 'did not answer the "node" info command');
    }
    if ((expectedName !== undefined && name !== expectedName) || this.nodeList.some((n) => n.name === name)) {
      conn.close();
      return undefined;
    }
    const node = new Node(name, endpoint.host, endpoint.port, this.nodeOptions);
    node.release(conn);
    return node;
  }

  private addNode(node: Node): void {
    if (this.nodeList.some((n) => n.name === node.name)) {
      node.close();
      return;
    }
    this.nodeList = [...this.nodeList, node];
    this.tendState.set(node, { peersGeneration: undefined, partitionGeneration: undefined, peers: [], claims: new Map(), failures: 0 });
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      this.refresh()
        .catch(() => undefined)
        .finally(() => this.schedule());
    }, this.opts.tendIntervalMs ?? 1000);
    this.timer.unref();
  }

  private async tend(): Promise<void> {
    let mapChanged = false;
    // New peers are tended in the same pass, so the map is complete when connect() returns.
    for (let pending = this.nodeList; pending.length > 0; ) {
      const changed = await Promise.all(pending.map((n) => this.tendNode(n)));
      mapChanged ||= changed.some(Boolean);
      pending = await this.discoverPeers();
    }
    mapChanged ||= this.dropDeadNodes();
    if (mapChanged) this.map = this.buildMap();
  }

  /**
   * Claims of failing nodes are left out while a healthy node remains: in AP mode every
   * regime is 0, so a dead node's stale claims would otherwise tie with its successors'.
   */
  private buildMap(): PartitionMap<Node> {
    const entries = [...this.tendState];
    const healthy = entries.filter(([, s]) => s.failures === 0);
    return PartitionMap.build((healthy.length > 0 ? healthy : entries).map(([n, s]) => [n, s.claims] as const));
  }

  /** Refreshes one node's peers and partition claims; true when what it adds to the map changed. */
  private async tendNode(node: Node): Promise<boolean> {
    const state = this.tendState.get(node)!;
    const wasHealthy = state.failures === 0;
    try {
      const reply = await node.info(['node', 'peers-generation', 'partition-generation']);
      if (reply.get('node') !== node.name) {
        throw new ClusterError(`${node.address} now answers as node ${reply.get('node')}, not ${node.name}`);
      }
      if (reply.get('peers-generation') !== state.peersGeneration) {
        const peers = await node.info(['peers-generation', 'peers-clear-std']);
        state.peers = parsePeers(peers.get('peers-clear-std') ?? '').peers;
        state.peersGeneration = peers.get('peers-generation');
      }
      let changed = false;
      if (reply.get('partition-generation') !== state.partitionGeneration) {
        const replicas = await node.info(['partition-generation', 'replicas']);
        state.claims = parseReplicas(replicas.get('replicas') ?? '');
        state.partitionGeneration = replicas.get('partition-generation');
        changed = true;
      }
      state.failures = 0;
      return changed || !wasHealthy;
    } catch {
      state.failures++;
      return wasHealthy;
    }
  }

  /** Connects to peers named by healthy nodes and not known yet; returns the nodes added. */
  private async discoverPeers(): Promise<Node[]> {
    const wanted = new Map<string, Peer>();
    for (const [node, state] of this.tendState) {
      if (state.failures > 0) continue;
      for (const peer of state.peers) {
        if (peer.name !== node.name && !this.nodeList.some((n) => n.name === peer.name)) wanted.set(peer.name, peer);
      }
    }
    const added: Node[] = [];
    await Promise.all(
      [...wanted.values()].map(async (peer) => {
        for (const announced of peer.endpoints) {
          const endpoint = this.opts.mapAddress ? this.opts.mapAddress(announced) : announced;
          const node = await this.openNode(endpoint, peer.name).catch(() => undefined);
          if (node) {
            added.push(node);
            return;
          }
        }
      }),
    );
    for (const node of added) this.addNode(node);
    return added.filter((n) => this.tendState.has(n));
  }

  /** Drops nodes that keep failing and that no healthy node lists; true when any was dropped. */
  private dropDeadNodes(): boolean {
    const listed = new Set<string>();
    for (const state of this.tendState.values()) {
      if (state.failures === 0) for (const p of state.peers) listed.add(p.name);
    }
    const dead = this.nodeList.filter((n) => {
      const s = this.tendState.get(n)!;
      return s.failures >= DROP_AFTER_FAILURES && !listed.has(n.name) && this.nodeList.length > 1;
    });
    if (dead.length === 0 || dead.length === this.nodeList.length) return false;
    for (const node of dead) {
      this.tendState.delete(node);
      node.close();
    }
    this.nodeList = this.nodeList.filter((n) => !dead.includes(n));
    return true;
  }
}
