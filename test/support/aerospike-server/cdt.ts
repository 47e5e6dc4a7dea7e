/**
 * CDT modify ops on map bins (op 4, particle type 4, value msgpack [op code, args...]).
 *
 * Implemented as the server's particle_map.c does them:
 *   map_put (67)        [67, key, value, map order attr?, write flags?]
 *   map_put_items (68)  [68, {items}, map order attr?, write flags?]
 * The order attr (0 unordered, 1 key-ordered, 3 key-value-ordered) applies when the op
 * creates the bin. Write flags: 1 NO_OVERWRITE (an existing key fails with 24
 * ELEMENT_EXISTS), 2 NO_CREATE (a new key fails with 23 ELEMENT_NOT_FOUND), 4 NO_FAIL
 * (skip instead of failing), 8 DO_PARTIAL (with NO_FAIL, apply the items that pass).
 * The reply value is the map's size.
 *
 * Keys, values and the items map are validated and rewritten as the server does
 * (cdt-rewrite.ts: compact msgpack, nested maps sorted, flags of the items map dropped);
 * a refused one, or a key that is not an integer, string or blob, fails with 4. Stored
 * bytes: every map keeps its keys sorted in the server's msgpack order, unordered ones
 * too (checked against a real server: puts of keys 3, 1, 2 read back as 1, 2, 3); an
 * ordered map starts with the `c7 00 <flags>`/nil pair.
 *
 * Divergence: every other CDT op, and any op with a context path, is answered with 16
 * UNSUPPORTED_FEATURE.
 */
import { MsgpackError, Unpacker } from '../../../src/aerospike/wire/msgpack.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ParticleType } from '../../../src/aerospike/types.js';
import { ResultError } from './errors.js';
import { CdtRewriteError, compareMsgpack, mapIsKey, rewriteElement } from './cdt-rewrite.js';
import { isExt, mapHeader, readArrayHeader, readMapHeader, valueSpan } from './msgpack-raw.js';
import type { StoredBin } from './store.js';

const MAP_PUT = 67;
const MAP_PUT_ITEMS = 68;
const CONTEXT_EVAL = 0xff;

const NO_OVERWRITE = 0x1;
const NO_CREATE = 0x2;
const NO_FAIL = 0x4;
const DO_PARTIAL = 0x8;

const ORDER_FLAGS = new Set([0, 1, 3]);

interface Entry {
  key: Buffer;
  value: Buffer;
}

interface MapState {
  flags: number;
  entries: Entry[];
}

function param(message: string): ResultError {
  return new ResultError(ResultCode.PARAMETER, `cdt: ${message}`);
}

/** Applies one CDT_MODIFY op value to the bin; returns the new bin (undefined = unchanged) and the INTEGER reply. */
export function cdtModify(name: string, opValue: Buffer, current: StoredBin | undefined): { bin: StoredBin | undefined; reply: bigint } {
  const args: Buffer[] = [];
  let opCode: unknown;
  try {
    const header = readArrayHeader(opValue, 0);
    let at = header.offset;
    for (let i = 0; i < header.count; i++) {
      const span = valueSpan(opValue, at);
      if (i === 0) opCode = new Unpacker(span).read();
      else args.push(span);
      at += span.length;
    }
    if (at !== opValue.length) throw new MsgpackError('bytes after the op');
  } catch (err) {
    throw param(`malformed op: ${(err as Error).message}`);
  }
  if (typeof opCode !== 'number') throw param('op code is not an integer');
  if (opCode === CONTEXT_EVAL) {
    throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, 'cdt ops with a context are not supported by the test server');
  }
  if (opCode !== MAP_PUT && opCode !== MAP_PUT_ITEMS) {
    throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, `cdt op ${opCode} is not supported by the test server`);
  }
  if (current && current.type !== ParticleType.MAP) {
    throw new ResultError(ResultCode.BIN_TYPE, `map op on a bin of particle type ${current.type}`);
  }

  const nItemArgs = opCode === MAP_PUT ? 2 : 1;
  if (args.length < nItemArgs || args.length > nItemArgs + 2) throw param(`op ${opCode} takes ${nItemArgs} to ${nItemArgs + 2} arguments`);
  const items: Entry[] = opCode === MAP_PUT ? [{ key: checkKey(args[0]!), value: rewritten(args[1]!) }] : parseMap(rewritten(args[0]!)).entries;
  const order = args.length > nItemArgs ? intArg(args[nItemArgs]!, 'map order') : 0;
  const writeFlags = args.length > nItemArgs + 1 ? intArg(args[nItemArgs + 1]!, 'write flags') : 0;
  if (!ORDER_FLAGS.has(order & 0x3)) throw param(`map order ${order}`);

  const map: MapState = current ? parseMap(current.value) : { flags: order & 0x3, entries: [] };
  const find = (key: Buffer): number => map.entries.findIndex((e) => compareMsgpack(e.key, key) === 0);
  const pending: Entry[] = [];
  for (const item of items) {
    const at = find(item.key);
    const fails = at >= 0 ? writeFlags & NO_OVERWRITE : writeFlags & NO_CREATE;
    if (fails) {
      if (!(writeFlags & NO_FAIL)) {
        throw new ResultError(at >= 0 ? ResultCode.ELEMENT_EXISTS : ResultCode.ELEMENT_NOT_FOUND, 'map write refused by its flags');
      }
      if (!(writeFlags & DO_PARTIAL)) return { bin: undefined, reply: BigInt(map.entries.length) };
      continue;
    }
    pending.push(item);
  }
  for (const item of pending) {
    const at = find(item.key);
    if (at >= 0) map.entries[at] = item;
    else map.entries.push(item);
  }
  map.entries.sort((a, b) => compareMsgpack(a.key, b.key));
  return { bin: encodeMap(name, map), reply: BigInt(map.entries.length) };
}

function intArg(bytes: Buffer, what: string): number {
  const v = new Unpacker(bytes).read();
  if (typeof v !== 'number' || v < 0) throw param(`${what} is not a non-negative integer`);
  return v;
}

/** A key or value as the server stores it (cdt_untrusted_rewrite()); 4 when refused. */
function rewritten(bytes: Buffer): Buffer {
  try {
    return rewriteElement(bytes);
  } catch (err) {
    if (err instanceof CdtRewriteError) throw param(err.message);
    throw err;
  }
}

/** map_is_key(): integers, strings and blobs only. */
function checkKey(key: Buffer): Buffer {
  if (!mapIsKey(key)) throw param('map keys must be integers, strings or blobs');
  return rewritten(key);
}

function parseMap(bytes: Buffer): MapState {
  try {
    const header = readMapHeader(bytes, 0);
    let at = header.offset;
    let flags = 0;
    const entries: Entry[] = [];
    for (let i = 0; i < header.count; i++) {
      const key = valueSpan(bytes, at);
      at += key.length;
      const value = valueSpan(bytes, at);
      at += value.length;
      if (i === 0 && isExt(key, 0) && value.length === 1 && value[0] === 0xc0) {
        flags = extType(key);
        continue;
      }
      entries.push({ key, value });
    }
    if (at !== bytes.length) throw new MsgpackError('bytes after the map');
    return { flags, entries };
  } catch (err) {
    throw param(`malformed map: ${(err as Error).message}`);
  }
}

function extType(ext: Buffer): number {
  const b = ext[0]!;
  if (b === 0xc7) return ext[2]!;
  if (b === 0xc8) return ext[3]!;
  if (b === 0xc9) return ext[5]!;
  return ext[1]!; // fixext
}

function encodeMap(name: string, map: MapState): StoredBin {
  const parts: Buffer[] = [mapHeader(map.entries.length + (map.flags ? 1 : 0))];
  if (map.flags) parts.push(Buffer.from([0xc7, 0x00, map.flags, 0xc0]));
  for (const e of map.entries) parts.push(e.key, e.value);
  return { name, type: ParticleType.MAP, value: Buffer.concat(parts) };
}
