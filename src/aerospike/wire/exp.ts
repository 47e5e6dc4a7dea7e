/**
 * Filter expressions (field 43): a msgpack tree of [op code, args...] as built by the C
 * client's as_exp_build(). aerobak needs the record-metadata filters of asbackup:
 * last-update time before/after and "never expires", combined with and/or/not.
 *
 * Metadata expressions take no arguments and are packed as a one-element array.
 * last_update() and void_time() are nanoseconds since the Unix epoch; void_time() is
 * -1 for a record that never expires.
 */
import { Packer } from './msgpack.js';

export const ExpOp = {
  EQ: 1,
  NE: 2,
  GT: 3,
  GE: 4,
  LT: 5,
  LE: 6,
  AND: 16,
  OR: 17,
  NOT: 18,
  DIGEST_MODULO: 64,
  DEVICE_SIZE: 65,
  LAST_UPDATE: 66,
  SINCE_UPDATE: 67,
  VOID_TIME: 68,
  TTL: 69,
  SET_NAME: 70,
  KEY_EXISTS: 71,
  IS_TOMBSTONE: 72,
  RECORD_SIZE: 74,
} as const;

export type Expr =
  | { kind: 'int'; value: bigint }
  | { kind: 'meta'; op: number }
  | { kind: 'cmp'; op: number; left: Expr; right: Expr }
  | { kind: 'and' | 'or'; args: Expr[] }
  | { kind: 'not'; arg: Expr };

export const exp = {
  int: (value: number | bigint): Expr => ({ kind: 'int', value: BigInt(value) }),
  lastUpdate: (): Expr => ({ kind: 'meta', op: ExpOp.LAST_UPDATE }),
  voidTime: (): Expr => ({ kind: 'meta', op: ExpOp.VOID_TIME }),
  ttl: (): Expr => ({ kind: 'meta', op: ExpOp.TTL }),
  eq: (left: Expr, right: Expr): Expr => ({ kind: 'cmp', op: ExpOp.EQ, left, right }),
  ne: (left: Expr, right: Expr): Expr => ({ kind: 'cmp', op: ExpOp.NE, left, right }),
  gt: (left: Expr, right: Expr): Expr => ({ kind: 'cmp', op: ExpOp.GT, left, right }),
  ge: (left: Expr, right: Expr): Expr => ({ kind: 'cmp', op: ExpOp.GE, left, right }),
  lt: (left: Expr, right: Expr): Expr => ({ kind: 'cmp', op: ExpOp.LT, left, right }),
  le: (left: Expr, right: Expr): Expr => ({ kind: 'cmp', op: ExpOp.LE, left, right }),
  and: (...args: Expr[]): Expr => ({ kind: 'and', args }),
  or: (...args: Expr[]): Expr => ({ kind: 'or', args }),
  not: (arg: Expr): Expr => ({ kind: 'not', arg }),
};

function packExpr(p: Packer, e: Expr): void {
  switch (e.kind) {
    case 'int':
      p.packInt(e.value);
      return;
    case 'meta':
      p.packArrayHeader(1).packInt(e.op);
      return;
    case 'cmp':
      p.packArrayHeader(3).packInt(e.op);
      packExpr(p, e.left);
      packExpr(p, e.right);
      return;
    case 'and':
    case 'or':
      p.packArrayHeader(1 + e.args.length).packInt(e.kind === 'and' ? ExpOp.AND : ExpOp.OR);
      for (const a of e.args) packExpr(p, a);
      return;
    case 'not':
      p.packArrayHeader(2).packInt(ExpOp.NOT);
      packExpr(p, e.arg);
      return;
  }
}

/** The bytes of field 43 for an expression. */
export function encodeExpression(e: Expr): Buffer {
  const p = new Packer();
  packExpr(p, e);
  return p.finish();
}

/** Builds the scan filter for asbackup-style options; undefined when none is asked for. */
export function metadataFilter(opts: { modifiedAfter?: Date; modifiedBefore?: Date; noTtlOnly?: boolean }): Expr | undefined {
  const parts: Expr[] = [];
  const ns = (d: Date): bigint => BigInt(d.getTime()) * 1_000_000n;
  if (opts.modifiedAfter) parts.push(exp.ge(exp.lastUpdate(), exp.int(ns(opts.modifiedAfter))));
  if (opts.modifiedBefore) parts.push(exp.lt(exp.lastUpdate(), exp.int(ns(opts.modifiedBefore))));
  if (opts.noTtlOnly) parts.push(exp.eq(exp.voidTime(), exp.int(-1)));
  if (parts.length === 0) return undefined;
  return parts.length === 1 ? parts[0] : exp.and(...parts);
}
