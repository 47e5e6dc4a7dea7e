/**
 * Case 1, the scan ceiling: one wire-level ScanReader over all 4096 partitions of
 * namespace.set, records counted and discarded. Timed from the first read to the end.
 * `bytes` are the records' wire bytes as the reader counts them (ScanReader.stats.bytes).
 */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Cluster } from '../../src/aerospike/cluster.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import { Meter, clusterOptions, runCase } from '../lib/case-runtime.js';

runCase(async (p) => {
  const cluster = await Cluster.connect(clusterOptions(p));
  try {
    const reader = new ScanReader(cluster, { namespace: p.namespace, sets: [p.set] });
    let records = 0;
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 256,
      write(_record, _encoding, callback) {
        records++;
        callback();
      },
    });
    const meter = new Meter();
    await pipeline(reader, sink);
    return meter.stop({ records, bytes: reader.stats.bytes, bytesWhat: 'record wire bytes scanned', extra: { retries: reader.stats.retries } });
  } finally {
    await cluster.close();
  }
});
