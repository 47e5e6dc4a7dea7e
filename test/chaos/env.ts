/**
 * Everything a chaos run injects faults into, started once per run:
 *
 *   source cluster (3 test-server nodes) ── Toxiproxy, one proxy per node ──┐
 *   target cluster (3 test-server nodes) ── Toxiproxy, one proxy per node ──┤── aerobak (in this process, or a child)
 *   MinIO ── HTTP fault proxy (503 / 500 / cut bodies) ── Toxiproxy ────────┤
 *   fake-gcs-server (Location URL names its proxy) ── Toxiproxy ────────────┤
 *   a small tmpfs (disk full), when this process may mount one ──────────────┘
 *
 * Nodes announce their proxy's address (the test server's `announce`), so the
 * client's peer discovery keeps every connection behind Toxiproxy. The chaos
 * run needs the test server: it kills, pauses and re-partitions nodes, which
 * nobody can do to a shared real cluster (AEROSPIKE_HOSTS is not used here).
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestServer, type TestServerHandle } from '../support/aerospike-server/index.js';
import { startGcsServer, type GcsTestServer } from '../support/gcs-server.js';
import { startHttpFaultProxy, type HttpFaultProxy } from '../support/http-fault-proxy.js';
import { startS3Server, type S3TestServer } from '../support/s3-server.js';
import { freePort } from '../support/server-process.js';
import { startToxiproxy, type ToxiProxy, type Toxiproxy } from '../support/toxiproxy.js';

export const BUCKET = 'aerobak-chaos';

export interface ProxiedCluster {
  server: TestServerHandle;
  /** One Toxiproxy proxy per node, by node index. */
  proxies: ToxiProxy[];
  /** The proxies' addresses: what aerobak is given. */
  hosts: string;
}

export interface ChaosEnv {
  toxiproxy: Toxiproxy;
  source: ProxiedCluster;
  target: ProxiedCluster;
  s3: { server: S3TestServer; http: HttpFaultProxy; proxy: ToxiProxy };
  gcs: { server: GcsTestServer; proxy: ToxiProxy };
  /** A directory for local backups. */
  localDir: string;
  /** A tmpfs of `tmpfsBytes` for disk-full faults; undefined when it cannot be mounted (not root). */
  smallDisk: string | undefined;
  tmpfsBytes: number;
  /** Removes every fault: toxics, HTTP faults, write faults; resumes paused nodes, restarts killed ones. */
  clearFaults(): Promise<void>;
  stop(): Promise<void>;
}

const exec = promisify(execFile);

/**
 * A test-server cluster behind one Toxiproxy proxy per node. The nodes' ports are picked
 * free before the server binds them, so another process (a parallel test file) can take
 * one in between: on EADDRINUSE the ports are picked again and the proxies pointed at them.
 */
async function proxiedCluster(toxi: Toxiproxy, name: string, nodes: number): Promise<ProxiedCluster> {
  const proxies: ToxiProxy[] = [];
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < nodes; i++) {
      const port = await freePort();
      ports.push(port);
      if (proxies[i]) await proxies[i]!.setUpstream(`127.0.0.1:${port}`);
      else proxies.push(await toxi.proxy(`${name}${i}`, `127.0.0.1:${port}`));
    }
    try {
      const server = await startTestServer({ nodes, ports, announce: proxies.map((p) => p.address) });
      return { server, proxies, hosts: proxies.map((p) => p.address).join(',') };
    } catch (error) {
      if (attempt >= 5 || !/EADDRINUSE/.test((error as Error).message)) throw error;
    }
  }
}

export async function startChaosEnv(opts: { tmpfsBytes?: number } = {}): Promise<ChaosEnv> {
  const stops: Array<() => Promise<void>> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const toxiproxy = await startToxiproxy();
    stops.push(() => toxiproxy.stop());
    const source = await proxiedCluster(toxiproxy, 'source', 3);
    stops.push(() => source.server.stop());
    const target = await proxiedCluster(toxiproxy, 'target', 3);
    stops.push(() => target.server.stop());

    const minio = await startS3Server({ quiet: true });
    stops.push(() => minio.stop());
    await minio.createBucket(BUCKET);
    const http = await startHttpFaultProxy(minio.options.endpoint!);
    stops.push(() => http.close());
    const s3Proxy = await toxiproxy.proxy('s3', `127.0.0.1:${http.port}`);

    const gcsPort = await freePort();
    const gcsProxy = await toxiproxy.proxy('gcs', `127.0.0.1:${gcsPort}`);
    const gcs = await startGcsServer({ port: gcsPort, externalUrl: `http://${gcsProxy.address}`, quiet: true });
    stops.push(() => gcs.stop());
    await gcs.createBucket(BUCKET);

    // aerobak finds its stores through the environment, as a user's would be set.
    process.env.AWS_ENDPOINT_URL_S3 = `http://${s3Proxy.address}`;
    process.env.AWS_ACCESS_KEY_ID = minio.options.credentials!.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = minio.options.credentials!.secretAccessKey;
    process.env.AWS_REGION = 'us-east-1';
    process.env.STORAGE_EMULATOR_HOST = gcsProxy.address;

    const work = await mkdtemp(join(tmpdir(), 'aerobak-chaos-'));
    stops.push(() => rm(work, { recursive: true, force: true }));
    const localDir = join(work, 'local');
    await mkdir(localDir);
    const tmpfsBytes = opts.tmpfsBytes ?? 16 * 1024 * 1024;
    const smallDisk = await mountTmpfs(join(work, 'small-disk'), tmpfsBytes);
    if (smallDisk) stops.push(() => exec('umount', ['-l', smallDisk]).then(() => undefined));

    const clusters = [source, target];
    return {
      toxiproxy,
      source,
      target,
      s3: { server: minio, http, proxy: s3Proxy },
      gcs: { server: gcs, proxy: gcsProxy },
      localDir,
      smallDisk,
      tmpfsBytes,
      async clearFaults() {
        await toxiproxy.reset();
        http.clear();
        for (const c of clusters) {
          await c.server.clearWriteFaults();
          for (const node of c.server.nodes) {
            const { state } = await node.status();
            if (state === 'paused') await node.resume();
            if (state === 'killed') await node.restart();
          }
        }
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Mounts a tmpfs of `bytes` at `dir`; undefined when this process may not (not root, no mount). */
async function mountTmpfs(dir: string, bytes: number): Promise<string | undefined> {
  await mkdir(dir, { recursive: true });
  try {
    await exec('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]);
    return dir;
  } catch {
    return undefined;
  }
}
