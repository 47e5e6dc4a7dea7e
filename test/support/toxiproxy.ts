/**
 * Toxiproxy (Shopify's fault-injecting TCP proxy) for chaos and fault tests:
 * the server is built at a pinned version by scripts/install-test-servers.sh
 * and started here on a free loopback port (server-process.ts); this module
 * drives its REST API.
 *
 *   const toxi = await startToxiproxy();
 *   const proxy = await toxi.proxy('node0', '127.0.0.1:3000');   // listens on a free port
 *   await proxy.addToxic({ type: 'latency', attributes: { latency: 50, jitter: 20 } });
 *   await proxy.addToxic({ type: 'limit_data', attributes: { bytes: 65536 } });
 *   await toxi.reset();                                           // every toxic gone, every proxy enabled
 *   await toxi.stop();
 *
 * What Toxiproxy does (toxics act on every connection through a proxy while
 * they exist, per direction: `downstream` is server → client):
 *   latency {latency, jitter} ms     bandwidth {rate} KB/s      slicer {average_size, size_variation, delay µs}
 *   timeout {timeout} ms (0: the peer stops answering until removed; else closes after it)
 *   reset_peer {timeout} ms (a TCP RST after it)               limit_data {bytes} (a close after that many bytes)
 *   slow_close {delay} ms             down: proxy.disable()
 *
 * What it cannot do is a one-shot fault at an exact byte of one connection
 * (limit_data counts per connection and hits every connection while it
 * exists): test/support/tcp-proxy.ts's cutAfterServerBytes does that.
 */
import { startServer, type ServerProcess } from './server-process.js';

export type ToxicType = 'latency' | 'bandwidth' | 'slicer' | 'timeout' | 'reset_peer' | 'limit_data' | 'slow_close';

export interface ToxicSpec {
  type: ToxicType;
  /** Default: `<type>_<stream>`. */
  name?: string;
  /** Default downstream (server → client). */
  stream?: 'upstream' | 'downstream';
  /** Share of connections it applies to, 0..1 (default 1). */
  toxicity?: number;
  attributes: Record<string, number>;
}

export interface ToxiProxy {
  readonly name: string;
  /** Where clients connect: "127.0.0.1:port". */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** Adds a toxic; returns its name (for removeToxic). */
  addToxic(spec: ToxicSpec): Promise<string>;
  removeToxic(name: string): Promise<void>;
  /** Points the proxy at another upstream (open connections keep the old one). */
  setUpstream(upstream: string): Promise<void>;
  /** Refuses and drops every connection (a host that is down) until enable(). */
  disable(): Promise<void>;
  enable(): Promise<void>;
}

export interface Toxiproxy {
  /** The Go module and version the server was built from. */
  readonly version: string;
  /** Creates a proxy listening on a free loopback port (or `listen`) in front of `upstream` ("host:port"). */
  proxy(name: string, upstream: string, listen?: string): Promise<ToxiProxy>;
  /** Removes every toxic and enables every proxy. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

export async function startToxiproxy(): Promise<Toxiproxy> {
  const server: ServerProcess = await startServer({
    name: 'toxiproxy-server',
    args: (port) => ['-host', '127.0.0.1', '-port', String(port)],
    readyUrl: (port) => `http://127.0.0.1:${port}/version`,
    quiet: true,
  });
  const api = `http://127.0.0.1:${server.port}`;

  const call = async (method: string, path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${api}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`toxiproxy ${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };

  return {
    version: server.version,
    async proxy(name, upstream, listen = '127.0.0.1:0') {
      const created = (await call('POST', '/proxies', { name, listen, upstream, enabled: true })) as { listen: string };
      const colon = created.listen.lastIndexOf(':');
      const host = created.listen.slice(0, colon).replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
      const port = Number(created.listen.slice(colon + 1));
      const path = `/proxies/${encodeURIComponent(name)}`;
      return {
        name,
        host,
        port,
        address: `${host}:${port}`,
        async addToxic(spec) {
          const stream = spec.stream ?? 'downstream';
          const toxic = spec.name ?? `${spec.type}_${stream}`;
          await call('POST', `${path}/toxics`, { name: toxic, type: spec.type, stream, toxicity: spec.toxicity ?? 1, attributes: spec.attributes });
          return toxic;
        },
        async removeToxic(toxic) {
          await call('DELETE', `${path}/toxics/${encodeURIComponent(toxic)}`);
        },
        async setUpstream(to) {
          await call('POST', path, { upstream: to });
        },
        async disable() {
          await call('POST', path, { enabled: false });
        },
        async enable() {
          await call('POST', path, { enabled: true });
        },
      };
    },
    async reset() {
      await call('POST', '/reset');
    },
    stop: () => server.stop(),
  };
}
