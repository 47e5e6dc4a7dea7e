/**
 * Filter expressions (field 43): compiled once per request, evaluated per record.
 *
 * Supported, as the real server evaluates them on record metadata:
 *   literals    integers, booleans, strings
 *   compare     eq ne gt ge lt le (1..6) between two values of the same type
 *   logic       and or (16, 17; two or more args), not (18), exclusive (19)
 *   metadata    digest_modulo (64), device_size (65, always 0: memory storage),
 *               last_update (66, ns since the Unix epoch, ms resolution),
 *               since_update (67, ms), void_time (68, ns since the Unix epoch, -1 if
 *               the record never expires), ttl (69, s, -1 if never), set_name (70),
 *               key_exists (71), is_tombstone (72, always false), record_size (74)
 * Anything else (bin reads, arithmetic, CDT calls, let/cond...) is answered with 16
 * UNSUPPORTED_FEATURE: a divergence, the real server supports them. A malformed tree
 * (bad msgpack, wrong arity, type mismatch) is answered with 4 PARAMETER, as the real
 * server's as_exp_filter_build() failure is.
 */
import { ExpOp } from '../../../src/aerospike/wire/exp.js';
import { MsgpackError, Unpacker, type MsgValue } from '../../../src/aerospike/wire/msgpack.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { clepochMsToUnixNs, clepochSecondsToUnixNs } from './clock.js';
import { ResultError } from './errors.js';
import { flatRecordSize, type StoredRecord } from './store.js';

/** What an expression sees of a record and of the server. */
export interface ExpContext {
  record: StoredRecord;
  nowClepochMs: number;
}

type Value = bigint | boolean | string;
type Evaluator = (ctx: ExpContext) => Value;

/** A compiled filter: true keeps the record. */
export type Filter = (ctx: ExpContext) => boolean;

export function compileFilter(bytes: Buffer): Filter {
  let tree: MsgValue;
  try {
    const u = new Unpacker(bytes);
    tree = u.read();
    if (u.offset !== bytes.length) throw new MsgpackError('bytes after the expression');
  } catch (err) {
    throw new ResultError(ResultCode.PARAMETER, `bad filter expression: ${(err as Error).message}`);
  }
  const { fn, type } = compile(tree);
  if (type !== 'bool') throw new ResultError(ResultCode.PARAMETER, 'filter expression does not return a boolean');
  return (ctx) => fn(ctx) as boolean;
}

type ValueType = 'int' | 'bool' | 'str';
interface Compiled {
  fn: Evaluator;
  type: ValueType;
}

function param(message: string): ResultError {
  return new ResultError(ResultCode.PARAMETER, `bad filter expression: ${message}`);
}

function compile(node: MsgValue): Compiled {
  if (typeof node === 'number' || typeof node === 'bigint') {
    const v = BigInt(node);
    return { fn: () => v, type: 'int' };
  }
  if (typeof node === 'boolean') return { fn: () => node, type: 'bool' };
  if (typeof node === 'string') return { fn: () => node, type: 'str' };
  if (!Array.isArray(node) || node.length === 0 || typeof node[0] !== 'number') {
    throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, 'filter expression value type not supported by the test server');
  }
  const [op, ...args] = node as [number, ...MsgValue[]];
  switch (op) {
    case ExpOp.EQ:
    case ExpOp.NE:
    case ExpOp.GT:
    case ExpOp.GE:
    case ExpOp.LT:
    case ExpOp.LE:
      return compare(op, args);
    case ExpOp.AND:
    case ExpOp.OR:
    case 19: // exclusive
      return logical(op, args);
    case ExpOp.NOT: {
      if (args.length !== 1) throw param('not takes one argument');
      const a = compile(args[0]!);
      if (a.type !== 'bool') throw param('not of a non-boolean');
      return { fn: (ctx) => !a.fn(ctx), type: 'bool' };
    }
    case ExpOp.DIGEST_MODULO: {
      const mod = args[0];
      if (args.length !== 1 || typeof mod !== 'number' || mod <= 0) throw param('digest_modulo takes one positive integer');
      // The server takes the digest's bytes 16..19 as a little-endian u32.
      return { fn: (ctx) => BigInt(ctx.record.digest.readUInt32LE(16) % mod), type: 'int' };
    }
    default:
      if (args.length !== 0) break;
      return metadata(op);
  }
  throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, `filter expression op ${op} is not supported by the test server`);
}

function metadata(op: number): Compiled {
  switch (op) {
    case ExpOp.DEVICE_SIZE:
      return { fn: () => 0n, type: 'int' };
    case ExpOp.LAST_UPDATE:
      return { fn: (ctx) => clepochMsToUnixNs(ctx.record.lutMs), type: 'int' };
    case ExpOp.SINCE_UPDATE:
      return { fn: (ctx) => BigInt(Math.max(0, ctx.nowClepochMs - ctx.record.lutMs)), type: 'int' };
    case ExpOp.VOID_TIME:
      return { fn: (ctx) => (ctx.record.voidTime === 0 ? -1n : clepochSecondsToUnixNs(ctx.record.voidTime)), type: 'int' };
    case ExpOp.TTL:
      return { fn: (ctx) => BigInt(ttlOf(ctx.record.voidTime, ctx.nowClepochMs)), type: 'int' };
    case ExpOp.SET_NAME:
      return { fn: (ctx) => ctx.record.set, type: 'str' };
    case ExpOp.KEY_EXISTS:
      return { fn: (ctx) => ctx.record.key !== undefined, type: 'bool' };
    case ExpOp.IS_TOMBSTONE:
      return { fn: () => false, type: 'bool' };
    case ExpOp.RECORD_SIZE:
      return { fn: (ctx) => BigInt(flatRecordSize(ctx.record)), type: 'int' };
  }
  throw new ResultError(ResultCode.UNSUPPORTED_FEATURE, `filter expression op ${op} is not supported by the test server`);
}

/** Remaining seconds to live as the server reports it: -1 when the record never expires, at least 1 otherwise. */
function ttlOf(voidTime: number, nowClepochMs: number): number {
  if (voidTime === 0) return -1;
  const now = Math.floor(nowClepochMs / 1000);
  return voidTime > now ? voidTime - now : 1;
}

function compare(op: number, args: MsgValue[]): Compiled {
  if (args.length !== 2) throw param('comparisons take two arguments');
  const a = compile(args[0]!);
  const b = compile(args[1]!);
  if (a.type !== b.type) throw param(`comparing ${a.type} with ${b.type}`);
  if (a.type === 'bool' && op !== ExpOp.EQ && op !== ExpOp.NE) throw param('booleans only compare for equality');
  const test: (c: number) => boolean =
    op === ExpOp.EQ
      ? (c) => c === 0
      : op === ExpOp.NE
        ? (c) => c !== 0
        : op === ExpOp.GT
          ? (c) => c > 0
          : op === ExpOp.GE
            ? (c) => c >= 0
            : op === ExpOp.LT
              ? (c) => c < 0
              : (c) => c <= 0;
  return {
    fn: (ctx) => {
      const x = a.fn(ctx);
      const y = b.fn(ctx);
      return test(x < y ? -1 : x > y ? 1 : 0);
    },
    type: 'bool',
  };
}

function logical(op: number, args: MsgValue[]): Compiled {
  if (args.length < 2) throw param('and/or/exclusive take two or more arguments');
  const parts = args.map(compile);
  if (parts.some((p) => p.type !== 'bool')) throw param('and/or/exclusive of a non-boolean');
  const fns = parts.map((p) => p.fn);
  if (op === ExpOp.AND) return { fn: (ctx) => fns.every((f) => f(ctx) === true), type: 'bool' };
  if (op === ExpOp.OR) return { fn: (ctx) => fns.some((f) => f(ctx) === true), type: 'bool' };
  return { fn: (ctx) => fns.filter((f) => f(ctx) === true).length === 1, type: 'bool' };
}
