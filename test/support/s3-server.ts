/**
 * The S3 server for tests: MinIO, built and started here (see
 * server-process.ts), or an S3-compatible server already running at
 * AEROBAK_TEST_S3_ENDPOINT (credentials and region from the usual AWS_*
 * variables), such as the one in localstack/docker-compose.yml.
 *
 * MinIO enforces S3's multipart rules (5 MiB minimum part size except the
 * last, part ETags, ListMultipartUploads, AbortMultipartUpload), which an
 * upload path has to be tested against.
 */
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import type { S3Options } from '../../src/storage/index.js';
import { startServer } from './server-process.js';

export { SERVER_START_TIMEOUT_MS } from './server-process.js';

const ACCESS_KEY = 'aerobak-test';
const SECRET_KEY = 'aerobak-test-secret';

export interface S3TestServer {
  /** Store options that reach this server. */
  options: S3Options;
  /** A client for test setup and inspection (creating buckets, listing multipart uploads). */
  client: S3Client;
  /** Creates a bucket; one that exists already is fine. */
  createBucket(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3Server(opts: { quiet?: boolean } = {}): Promise<S3TestServer> {
  const external = process.env.AEROBAK_TEST_S3_ENDPOINT;
  if (external !== undefined) {
    console.info(`storage tests: S3 server at ${external}`);
    return s3TestServer({ endpoint: external, region: process.env.AWS_REGION ?? 'us-east-1' }, async () => {});
  }
  const server = await startServer({
    name: 'minio',
    args: (port, data) => ['server', data, '--address', `127.0.0.1:${port}`, '--quiet'],
    env: {
      MINIO_ROOT_USER: ACCESS_KEY,
      MINIO_ROOT_PASSWORD: SECRET_KEY,
      MINIO_BROWSER: 'off',
      MINIO_UPDATE: 'off',
    },
    readyUrl: (port) => `http://127.0.0.1:${port}/minio/health/live`,
    quiet: opts.quiet,
  });
  const options: S3Options = {
    endpoint: `http://127.0.0.1:${server.port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
  };
  return s3TestServer(options, server.stop);
}

function s3TestServer(options: S3Options, stop: () => Promise<void>): S3TestServer {
  const client = new S3Client({ ...options, forcePathStyle: true });
  return {
    options,
    client,
    async createBucket(name) {
      try {
        await client.send(new CreateBucketCommand({ Bucket: name }));
      } catch (error) {
        if ((error as Error).name !== 'BucketAlreadyOwnedByYou') throw error;
      }
    },
    async stop() {
      client.destroy();
      await stop();
    },
  };
}
