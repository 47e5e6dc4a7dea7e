/**
 * The batch write encoder and reply reader against the golden captures
 * (batch-write.jsonl from the official client, batch-write-gen-raw.jsonl hand-built in
 * the C client's format; the server replies are real).
 */
import { describe, expect, it } from 'vitest';
import { NameCache, TTL_NEVER_EXPIRE, encodeBatchWrite, readBatchReply, restoreTtl, type BatchWriteRow } from '../../src/aerospike/batch-request.js';
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
