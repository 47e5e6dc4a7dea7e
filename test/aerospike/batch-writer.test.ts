/**
 * BatchWriter against scripted nodes: what each policy sends, how results map to
 * outcomes, retries, routing and backpressure. The policies' effect on real data is
 * covered by batch-writer-cluster.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { describe, expect, it, vi } from 'vitest';
import { NameCache, TTL_NEVER_EXPIRE, WireRows, appendRecordRow, citrusleafNow, type RowsLender } from '../../src/aerospike/batch-request.js';
import { BatchWriter, type BatchWriterOptions, type WriteResult } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { partitionId } from '../../src/aerospike/wire/digest.js';
import { framePool } from '../../src/aerospike/wire/frame-pool.js';
import { Info1, Info2, Info3 } from '../../src/aerospike/wire/message.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { batchReply, batchRows, type BatchRowRequest, type FakeNode, type FakeNodeOptions } from './support/fake-node.js';
import { fakeNodeFixture } from './support/fixtures.js';

const { defer, fake, connect } = fakeNodeFixture();

/** A node answering every batch row with `resultCode(row)`; it records every row it got. */
function batchNode(resultCode: (row: BatchRowRequest) => number, rows: BatchRowRequest[] = []): FakeNodeOptions['onMessage'] {
  return (request, send) => {
    const got = batchRows(request);
    rows.push(...got);
    for (const f of batchReply(got.map((r) => ({ index: r.index, resultCode: resultCode(r) })))) send(f);
  };
}

/** A node that records the rows it is sent and answers each batch (all written) only when the test calls its `pending` entry. */
async function heldReplyNode(): Promise<{ rows: BatchRowRequest[]; pending: Array<() => void>; node: FakeNode }> {
  const rows: BatchRowRequest[] = [];
  const pending: Array<() => void> = [];
  const node = await fake({
    name: 'N',
    onMessage: (request, send) => {
      const got = batchRows(request);
      rows.push(...got);
      pending.push(() => {
        for (const f of batchReply(got.map((r) => ({ index: r.index, resultCode: 0 })))) send(f);
      });
    },
  });
  return { rows, pending, node };
}

function record(i: number, extra: Partial<RawRecord> = {}): RawRecord {
  return {
    namespace: 'test',
    set: 'w',
    digest: randomBytes(20),
    generation: 3,
    voidTime: 0,
    bins: [{ name: 'v', type: 1, value: Buffer.from([0, 0, 0, 0, 0, 0, 0, i & 0xff]) }],
    ...extra,
  };
}

async function writeAll(cluster: Cluster, records: RawRecord[], opts: BatchWriterOptions = {}): Promise<{ writer: BatchWriter; results: WriteResult[] }> {
  const results: WriteResult[] = [];
  const writer = new BatchWriter(cluster, { ...opts, onResult: (r) => results.push(r) });
  await pipeline(Readable.from(records), writer);
  return { writer, results };
}

describe('BatchWriter', () => {
  it('sends each policy as the C client does, with void times restored as TTLs', async () => {
    const rows: BatchRowRequest[] = [];
    const node = await fake({ name: 'N', namespaces: ['test', 'bar'], onMessage: batchNode(() => 0, rows) });
    const cluster = await connect(node.address);
    const now = citrusleafNow();
    const keyed = record(1, { userKey: { type: 3, bytes: Buffer.from('k1') }, voidTime: now + 1000 });
    const plain = record(2);
    const expected = {
      'generation-greater': [Info2.WRITE | Info2.GENERATION_GT, 0, 3],
      'create-only': [Info2.WRITE | Info2.CREATE_ONLY, 0, 0],
      replace: [Info2.WRITE, Info3.CREATE_OR_REPLACE, 0],
      'ignore-generation': [Info2.WRITE, 0, 0],
    } as const;
    for (const [policy, [info2, info3, gen]] of Object.entries(expected)) {
      rows.length = 0;
      const { results } = await writeAll(cluster, [keyed, plain], { policy: policy as keyof typeof expected, namespace: 'bar', extraTtlSeconds: 10 });
      expect(results.map((r) => r.outcome)).toEqual(['written', 'written']);
      expect(rows.map((r) => [r.info2, r.info3, r.generation])).toEqual([
        [info2, info3, gen],
        [info2, info3, gen],
      ]);
      expect(rows.map((r) => r.namespace)).toEqual(['bar', 'bar']);
      expect(rows[0]!.key!.toString('hex')).toBe('036b31');
      expect(rows[1]!.key).toBeUndefined();
      expect(rows[0]!.ttl).toBeGreaterThanOrEqual(1009);
      expect(rows[0]!.ttl).toBeLessThanOrEqual(1010);
      expect(rows[1]!.ttl).toBe(TTL_NEVER_EXPIRE);
      expect(rows[0]!.bins).toEqual([{ name: 'v', type: 1, value: keyed.bins[0]!.value }]);
    }
    const batch = node.requests.at(-1)!;
    expect(batch.info1).toBe(Info1.BATCH);
    expect(batch.transactionTtl).toBe(10_000);
  });

  it('does not send the key when sendKey is false', async () => {
    const rows: BatchRowRequest[] = [];
    const node = await fake({ name: 'N', onMessage: batchNode(() => 0, rows) });
    const cluster = await connect(node.address);
    await writeAll(cluster, [record(1, { userKey: { type: 1, bytes: Buffer.alloc(8, 1) } })], { sendKey: false });
    expect(rows[0]!.key).toBeUndefined();
  });

  it('maps result codes to outcomes per policy, one result per record', async () => {
    const codeOf = (r: BatchRowRequest) => r.bins[0]!.value[7]!;
    const node = await fake({ name: 'N', onMessage: batchNode(codeOf) });
    const cluster = await connect(node.address);
    const records = [0, 3, 5, 13].map((code) => record(code));
    const gen = await writeAll(cluster, records);
    expect(gen.results.map((r) => [r.outcome, r.resultCode])).toEqual([
      ['written', 0],
      ['fresher', 3],
      ['failed', 5],
      ['failed', 13],
    ]);
    expect(gen.writer.stats).toMatchObject({ written: 1, fresher: 1, failed: 2, failedByCode: { 5: 1, 13: 1 } });
    const create = await writeAll(cluster, records, { policy: 'create-only' });
    expect(create.results.map((r) => r.outcome)).toEqual(['written', 'failed', 'exists', 'failed']);
  });

  it('reports expired and bin-less records without sending them', async () => {
    const rows: BatchRowRequest[] = [];
    const node = await fake({ name: 'N', onMessage: batchNode(() => 0, rows) });
    const cluster = await connect(node.address);
    const now = citrusleafNow();
    const records = [record(1, { voidTime: now - 5 }), record(2, { bins: [] }), record(3, { voidTime: now - 5 })];
    const { results, writer } = await writeAll(cluster, records, { extraTtlSeconds: 0 });
    expect(results.map((r) => [r.outcome, r.resultCode])).toEqual([
      ['expired', 0],
      ['failed', 4],
      ['expired', 0],
    ]);
    expect(rows).toHaveLength(0);
    // Extra TTL moves the void time: the same records are then still alive.
    const again = await writeAll(cluster, [records[0]!], { extraTtlSeconds: 60 });
    expect(again.results[0]!.outcome).toBe('written');
    expect(rows[0]!.ttl).toBeGreaterThan(50);
    expect(writer.stats.expired).toBe(2);
  });

  it('fails records of a namespace the cluster does not have, without retrying', async () => {
    const node = await fake({ name: 'N', onMessage: batchNode(() => 0) });
    const cluster = await connect(node.address);
    expect(() => new BatchWriter(cluster, { namespace: 'nope' })).toThrow(/namespace "nope" does not exist/);
    const { results } = await writeAll(cluster, [record(1, { namespace: 'other' }), record(2)]);
    expect(results.map((r) => [r.record.namespace, r.outcome, r.resultCode])).toEqual([
      ['other', 'failed', 20],
      ['test', 'written', 0],
    ]);
  });

  it('retries transient row results and gives up after maxRetries', async () => {
    const tries = new Map<string, number>();
    const node = await fake({
      name: 'N',
      onMessage: batchNode((r) => {
        const k = r.digest.toString('hex');
        tries.set(k, (tries.get(k) ?? 0) + 1);
        // Record 1 is busy once; record 2 is always busy.
        if (r.bins[0]!.value[7] === 1) return tries.get(k)! === 1 ? 14 : 0;
        if (r.bins[0]!.value[7] === 2) return 14;
        return 0;
      }),
    });
    const cluster = await connect(node.address);
    const { results } = await writeAll(cluster, [record(1), record(2), record(3)], { maxRetries: 2 });
    expect(results.map((r) => [r.record.bins[0]!.value[7], r.outcome, r.resultCode]).sort()).toEqual([
      [1, 'written', 0],
      [2, 'failed', 14],
      [3, 'written', 0],
    ]);
    expect([...tries.values()].sort()).toEqual([1, 2, 3]);
  });

  it('retries batches lost with their connection', async () => {
    const rows: BatchRowRequest[] = [];
    const reply = batchNode(() => 0, rows);
    let batches = 0;
    const node = await fake({
      name: 'N',
      onMessage: (request, send, socket) => {
        // The first batch dies with the connection before any answer.
        if (++batches === 1) socket.destroy();
        else reply!(request, send, socket);
      },
    });
    const proxy = await startTcpProxy({ host: node.host, port: node.port });
    defer(() => proxy.close());
    const cluster = await connect(proxy.address);
    const records = Array.from({ length: 30 }, (_, i) => record(i));
    const { results } = await writeAll(cluster, records, { batchSize: 10, maxInFlightPerNode: 1 });
    expect(results).toHaveLength(30);
    expect(results.every((r) => r.outcome === 'written')).toBe(true);
    expect(new Set(results.map((r) => r.record)).size).toBe(30);
    expect(rows).toHaveLength(30);
  });

  it.each([
    ['record', (cluster: Cluster, records: RawRecord[]) => writeAll(cluster, records)],
    ['row', (cluster: Cluster, records: RawRecord[]) => writeRows(cluster, [rowsOf(records.slice(0, 150)), rowsOf(records.slice(150))])],
  ])('routes each %s to the master of its partition', async (_what, write) => {
    const rowsA: BatchRowRequest[] = [];
    const rowsB: BatchRowRequest[] = [];
    let b: FakeNode | undefined;
    const a = await fake({ name: 'A', owns: (p) => p < 2048, peers: () => `1,3000,[[B,,[${b!.address}]]]`, onMessage: batchNode(() => 0, rowsA) });
    b = await fake({ name: 'B', owns: (p) => p >= 2048, peers: () => `1,3000,[[A,,[${a.address}]]]`, onMessage: batchNode(() => 0, rowsB) });
    const cluster = await connect(a.address);
    const records = Array.from({ length: 200 }, (_, i) => record(i));
    const { results } = await write(cluster, records);
    expect(results).toHaveLength(200);
    expect(rowsA.every((r) => partitionId(r.digest) < 2048)).toBe(true);
    expect(rowsB.every((r) => partitionId(r.digest) >= 2048)).toBe(true);
    expect(rowsA.length + rowsB.length).toBe(200);
  });

  it('holds the write callback while a node has its batches in flight and a full queue', async () => {
    const pending: Array<() => void> = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const node = await fake({
      name: 'N',
      onMessage: (request, send) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        // Answers wait until the test releases them.
        pending.push(() => {
          inFlight--;
          for (const f of batchReply(batchRows(request).map((r) => ({ index: r.index, resultCode: 0 })))) send(f);
        });
      },
    });
    const cluster = await connect(node.address);
    const results: WriteResult[] = [];
    const writer = new BatchWriter(cluster, { batchSize: 10, maxInFlightPerNode: 2, onResult: (r) => results.push(r) });
    let pulled = 0;
    function* source() {
      for (let i = 0; i < 200; i++, pulled++) yield record(i);
    }
    const done = pipeline(Readable.from(source(), { highWaterMark: 1 }), writer);
    await expect.poll(() => pending.length).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    // Two batches in flight, one full batch queued, the Writable's buffer full: the source waits.
    expect(pending).toHaveLength(2);
    expect(results).toHaveLength(0);
    expect(pulled).toBeLessThanOrEqual(2 * 10 + 10 + writer.writableHighWaterMark + 2);
    const release = setInterval(() => pending.shift()?.(), 5);
    await done;
    clearInterval(release);
    expect(maxInFlight).toBe(2);
    expect(results).toHaveLength(200);
  });

  it('takes buffered records a chunk at a time (_writev), one result each, and still holds the callback', async () => {
    const { rows, pending, node } = await heldReplyNode();
    const cluster = await connect(node.address);
    const results: WriteResult[] = [];
    const writer = new BatchWriter(cluster, { batchSize: 8, maxInFlightPerNode: 1, onResult: (r) => results.push(r) });
    const writev = vi.spyOn(writer as unknown as { _writev: BatchWriter['_writev'] }, '_writev');
    const records = Array.from({ length: 100 }, (_, i) =>
      i % 10 === 3 ? record(i, { bins: [] }) : i % 10 === 7 ? record(i, { voidTime: citrusleafNow() - 10 }) : record(i),
    );
    // Written synchronously: all but the first are buffered by the Writable and reach _writev in chunks.
    for (const r of records) writer.write(r);
    writer.end();
    await expect.poll(() => pending.length).toBe(1);
    await new Promise((r) => setTimeout(r, 50));
    // One batch in flight, the queue full: the chunk's callback is held, nothing else was sent.
    expect(pending).toHaveLength(1);
    const release = setInterval(() => pending.shift()?.(), 5);
    await finished(writer);
    clearInterval(release);
    expect(writev).toHaveBeenCalled();
    expect(results).toHaveLength(100);
    expect(writer.stats).toMatchObject({ written: 80, expired: 10, failed: 10 });
    expect(rows).toHaveLength(80);
    expect(new Set(rows.map((r) => r.digest.toString('hex'))).size).toBe(80);
  });
});

/** The rows of `records` as the restore's decoder gives them: one WireRows of `namespace`. */
function rowsOf(records: RawRecord[], namespace = 'test', lender?: RowsLender): WireRows {
  const rows = new WireRows(namespace, 64, 1, lender);
  const names = new NameCache();
  for (const r of records) {
    appendRecordRow(rows, r.digest, namespace, r.set, r.userKey, r.bins, names);
    rows.generations[rows.count - 1] = r.generation;
    rows.voidTimes[rows.count - 1] = r.voidTime;
  }
  return rows;
}

async function writeRows(cluster: Cluster, chunks: WireRows[], opts: BatchWriterOptions = {}): Promise<{ writer: BatchWriter; results: WriteResult[] }> {
  const results: WriteResult[] = [];
  const writer = new BatchWriter(cluster, { ...opts, onResult: (r) => results.push(r) });
  await pipeline(Readable.from(chunks), writer);
  return { writer, results };
}

/** What a row the node got says, without its index (which depends on the batch). */
const sent = (rows: BatchRowRequest[]) => rows.map(({ index: _, ...row }) => row);

describe('BatchWriter with WireRows', () => {
  it('sends rows as the records they hold are sent, for every policy, one result each with its record', async () => {
    const rows: BatchRowRequest[] = [];
    const node = await fake({ name: 'N', namespaces: ['test', 'bar'], onMessage: batchNode(() => 0, rows) });
    const cluster = await connect(node.address);
    // One clock for both writes: a TTL is the void time minus now, and a second may tick between them.
    const clock = vi.spyOn(Date, 'now').mockReturnValue(Date.now());
    defer(async () => clock.mockRestore());
    const now = citrusleafNow();
    const records = [
      record(1, { namespace: 'bar', userKey: { type: 3, bytes: Buffer.from('k1') }, voidTime: now + 1000, generation: 0x1_0007 }),
      record(2, { namespace: 'bar', set: '', bins: [{ name: 'é', type: 4, value: randomBytes(200) }, { name: 'b', type: 3, value: Buffer.from('x') }] }),
    ];
    for (const policy of ['generation-greater', 'create-only', 'replace', 'ignore-generation'] as const) {
      rows.length = 0;
      const asRecords = await writeAll(cluster, records, { policy, extraTtlSeconds: 10 });
      const expected = sent(rows.splice(0));
      const asRows = await writeRows(cluster, [rowsOf(records, 'bar')], { policy, extraTtlSeconds: 10 });
      expect(sent(rows)).toEqual(expected);
      expect(asRows.results.map((r) => [r.outcome, r.resultCode])).toEqual(asRecords.results.map((r) => [r.outcome, r.resultCode]));
      expect(asRows.results.map((r) => r.record)).toEqual(records);
    }
  });

  it('reports expired rows and rows without bins without sending them, and retries transient results', async () => {
    const rows: BatchRowRequest[] = [];
    const tries = new Map<string, number>();
    const node = await fake({
      name: 'N',
      onMessage: batchNode((r) => {
        const k = r.digest.toString('hex');
        tries.set(k, (tries.get(k) ?? 0) + 1);
        // Row 1 is busy once, row 2 always; row 5 fails for good.
        const v = r.bins[0]!.value[7];
        return v === 1 ? (tries.get(k)! === 1 ? 14 : 0) : v === 2 ? 14 : v === 5 ? 4 : 0;
      }, rows),
    });
    const cluster = await connect(node.address);
    const now = citrusleafNow();
    const records = [record(0, { voidTime: now - 5 }), record(1), record(2), record(3, { bins: [] }), record(4, { voidTime: now + 100 }), record(5)];
    const { results, writer } = await writeRows(cluster, [rowsOf(records)], { maxRetries: 2 });
    expect(results.map((r) => [r.record.digest, r.outcome, r.resultCode]).sort((a, b) => Buffer.compare(a[0] as Buffer, b[0] as Buffer))).toEqual(
      [
        [records[0]!.digest, 'expired', 0],
        [records[1]!.digest, 'written', 0],
        [records[2]!.digest, 'failed', 14],
        [records[3]!.digest, 'failed', 4],
        [records[4]!.digest, 'written', 0],
        [records[5]!.digest, 'failed', 4],
      ].sort((a, b) => Buffer.compare(a[0] as Buffer, b[0] as Buffer)),
    );
    expect(writer.stats).toMatchObject({ written: 2, expired: 1, failed: 3 });
    expect(new Set(rows.map((r) => r.digest.toString('hex'))).size).toBe(4);
    expect(rows.find((r) => r.digest.equals(records[4]!.digest))!.ttl).toBeGreaterThan(90);
  });

  it('refuses rows it would have to rewrite: another namespace, or no keys', async () => {
    const node = await fake({ name: 'N', namespaces: ['test', 'bar'], onMessage: batchNode(() => 0) });
    const cluster = await connect(node.address);
    await expect(writeRows(cluster, [rowsOf([record(1)], 'test')], { namespace: 'bar' })).rejects.toThrow(/rows of namespace test written to a batch writer for namespace bar/);
    await expect(writeRows(cluster, [rowsOf([record(1)])], { sendKey: false })).rejects.toThrow(/takes records only/);
    expect((await writeRows(cluster, [rowsOf([record(1)], 'bar')], { namespace: 'bar' })).results[0]!.outcome).toBe('written');
  });

  it('holds the write callback while a chunk of rows fills a node, and reuses request buffers safely', async () => {
    const { rows, pending, node } = await heldReplyNode();
    const cluster = await connect(node.address);
    const results: WriteResult[] = [];
    const writer = new BatchWriter(cluster, { batchSize: 10, maxInFlightPerNode: 2, highWaterMark: 1, onResult: (r) => results.push(r) });
    const records = Array.from({ length: 500 }, (_, i) => record(i, { bins: [{ name: 'v', type: 4, value: randomBytes(1 + (i % 50)) }] }));
    let pulled = 0;
    function* source() {
      for (let i = 0; i < records.length; i += 50, pulled++) yield rowsOf(records.slice(i, i + 50));
    }
    const done = pipeline(Readable.from(source(), { objectMode: true, highWaterMark: 1 }), writer);
    await expect.poll(() => pending.length).toBe(2);
    await new Promise((r) => setTimeout(r, 100));
    // Two batches in flight and the rest of the first chunk queued: the source waits.
    expect(pending).toHaveLength(2);
    expect(pulled).toBeLessThanOrEqual(1 + writer.writableHighWaterMark + 2);
    const release = setInterval(() => pending.shift()?.(), 2);
    await done;
    clearInterval(release);
    expect(results).toHaveLength(500);
    // Every request the node got held the rows it should: no reused buffer was overwritten in flight.
    const byDigest = new Map(records.map((r) => [r.digest.toString('hex'), r]));
    expect(rows).toHaveLength(500);
    for (const row of rows) expect(row.bins).toEqual(byDigest.get(row.digest.toString('hex'))!.bins);
  });

  it('releases lent rows once every row of them has its result; their results read a record only until the rows are reused', async () => {
    const { pending, node } = await heldReplyNode();
    const cluster = await connect(node.address);
    const given: WireRows[] = [];
    const lender: RowsLender = { give: (r) => given.push(r) };
    const records = Array.from({ length: 10 }, (_, i) => record(i));
    const a = rowsOf(records.slice(0, 6), 'test', lender);
    const b = rowsOf(records.slice(6), 'test', lender);
    const results: WriteResult[] = [];
    const readDuring: RawRecord[] = [];
    const writer = new BatchWriter(cluster, {
      batchSize: 4,
      maxInFlightPerNode: 1,
      onResult: (r) => {
        results.push(r);
        if (results.length % 2 === 1) readDuring.push(r.record);
      },
    });
    const done = pipeline(Readable.from([a, b]), writer);
    // Batches of 4: rows 0-3 of a; then a's last two with b's first two; then b's last two.
    const answerNext = async () => {
      await expect.poll(() => pending.length).toBe(1);
      pending.shift()!();
    };
    await answerNext();
    await expect.poll(() => results.length).toBe(4);
    expect(given).toEqual([]);
    await answerNext();
    await expect.poll(() => results.length).toBe(8);
    expect(given).toEqual([a]);
    await answerNext();
    await done;
    expect(given).toEqual([a, b]);
    // Records read during onResult are copies: they stay right when the bytes are reused.
    a.buf.fill(0);
    b.buf.fill(0);
    const even = records.filter((_, i) => i % 2 === 0);
    expect(readDuring.map((r) => [r.digest, r.bins])).toEqual(even.map((r) => [r.digest, r.bins]));
    a.reset();
    expect(() => results[1]!.record).toThrow(/reused/);
  });

  it('gives the buffer of a large reply back to the frame pool once it is read', async () => {
    const node = await fake({ name: 'N', onMessage: batchNode(() => 0) });
    const cluster = await connect(node.address);
    // 3000 rows a batch: each reply frame is over 64 KiB, so it comes in a pooled buffer.
    const records = Array.from({ length: 9000 }, (_, i) => record(i));
    const before = framePool.stats;
    const { results } = await writeRows(cluster, [rowsOf(records.slice(0, 3000)), rowsOf(records.slice(3000, 6000)), rowsOf(records.slice(6000))], { batchSize: 3000, maxInFlightPerNode: 1 });
    expect(results).toHaveLength(9000);
    const after = framePool.stats;
    expect(after.allocated - before.allocated).toBeLessThanOrEqual(1);
    expect(after.reused - before.reused).toBeGreaterThanOrEqual(2);
  });

  it('stops a batch at maxBatchBytes, sending a larger row alone, for records and rows alike', async () => {
    const perRequest: number[] = [];
    const node = await fake({
      name: 'N',
      onMessage: (request, send) => {
        const got = batchRows(request);
        perRequest.push(got.length);
        for (const f of batchReply(got.map((r) => ({ index: r.index, resultCode: 0 })))) send(f);
      },
    });
    const cluster = await connect(node.address);
    const sized = (i: number, n: number) => record(i, { bins: [{ name: 'v', type: 4, value: randomBytes(n) }] });
    // 30 KB rows under a 100 KB cap: 3 a batch; a 150 KB row goes alone.
    const records = [...Array.from({ length: 7 }, (_, i) => sized(i, 30_000)), sized(7, 150_000), sized(8, 30_000)];
    const opts = { batchSize: 100, maxBatchBytes: 100_000, maxInFlightPerNode: 1 };
    // Written at once, so that every record is queued before the first batch goes.
    const results: WriteResult[] = [];
    const writer = new BatchWriter(cluster, { ...opts, onResult: (r) => results.push(r) });
    for (const r of records) writer.write(r);
    writer.end();
    await finished(writer);
    expect(results.map((r) => r.outcome)).toEqual(records.map(() => 'written'));
    expect(perRequest).toEqual([3, 3, 1, 1, 1]);
    perRequest.length = 0;
    const asRows = await writeRows(cluster, [rowsOf(records)], opts);
    expect(asRows.results).toHaveLength(9);
    expect(perRequest).toEqual([3, 3, 1, 1, 1]);
  });

  it('takes records and rows buffered together (_writev), one result each', async () => {
    const rows: BatchRowRequest[] = [];
    const node = await fake({ name: 'N', onMessage: batchNode(() => 0, rows) });
    const cluster = await connect(node.address);
    const results: WriteResult[] = [];
    const writer = new BatchWriter(cluster, { batchSize: 8, maxInFlightPerNode: 1, onResult: (r) => results.push(r) });
    const writev = vi.spyOn(writer as unknown as { _writev: BatchWriter['_writev'] }, '_writev');
    const records = Array.from({ length: 60 }, (_, i) => record(i));
    for (let i = 0; i < 60; i += 6) {
      writer.write(records[i]!);
      writer.write(rowsOf(records.slice(i + 1, i + 6)));
    }
    writer.end();
    await finished(writer);
    expect(writev).toHaveBeenCalled();
    expect(results).toHaveLength(60);
    expect(new Set(results.map((r) => r.record.digest.toString('hex'))).size).toBe(60);
    expect(rows).toHaveLength(60);
  });
});
