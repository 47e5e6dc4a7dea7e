/**
 * Object store throughput and upload memory: for each store, uploads one
 * object of pseudo-random bytes generated on the fly, downloads it back,
 * checks the SHA-256, and prints MB/s both ways and the peak RSS growth
 * during the upload (which must stay near the backend's buffering, e.g.
 * queueSize x partSize for S3, whatever the object size).
 *
 *   npx tsx bench/storage.ts
 *   AEROBAK_BENCH_STORAGE_MB=4096 AEROBAK_BENCH_STORES=s3 npx tsx bench/storage.ts
 *
 * AEROBAK_BENCH_STORAGE_MB  object size in MiB (default 1024)
 * AEROBAK_BENCH_STORES      comma-separated subset of local,s3,gcs (default all)
 *
 * S3 and GCS run against the test servers (MinIO, fake-gcs-server) on
 * loopback, so their figures measure this code, the SDKs and the emulator,
 * not a network.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore, type ObjectStore } from '../src/storage/index.js';
import { MiB, RandomStream, sha256Of } from '../test/storage/data.js';
import { startGcsServer } from '../test/support/gcs-server.js';
import { startS3Server } from '../test/support/s3-server.js';

interface Bench {
  name: string;
  /** Starts what the store needs and returns it, with a function that tears it all down. */
  setup(): Promise<{ store: ObjectStore; teardown(): Promise<void> }>;
}

const BENCHES: Bench[] = [
  {
    name: 'local',
    async setup() {
      const directory = await mkdtemp(join(tmpdir(), 'aerobak-bench-'));
      return { store: createStore(directory), teardown: () => rm(directory, { recursive: true, force: true }) };
    },
  },
  {
    name: 's3',
    async setup() {
      const server = await startS3Server();
      await server.createBucket('bench');
      return { store: createStore('s3://bench/run', { s3: server.options }), teardown: () => server.stop() };
    },
  },
  {
    name: 'gcs',
    async setup() {
      const server = await startGcsServer();
      await server.createBucket('bench');
      return { store: createStore('gs://bench/run', { gcs: server.options }), teardown: () => server.stop() };
    },
  },
];

const sizeMiB = Number(process.env.AEROBAK_BENCH_STORAGE_MB ?? 1024);
const selected = (process.env.AEROBAK_BENCH_STORES ?? 'local,s3,gcs').split(',');

async function main(): Promise<void> {
  if (!Number.isFinite(sizeMiB) || sizeMiB <= 0) throw new Error('AEROBAK_BENCH_STORAGE_MB must be a positive number');
  const size = Math.round(sizeMiB * MiB);
  console.log(`object of ${sizeMiB} MiB, node ${process.version}`);
  console.log('store   upload MB/s   download MB/s   peak RSS growth during upload');
  for (const bench of BENCHES.filter((b) => selected.includes(b.name))) {
    const { store, teardown } = await bench.setup();
    try {
      const result = await run(store, size);
      console.log(
        `${bench.name.padEnd(7)} ${result.uploadMBps.toFixed(0).padStart(11)}   ${result.downloadMBps.toFixed(0).padStart(13)}   ${(result.peakRssGrowth / MiB).toFixed(0)} MiB`,
      );
    } finally {
      await teardown();
    }
  }
}

async function run(store: ObjectStore, size: number) {
  await store.open('write');
  globalThis.gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);

  const source = new RandomStream(size, 42);
  let started = performance.now();
  try {
    await store.write('bench.bin', source);
  } finally {
    clearInterval(sampler);
  }
  const uploadSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  const back = await sha256Of(await store.read('bench.bin'));
  const downloadSeconds = (performance.now() - started) / 1000;
  if (back.sha256 !== source.sha256() || back.size !== size) throw new Error('the object read back differs from the one written');
  await store.delete('bench.bin');

  const megabytes = size / 1e6;
  return { uploadMBps: megabytes / uploadSeconds, downloadMBps: megabytes / downloadSeconds, peakRssGrowth: peak - baseline };
}

await main();
