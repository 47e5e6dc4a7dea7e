/**
 * A run of scan records exactly as the server sent them: views into one reply frame,
 * no copy and no decoding. The batch mode of ScanReader delivers these, so a consumer
 * that only re-encodes records (the backup) pays per record for its own work and not
 * for building RawRecord objects and moving them through a stream one by one.
 *
 * Record `i` is the record message (22-byte header, fields, ops) that starts at
 * `body[offsets[i]]` (other messages, such as partition-done markers, may sit between
 * records); its 20-byte digest is at `body[digests[i], +20)`.
 * The node scan has checked the structure: every field and op lies inside the message,
 * every record has a 20-byte digest field.
 *
 * The frame may be a pooled buffer (wire/frame-pool.ts). A batch may be kept as long as
 * the consumer likes (it keeps the frame, up to ~1 MiB, alive); a consumer that is done
 * reading `body` (and every view it took into it) calls `release()`, and the buffer is
 * reused once every batch of the frame and the scan itself have let it go. A consumer
 * that never calls it is safe: the frame is then only not reused.
 */
export const DIGEST_SIZE = 20;

export interface ScanBatch {
  /** The frame body holding the records. */
  readonly body: Buffer;
  /** Records in the batch. */
  readonly count: number;
  /** Where record i's message starts in body (at least `count` entries). */
  readonly offsets: Int32Array;
  /** Where record i's digest starts in body (at least `count` entries). */
  readonly digests: Int32Array;
  /** Wire bytes of the batch's record messages. */
  readonly bytes: number;
  /** Lets the consumer's hold on a pooled frame go (once; later calls do nothing); absent when the frame is not pooled. */
  readonly release?: () => void;
  /** Another hold on the pooled frame, for a second reader of the batch; returns what lets it go. Absent when not pooled. */
  readonly hold?: () => () => void;
}

export function isScanBatch(chunk: unknown): chunk is ScanBatch {
  return typeof chunk === 'object' && chunk !== null && (chunk as ScanBatch).offsets instanceof Int32Array && Buffer.isBuffer((chunk as ScanBatch).body);
}
