/**
 * Feeds records into BatchWriters with the least overhead a caller can have: write()
 * until it returns false, wait for 'drain', end(), wait for 'finish'. Used by the load
 * step and by the write ceiling.
 */
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import type { Cluster } from '../../src/aerospike/cluster.js';
import { BatchWriter, type WritePolicy } from '../../src/aerospike/batch-writer.js';
import type { RawRecord } from '../../src/aerospike/types.js';

export interface WriteTally {
  written: number;
  failed: number;
  other: number;
  failedByCode: Record<number, number>;
}

async function feedOne(writer: BatchWriter, records: Iterable<RawRecord>): Promise<void> {
  const done = finished(writer);
  for (const r of records) {
    if (!writer.write(r)) {
      // 'drain' never comes if the writer fails: race it against the end of the stream.
      await Promise.race([once(writer, 'drain'), done]);
      if (writer.destroyed) break;
    }
  }
  writer.end();
  await done;
}

/** Writes `sources[k]` through writer k, all at once; resolves with the outcome counts. */
export async function writeAll(
  cluster: Cluster,
  sources: Iterable<RawRecord>[],
  opts: { namespace?: string; policy: WritePolicy },
): Promise<WriteTally> {
  const tally: WriteTally = { written: 0, failed: 0, other: 0, failedByCode: {} };
  const writers = sources.map(
    () =>
      new BatchWriter(cluster, {
        ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
        policy: opts.policy,
        onResult: (r) => {
          if (r.outcome === 'written') tally.written++;
          else if (r.outcome === 'failed') {
            tally.failed++;
            tally.failedByCode[r.resultCode] = (tally.failedByCode[r.resultCode] ?? 0) + 1;
          } else tally.other++;
        },
      }),
  );
  await Promise.all(writers.map((w, k) => feedOne(w, sources[k]!)));
  return tally;
}

/** Splits [0, count) into `parts` contiguous ranges. */
export function splitRange(first: number, count: number, parts: number): Array<{ first: number; count: number }> {
  const out: Array<{ first: number; count: number }> = [];
  for (let k = 0; k < parts; k++) {
    const a = first + Math.floor((k * count) / parts);
    const b = first + Math.floor(((k + 1) * count) / parts);
    if (b > a) out.push({ first: a, count: b - a });
  }
  return out;
}
