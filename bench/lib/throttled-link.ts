/**
 * A slow network link in front of a TCP server, for the S3 cases' throttled pair: every
 * connection through it shares one token bucket per direction (the product's own,
 * src/storage/bandwidth.ts), so all the uploads of a backup, or all the downloads of a restore, share
 * `bytesPerSecond` as they would share one link. (A Toxiproxy bandwidth toxic limits each
 * connection on its own, which for a backup's 4-16 concurrent part uploads is not one
 * link.) Backpressure holds both ways: the ThrottleTransform pulls from a socket only as
 * fast as its bucket lets bytes through, and a full socket stops the transform.
 */
import net from 'node:net';
import { pipeline } from 'node:stream';
import { ThrottleTransform, TokenBucket } from '../../src/storage/bandwidth.js';

export interface ThrottledLink {
  /** "host:port" to connect to instead of the target. */
  readonly address: string;
  /** Bytes let through so far, client to target and target to client. */
  readonly bytes: { up: number; down: number };
  close(): Promise<void>;
}

export async function startThrottledLink(target: { host: string; port: number }, bytesPerSecond: number): Promise<ThrottledLink> {
  const up = new TokenBucket(bytesPerSecond);
  const down = new TokenBucket(bytesPerSecond);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    // An error on either side ends both; a clean end of one direction is passed on (end())
    // by its pipeline, and the sockets close themselves once both directions have ended.
    const done = (err: Error | null) => {
      if (!err) return;
      client.destroy();
      upstream.destroy();
    };
    pipeline(client, new ThrottleTransform(up), upstream, done);
    pipeline(upstream, new ThrottleTransform(down), client, done);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    get bytes() {
      return { up: up.bytes, down: down.bytes };
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
