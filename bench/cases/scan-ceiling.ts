/**
 * Case 1, the scan ceiling: the least work that reads every record off the wire. The
 * same partition groups as the backup (`parallel` of them, planGroups), one wire-level
 * ScanReader each in batch mode (every record message checked and its digest tracked
 * for resumption, as the backup's scans do), records counted and discarded. Timed from
 * the first read to the end. `bytes` are the records' wire bytes (ScanReader.stats.bytes).
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Cluster } from '../../src/aerospike/cluster.js';
import type { ScanBatch } from '../../src/aerospike/scan-batch.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { PARTITION_COUNT } from '../../src/aerospike/types.js';
import { planGroups } from '../../src/jobs/plan.js';
import { Meter, clusterOptions, runCase } from '../lib/case-runtime.js';

runCase(async (p) => {
  const cluster = await Cluster.connect(clusterOptions(p));
  try {
    const all = Array.from({ length: PARTITION_COUNT }, (_, id) => id);
    const readers = planGroups(all, p.parallel).map(
      (ids) => new ScanReader(cluster, { namespace: p.namespace, sets: [p.set], partitions: ids.map((id) => ({ id })), batches: true }),
    );
    let records = 0;
    const meter = new Meter();
    await Promise.all(
      readers.map((reader) =>
        pipeline(
          reader,
          new Writable({
            objectMode: true,
            highWaterMark: 2,
            write(batch: ScanBatch, _encoding, callback) {
              records += batch.count;
              callback();
            },
          }),
        ),
      ),
    );
    return meter.stop({
      records,
      bytes: readers.reduce((n, r) => n + r.stats.bytes, 0),
      bytesWhat: 'record wire bytes scanned',
      extra: { retries: readers.reduce((n, r) => n + r.stats.retries, 0) },
    });
  } finally {
    await cluster.close();
  }
});
