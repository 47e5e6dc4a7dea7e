/**
 * The aerobak backup job (runBackup, what `aerobak backup` runs) as a benchmark case:
 * namespace.set to a local directory, optionally behind a throttled store. `seconds` is
 * the data phase (scans, encoding, compression, storage, manifest); extra.totalSeconds
 * the whole job, setup included.
 */
import type { Kek } from '../../src/crypto/keys.js';
import { runBackup } from '../../src/jobs/backup.js';
import type { Compression } from '../../src/jobs/data-files.js';
import { openStore } from '../../src/storage/index.js';
import { Meter, clusterOptions, type CaseParams, type CaseResult } from './case-runtime.js';
import { ThrottledStore } from './throttled-store.js';

export async function backupCase(p: CaseParams, compress: Compression, level?: number, encrypt?: Kek): Promise<CaseResult> {
  const throttle = p.throttleBytesPerSecond;
  let store: ThrottledStore | undefined;
  const meter = new Meter();
  const started = performance.now();
  const summary = await runBackup(
    {
      cluster: clusterOptions(p),
      namespace: p.namespace,
      sets: [p.set],
      compress,
      ...(level !== undefined ? { compressLevel: level } : {}),
      parallel: p.parallel,
      to: p.dir,
      ...(p.partitions ? { partitions: [p.partitions] } : {}),
      ...(encrypt ? { encrypt } : {}),
    },
    {
      openStore: async (location, intent) => (store = new ThrottledStore(await openStore(location, intent), throttle, { write: true, read: false })),
    },
  );
  const result = meter.stop({
    records: summary.records,
    bytes: summary.bytes,
    bytesWhat: `${compress === 'none' ? 'stored (Avro) bytes written' : `stored (${compress}${level !== undefined ? ` level ${level}` : ''}) bytes written`}${encrypt ? ', encrypted' : ''}`,
    extra: {
      files: summary.files,
      storedBytes: summary.bytes,
      ...(level !== undefined ? { level } : {}),
      ...(p.partitions ? { partitions: `${p.partitions.first}-${p.partitions.last}` } : {}),
      ...(store?.throttled ? { throttleMBps: store.bucket.bytesPerSecond / 1e6, throttledBytes: store.bucket.bytes } : {}),
    },
  });
  // The data phase starts with the first object written (the metadata file, right before
  // the scans): what comes before is setup, which on the test server includes ~10 s of
  // object counting at 1M records (see clusterOptions).
  const setup = store?.firstWriteAt === undefined ? 0 : (store.firstWriteAt - started) / 1000;
  result.extra = { ...result.extra, totalSeconds: Math.round(result.seconds * 1000) / 1000, setupSeconds: Math.round(setup * 1000) / 1000 };
  result.seconds -= setup;
  return result;
}
