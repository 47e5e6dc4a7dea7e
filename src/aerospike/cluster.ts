/**
 * The cluster view of the data plane: nodes, their connection pools, and the master of
 * every partition. Lossless where the official client is not (it never touches record
 * data), and small: what a partition scan and a batch writer need.
 *
 * Discovery (as the C client does it): each seed is asked for `node`; every known node is
 * tended every `tendIntervalMs` with `node`, `peers-generation`, `partition-generation`.
 * A changed peers generation fetches the peers list and connects to peers not yet known
 * (each verified by its `node` name); a changed partition generation fetches `replicas`
 * and rebuilds the partition map. A seed keeps the address it was given (so a proxy or a
 * load balancer in front of a single node keeps being used); peers are dialled at the
 * address they announce, passed through `mapAddress`. A node that failed two tends in a
 * row and that no other node lists as a peer is dropped.
 *
 * The peers list is `peers-clear-std`, or with TLS `peers-tls-std` (TLS ports, and each
 * peer's TLS name); `servicesAlternate` takes the `-alt` lists instead, the addresses a
 * cluster behind NAT announces for clients outside it.
 *
 * Security (auth.ts) and TLS (tls.ts): with a user (or `auth: 'PKI'`) every node is
 * logged in on its first connection and every later connection is authenticated with
 * the node's session token; with `tls` every connection is TLS, checked against the
 * node's TLS name. The password is hashed once here; only the Credentials object keeps
 * the hash (and, for EXTERNAL, the password), the Cluster does not keep its options.
 */
import { Credentials, NodeSession, type AuthMode } from './auth.js';
import { Connection, formatEndpoint, type ConnectOptions, type Endpoint } from './connection.js';
import { ClusterError, ConnectionError, LoginError } from './errors.js';
import { Node } from './node.js';
import { PartitionMap, parseReplicas, type MasterClaim } from './partition-map.js';
import { parsePeers, type Peer } from './peers.js';
import { createTlsConnect, type TlsOptions } from './tls.js';
import { infoError } from './wire/info.js';
import { ResultCode } from './wire/result-codes.js';
import { UsageError } from '../errors.js';

export interface ClusterOptions {
  /**
   * "host[:port],host[:port]" (port 3000 when omitted; IPv6 as "[::1]:3000"), with an
   * optional TLS name as asbackup takes it ("host:tlsname:port", "host:tlsname"), or a list.
   */
  hosts: string | Array<{ host: string; port: number; tlsName?: string }>;
  user?: string;
  /** The password, or a function that asks for it (a terminal prompt), called once by connect(). */
  password?: string | (() => Promise<string>);
  /** How to log in (asbackup's --auth): INTERNAL (default), EXTERNAL (LDAP; needs TLS) or PKI (the TLS client certificate). */
  auth?: AuthMode;
  /** Connect with TLS (see tls.ts); false or undefined: clear text. */
  tls?: TlsOptions | false;
  /** Use the alternate addresses peers announce (`peers-clear-alt` / `peers-tls-alt`), for clusters behind NAT. */
  servicesAlternate?: boolean;
  /** TCP connect timeout per connection (the TLS handshake included); default 3000 ms. */
  connectTimeoutMs?: number;
  /** Time allowed for an info reply; default 5000 ms. */
  infoTimeoutMs?: number;
  /** Time allowed for a LOGIN or AUTHENTICATE reply; default 5000 ms (as the C client). */
  loginTimeoutMs?: number;
  /** Period of the tend (partition map refresh); default 1000 ms. The timer does not hold the process open. */
  tendIntervalMs?: number;
  /** Maps an address announced by the peers list to the address to dial (NAT, test proxies). */
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

/** Seeds from the `hosts` option; a TLS name is kept when given ("host:tlsname:port", as asbackup). */
export function parseHosts(hosts: ClusterOptions['hosts']): Endpoint[] {
  if (Array.isArray(hosts)) return hosts.map((h) => (h.tlsName !== undefined ? { host: h.host, port: h.port, tlsName: h.tlsName } : { host: h.host, port: h.port }));
  return hosts
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => {
      const e = parseHost(s, 3000);
      if (!e) throw new ClusterError(`bad host "${s}": expected host[:port], host:tlsname[:port] or [ipv6][:tlsname][:port]`);
      return e;
    });
}

/**
 * One host as asbackup and the C client's as_config_add_hosts() read it:
 * HOST[:TLSNAME][:PORT], where a lone second part is the port when it is a number and the
 * TLS name otherwise; IPv6 in brackets. Undefined when malformed.
 */
export function parseHost(text: string, defaultPort: number): Endpoint | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+))(?::([^:]*))?(?::([^:]*))?$/.exec(text);
  if (!m) return undefined;
  const host = (m[1] ?? m[2])!;
  const [a, b] = [m[3], m[4]];
  let port = defaultPort;
  let tlsName: string | undefined;
  if (b !== undefined) {
    tlsName = a;
    if (!/^\d+$/.test(b)) return undefined;
    port = Number(b);
  } else if (a !== undefined) {
    if (/^\d+$/.test(a)) port = Number(a);
    else tlsName = a;
  }
  if (tlsName === '' || !Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  return tlsName !== undefined ? { host, port, tlsName } : { host, port };
}

export class Cluster {
  private nodeList: Node[] = [];
  private readonly tendState = new Map<Node, TendState>();
  private map: PartitionMap<Node> = PartitionMap.empty;
  private tending: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly nodeOptions: ConnectOptions & { infoTimeoutMs: number };
  private readonly peersCommand: string;
  private readonly tlsName: string | undefined;

  private constructor(
    private readonly settings: Pick<ClusterOptions, 'tendIntervalMs' | 'mapAddress'> & { loginTimeoutMs: number },
    connect: ConnectOptions,
    infoTimeoutMs: number,
    private readonly credentials: Credentials | undefined,
    alternate: boolean,
  ) {
    this.nodeOptions = { ...connect, infoTimeoutMs };
    this.tlsName = connect.tls?.name;
    this.peersCommand = `peers-${connect.tls ? 'tls' : 'clear'}-${alternate ? 'alt' : 'std'}`;
  }

  /**
   * Connects to the seeds, discovers the cluster and loads the partition map. Bad
   * security or TLS settings are UsageErrors; a refused login is a LoginError.
   */
  static async connect(opts: ClusterOptions): Promise<Cluster> {
    const seeds = parseHosts(opts.hosts);
    if (seeds.length === 0) throw new ClusterError('no seed host given');
    const tls = opts.tls ? createTlsConnect(opts.tls) : undefined;
    if (opts.auth === 'PKI' && opts.tls && opts.tls.cert === undefined) {
      throw new UsageError('--auth PKI authenticates with the TLS client certificate: give --tls-certfile and --tls-keyfile');
    }
    const password = typeof opts.password === 'function' ? await opts.password() : opts.password;
    const wantsLogin = opts.user !== undefined || password !== undefined || opts.auth !== undefined;
    const credentials = wantsLogin ? Credentials.create({ mode: opts.auth, user: opts.user, password, tls: tls !== undefined }) : undefined;
    const cluster = new Cluster(
      { tendIntervalMs: opts.tendIntervalMs, mapAddress: opts.mapAddress, loginTimeoutMs: opts.loginTimeoutMs ?? 5000 },
      { connectTimeoutMs: opts.connectTimeoutMs ?? 3000, ...(tls ? { tls } : {}) },
      opts.infoTimeoutMs ?? 5000,
      credentials,
      opts.servicesAlternate === true,
    );
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
      // A refused login is about the credentials, not the seeds: say it once.
      const login = errors.find((e) => e instanceof LoginError);
      if (errors.length === 1 || login) throw login ?? errors[0];
      throw new ClusterError(
        `no seed answered: ${seeds.map((s, i) => `${formatEndpoint(s)} (${errors[i]!.message})`).join('; ')}`,
        { cause: new AggregateError(errors) },
      );
    }
    await this.refresh();
  }

  /**
   * Connects to an address, logs in (with security) and asks its node name;
   * `expectedName` guards against a reused address.
   */
  private async openNode(endpoint: Endpoint, expectedName?: string): Promise<Node | undefined> {
    const conn = await Connection.open(endpoint, this.nodeOptions);
    const session = this.credentials ? new NodeSession(this.credentials, this.settings.loginTimeoutMs) : undefined;
    let name: string | undefined;
    try {
      await session?.ready(conn);
      name = (await conn.info(['node'], this.nodeOptions.infoTimeoutMs)).get('node');
    } catch (err) {
      conn.close();
      // A TLS-only service hangs up on the clear-text request: say so.
      if (!this.nodeOptions.tls && err instanceof ConnectionError && /closed by the server$/.test(err.message)) {
        throw new ConnectionError(endpoint.host, endpoint.port, 'the node closed the connection at the first request; if this is a TLS port, add --tls-enable', { cause: err });
      }
      throw err;
    }
    const refused = name === undefined ? undefined : infoError(name);
    if (!name || refused) {
      conn.close();
      if (refused?.code === ResultCode.NOT_AUTHENTICATED) {
        throw new LoginError(endpoint.host, endpoint.port, undefined, refused.code, 'the node answers nothing before a login (NOT_AUTHENTICATED): the cluster has security enabled; give --user and a password, or --auth PKI');
      }
      throw new ConnectionError(endpoint.host, endpoint.port, `did not answer the "node" info command${refused ? ` (${name})` : ''}`);
    }
    if ((expectedName !== undefined && name !== expectedName) || this.nodeList.some((n) => n.name === name)) {
      conn.close();
      return undefined;
    }
    const node = new Node(name, endpoint.host, endpoint.port, { ...this.nodeOptions, ...(session ? { session } : {}) }, endpoint.tlsName);
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
    }, this.settings.tendIntervalMs ?? 1000);
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
        const peers = await node.info(['peers-generation', this.peersCommand]);
        state.peers = parsePeers(peers.get(this.peersCommand) ?? '', this.peersCommand).peers;
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
        for (const address of peer.endpoints) {
          // With TLS, a peer is checked against the TLS name it announces (else the default one).
          const tlsName = this.nodeOptions.tls ? peer.tlsName || this.tlsName : undefined;
          const announced = tlsName !== undefined ? { ...address, tlsName } : address;
          const mapped = this.settings.mapAddress ? this.settings.mapAddress(announced) : announced;
          const endpoint = mapped.tlsName === undefined && tlsName !== undefined ? { ...mapped, tlsName } : mapped;
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
