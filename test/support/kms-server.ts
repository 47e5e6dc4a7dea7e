/**
 * The AWS KMS for tests: moto's server (scripts/install-moto.sh puts it in .cache/, pinned),
 * started on a free loopback port for one test file (server-process.ts, as for MinIO), with
 * a small HTTP proxy in front of it that counts the requests by their X-Amz-Target header
 * (TrentService.GenerateDataKey, TrentService.Decrypt, TrentService.Encrypt, ...) and keeps
 * their JSON bodies. aerobak is pointed at the proxy, so the tests count the KMS calls the
 * server received, not the ones our client meant to make; setup calls (CreateKey,
 * CreateAlias) go to moto directly and are not counted.
 *
 * The proxy can also rename error types in moto's answers (renameErrors), to answer as AWS
 * does where moto does not. What moto checks and what it does not: docs/security.md ("AWS
 * KMS keys, and how they were tested").
 */
import { CreateAliasCommand, CreateKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startServer } from './server-process.js';

export { SERVER_START_TIMEOUT_MS } from './server-process.js';

/** moto takes any credentials; these only have to look like some. */
const CREDENTIALS = { accessKeyId: 'aerobak-test', secretAccessKey: 'aerobak-test-secret' };
export const KMS_TEST_REGION = 'us-east-1';

export interface KmsTestKey {
  keyId: string;
  arn: string;
  /** With an alias: `alias/<name>` and its ARN. */
  aliasName?: string;
  aliasArn?: string;
}

export interface KmsRequest {
  /** The X-Amz-Target header without its `TrentService.` prefix: 'GenerateDataKey', 'Decrypt', ... */
  action: string;
  body: Record<string, unknown>;
}

export interface KmsTestServer {
  /** The proxy's URL: what aerobak is given as AWS_ENDPOINT_URL_KMS. */
  endpoint: string;
  /** The environment a command needs to reach the KMS: endpoint, region, test credentials. */
  env: NodeJS.ProcessEnv;
  /** moto's version, as installed. */
  version: string;
  /** A new symmetric key (in `region`, default us-east-1), with `alias/<alias>` pointing at it if given. */
  createKey(options?: { alias?: string; region?: string }): Promise<KmsTestKey>;
  /** A client straight to moto (not counted), for setup in `region`. */
  client(region?: string): KMSClient;
  /** Requests that reached the proxy since the last reset(), oldest first. */
  readonly requests: readonly KmsRequest[];
  /** How many requests of `action` reached the proxy since the last reset(). */
  calls(action: string): number;
  /** Every action counted since the last reset(): { GenerateDataKey: 1, ... }. */
  counts(): Record<string, number>;
  /**
   * Error types the proxy renames in moto's answers, to answer as AWS does where moto does
   * not: `{ AccessDeniedException: 'IncorrectKeyException' }` makes a Decrypt naming
   * another key than its ciphertext's fail as on AWS. Empty after reset().
   */
  renameErrors: Record<string, string>;
  reset(): void;
  stop(): Promise<void>;
}

export async function startKmsServer(): Promise<KmsTestServer> {
  const moto = await startServer({
    name: 'moto',
    args: (port) => ['-H', '127.0.0.1', '-p', String(port)],
    readyUrl: (port) => `http://127.0.0.1:${port}/moto-api/`,
  });
  const requests: KmsRequest[] = [];
  const renames: { errors: Record<string, string> } = { errors: {} };
  let proxy: Server | undefined;
  const clients = new Map<string, KMSClient>();
  try {
    proxy = await countingProxy(moto.port, requests, renames);
  } catch (error) {
    await moto.stop();
    throw error;
  }
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const motoEndpoint = `http://127.0.0.1:${moto.port}`;
  const client = (region = KMS_TEST_REGION) => {
    let c = clients.get(region);
    if (!c) clients.set(region, (c = new KMSClient({ endpoint: motoEndpoint, region, credentials: CREDENTIALS })));
    return c;
  };
  const server: KmsTestServer = {
    endpoint,
    env: {
      AWS_ENDPOINT_URL_KMS: endpoint,
      AWS_REGION: KMS_TEST_REGION,
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
    },
    version: moto.version,
    async createKey(options = {}) {
      const kms = client(options.region);
      const meta = (await kms.send(new CreateKeyCommand({ Description: 'aerobak test key', KeySpec: 'SYMMETRIC_DEFAULT', KeyUsage: 'ENCRYPT_DECRYPT' }))).KeyMetadata;
      if (!meta?.KeyId || !meta.Arn) throw new Error('CreateKey returned no key');
      const key: KmsTestKey = { keyId: meta.KeyId, arn: meta.Arn };
      if (options.alias !== undefined) {
        key.aliasName = `alias/${options.alias}`;
        await kms.send(new CreateAliasCommand({ AliasName: key.aliasName, TargetKeyId: meta.KeyId }));
        key.aliasArn = meta.Arn.replace(/:key\/.*$/, `:${key.aliasName}`);
      }
      return key;
    },
    client,
    requests,
    calls: (action) => requests.filter((r) => r.action === action).length,
    counts() {
      const out: Record<string, number> = {};
      for (const r of requests) out[r.action] = (out[r.action] ?? 0) + 1;
      return out;
    },
    get renameErrors() {
      return renames.errors;
    },
    set renameErrors(errors) {
      renames.errors = errors;
    },
    reset() {
      requests.length = 0;
      renames.errors = {};
    },
    async stop() {
      for (const c of clients.values()) c.destroy();
      proxy!.closeAllConnections();
      await new Promise<void>((resolve) => proxy!.close(() => resolve()));
      await moto.stop();
    },
  };
  return server;
}

/**
 * An HTTP proxy on a free loopback port to the server on `port`: each request is recorded
 * (its X-Amz-Target and JSON body) before it is forwarded as it came; answers go back as
 * they came, but for error answers whose `__type` is one of `renames.errors`.
 */
async function countingProxy(port: number, requests: KmsRequest[], renames: { errors: Record<string, string> }): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const target = header(req.headers, 'x-amz-target');
      if (target !== undefined) {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch {
          // not JSON: counted all the same
        }
        requests.push({ action: target.replace(/^TrentService\./, ''), body: parsed });
      }
      const upstream = request({ host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        const status = answer.statusCode ?? 502;
        if (status < 400 || Object.keys(renames.errors).length === 0) {
          res.writeHead(status, answer.headers);
          answer.pipe(res);
          return;
        }
        const parts: Buffer[] = [];
        answer.on('data', (c: Buffer) => parts.push(c));
        answer.on('end', () => {
          let out = Buffer.concat(parts);
          try {
            const error = JSON.parse(out.toString('utf8')) as { __type?: string };
            const renamed = error.__type === undefined ? undefined : renames.errors[error.__type];
            if (renamed !== undefined) out = Buffer.from(JSON.stringify({ ...error, __type: renamed }));
          } catch {
            // not a JSON error: as it came
          }
          res.writeHead(status, { ...answer.headers, 'content-length': String(out.length) });
          res.end(out);
        });
      });
      upstream.on('error', (error) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(`kms test proxy: ${error.message}`);
      });
      upstream.end(body);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server;
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}
