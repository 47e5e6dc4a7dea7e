/**
 * An HTTP reverse proxy that answers chosen requests with an error instead of
 * forwarding them, for faults an object store's own test server cannot make:
 * S3's `503 SlowDown` and `500 InternalError` on a part upload or a GET, or a
 * response cut after some of its body. Toxiproxy works at the TCP level and
 * cannot tell one request from another, so this sits between it and MinIO.
 *
 *   const proxy = await startHttpFaultProxy('http://127.0.0.1:9000');
 *   proxy.inject({ match: isPartUpload, status: 503, code: 'SlowDown', times: 2 });
 *   proxy.inject({ match: isObjectGet, cutAfterBytes: 10_000 });
 *
 * Requests are forwarded byte for byte, Host header included (S3 signatures
 * cover it), so signed requests still verify at the upstream.
 */
import http from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface HttpFault {
  /** Which requests it hits. */
  match: (req: http.IncomingMessage) => boolean;
  /** How many matching requests in a row (default 1). */
  times?: number;
  /** Answer with this status and an S3-style XML error body with `code`... */
  status?: number;
  code?: string;
  /** ...or forward it and cut the connection after this many bytes of the response body. */
  cutAfterBytes?: number;
}

export interface HttpFaultProxy {
  /** "http://127.0.0.1:port" */
  readonly url: string;
  readonly port: number;
  /** Faults that hit a request so far. */
  readonly injected: number;
  /** Requests seen so far. */
  readonly requests: number;
  inject(fault: HttpFault): void;
  /** Drops the faults not yet used. */
  clear(): void;
  close(): Promise<void>;
}

/** A PUT of one part of a multipart upload (`?partNumber=N&uploadId=...`). */
export function isPartUpload(req: http.IncomingMessage): boolean {
  return req.method === 'PUT' && /[?&]partNumber=/.test(req.url ?? '');
}

/** A PUT of a whole object (no multipart). */
export function isObjectPut(req: http.IncomingMessage): boolean {
  return req.method === 'PUT' && !/[?&](partNumber|uploads|uploadId)=/.test(req.url ?? '') && (req.url ?? '').split('?')[0]!.split('/').length > 2;
}

/** A GET of an object (not a listing: path-style `/bucket/key`, no list query). */
export function isObjectGet(req: http.IncomingMessage): boolean {
  if (req.method !== 'GET') return false;
  const [path = '', query = ''] = (req.url ?? '').split('?');
  return path.split('/').filter(Boolean).length >= 2 && !/(^|&)(list-type|uploads|prefix|delimiter)=/.test(query);
}

export async function startHttpFaultProxy(upstream: string): Promise<HttpFaultProxy> {
  const target = new URL(upstream);
  const faults: { fault: HttpFault; left: number }[] = [];
  let injected = 0;
  let requests = 0;
  const agent = new http.Agent({ keepAlive: true });

  const take = (req: http.IncomingMessage): HttpFault | undefined => {
    const at = faults.findIndex((f) => f.fault.match(req));
    if (at < 0) return undefined;
    const entry = faults[at]!;
    if (--entry.left === 0) faults.splice(at, 1);
    injected++;
    return entry.fault;
  };

  const server = http.createServer((req, res) => {
    requests++;
    const fault = take(req);
    if (fault?.status !== undefined) {
      // Read the body first, as a server does before it answers: a client still
      // sending a part would otherwise see a reset instead of the status.
      req.resume();
      req.on('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${fault.code ?? 'InternalError'}</Code><Message>injected by the test proxy</Message><RequestId>chaos</RequestId></Error>`;
        res.writeHead(fault.status!, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...(fault.status === 503 ? { 'retry-after': '0' } : {}) });
        res.end(body);
      });
      return;
    }
    const upstreamReq = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, upstreamRes.rawHeaders);
        if (fault?.cutAfterBytes === undefined) {
          upstreamRes.pipe(res);
          return;
        }
        let sent = 0;
        const limit = fault.cutAfterBytes;
        upstreamRes.on('data', (chunk: Buffer) => {
          if (sent + chunk.length <= limit) {
            sent += chunk.length;
            res.write(chunk);
            return;
          }
          res.write(chunk.subarray(0, limit - sent), () => res.socket?.destroy());
          sent = limit;
          upstreamRes.destroy();
        });
        upstreamRes.on('end', () => res.end());
      },
    );
    upstreamReq.on('error', () => res.socket?.destroy());
    req.on('error', () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  });
  server.keepAliveTimeout = 5_000;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get injected() {
      return injected;
    },
    get requests() {
      return requests;
    },
    inject(fault) {
      faults.push({ fault, left: fault.times ?? 1 });
    },
    clear() {
      faults.length = 0;
    },
    async close() {
      faults.length = 0;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
