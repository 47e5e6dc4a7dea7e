/**
 * `backup --track-deletes`: the digests of every live record in a group's partitions,
 * from a digest-only scan (no bin is read), stored as one live-digest list per group
 * (src/catalog/digest-list.ts for the layout).
 *
 * The group's partitions are scanned in chunks small enough that a chunk's digests fit
 * the memory budget (estimated from the namespace's object count); each chunk's digests
 * are sorted per partition and streamed to the store before the next chunk is scanned.
 * The list is hashed on its way to the store, for the manifest.
 */
import { createHash } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileCrypto } from '../crypto/backup-keys.js';
import type { Cluster } from '../aerospike/cluster.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { partitionIdAt } from '../aerospike/wire/digest.js';
import type { RawRecord } from '../aerospike/types.js';
import { digestListHeader, digestListName, digestListSection, type DigestListEntry } from '../catalog/digest-list.js';
import type { ObjectStore } from '../storage/types.js';
import { objectKey } from './data-files.js';

/** Digests held in memory at once while a list is written (~60 bytes each as sorted strings). */
export const DEFAULT_LIVE_DIGEST_BUDGET = 1_000_000;

export interface LiveDigestOptions {
  namespace: string;
  sets?: string[];
  /** The group's partitions, ascending. */
  partitions: number[];
  baseName: string;
  /** Records per partition, by estimate: sizes the chunks. */
  perPartition: number;
  budget?: number;
  signal?: AbortSignal;
  /** Encrypts the list, for an encrypted backup. */
  crypto?: FileCrypto;
}

/** Scans the group's partitions for digests and stores the list; returns its manifest entry. */
export async function writeLiveDigests(cluster: Cluster, store: ObjectStore, prefix: string, opts: LiveDigestOptions): Promise<DigestListEntry> {
  const name = digestListName(opts.baseName);
  const perChunk = Math.max(1, Math.floor((opts.budget ?? DEFAULT_LIVE_DIGEST_BUDGET) / Math.max(1, opts.perPartition)));
  const hash = createHash('sha256');
  let size = 0;
  /** Digests stored (without duplicates). */
  let stored = 0;
  // The size and SHA-256 are of the stored bytes: after encryption, for an encrypted backup.
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  async function* sections(): AsyncGenerator<Buffer> {
    yield digestListHeader();
    for (let from = 0; from < opts.partitions.length; from += perChunk) {
      const ids = opts.partitions.slice(from, from + perChunk);
      const byPartition = new Map<number, string[]>(ids.map((id) => [id, []]));
      const reader = new ScanReader(cluster, {
        namespace: opts.namespace,
        ...(opts.sets && opts.sets.length > 0 ? { sets: opts.sets } : {}),
        noBins: true,
        partitions: ids.map((id) => ({ id })),
      });
      for await (const record of reader as AsyncIterable<RawRecord>) {
        opts.signal?.throwIfAborted();
        const list = byPartition.get(partitionIdAt(record.digest, 0));
        // A scan returns only the partitions it was asked for; anything else is a bug.
        if (list === undefined) throw new Error(`digest scan returned a record of partition ${partitionIdAt(record.digest, 0)}, not asked for`);
        list.push(record.digest.toString('latin1'));
      }
      for (const id of ids) {
        const list = byPartition.get(id)!;
        const section = digestListSection(id, list);
        // digestListSection sorted the list and dropped duplicates (a partition whose
        // scan was retried on another node can return a record twice).
        stored += list.length;
        byPartition.delete(id);
        yield section;
      }
    }
  }
  const plain = Readable.from(sections(), { objectMode: false });
  const chain = opts.crypto ? [plain, opts.crypto.encrypt(name), tap] : [plain, tap];
  const written = store.write(objectKey(prefix, name), tap, { signal: opts.signal });
  await Promise.all([pipeline(chain), written]);
  const ids = opts.partitions;
  const contiguous = ids.every((id, i) => i === 0 || id === ids[i - 1]! + 1);
  return {
    name,
    size,
    sha256: hash.digest('hex'),
    digests: stored,
    partitions: contiguous ? { first: ids[0]!, last: ids[ids.length - 1]! } : ids.slice(),
  };
}
