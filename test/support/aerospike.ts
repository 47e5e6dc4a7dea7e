/**
 * The Aerospike cluster every Aerospike test runs against.
 *
 * By default each call to startCluster() starts the project's test server
 * (test/support/aerospike-server) on free loopback ports. With AEROSPIKE_HOSTS set
 * ("host:port,host:port"), the same tests run against that real cluster instead; it
 * must have the namespaces `test` and `bar`, and since it is shared, tests use unique
 * set names (uniqueSetName()) and clean up after themselves.
 */
import Aerospike from 'aerospike';
import { startTestServer, type TestServerHandle } from './aerospike-server/index.js';

export type { TestServerHandle } from './aerospike-server/index.js';

export interface TestCluster {
  /** "127.0.0.1:3000,127.0.0.1:3001" — seed list for aerobak and for the official client. */
  hosts: string;
  seeds: { host: string; port: number }[];
  /** True when this is the project's test server; false when AEROSPIKE_HOSTS points at a real cluster. */
  isTestServer: boolean;
  /** Test-server fault controls; undefined against a real cluster (tests needing them use a TCP proxy or are test-server-only and say so). */
  server?: TestServerHandle;
  stop(): Promise<void>;
}

/** The real cluster to test against, from AEROSPIKE_HOSTS; undefined for the test server. */
export function realClusterHosts(): string | undefined {
  const hosts = process.env.AEROSPIKE_HOSTS?.trim();
  return hosts ? hosts : undefined;
}

/**
 * Starts the project's test server (nodes default 1, namespaces ['test','bar']) unless
 * AEROSPIKE_HOSTS is set, in which case it returns that cluster (stop() is then a no-op,
 * and `nodes` and `recordSizeLimit` are the real cluster's business).
 */
export async function startCluster(opts: { nodes?: number; recordSizeLimit?: number } = {}): Promise<TestCluster> {
  const real = realClusterHosts();
  if (real !== undefined) {
    return { hosts: real, seeds: parseHosts(real), isTestServer: false, stop: async () => {} };
  }
  const server = await startTestServer({ nodes: opts.nodes ?? 1, recordSizeLimit: opts.recordSizeLimit });
  return { hosts: server.hosts, seeds: server.seeds, isTestServer: true, server, stop: () => server.stop() };
}

/** An official-client connection to the cluster (aerospike npm), closed by the caller. */
export async function connectClient(cluster: TestCluster): Promise<Aerospike.Client> {
  return Aerospike.connect({
    hosts: cluster.hosts,
    // The client logs every tend hiccup to stderr; tests assert on results instead.
    log: { level: Aerospike.log.OFF },
  });
}

/** A set name no other test (or earlier run against a shared cluster) uses. */
export function uniqueSetName(prefix = 't'): string {
  return `${prefix}_${process.pid.toString(36)}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

function parseHosts(hosts: string): { host: string; port: number }[] {
  return hosts.split(',').map((entry) => {
    const s = entry.trim();
    const colon = s.lastIndexOf(':');
    if (colon < 0) return { host: s, port: 3000 };
    const port = Number(s.slice(colon + 1));
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`AEROSPIKE_HOSTS: bad port in '${s}'`);
    return { host: s.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port };
  });
}
