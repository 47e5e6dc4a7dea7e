/**
 * HyperLogLog bins (particle 18): the modify ops the capture uses, hll_init (0) and
 * hll_add (1), implemented as the server's particle_hll.c does them, so the stored
 * bytes are the real server's bytes:
 *
 *   u8 flags (0), u8 n_index_bits, u8 n_minhash_bits, u64 cache (0 = not computed),
 *   then 2^n_index_bits registers of (6 + n_minhash_bits) bits, packed big-endian.
 *
 * An element's register and value come from MurmurHash3_x64_128 of the element's
 * msgpack bytes. Divergences: the element bytes are hashed as the client sent them (the
 * server first "compactifies" non-minimal msgpack encodings, which official clients do
 * not produce), and every other HLL op (union, fold, refresh_count and all reads) is
 * answered with 16 UNSUPPORTED_FEATURE.
 */
import { Unpacker } from '../../../src/aerospike/wire/msgpack.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ParticleType } from '../../../src/aerospike/types.js';
import { ResultError } from './errors.js';
import { readArrayHeader } from './msgpack-raw.js';
import type { StoredBin } from './store.js';

const HLL_OP_INIT = 0;
const HLL_OP_ADD = 1;

const FLAG_CREATE_ONLY = 0x1;
const FLAG_UPDATE_ONLY = 0x2;
const FLAG_NO_FAIL = 0x4;

const MIN_INDEX_BITS = 4;
const MAX_INDEX_BITS = 16;
const MIN_MINHASH_BITS = 4;
const MAX_MINHASH_BITS = 51;
const HLL_BITS = 6;
const HEADER_SIZE = 11;

/** Result of an HLL modify: the new bin (undefined = unchanged) and the op's reply value. */
export interface HllModifyResult {
  bin: StoredBin | undefined;
  /** INTEGER reply (hll_add: registers changed) or undefined (hll_init replies nothing). */
  reply: bigint | undefined;
}

function param(message: string): ResultError {
  return new ResultError(ResultCode.PARAMETER, `hll: ${message}`);
}

/** Applies one HLL_MODIFY op value (msgpack [op, args...]) to `current` (the bin, if any). */
export function hllModify(name: string, opValue: Buffer, current: StoredBin | undefined): HllModifyResult {
  if (current && current.type !== ParticleType.HLL) {
    throw new ResultError(ResultCode.BIN_TYPE, `hll op on a bin of particle type ${current.type}`);
  }
  let header: { count: number; offset: number };
  try {
    header = readArrayHeader(opValue, 0);
  } catch {
    throw param('op is not a msgpack array');
  }
  const u = new Unpacker(opValue);
  u.offset = header.offset;
  const opCode = readInt(u, 'op code');
  const nArgs = header.count - 1;

  let elements: Buffer[] = [];
  if (opCode === HLL_OP_ADD) {
    if (nArgs < 1 || nArgs > 4) throw param(`hll_add takes 1 to 4 arguments, got ${nArgs}`);
    elements = readElements(opValue, u);
  } else if (opCode === HLL_OP_INIT) {
    if (nArgs > 3) throw param(`hll_init takes 0 to 3 arguments, got ${nArgs}`);
  } else {
    throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, `hll op ${opCode} is not supported by the test server`);
  }
  const argsLeft = nArgs - (opCode === HLL_OP_ADD ? 1 : 0);
  let indexBits = argsLeft >= 1 ? readInt(u, 'n_index_bits') : -1;
  let minhashBits = argsLeft >= 2 ? readInt(u, 'n_minhash_bits') : -1;
  const flags = argsLeft >= 3 ? readInt(u, 'flags') : 0;
  if (indexBits !== -1 && (indexBits < MIN_INDEX_BITS || indexBits > MAX_INDEX_BITS)) throw param(`n_index_bits ${indexBits}`);
  if (minhashBits !== -1 && minhashBits !== 0 && (minhashBits < MIN_MINHASH_BITS || minhashBits > MAX_MINHASH_BITS)) {
    throw param(`n_minhash_bits ${minhashBits}`);
  }
  if ((flags & FLAG_CREATE_ONLY) && (flags & FLAG_UPDATE_ONLY)) throw param('create-only with update-only');
  if (opCode === HLL_OP_ADD && flags & FLAG_UPDATE_ONLY) throw param('hll_add takes no update-only flag');

  if (current && flags & FLAG_CREATE_ONLY) {
    if (flags & FLAG_NO_FAIL) return { bin: undefined, reply: undefined };
    throw new ResultError(ResultCode.BIN_EXISTS, 'hll bin exists');
  }
  if (!current && flags & FLAG_UPDATE_ONLY) {
    if (flags & FLAG_NO_FAIL) return { bin: undefined, reply: undefined };
    throw new ResultError(ResultCode.BIN_NOT_FOUND, 'hll bin not found');
  }

  if (current) {
    // hll_add keeps the existing configuration; hll_init defaults to it.
    if (opCode === HLL_OP_ADD || indexBits === -1) indexBits = current.value[1]!;
    if (opCode === HLL_OP_ADD || minhashBits === -1) minhashBits = current.value[2]!;
  } else {
    if (indexBits === -1) throw new ResultError(ResultCode.OP_NOT_APPLICABLE, 'hll: cannot create without n_index_bits');
    if (minhashBits === -1) minhashBits = 0;
  }
  if (indexBits + minhashBits > 64) throw new ResultError(ResultCode.OP_NOT_APPLICABLE, 'hll: index bits + minhash bits > 64');

  if (opCode === HLL_OP_INIT) return { bin: { name, type: ParticleType.HLL, value: emptyHll(indexBits, minhashBits) }, reply: undefined };

  const hll = current ? Buffer.from(current.value) : emptyHll(indexBits, minhashBits);
  let added = 0n;
  for (const element of elements) if (hllAdd(hll, element)) added++;
  return { bin: { name, type: ParticleType.HLL, value: hll }, reply: added };
}

function readInt(u: Unpacker, what: string): number {
  let v;
  try {
    v = u.read();
  } catch {
    throw param(`unreadable ${what}`);
  }
  if (typeof v !== 'number') throw param(`${what} is not an integer`);
  return v;
}

/** The raw msgpack bytes of each element of the list at the unpacker's position. */
function readElements(buf: Buffer, u: Unpacker): Buffer[] {
  let header;
  try {
    header = readArrayHeader(buf, u.offset);
  } catch {
    throw param('hll_add elements are not a list');
  }
  if (header.count === 0) throw param('hll_add needs at least one element');
  u.offset = header.offset;
  const out: Buffer[] = [];
  for (let i = 0; i < header.count; i++) {
    const start = u.offset;
    const b = buf[start];
    if (b !== undefined && ((b >= 0x80 && b <= 0x9f) || b === 0xdc || b === 0xdd || b === 0xde || b === 0xdf)) {
      throw param('hll elements cannot be lists or maps');
    }
    try {
      u.read();
    } catch {
      throw param('unreadable hll element');
    }
    out.push(buf.subarray(start, u.offset));
  }
  return out;
}

function registerBits(hll: Buffer): number {
  return HLL_BITS + hll[2]!;
}

function emptyHll(indexBits: number, minhashBits: number): Buffer {
  const size = HEADER_SIZE + Math.ceil(((HLL_BITS + minhashBits) * (1 << indexBits)) / 8);
  const out = Buffer.alloc(size);
  out[1] = indexBits;
  out[2] = minhashBits;
  return out;
}

/** hmh_add(): true when the element raised its register. Clears the cached count. */
function hllAdd(hll: Buffer, element: Buffer): boolean {
  const indexBits = hll[1]!;
  const minhashBits = hll[2]!;
  const [h0, h1] = murmurHash3x64x128(element);
  const register = Number(h0 & ((1n << BigInt(indexBits)) - 1n));
  const minhash = (h0 >> BigInt(indexBits)) & ((1n << BigInt(minhashBits)) - 1n);
  const hllVal = BigInt(lowestSetBit(h1) + 1);
  const value = (hllVal << BigInt(minhashBits)) | minhash;
  if (getRegister(hll, register) >= value) return false;
  setRegister(hll, register, value);
  hll.fill(0, 3, HEADER_SIZE);
  return true;
}

/** cf_lsb64(): index of the lowest set bit, 64 for zero. */
function lowestSetBit(v: bigint): number {
  if (v === 0n) return 64;
  let n = 0;
  while ((v & 1n) === 0n) {
    v >>= 1n;
    n++;
  }
  return n;
}

/**
 * The server reads and writes registers through a big-endian u64 window over the
 * register bytes, slid back so it never runs past their end.
 */
function registerWindow(hll: Buffer, r: number): { byteOffset: number; shift: number; bits: number } {
  const bits = registerBits(hll);
  const bitOffset = bits * r;
  let byteOffset = Math.floor(bitOffset / 8);
  const byteEnd = Math.ceil((bits * (1 << hll[1]!)) / 8);
  const maxOffset = byteEnd - 8;
  let lBit = bitOffset % 8;
  if (byteOffset > maxOffset) {
    lBit += (byteOffset - maxOffset) * 8;
    byteOffset = maxOffset;
  }
  return { byteOffset: HEADER_SIZE + byteOffset, shift: 64 - (lBit + bits), bits };
}

function getRegister(hll: Buffer, r: number): bigint {
  const w = registerWindow(hll, r);
  return (hll.readBigUInt64BE(w.byteOffset) >> BigInt(w.shift)) & ((1n << BigInt(w.bits)) - 1n);
}

function setRegister(hll: Buffer, r: number, value: bigint): void {
  const w = registerWindow(hll, r);
  const mask = ((1n << BigInt(w.bits)) - 1n) << BigInt(w.shift);
  const word = hll.readBigUInt64BE(w.byteOffset);
  hll.writeBigUInt64BE((word & ~mask) | ((value << BigInt(w.shift)) & mask), w.byteOffset);
}

const M64 = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

function rotl64(x: bigint, r: bigint): bigint {
  return ((x << r) | (x >> (64n - r))) & M64;
}

function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & M64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & M64;
  k ^= k >> 33n;
  return k;
}

/** MurmurHash3_x64_128 with seed 0; returns the two 64-bit halves as read little-endian. */
function murmurHash3x64x128(data: Buffer): [bigint, bigint] {
  let h1 = 0n;
  let h2 = 0n;
  const nBlocks = Math.floor(data.length / 16);
  for (let i = 0; i < nBlocks; i++) {
    let k1 = data.readBigUInt64LE(i * 16);
    let k2 = data.readBigUInt64LE(i * 16 + 8);
    k1 = (k1 * C1) & M64;
    k1 = rotl64(k1, 31n);
    k1 = (k1 * C2) & M64;
    h1 ^= k1;
    h1 = rotl64(h1, 27n);
    h1 = (h1 + h2) & M64;
    h1 = (h1 * 5n + 0x52dce729n) & M64;
    k2 = (k2 * C2) & M64;
    k2 = rotl64(k2, 33n);
    k2 = (k2 * C1) & M64;
    h2 ^= k2;
    h2 = rotl64(h2, 31n);
    h2 = (h2 + h1) & M64;
    h2 = (h2 * 5n + 0x38495ab5n) & M64;
  }
  const tail = data.subarray(nBlocks * 16);
  let k1 = 0n;
  let k2 = 0n;
  for (let i = tail.length - 1; i >= 8; i--) k2 ^= BigInt(tail[i]!) << BigInt((i - 8) * 8);
  if (tail.length > 8) {
    k2 = (k2 * C2) & M64;
    k2 = rotl64(k2, 33n);
    k2 = (k2 * C1) & M64;
    h2 ^= k2;
  }
  for (let i = Math.min(tail.length, 8) - 1; i >= 0; i--) k1 ^= BigInt(tail[i]!) << BigInt(i * 8);
  if (tail.length > 0) {
    k1 = (k1 * C1) & M64;
    k1 = rotl64(k1, 31n);
    k1 = (k1 * C2) & M64;
    h1 ^= k1;
  }
  const len = BigInt(data.length);
  h1 ^= len;
  h2 ^= len;
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = (h1 + h2) & M64;
  h2 = (h2 + h1) & M64;
  return [h1, h2];
}
