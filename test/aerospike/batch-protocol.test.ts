/**
 * The batch write encoder and reply reader against the golden captures
 * (batch-write.jsonl from the official client, batch-write-gen-raw.jsonl hand-built in
 * the C client's format; the server replies are real).
 */
import { describe, expect, it } from 'vitest';
import {
  NameCache,
  RowBuffer,
  TTL_NEVER_EXPIRE,
  WireRows,
  appendRecordRow,
  encodeBatchWrite,
  encodeRowsRequest,
  patchRow,
  readBatchReply,
  restoreTtl,
  type BatchWriteRow,
} from '../../src/aerospike/batch-request.js';
import type { RawKey } from '../../src/aerospike/types.js';
import { FieldType, Info1, readHeader } from '../../src/aerospike/wire/message.js';
import { ProtoType } from '../../src/aerospike/wire/proto.js';
import { loadCapture } from '../support/captures.js';

interface CapturedRow {
  index: number;
  type: number;
  /** Bytes from the digest to the end of the row. */
  bytes: Buffer;
  row?: BatchWriteRow;
}

/** Splits field 41 of a captured batch request into rows (REPEAT rows have no body). */
function capturedRows(frame: Buffer): CapturedRow[] {
  const body = frame.subarray(8);
  let at = 22 + 5;
  const count = body.readUInt32BE(at);
  at += 5;
  const rows: CapturedRow[] = [];
  for (let i = 0; i < count; i++) {
    const index = body.readUInt32BE(at);
    const start = at + 4;
    const digest = body.subarray(start, start + 20);
    const type = body[start + 20]!;
    at = start + 21;
    if (type === 0x01) {
      rows.push({ index, type, bytes: body.subarray(start, at) });
      continue;
    }
    const [info1, info2, info3] = [body[at]!, body[at + 1]!, body[at + 2]!];
    at += 3;
    let generation = 0;
    if (type & 0x04) (generation = body.readUInt16BE(at)), (at += 2);
    const ttl = body.readUInt32BE(at);
    at += 4;
    const nFields = body.readUInt16BE(at);
    const nOps = body.readUInt16BE(at + 2);
    at += 4;
    const fields = new Map<number, Buffer>();
    for (let f = 0; f < nFields; f++) {
      const size = body.readUInt32BE(at);
      fields.set(body[at + 4]!, body.subarray(at + 5, at + 4 + size));
      at += 4 + size;
    }
    const bins = [];
    let allWrites = true;
    for (let o = 0; o < nOps; o++) {
      const size = body.readUInt32BE(at);
      const nameLen = body[at + 7]!;
      allWrites &&= body[at + 4] === 2;
      bins.push({ name: body.toString('utf8', at + 8, at + 8 + nameLen), type: body[at + 5]!, value: body.subarray(at + 8 + nameLen, at + 4 + size) });
      at += 4 + size;
    }
    const keyField = fields.get(FieldType.KEY);
    const key: RawKey | undefined = keyField ? { type: keyField[0]!, bytes: keyField.subarray(1) } : undefined;
    const isWrite = type === 0x0e && info1 === 0 && allWrites && nOps > 0;
    rows.push({
      index,
      type,
      bytes: body.subarray(start, at),
      row: isWrite
        ? { digest, namespace: fields.get(FieldType.NAMESPACE)!.toString(), set: fields.get(FieldType.SET)!.toString(), key, info2, info3, generation, ttl, bins }
        : undefined,
    });
  }
  return rows;
}

function requests(capture: string): Buffer[] {
  return loadCapture(capture)
    .filter((f) => f.dir === 'c2s' && f.type === ProtoType.MESSAGE)
    .map((f) => f.frame);
}

function replyRows(capture: string, conn: number): Array<{ index: number; resultCode: number; generation: number }> {
  const rows: Array<{ index: number; resultCode: number; generation: number }> = [];
  let last: number | undefined;
  for (const f of loadCapture(capture).filter((f) => f.dir === 's2c' && f.type === ProtoType.MESSAGE && f.conn === conn)) {
    expect(last).toBeUndefined();
    last = readBatchReply(f.frame.subarray(8), (r) => rows.push({ index: r.index, resultCode: r.resultCode, generation: r.generation }));
  }
  expect(last).toBe(0);
  return rows.sort((a, b) => a.index - b.index);
}

describe('encodeBatchWrite', () => {
  it('builds the hand-made generation request byte for byte', () => {
    const [frame] = requests('batch-write-gen-raw.jsonl');
    const rows = capturedRows(frame!).map((r) => r.row!);
    expect(rows).toHaveLength(4);
    expect(encodeBatchWrite(rows, 1000).toString('hex')).toBe(frame!.toString('hex'));
  });

  it('encodes every captured write row of the official client identically', () => {
    const [frame] = requests('batch-write.jsonl');
    const header = readHeader(frame!.subarray(8), 0);
    expect(header.info1).toBe(Info1.BATCH);
    expect(header.transactionTtl).toBe(1000);
    const rows = capturedRows(frame!).filter((r) => r.row);
    // Plain, CREATE, REPLACE, UPDATE, CREATE_OR_REPLACE, generation, ttl and key-send rows.
    expect(rows.length).toBeGreaterThanOrEqual(15);
    for (const r of rows) {
      const ours = encodeBatchWrite([r.row!], 1000).subarray(8 + 22 + 5 + 5 + 4);
      expect(ours.toString('hex')).toBe(r.bytes.toString('hex'));
    }
  });

  it('gives the same bytes with a name cache shared across batches, whatever the names', () => {
    const rows = [...capturedRows(requests('batch-write.jsonl')[0]!), ...capturedRows(requests('batch-write-gen-raw.jsonl')[0]!)]
      .filter((r) => r.row)
      .map((r) => r.row!);
    const renamed = (row: BatchWriteRow, i: number): BatchWriteRow => ({
      ...row,
      set: i % 3 === 0 ? row.set : `sét-${i % 5}`,
      bins: row.bins.map((b, j) => ({ ...b, name: (i + j) % 2 === 0 ? b.name : `ü${j}€${i % 4}` })),
    });
    const variants = [rows, rows.map(renamed), [...rows].reverse(), rows.map(renamed).reverse()];
    const names = new NameCache();
    for (let round = 0; round < 2; round++) {
      for (const batch of variants) {
        expect(encodeBatchWrite(batch, 1000, names).toString('hex')).toBe(encodeBatchWrite(batch, 1000).toString('hex'));
      }
    }
    // Many distinct names: the cache starts over and stays correct.
    const many = Array.from({ length: 3000 }, (_, i) => renamed({ ...rows[0]!, bins: [{ ...rows[0]!.bins[0]!, name: `b${i}` }] }, i));
    expect(encodeBatchWrite(many, 1000, names).equals(encodeBatchWrite(many, 1000))).toBe(true);
  });
});

describe('encodeRowsRequest', () => {
  const captured = () =>
    [...capturedRows(requests('batch-write.jsonl')[0]!), ...capturedRows(requests('batch-write-gen-raw.jsonl')[0]!)].filter((r) => r.row).map((r) => r.row!);

  /** The rows of `rows` in buffers of their own, `per` rows each (tiny, so they grow), patched as their BatchWriteRow says. */
  function rowBuffers(rows: BatchWriteRow[], per: number): Array<{ source: WireRows; row: number }> {
    const names = new NameCache();
    const out: Array<{ source: WireRows; row: number }> = [];
    let source = new WireRows('test', 1, 1);
    for (const r of rows) {
      if (source.count === per) source = new WireRows('test', 1, 1);
      appendRecordRow(source, r.digest, r.namespace, r.set, r.key, r.bins, names);
      patchRow(source, source.count - 1, r.info2, r.info3, r.generation, r.ttl);
      out.push({ source, row: source.count - 1 });
    }
    return out;
  }

  it('copies rows from any buffers, in any order, into the request encodeBatchWrite builds', () => {
    const rows = captured();
    expect(rows.length).toBeGreaterThanOrEqual(19);
    const order = rows.map((_, i) => (i * 7) % rows.length); // a permutation: 7 and the length are coprime
    expect(new Set(order).size).toBe(rows.length);
    for (const per of [1, 3, rows.length]) {
      const refs = rowBuffers(rows, per);
      for (const picked of [rows.map((_, i) => i), order, order.slice(0, 5), [4, 5, 6, 2, 3]]) {
        const request = encodeRowsRequest(
          picked.map((i) => refs[i]!.source),
          picked.map((i) => refs[i]!.row),
          1000,
        );
        expect(request.toString('hex')).toBe(encodeBatchWrite(picked.map((i) => rows[i]!), 1000).toString('hex'));
      }
    }
  });

  it('writes into a spare buffer large enough, and into a new one otherwise', () => {
    const rows = captured();
    const refs = rowBuffers(rows, rows.length);
    const expected = encodeBatchWrite(rows, 1000);
    const spare = Buffer.alloc(expected.length + 100, 0xee);
    const request = encodeRowsRequest(refs.map((r) => r.source), refs.map((r) => r.row), 1000, spare);
    expect(request.buffer).toBe(spare.buffer);
    expect(request.equals(expected)).toBe(true);
    const small = Buffer.alloc(expected.length - 1);
    const fresh = encodeRowsRequest(refs.map((r) => r.source), refs.map((r) => r.row), 1000, small);
    expect(fresh.buffer).not.toBe(small.buffer);
    expect(fresh.equals(expected)).toBe(true);
  });

  it('patches what the writer decides, and reads back the record a row writes', () => {
    const rows = new WireRows('bar', 1, 1);
    const record = { digest: Buffer.alloc(20, 3), set: 'sét', key: { type: 3, bytes: Buffer.from('k') }, bins: [{ name: 'a', type: 1, value: Buffer.alloc(8, 1) }, { name: 'ü', type: 4, value: Buffer.alloc(300, 2) }] };
    appendRecordRow(rows, record.digest, 'bar', record.set, record.key, record.bins, new NameCache());
    [rows.generations[0], rows.voidTimes[0]] = [0x1_0002, 77];
    // The second row makes room for more rows: the generations and void times come along.
    appendRecordRow(rows, Buffer.alloc(20, 4), 'bar', '', undefined, [], new NameCache());
    [rows.generations[1], rows.voidTimes[1]] = [1, 0];
    expect([rows.count, rows.opCount(0), rows.opCount(1)]).toEqual([2, 2, 0]);
    expect(rows.partition(0)).toBe(0x303);
    expect(rows.record(0)).toEqual({ namespace: 'bar', set: 'sét', digest: record.digest, userKey: record.key, generation: 0x1_0002, voidTime: 77, bins: record.bins });
    expect(rows.record(1)).toEqual({ namespace: 'bar', set: '', digest: Buffer.alloc(20, 4), generation: 1, voidTime: 0, bins: [] });
    patchRow(rows, 0, 0x81, 0x10, rows.generations[0]!, TTL_NEVER_EXPIRE);
    const request = encodeRowsRequest([rows], [0], 1000);
    const [row] = capturedRows(request);
    expect(row!.row).toMatchObject({ info2: 0x81, info3: 0x10, generation: 2, ttl: TTL_NEVER_EXPIRE, namespace: 'bar', set: 'sét', key: record.key });
    // A slice shares the bytes and keeps each row's generation and void time.
    const slice = rows.slice(1, 2);
    expect([slice.count, slice.buf, [...slice.generations], [...slice.voidTimes]]).toEqual([1, rows.buf, [1], [0]]);
    expect(slice.record(0)).toEqual(rows.record(1));
  });
});

describe('readBatchReply', () => {
  it('gives the statuses the README lists for the captured batch write and remove', () => {
    expect(replyRows('batch-write.jsonl', 2).map((r) => r.resultCode)).toEqual([0, 0, 0, 0, 0, 5, 0, 2, 2, 0, 3, 3, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(replyRows('batch-write.jsonl', 3).map((r) => r.resultCode)).toEqual([0, 0, 2]);
  });

  it('gives the generation check results of the hand-made request', () => {
    expect(replyRows('batch-write-gen-raw.jsonl', 1)).toEqual([
      { index: 0, resultCode: 0, generation: 2 },
      { index: 1, resultCode: 0, generation: 2 },
      { index: 2, resultCode: 3, generation: 2 },
      { index: 3, resultCode: 3, generation: 2 },
    ]);
  });
});

describe('restoreTtl', () => {
  it('keeps never-expiring records never-expiring, not namespace-default', () => {
    expect(restoreTtl(0, 1000)).toBe(TTL_NEVER_EXPIRE);
    expect(restoreTtl(0, 1000, 50)).toBe(TTL_NEVER_EXPIRE);
  });

  it('restores the remaining lifetime, plus extra seconds', () => {
    expect(restoreTtl(1100, 1000)).toBe(100);
    expect(restoreTtl(1100, 1000, 20)).toBe(120);
  });

  it('marks records whose void time has passed as expired', () => {
    expect(restoreTtl(1000, 1000)).toBeUndefined();
    expect(restoreTtl(900, 1000)).toBeUndefined();
    expect(restoreTtl(900, 1000, 200)).toBe(100);
  });
});
