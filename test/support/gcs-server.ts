/**
 * The Google Cloud Storage server for tests: fake-gcs-server, built and
 * started here (see server-process.ts), or one already running at
 * AEROBAK_TEST_GCS_ENDPOINT, such as the one in localstack/docker-compose.yml.
 * fake-gcs-server serves the JSON API with resumable, chunked uploads and
 * ranged downloads, as the client library uses them, over plain HTTP.
 */
import { Storage } from '@google-cloud/storage';
import type { GcsOptions } from '../../src/storage/index.js';
import { startServer } from './server-process.js';

export { SERVER_START_TIMEOUT_MS } from './server-process.js';

export interface GcsTestServer {
  /** Store options that reach this server. */
  options: GcsOptions;
  /** Creates a bucket; one that exists already is fine. */
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export interface GcsServerOptions {
  /**
   * The URL the server gives clients in a resumable upload's Location header
   * (default its own): a proxy's, for tests that put one in front of it, or
   * the upload's chunks would bypass the proxy.
   */
  externalUrl?: string;
  /** Listen on this port (default: a free one). */
  port?: number;
  quiet?: boolean;
}

export async function startGcsServer(opts: GcsServerOptions = {}): Promise<GcsTestServer> {
  const external = process.env.AEROBAK_TEST_GCS_ENDPOINT;
  if (external !== undefined) {
    console.info(`storage tests: GCS server at ${external}`);
    return gcsTestServer(external, async () => {});
  }
  const server = await startServer({
    name: 'fake-gcs-server',
    args: (port, data) => [
      '-scheme', 'http',
      '-host', '127.0.0.1',
      '-port', String(port),
      '-external-url', opts.externalUrl ?? `http://127.0.0.1:${port}`,
      '-backend', 'filesystem',
      '-filesystem-root', data,
      '-log-level', 'error',
    ],
    readyUrl: (port) => `http://127.0.0.1:${port}/storage/v1/b`,
    port: opts.port,
    quiet: opts.quiet,
  });
  return gcsTestServer(`http://127.0.0.1:${server.port}`, server.stop);
}

function gcsTestServer(apiEndpoint: string, stop: () => Promise<void>): GcsTestServer {
  const options: GcsOptions = { apiEndpoint, projectId: 'aerobak-test' };
  const storage = new Storage(options);
  return {
    options,
    async createBucket(name) {
      try {
        await storage.createBucket(name);
      } catch (error) {
        if ((error as { code?: unknown }).code !== 409) throw error;
      }
    },
    stop,
  };
}
