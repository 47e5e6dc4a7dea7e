/**
 * A TCP proxy for fault tests. It forwards every connection to one target (a test server
 * node or a real Aerospike node) with backpressure in both directions, counts bytes, and
 * can cut connections the way a crashed node or a broken network does: both sides are
 * destroyed at once, with whatever was in flight lost.
 *
 *   const proxy = await startTcpProxy({ host: '10.0.0.5', port: 3000 });
 *   proxy.cutAfterServerBytes(64 * 1024);   // the next connection to pass 64 KiB server→client dies
 *   ... client connects to proxy.address ...
 *   await proxy.close();
 */
import net from 'node:net';

export interface TcpProxy {
  readonly host: string;
  readonly port: number;
  /** "host:port" to give a client as its seed. */
  readonly address: string;
  /** Connections currently open through the proxy. */
  readonly openConnections: number;
  /** Connections accepted so far. */
  readonly acceptedConnections: number;
  /** Connections cut by `cutAll` or `cutAfterServerBytes` so far. */
  readonly cutConnections: number;
  /** Destroys every open connection now. */
  cutAll(): void;
  /**
   * Arms a one-shot fault: the first connection on which more than `bytes` bytes would go
   * from the server to the client gets exactly `bytes` of them and is then destroyed.
   * Resolves when it happened.
   */
  cutAfterServerBytes(bytes: number): Promise<void>;
  close(): Promise<void>;
}

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  serverBytes: number;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let accepted = 0;
  let cut = 0;
  let armed: { bytes: number; done: () => void } | undefined;

  const destroy = (pair: Pair): void => {
    if (!pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  };

  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect({ host: target.host, port: target.port, noDelay: true });
    client.setNoDelay(true);
    const pair: Pair = { client, upstream, serverBytes: 0 };
    pairs.add(pair);
    client.pipe(upstream);
    // Server → client by hand, so that an armed cut forwards exactly up to its limit:
    // the client then sees the stream stop mid-frame, whatever the chunking.
    upstream.on('data', (chunk: Buffer) => {
      const fault = armed;
      if (fault && pair.serverBytes + chunk.length > fault.bytes) {
        armed = undefined;
        upstream.pause();
        client.write(chunk.subarray(0, Math.max(0, fault.bytes - pair.serverBytes)), () => {
          cut++;
          destroy(pair);
          fault.done();
        });
        pair.serverBytes = fault.bytes;
        return;
      }
      pair.serverBytes += chunk.length;
      if (!client.write(chunk)) upstream.pause();
    });
    client.on('drain', () => upstream.resume());
    upstream.on('end', () => client.end());
    for (const s of [client, upstream]) {
      s.on('error', () => destroy(pair));
      s.on('close', () => destroy(pair));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    get openConnections() {
      return pairs.size;
    },
    get acceptedConnections() {
      return accepted;
    },
    get cutConnections() {
      return cut;
    },
    cutAll() {
      for (const pair of [...pairs]) {
        cut++;
        destroy(pair);
      }
    },
    cutAfterServerBytes(bytes: number) {
      return new Promise<void>((resolve) => {
        armed = { bytes, done: resolve };
      });
    },
    close() {
      armed = undefined;
      for (const pair of [...pairs]) destroy(pair);
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
