/**
 * RowsPool and the holds on WireRows: a chunk's buffers are reused only once every hold
 * on them (the chunk's own and each slice's) is released, and a write result built from
 * lent rows never reads bytes that were reused.
 */
import { describe, expect, it } from 'vitest';
import { NameCache, WireRows, appendRecordRow } from '../../src/aerospike/batch-request.js';
import { RowsPool } from '../../src/avro/record-rows.js';

/** Appends a row writing bin `v` = `value` of a record whose digest is 20 bytes of `d`. */
function addRow(rows: WireRows, d: number, value: string): void {
  appendRecordRow(rows, Buffer.alloc(20, d), rows.namespace, 'set', undefined, [{ name: 'v', type: 3, value: Buffer.from(value) }], new NameCache());
  rows.generations[rows.count - 1] = 1;
  rows.voidTimes[rows.count - 1] = 0;
}

describe('RowsPool', () => {
  it('lends a released chunk again, empty, and allocates while none is free', () => {
    const pool = new RowsPool();
    const a = pool.take('bar', 1000, 4);
    addRow(a, 1, 'x');
    expect(a.lent).toBe(true);
    const b = pool.take('bar', 1000, 4);
    expect(b).not.toBe(a);
    a.release();
    const c = pool.take('bar', 1000, 4);
    expect(c).toBe(a);
    expect(c.count).toBe(0);
    expect(c.skipped).toBe(0);
    expect(c.reuses).toBe(1);
    expect(pool.stats).toEqual({ allocated: 2, reused: 1, free: 0 });
  });

  it('does not reuse a chunk while a slice of it is held, nor after a release too many', () => {
    const pool = new RowsPool();
    const rows = pool.take('bar', 1000, 4);
    for (let i = 0; i < 3; i++) addRow(rows, i, `value-${i}`);
    const first = rows.slice(0, 2);
    const rest = rows.slice(2, 3);
    rows.release();
    first.release();
    // `rest` still reads the bytes: the next take must not get them.
    expect(pool.take('bar', 1000, 4)).not.toBe(rows);
    expect(rest.record(0).bins[0]!.value.toString()).toBe('value-2');
    rest.release();
    expect(() => rest.release()).toThrow(/released more often than held/);
    expect(pool.take('bar', 1000, 4)).toBe(rows);
  });

  it('leaves to the GC a free chunk too small for the block, or of another namespace', () => {
    const pool = new RowsPool();
    const small = pool.take('bar', 1000, 4);
    small.release();
    const big = pool.take('bar', 10 * 65536, 4);
    expect(big).not.toBe(small);
    expect(big.buf.length).toBeGreaterThanOrEqual(10 * 65536);
    big.release();
    expect(pool.take('test', 1000, 4)).not.toBe(big);
    expect(pool.stats.free).toBe(0);
  });

  it('keeps at most maxFree chunks', () => {
    const pool = new RowsPool(2);
    const chunks = Array.from({ length: 4 }, () => pool.take('bar', 1000, 4));
    for (const c of chunks) c.release();
    expect(pool.stats.free).toBe(2);
  });

  it('refuses to reset a chunk still held', () => {
    const pool = new RowsPool();
    const rows = pool.take('bar', 1000, 4);
    expect(() => rows.reset()).toThrow(/while held/);
  });
});

describe('records of lent rows', () => {
  it('are copies, not views of bytes that will be reused', () => {
    const pool = new RowsPool();
    const rows = pool.take('bar', 1000, 4);
    addRow(rows, 7, 'kept');
    const copy = rows.record(0, true);
    const view = rows.record(0);
    rows.buf.fill(0);
    expect(copy.bins[0]!.value.toString()).toBe('kept');
    expect(copy.digest).toEqual(Buffer.alloc(20, 7));
    expect(view.bins[0]!.value.toString()).not.toBe('kept');
  });
});
