/**
 * Live-digest lists: what `backup --track-deletes` stores so that a restore of a chain
 * knows which records were live when the backup ran, and so which records of older links
 * were deleted since.
 *
 * A list is one object per partition group, `<namespace>_<group>.digests`, in this
 * binary layout (docs/format.md, "Live-digest lists"):
 *
 *   "AEROBAKD" (8 bytes) · version u8 = 1 · 3 zero bytes
 *   then, for each partition in ascending id order:
 *     partition id u32 BE · digest count u32 BE · count × 20-byte digests, strictly ascending
 *
 * Random digests do not compress, so the file is stored as it is (20 bytes a record).
 * The manifest lists each file with its size, SHA-256, digest count and partitions.
 *
 * Writing keeps one chunk of partitions in memory at a time (the caller picks chunks by
 * a memory budget); reading streams the file and hands over the digests of the wanted
 * partitions only, checking the layout, the order, the count, the size and the SHA-256.
 */
import { createHash } from 'node:crypto';
import { pipeline as streamPipeline, Transform } from 'node:stream';
import { AerobakError } from '../errors.js';
import type { ObjectStore } from '../storage/types.js';
import { DIGEST_SIZE } from '../aerospike/scan-batch.js';
import { partitionIdAt } from '../aerospike/wire/digest.js';

export const DIGEST_LIST_MAGIC = Buffer.from('AEROBAKD', 'latin1');
export const DIGEST_LIST_VERSION = 1;
const HEADER_BYTES = 12;
const PARTITION_HEADER_BYTES = 8;

/** One live-digest list as the manifest lists it. */
export interface DigestListEntry {
  /** Relative to the backup's prefix. */
  name: string;
  size: number;
  sha256: string;
  /** Digests in the file. */
  digests: number;
  /** The partitions whose digests the file holds: an inclusive range, or ascending ids. */
  partitions: { first: number; last: number } | number[];
}

export type DigestListErrorCode = 'DIGEST_LIST_MISSING' | 'DIGEST_LIST_SIZE_MISMATCH' | 'DIGEST_LIST_CHECKSUM_MISMATCH' | 'DIGEST_LIST_CORRUPT';

/** A live-digest list that is missing or not what its manifest entry says. */
export class DigestListError extends AerobakError {
  constructor(
    code: DigestListErrorCode,
    readonly file: string,
    message: string,
  ) {
    super('failed', code, `${file}: ${message}`);
  }
  declare readonly code: DigestListErrorCode;
}

export function digestListName(baseName: string): string {
  return `${baseName}.digests`;
}

/** The bytes of the file header. */
export function digestListHeader(): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  DIGEST_LIST_MAGIC.copy(header, 0);
  header[8] = DIGEST_LIST_VERSION;
  return header;
}

/**
 * The bytes of one partition's section: its id, the count, and the digests sorted.
 * `digests` are the 20-byte digests as latin1 strings (so that a plain sort() orders
 * them by bytes); duplicates (a record seen twice by a retried scan) are dropped.
 */
export function digestListSection(partition: number, digests: string[]): Buffer {
  digests.sort();
  let unique = 0;
  for (let i = 0; i < digests.length; i++) if (i === 0 || digests[i] !== digests[i - 1]) digests[unique++] = digests[i]!;
  digests.length = unique;
  const out = Buffer.allocUnsafe(PARTITION_HEADER_BYTES + unique * DIGEST_SIZE);
  out.writeUInt32BE(partition, 0);
  out.writeUInt32BE(unique, 4);
  for (let i = 0; i < unique; i++) {
    const written = out.write(digests[i]!, PARTITION_HEADER_BYTES + i * DIGEST_SIZE, DIGEST_SIZE, 'latin1');
    if (written !== DIGEST_SIZE) throw new RangeError('a digest is not 20 bytes');
  }
  return out;
}

/**
 * Streams the list `entry` (under `prefix` in `store`) and calls `onDigest(partition,
 * bytes, offset)` for each digest of a partition that `wanted` accepts (the bytes are
 * valid only during the call). Rejects with DigestListError naming the file if it is
 * missing, cut, reordered, altered or of another size or count than the manifest says.
 */
export async function readDigestList(
  store: ObjectStore,
  key: string,
  entry: DigestListEntry,
  wanted: (partition: number) => boolean,
  onDigest: (partition: number, bytes: Buffer, offset: number) => void,
  signal?: AbortSignal,
  /** For an encrypted backup: decrypts the stored bytes (the size and SHA-256 are of the stored bytes). */
  decrypt?: Transform,
): Promise<void> {
  const fail = (code: DigestListErrorCode, message: string) => new DigestListError(code, entry.name, message);
  const stat = await store.stat(key);
  if (stat === null) throw fail('DIGEST_LIST_MISSING', 'the live-digest list is missing');
  if (stat.size !== entry.size) throw fail('DIGEST_LIST_SIZE_MISMATCH', `is ${stat.size} bytes, the manifest says ${entry.size}`);
  const hash = createHash('sha256');
  let pending: Buffer = Buffer.alloc(0);
  let headerSeen = false;
  let partition = -1;
  let remaining = 0;
  let total = 0;
  const previous = Buffer.alloc(DIGEST_SIZE);
  let first = true;
  let take = false;
  let offset = 0;
  const inFile = (p: number) => (Array.isArray(entry.partitions) ? entry.partitions.includes(p) : p >= entry.partitions.first && p <= entry.partitions.last);
  const stored = await store.read(key);
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  // The callback form returns the last stream, which the loop reads; a failure anywhere destroys it.
  const stream = decrypt ? streamPipeline(stored, tap, decrypt, () => undefined) : streamPipeline(stored, tap, () => undefined);
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    signal?.throwIfAborted();
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let at = 0;
    for (;;) {
      if (!headerSeen) {
        if (pending.length - at < HEADER_BYTES) break;
        if (!pending.subarray(at, at + 8).equals(DIGEST_LIST_MAGIC) || pending[at + 8] !== DIGEST_LIST_VERSION) {
          throw fail('DIGEST_LIST_CORRUPT', 'is not an aerobak live-digest list (version 1)');
        }
        headerSeen = true;
        at += HEADER_BYTES;
        offset += HEADER_BYTES;
      } else if (remaining === 0) {
        if (pending.length - at < PARTITION_HEADER_BYTES) break;
        const next = pending.readUInt32BE(at);
        if (next <= partition || !inFile(next)) {
          throw fail('DIGEST_LIST_CORRUPT', `partition ${next} at byte ${offset} is out of order or not one of the file's partitions`);
        }
        partition = next;
        remaining = pending.readUInt32BE(at + 4);
        first = true;
        take = wanted(partition);
        at += PARTITION_HEADER_BYTES;
        offset += PARTITION_HEADER_BYTES;
      } else {
        if (pending.length - at < DIGEST_SIZE) break;
        if (!first && previous.compare(pending, at, at + DIGEST_SIZE, 0, DIGEST_SIZE) >= 0) {
          throw fail('DIGEST_LIST_CORRUPT', `digests of partition ${partition} are not in ascending order at byte ${offset}`);
        }
        if (partitionIdAt(pending, at) !== partition) {
          throw fail('DIGEST_LIST_CORRUPT', `a digest at byte ${offset} does not belong to partition ${partition}`);
        }
        if (take) onDigest(partition, pending, at);
        pending.copy(previous, 0, at, at + DIGEST_SIZE);
        first = false;
        remaining--;
        total++;
        at += DIGEST_SIZE;
        offset += DIGEST_SIZE;
      }
    }
    pending = at === pending.length ? Buffer.alloc(0) : Buffer.from(pending.subarray(at));
  }
  if (!headerSeen || remaining !== 0 || pending.length !== 0) throw fail('DIGEST_LIST_CORRUPT', 'is cut short');
  if (total !== entry.digests) throw fail('DIGEST_LIST_CORRUPT', `holds ${total} digests, the manifest says ${entry.digests}`);
  const sha256 = hash.digest('hex');
  if (sha256 !== entry.sha256) throw fail('DIGEST_LIST_CHECKSUM_MISMATCH', `SHA-256 ${sha256} differs from the manifest's ${entry.sha256}`);
}
