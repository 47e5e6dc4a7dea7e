/**
 * Proto framing: every Aerospike request and reply is one or more frames of an
 * 8-byte header (version 2, type, 48-bit big-endian body size) and a body.
 *
 *   type 1  info      body: "cmd\ncmd\n" / "cmd\tvalue\n..."
 *   type 3  message   body: one or more AS_MSG messages back to back
 *   type 4  compressed body: u64 BE uncompressed size, then a zlib stream holding a
 *                      complete proto frame (header + body) of type 3
 */
import { inflateSync } from 'node:zlib';
import type { FrameLease, FramePool } from './frame-pool.js';

export const PROTO_VERSION = 2;
export const PROTO_HEADER_SIZE = 8;

export const ProtoType = {
  INFO: 1,
  ADMIN: 2,
  MESSAGE: 3,
  COMPRESSED: 4,
} as const;

/** Bodies larger than this are refused as a corrupt or hostile stream (the server caps at 128 MiB). */
export const MAX_BODY_SIZE = 128 * 1024 * 1024;

export interface Frame {
  type: number;
  body: Buffer;
  /**
   * When the body is a pooled buffer (frame-pool.ts): the receiver's hold on it, to
   * `release()` once nothing reads the body (or never: then it is not reused).
   */
  lease?: FrameLease;
}

export class ProtocolError extends Error {
  readonly code = 'PROTOCOL';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
  }
}

export function encodeProtoHeader(type: number, bodySize: number, target: Buffer = Buffer.allocUnsafe(PROTO_HEADER_SIZE), offset = 0): Buffer {
  target[offset] = PROTO_VERSION;
  target[offset + 1] = type;
  target.writeUIntBE(bodySize, offset + 2, 6);
  return target;
}

export function encodeFrame(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(PROTO_HEADER_SIZE + body.length);
  encodeProtoHeader(type, body.length, out, 0);
  body.copy(out, PROTO_HEADER_SIZE);
  return out;
}

/** Reads the header at `offset`; throws on a wrong version or an oversized body. */
export function decodeProtoHeader(buf: Buffer, offset = 0): { type: number; size: number } {
  const version = buf[offset];
  if (version !== PROTO_VERSION) {
    throw new ProtocolError(`bad proto version ${version} (expected ${PROTO_VERSION})`);
  }
  const size = buf.readUIntBE(offset + 2, 6);
  if (size > MAX_BODY_SIZE) throw new ProtocolError(`proto body of ${size} bytes exceeds ${MAX_BODY_SIZE}`);
  return { type: buf[offset + 1]!, size };
}

/** Unwraps a type-4 body into the frame it carries; throws ProtocolError for a corrupt or oversized one. */
export function decompressFrame(body: Buffer): Frame {
  if (body.length < 8) throw new ProtocolError('compressed frame shorter than its size prefix');
  let inner: Buffer;
  try {
    // No more than the largest frame: a small deflate stream can inflate to gigabytes.
    inner = inflateSync(body.subarray(8), { maxOutputLength: PROTO_HEADER_SIZE + MAX_BODY_SIZE });
  } catch (error) {
    throw new ProtocolError(`compressed frame does not inflate to a frame: ${(error as Error).message}`, { cause: error });
  }
  if (inner.length < PROTO_HEADER_SIZE) throw new ProtocolError(`compressed frame holds ${inner.length} bytes, less than a proto header`);
  const header = decodeProtoHeader(inner, 0);
  if (inner.length !== PROTO_HEADER_SIZE + header.size) {
    throw new ProtocolError(`compressed frame holds ${inner.length} bytes, header says ${PROTO_HEADER_SIZE + header.size}`);
  }
  return { type: header.type, body: inner.subarray(PROTO_HEADER_SIZE) };
}

/** Bodies at least this large are assembled in a buffer of their own, which a socket can read straight into (readTarget). */
const DIRECT_BODY_BYTES = 64 * 1024;

/**
 * Cuts a byte stream into whole frames, whatever the TCP segmentation: a frame split
 * over several chunks is assembled, several frames in one chunk are all returned.
 * Compressed frames are returned already unwrapped.
 *
 * A large frame (a scan reply, ~1 MiB) is assembled in place: once its header is seen,
 * its body gets a buffer of its own. `push()` copies later chunks into it; a reader that
 * asks `readTarget()` where to read can have the socket write the rest of the body
 * there directly (`filled()`), so the bulk of a scan is never copied in user space.
 * With a pool, those bodies are pooled buffers and their frames carry a lease.
 */
export class FrameParser {
  constructor(private readonly pool?: FramePool) {}

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes needed before the next frame can be complete. */
  private need = PROTO_HEADER_SIZE;
  /** The large frame being assembled in place: `fill` bytes of its body are there. */
  private direct: { type: number; body: Buffer; fill: number; lease: FrameLease | undefined } | undefined;

  /** Bytes received but not yet returned as a frame. */
  get bufferedBytes(): number {
    return this.pendingBytes + (this.direct ? PROTO_HEADER_SIZE + this.direct.fill : 0);
  }

  /** Where the next bytes of the stream go without a copy (the rest of a large frame's body), or undefined: then `push()` them. */
  readTarget(): Buffer | undefined {
    const d = this.direct;
    return d ? d.body.subarray(d.fill) : undefined;
  }

  /** `n` bytes of the stream were written at the start of the last `readTarget()`; returns the frame they completed, if any. */
  filled(n: number): Frame[] {
    const d = this.direct;
    if (!d || n > d.body.length - d.fill) throw new RangeError(`filled(${n}) past the frame being assembled`);
    d.fill += n;
    if (d.fill < d.body.length) return [];
    this.direct = undefined;
    return [frameOf(d.type, d.body, d.lease)];
  }

  push(chunk: Buffer): Frame[] {
    const frames: Frame[] = [];
    const d = this.direct;
    if (d) {
      const take = Math.min(chunk.length, d.body.length - d.fill);
      chunk.copy(d.body, d.fill, 0, take);
      d.fill += take;
      if (d.fill < d.body.length) return frames;
      this.direct = undefined;
      frames.push(frameOf(d.type, d.body, d.lease));
      if (take === chunk.length) return frames;
      chunk = chunk.subarray(take);
    }
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    // A frame split over chunks is joined once, when all of it is here (or, when large, assembled in place).
    if (this.pendingBytes < this.need) return frames;
    const buf = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
    let offset = 0;
    this.need = PROTO_HEADER_SIZE;
    while (buf.length - offset >= PROTO_HEADER_SIZE) {
      const { type, size } = decodeProtoHeader(buf, offset);
      const end = offset + PROTO_HEADER_SIZE + size;
      if (end > buf.length) {
        if (size >= DIRECT_BODY_BYTES) {
          const lease = this.pool?.take(size);
          const body = lease ? lease.body : Buffer.allocUnsafe(size);
          const have = buf.copy(body, 0, offset + PROTO_HEADER_SIZE);
          this.direct = { type, body, fill: have, lease };
          offset = buf.length;
        } else {
          this.need = end - offset;
        }
        break;
      }
      frames.push(frameOf(type, buf.subarray(offset + PROTO_HEADER_SIZE, end)));
      offset = end;
    }
    const rest = buf.subarray(offset);
    this.pending = rest.length > 0 ? [rest] : [];
    this.pendingBytes = rest.length;
    return frames;
  }
}

function frameOf(type: number, body: Buffer, lease?: FrameLease): Frame {
  if (type !== ProtoType.COMPRESSED) return lease ? { type, body, lease } : { type, body };
  // Inflating copies: the compressed body is done with once it returns (or throws).
  try {
    return decompressFrame(body);
  } finally {
    lease?.release();
  }
}
