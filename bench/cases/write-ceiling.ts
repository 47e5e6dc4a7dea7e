/**
 * Case 7, the write ceiling: the data set's records generated in memory first (untimed),
 * then written into the target namespace by p.parallel wire-level BatchWriters (as many
 * as restore's workers), policy replace, fed with write()/'drain' and nothing else.
 * The target set is truncated first. Peak RSS includes the records held in memory
 * (their buffers packed into slabs), so it is no measure of the writer.
 */
import { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { Meter, clusterOptions, runCase, truncateSet } from '../lib/case-runtime.js';
import { splitRange, writeAll } from '../lib/feed.js';
import { Arena, compactRecord, generateRecord, recordDataBytes } from '../lib/generator.js';

runCase(async (p) => {
  const arena = new Arena();
  const parts = splitRange(0, p.records, p.parallel).map((r) => {
    const records: RawRecord[] = new Array(r.count);
    for (let k = 0; k < r.count; k++) records[k] = compactRecord(generateRecord(r.first + k, p.namespace, p.set), arena);
    return records;
  });
  let dataBytes = 0;
  for (const part of parts) for (const r of part) dataBytes += recordDataBytes(r);
  await truncateSet(p.hosts, p.targetNamespace, p.set);
  const cluster = await Cluster.connect(clusterOptions(p));
  try {
    const meter = new Meter();
    const tally = await writeAll(cluster, parts, { namespace: p.targetNamespace, policy: 'replace' });
    const result = meter.stop({ records: tally.written, bytes: dataBytes, bytesWhat: 'bin name + value bytes written', extra: { mode: 'replace', preGenerated: p.records } });
    if (tally.failed > 0) throw new Error(`write ceiling: ${tally.failed} record(s) failed: ${JSON.stringify(tally.failedByCode)}`);
    return result;
  } finally {
    await cluster.close();
  }
});
