/**
 * Not a measured case: loads records [first, first + count) of the data set into
 * namespace.set with the wire-level BatchWriter (policy replace), after truncating the set.
 */
import { Cluster } from '../../src/aerospike/cluster.js';
import { Meter, clusterOptions, runCase, truncateSet } from '../lib/case-runtime.js';
import { splitRange, writeAll } from '../lib/feed.js';
import { generateRecords } from '../lib/generator.js';

runCase(async (p) => {
  const first = p.first ?? 0;
  const count = p.count ?? p.records;
  await truncateSet(p.hosts, p.namespace, p.set);
  const cluster = await Cluster.connect(clusterOptions(p));
  try {
    const meter = new Meter();
    const sources = splitRange(first, count, p.parallel).map((r) => generateRecords(r.first, r.count, p.namespace, p.set));
    const tally = await writeAll(cluster, sources, { policy: 'replace' });
    if (tally.failed > 0) throw new Error(`load: ${tally.failed} record(s) failed: ${JSON.stringify(tally.failedByCode)}`);
    if (tally.written !== count) throw new Error(`load: ${tally.written} of ${count} records written`);
    return meter.stop({ records: tally.written, bytes: 0, bytesWhat: 'n/a' });
  } finally {
    await cluster.close();
  }
});
