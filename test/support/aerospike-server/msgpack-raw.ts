/**
 * Byte-level msgpack helpers for ops that keep values as bytes (CDT map entries once
 * cdt-rewrite.ts has put them in the server's form, HLL elements): container headers and
 * value spans, no decoding.
 */
import { MsgpackError, Unpacker } from '../../../src/aerospike/wire/msgpack.js';

export interface ContainerHeader {
  count: number;
  /** Offset of the first element. */
  offset: number;
}

export function readArrayHeader(buf: Buffer, offset: number): ContainerHeader {
  const b = buf[offset];
  if (b === undefined) throw new MsgpackError('truncated array header');
  if (b >= 0x90 && b <= 0x9f) return { count: b & 0x0f, offset: offset + 1 };
  if (b === 0xdc && offset + 3 <= buf.length) return { count: buf.readUInt16BE(offset + 1), offset: offset + 3 };
  if (b === 0xdd && offset + 5 <= buf.length) return { count: buf.readUInt32BE(offset + 1), offset: offset + 5 };
  throw new MsgpackError(`expected a msgpack array at ${offset}`);
}

export function readMapHeader(buf: Buffer, offset: number): ContainerHeader {
  const b = buf[offset];
  if (b === undefined) throw new MsgpackError('truncated map header');
  if (b >= 0x80 && b <= 0x8f) return { count: b & 0x0f, offset: offset + 1 };
  if (b === 0xde && offset + 3 <= buf.length) return { count: buf.readUInt16BE(offset + 1), offset: offset + 3 };
  if (b === 0xdf && offset + 5 <= buf.length) return { count: buf.readUInt32BE(offset + 1), offset: offset + 5 };
  throw new MsgpackError(`expected a msgpack map at ${offset}`);
}

export function mapHeader(count: number): Buffer {
  if (count <= 15) return Buffer.from([0x80 | count]);
  if (count <= 0xffff) {
    const b = Buffer.allocUnsafe(3);
    b[0] = 0xde;
    b.writeUInt16BE(count, 1);
    return b;
  }
  const b = Buffer.allocUnsafe(5);
  b[0] = 0xdf;
  b.writeUInt32BE(count, 1);
  return b;
}

/** The span of the msgpack value at `offset`; throws MsgpackError on malformed input. */
export function valueSpan(buf: Buffer, offset: number): Buffer {
  const u = new Unpacker(buf);
  u.offset = offset;
  u.read();
  return buf.subarray(offset, u.offset);
}

/** True for the `c7 00 <flags>` ext (or any fixext/ext) that marks CDT order flags. */
export function isExt(buf: Buffer, offset: number): boolean {
  const b = buf[offset];
  return b === 0xc7 || b === 0xc8 || b === 0xc9 || (b !== undefined && b >= 0xd4 && b <= 0xd8);
}
