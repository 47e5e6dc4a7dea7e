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
 * The reply value is the map's size. Stored bytes: an unordered map is a plain msgpack
 * map in insertion order; an ordered map starts with the `c7 00 <flags>`/nil pair and
 * keeps its keys sorted in the server's msgpack order (nil < false < true < negative
 * ints < ints < strings < lists < maps < bytes < doubles < GeoJSON).
 *
 * Divergences: list and map keys are ordered by their raw bytes (the server compares
 * them element by element); map values are stored as sent (the server normalizes
 * msgpack); every other CDT op, and any op with a context path, is answered with 16
 * UNSUPPORTED_FEATURE.
 */
import { MsgpackError, Unpacker } from '../../../src/aerospike/wire/msgpack.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { ParticleType } from '../../../src/aerospike/types.js';
import { ResultError } from './errors.js';
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
  const items: Entry[] = opCode === MAP_PUT ? [{ key: args[0]!, value: args[1]! }] : parseMap(args[0]!).entries;
  const order = args.length > nItemArgs ? intArg(args[nItemArgs]!, 'map order') : 0;
  const writeFlags = args.length > nItemArgs + 1 ? intArg(args[nItemArgs + 1]!, 'write flags') : 0;
  if (!ORDER_FLAGS.has(order & 0x3)) throw param(`map order ${order}`);

  const map: MapState = current ? parseMap(current.value) : { flags: order & 0x3, entries: [] };
  const ordered = map.flags !== 0;
  const pending: Entry[] = [];
  for (const item of items) {
    checkKey(item.key);
    const at = map.entries.findIndex((e) => e.key.equals(item.key));
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
    const at = map.entries.findIndex((e) => e.key.equals(item.key));
    if (at >= 0) map.entries[at] = item;
    else map.entries.push(item);
  }
  if (ordered) map.entries.sort((a, b) => compareMsgpack(a.key, b.key));
  return { bin: encodeMap(name, map), reply: BigInt(map.entries.length) };
}

function intArg(bytes: Buffer, what: string): number {
  const v = new Unpacker(bytes).read();
  if (typeof v !== 'number' || v < 0) throw param(`${what} is not a non-negative integer`);
  return v;
}

function checkKey(key: Buffer): void {
  const t = typeClass(key);
  if (t === T_LIST || t === T_MAP || t === T_DOUBLE) throw param('map keys must be integers, strings or bytes');
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

// Server msgpack type order (msgpack_type in msgpack_in.h).
const T_NIL = 1;
const T_FALSE = 2;
const T_TRUE = 3;
const T_NEGINT = 4;
const T_INT = 5;
const T_STRING = 6;
const T_LIST = 7;
const T_MAP = 8;
const T_BYTES = 9;
const T_DOUBLE = 10;
const T_GEOJSON = 11;
const T_EXT = 12;

function typeClass(v: Buffer): number {
  const b = v[0]!;
  if (b === 0xc0) return T_NIL;
  if (b === 0xc2) return T_FALSE;
  if (b === 0xc3) return T_TRUE;
  if (b <= 0x7f || (b >= 0xcc && b <= 0xcf)) return T_INT;
  if (b >= 0xe0 || (b >= 0xd0 && b <= 0xd3)) return intValue(v) < 0n ? T_NEGINT : T_INT;
  if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) return T_LIST;
  if ((b >= 0x80 && b <= 0x8f) || b === 0xde || b === 0xdf) return T_MAP;
  if (b === 0xca || b === 0xcb) return T_DOUBLE;
  if (b >= 0xc4 && b <= 0xc6) return T_BYTES;
  if ((b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb)) {
    const payload = strPayload(v);
    if (payload.length > 0 && payload[0] === ParticleType.STRING) return T_STRING;
    if (payload.length > 0 && payload[0] === ParticleType.GEOJSON) return T_GEOJSON;
    return T_BYTES;
  }
  return T_EXT;
}

function intValue(v: Buffer): bigint {
  return BigInt(new Unpacker(v).read() as number | bigint);
}

function strPayload(v: Buffer): Buffer {
  const b = v[0]!;
  if (b >= 0xa0 && b <= 0xbf) return v.subarray(1);
  if (b === 0xd9 || b === 0xc4) return v.subarray(2);
  if (b === 0xda || b === 0xc5) return v.subarray(3);
  return v.subarray(5);
}

/** The server's ordering of two msgpack values (as used for ordered map keys). */
function compareMsgpack(a: Buffer, b: Buffer): number {
  const ta = typeClass(a);
  const tb = typeClass(b);
  if (ta !== tb) return ta - tb;
  switch (ta) {
    case T_NEGINT:
    case T_INT: {
      const x = intValue(a);
      const y = intValue(b);
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case T_DOUBLE: {
      const x = new Unpacker(a).read() as number;
      const y = new Unpacker(b).read() as number;
      return x < y ? -1 : x > y ? 1 : 0;
    }
    case T_STRING:
    case T_BYTES:
    case T_GEOJSON:
      return Buffer.compare(strPayload(a), strPayload(b));
    default:
      return Buffer.compare(a, b);
  }
}
