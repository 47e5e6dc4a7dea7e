/**
 * The aerobak restore job (runRestore, what `aerobak restore` runs) as a benchmark case:
 * the backup at p.input into p.targetNamespace (namespace map source → target), mode
 * `replace` (every record is written whatever is stored: pure write speed, no generation
 * check), after truncating the target set. Optionally the backup is read through a
 * throttled store.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runRestore } from '../../src/jobs/restore.js';
import { MANIFEST_FILE, type Manifest } from '../../src/jobs/manifest.js';
import { openStore } from '../../src/storage/index.js';
import { Meter, clusterOptions, truncateSet, type CaseParams, type CaseResult } from './case-runtime.js';
import { ThrottledStore } from './throttled-store.js';

export async function restoreCase(p: CaseParams): Promise<CaseResult> {
  if (!p.input) throw new Error('restore: no input backup');
  const manifest = JSON.parse(await readFile(join(p.input, MANIFEST_FILE), 'utf8')) as Manifest;
  await truncateSet(p.hosts, p.targetNamespace, p.set);
  const throttle = p.throttleBytesPerSecond;
  let throttled: ThrottledStore | undefined;
  const meter = new Meter();
  const summary = await runRestore(
    {
      cluster: clusterOptions(p),
      from: p.input,
      namespaceMap: new Map([[manifest.namespace, p.targetNamespace]]),
      mode: 'replace',
      parallel: p.parallel,
    },
    throttle === undefined
      ? {}
      : {
          openStore: async (location, intent) => (throttled = new ThrottledStore(await openStore(location, intent), throttle, { write: false, read: true })),
        },
  );
  const result = meter.stop({
    records: summary.written,
    bytes: manifest.bytes,
    bytesWhat: `stored (${manifest.compression}) bytes read`,
    extra: {
      read: summary.read,
      written: summary.written,
      expired: summary.expired,
      failed: summary.failed,
      files: manifest.files.length,
      mode: 'replace',
      ...(throttled?.throttled ? { throttleMBps: throttled.bucket.bytesPerSecond / 1e6, throttledBytes: throttled.bucket.bytes } : {}),
    },
  });
  if (summary.read !== manifest.records || summary.written + summary.expired !== summary.read) {
    throw new Error(`restore: read ${summary.read} of ${manifest.records} records, wrote ${summary.written} (${summary.expired} expired)`);
  }
  return result;
}
