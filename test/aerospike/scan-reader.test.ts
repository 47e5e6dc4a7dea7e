/**
 * ScanReader against scripted nodes: the captured scan replayed, partition splits over
 * two nodes, connections cut mid-scan (through the TCP proxy), unavailable partitions,
 * exhausted retries, resumption from cursors and bounded buffering with a slow consumer.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { ScanError } from '../../src/aerospike/errors.js';
import { RecordDecoder } from '../../src/aerospike/record-decoder.js';
import type { ScanBatch } from '../../src/aerospike/scan-batch.js';
import { ScanReader, type ScanOptions } from '../../src/aerospike/scan-reader.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { partitionId } from '../../src/aerospike/wire/digest.js';
import { FieldType, Info3, encodeMessagesFrame, findField, readMessage, type Message } from '../../src/aerospike/wire/message.js';
import { PROTO_HEADER_SIZE, ProtoType, encodeProtoHeader } from '../../src/aerospike/wire/proto.js';
import { loadCapture, loadGoldenSummary } from '../support/captures.js';
import { startTcpProxy } from '../support/tcp-proxy.js';
import { LAST_FRAME, scanReplyFrames, scanTargets, type FakeNode, type FakeNodeOptions } from './support/fake-node.js';
import { fakeNodeFixture } from './support/fixtures.js';

const { defer, fake, connect } = fakeNodeFixture();

async function readAll(reader: ScanReader): Promise<RawRecord[]> {
  const out: RawRecord[] = [];
  for await (const r of reader) out.push(r as RawRecord);
  return out;
}

async function readAllBatches(reader: ScanReader): Promise<ScanBatch[]> {
  const out: ScanBatch[] = [];
  for await (const b of reader) out.push(b as ScanBatch);
  return out;
}

/** A batch's records, decoded as record mode decodes them. */
function batchRecords(batch: ScanBatch): RawRecord[] {
  const decoder = new RecordDecoder();
  return Array.from({ length: batch.count }, (_, i) => decoder.decode(batch.body, batch.offsets[i]!));
}

const recordsOf = (batches: ScanBatch[]) => batches.flatMap((b) => batchRecords(b));

/** `count` records with random digests, `valueBytes` of blob each. */
function dataset(count: number, valueBytes = 8): RawRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    namespace: 'test',
    set: 's',
    digest: randomBytes(20),
    generation: 1 + (i % 5),
    voidTime: i % 2 === 0 ? 0 : 500_000_000 + i,
    bins: [{ name: 'v', type: 4, value: randomBytes(valueBytes) }],
  }));
}

/** A random digest of partition `id`. */
function digestIn(id: number): Buffer {
  const d = randomBytes(20);
  d[0] = id & 0xff;
  d[1] = (d[1]! & 0xf0) | (id >> 8);
  return d;
}

const hex = (rs: RawRecord[]) => rs.map((r) => r.digest.toString('hex')).sort();

/** A node that serves partition scans from `records`, `perFrame` records a frame. */
function scanServer(records: RawRecord[], perFrame = 50): FakeNodeOptions['onMessage'] {
  return (request, send) => {
    for (const f of scanReplyFrames(request, records, perFrame)) send(f);
  };
}

describe('ScanReader', () => {
  it('replays the captured scan into exactly the golden records, with the captured request', async () => {
    const capture = loadCapture('scan-all.jsonl').filter((f) => f.type === ProtoType.MESSAGE);
    const captured = capture.find((f) => f.dir === 'c2s')!;
    const node = await fake({
      name: 'BB901000000FC02',
      onMessage: (_req, send) => capture.filter((f) => f.dir === 's2c').forEach((f) => send(f.frame)),
    });
    const cluster = await connect(node.address);
    const records = await readAll(new ScanReader(cluster, { namespace: 'test', sets: ['golden'] }));

    const golden = loadGoldenSummary();
    expect(records.map((r) => r.digest.toString('hex'))).toEqual(golden.records.map((g) => g.digest));
    records.forEach((r, i) => {
      expect(r.bins.map((b) => [b.name, b.type, b.value.toString('hex')])).toEqual(
        golden.records[i]!.bins.map((b) => [b.name, b.particle_type, b.value_hex]),
      );
    });
    // The request differs from the official client's only in its random task id.
    const withoutTaskId = (m: Message) =>
      encodeMessagesFrame([{ ...m, fields: m.fields.map((f) => (f.type === FieldType.TASK_ID ? { type: f.type, data: Buffer.alloc(8) } : f)) }]);
    expect(withoutTaskId(node.requests[0]!).toString('hex')).toBe(withoutTaskId(readMessage(captured.frame.subarray(8), 0).message).toString('hex'));
  });

  it('sends one request per node for the partitions it masters, and reads both', async () => {
    const records = dataset(600);
    let b: FakeNode | undefined;
    const a = await fake({ name: 'A', owns: (p) => p < 1000, peers: () => `1,3000,[[B,,[${b!.address}]]]`, onMessage: scanServer(records) });
    b = await fake({ name: 'B', owns: (p) => p >= 1000, peers: () => `1,3000,[[A,,[${a.address}]]]`, onMessage: scanServer(records) });
    const cluster = await connect(a.address);
    const reader = new ScanReader(cluster, { namespace: 'test' });
    const got = await readAll(reader);
    expect(hex(got)).toEqual(hex(records));
    expect(a.requests).toHaveLength(1);
    expect(b.requests).toHaveLength(1);
    expect(scanTargets(a.requests[0]!).partitions).toHaveLength(1000);
    expect(scanTargets(b.requests[0]!).partitions).toHaveLength(3096);
    expect(reader.donePartitions()).toHaveLength(4096);
    expect(reader.cursors()).toEqual([]);
    expect(reader.stats.records).toBe(600);
  });

  it('resumes after a connection cut mid-scan from the last digests, losing and repeating nothing', async () => {
    const records = dataset(3000, 100);
    const node = await fake({ name: 'N', onMessage: scanServer(records, 20) });
    const proxy = await startTcpProxy({ host: node.host, port: node.port });
    defer(() => proxy.close());
    const cluster = await connect(proxy.address);
    const cut = proxy.cutAfterServerBytes(100_000);
    const reader = new ScanReader(cluster, { namespace: 'test', highWaterMark: 50 });
    const got = await readAll(reader);
    await cut;
    expect(got).toHaveLength(records.length);
    expect(hex(got)).toEqual(hex(records));
    expect(reader.stats.retries).toBeGreaterThanOrEqual(1);
    expect(node.requests.length).toBeGreaterThanOrEqual(2);
    // The retry resumes the partitions cut short below their last digest (field 12).
    const retry = scanTargets(node.requests[1]!);
    expect(retry.resume.size).toBeGreaterThan(0);
    // Partitions whose scan had not ended are all retried: those not reached yet from the start.
    expect(retry.partitions.length + retry.resume.size).toBe(4096);
  });

  it('retries partitions the node reports unavailable', async () => {
    const records = dataset(400);
    let calls = 0;
    const node = await fake({
      name: 'N',
      onMessage: (request, send) => {
        calls++;
        const { partitions } = scanTargets(request);
        if (calls === 1) {
          // Partitions 0..9 are not available on the first attempt: partition-done with result 11.
          const kept = { ...request, fields: request.fields.map((f) => (f.type === FieldType.PID_ARRAY ? { type: f.type, data: pidArray(partitions.filter((p) => p >= 10)) } : f)) };
          const frames = scanReplyFrames(kept, records);
          send(encodeMessagesFrame(Array.from({ length: 10 }, (_, p) => ({ info3: Info3.PARTITION_DONE, resultCode: 11, generation: p }))));
          frames.forEach((f) => send(f));
        } else {
          scanReplyFrames(request, records).forEach((f) => send(f));
        }
      },
    });
    const cluster = await connect(node.address);
    const reader = new ScanReader(cluster, { namespace: 'test' });
    const got = await readAll(reader);
    expect(hex(got)).toEqual(hex(records));
    expect(scanTargets(node.requests[1]!).partitions).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('gives up with a ScanError naming the partitions left when retries run out', async () => {
    const records = dataset(40).map((r) => ({ ...r, digest: digestIn(5) }));
    let calls = 0;
    const node = await fake({
      name: 'N',
      onMessage: (request, send, socket) => {
        // The first attempt sends 10 records of partition 5, then every attempt dies early.
        if (++calls === 1) send(scanReplyFrames(request, records, 10)[0]!);
        setImmediate(() => socket.destroy());
      },
    });
    const cluster = await connect(node.address);
    const reader = new ScanReader(cluster, { namespace: 'test', partitions: [{ id: 5 }, { id: 6 }], maxRetries: 2 });
    const got: RawRecord[] = [];
    const err = await (async () => {
      for await (const r of reader) got.push(r as RawRecord);
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect((err as ScanError).partitions).toEqual([5, 6]);
    expect((err as Error).message).toMatch(/2 partition\(s\) unfinished \(5-6\)/);
    expect(got).toHaveLength(10);
    expect(calls).toBe(3); // the first try and maxRetries (2) retries
    const cursors = reader.cursors();
    expect(cursors.map((c) => c.id)).toEqual([5, 6]);
    expect(cursors[0]!.lastDigest!.equals(got[9]!.digest)).toBe(true);
    expect(cursors[1]!.lastDigest).toBeUndefined();
  });

  it('ends at once with a ScanError on a server error retrying cannot fix', async () => {
    const node = await fake({ name: 'N', onMessage: (_r, send) => send(encodeMessagesFrame([{ info3: Info3.LAST, resultCode: 4 }])) });
    const cluster = await connect(node.address);
    const err = await readAll(new ScanReader(cluster, { namespace: 'test' })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect((err as Error).message).toContain('PARAMETER');
    expect(node.requests).toHaveLength(1);
  });

  it('continues a stopped scan from its cursors', async () => {
    const records = dataset(500);
    const node = await fake({ name: 'N', onMessage: scanServer(records, 10) });
    const cluster = await connect(node.address);
    const first = new ScanReader(cluster, { namespace: 'test', highWaterMark: 1 });
    const seen: RawRecord[] = [];
    for await (const r of first) {
      seen.push(r as RawRecord);
      if (seen.length === 123) break;
    }
    const cursors = first.cursors();
    const done = new Set(first.donePartitions());
    expect(cursors.length + done.size).toBe(4096);
    expect(cursors.some((c) => c.lastDigest)).toBe(true);
    const rest = await readAll(new ScanReader(cluster, { namespace: 'test', partitions: cursors }));
    expect(hex([...seen, ...rest])).toEqual(hex(records));
  });

  it('keeps buffering bounded and the socket paused while the consumer is stalled', async () => {
    // 40 MB of records in 256 KiB frames; the consumer reads a little, then stops.
    const records = dataset(10_000, 4000);
    const node = await fake({ name: 'N', onMessage: scanServer(records, 64) });
    const cluster = await connect(node.address);
    const reader = new ScanReader(cluster, { namespace: 'test', highWaterMark: 100 });
    const stalled = await stallAfter(reader, 500, () => 1);
    expect(stalled.consumed).toBe(500);
    expect(stalled.state.records).toBeLessThanOrEqual(100);
    expect(reader.stats.records).toBeLessThan(500 + 100 + 2 * 64 + 1);
    expect(await stalled.finish()).toBe(records.length);
  });

  it('limits the record rate across the cluster', async () => {
    const records = dataset(60);
    const node = await fake({ name: 'N', onMessage: scanServer(records) });
    const cluster = await connect(node.address);
    const started = Date.now();
    const got = await readAll(new ScanReader(cluster, { namespace: 'test', recordsPerSecond: 100 }));
    expect(got).toHaveLength(60);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expect(findField(node.requests[0]!, FieldType.RECORDS_PER_SECOND)!.readUInt32BE(0)).toBe(100);
  });

  it('validates options synchronously', async () => {
    const node = await fake({ name: 'N' });
    const cluster = await connect(node.address);
    expect(() => new ScanReader(cluster, { namespace: 'nope' })).toThrow(/namespace "nope" does not exist/);
    const bad: ScanOptions = { namespace: 'test', partitions: [{ id: 1, lastDigest: Buffer.alloc(20, 0xff) }] };
    expect(() => new ScanReader(cluster, bad)).toThrow(/not a 20-byte digest of that partition/);
  });

  it('emits nothing but end for an empty partition list', async () => {
    const node = await fake({ name: 'N', onMessage: (_r, send) => send(LAST_FRAME) });
    const cluster = await connect(node.address);
    expect(await readAll(new ScanReader(cluster, { namespace: 'test', partitions: [] }))).toEqual([]);
    expect(node.requests).toHaveLength(0);
    expect(partitionId(Buffer.alloc(20))).toBe(0);
  });
});

describe('ScanReader in batch mode', () => {
  it('delivers the captured scan as batches holding exactly the records of record mode', async () => {
    const capture = loadCapture('scan-all.jsonl').filter((f) => f.type === ProtoType.MESSAGE && f.dir === 's2c');
    const node = await fake({ name: 'BB901000000FC02', onMessage: (_req, send) => capture.forEach((f) => send(f.frame)) });
    const cluster = await connect(node.address);
    const byRecord = await readAll(new ScanReader(cluster, { namespace: 'test', sets: ['golden'] }));
    const reader = new ScanReader(cluster, { namespace: 'test', sets: ['golden'], batches: true });
    const batches = await readAllBatches(reader);
    expect(batches.length).toBeGreaterThan(0);
    expect(recordsOf(batches)).toEqual(byRecord);
    // Each batch's digest offsets point at its records' digests.
    for (const b of batches) {
      const decoded = batchRecords(b);
      for (let i = 0; i < b.count; i++) expect(b.body.subarray(b.digests[i]!, b.digests[i]! + 20).equals(decoded[i]!.digest)).toBe(true);
    }
    expect(reader.stats.records).toBe(byRecord.length);
    expect(reader.stats.bytes).toBe(batches.reduce((n, b) => n + b.bytes, 0));
  });

  it('resumes after a connection cut mid-frame, losing and repeating nothing', async () => {
    const records = dataset(3000, 100);
    const node = await fake({ name: 'N', onMessage: scanServer(records, 20) });
    const proxy = await startTcpProxy({ host: node.host, port: node.port });
    defer(() => proxy.close());
    const cluster = await connect(proxy.address);
    const cut = proxy.cutAfterServerBytes(100_000);
    const reader = new ScanReader(cluster, { namespace: 'test', batches: true });
    const got = recordsOf(await readAllBatches(reader));
    await cut;
    expect(got).toHaveLength(records.length);
    expect(hex(got)).toEqual(hex(records));
    expect(reader.stats.retries).toBeGreaterThanOrEqual(1);
    expect(scanTargets(node.requests[1]!).resume.size).toBeGreaterThan(0);
  });

  it('skips partition-done markers inside frames and retries the partitions they report unavailable', async () => {
    const records = dataset(400);
    let calls = 0;
    const node = await fake({
      name: 'N',
      onMessage: (request, send) => {
        if (++calls === 1) {
          // One frame: records, then markers for partitions 0-9 (unavailable) and 10 (done), then more records.
          const { partitions } = scanTargets(request);
          const kept = { ...request, fields: request.fields.map((f) => (f.type === FieldType.PID_ARRAY ? { type: f.type, data: pidArray(partitions.filter((p) => p >= 10)) } : f)) };
          const frames = scanReplyFrames(kept, records, 1000);
          const body = frames[0]!.subarray(8);
          const half = splitMessages(body);
          const markers = encodeMessagesFrame([
            ...Array.from({ length: 10 }, (_, p) => ({ info3: Info3.PARTITION_DONE, resultCode: 11, generation: p })),
            { info3: Info3.PARTITION_DONE, resultCode: 0, generation: 10 },
          ]).subarray(8);
          send(messageFrame(Buffer.concat([half[0], markers, half[1]])));
          frames.slice(1).forEach((f) => send(f));
        } else {
          scanReplyFrames(request, records).forEach((f) => send(f));
        }
      },
    });
    const cluster = await connect(node.address);
    const got = recordsOf(await readAllBatches(new ScanReader(cluster, { namespace: 'test', batches: true })));
    expect(hex(got)).toEqual(hex(records));
    expect(scanTargets(node.requests[1]!).partitions).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('continues a stopped scan from its cursors, counting only the batches taken', async () => {
    const records = dataset(500);
    const node = await fake({ name: 'N', onMessage: scanServer(records, 10) });
    const cluster = await connect(node.address);
    const first = new ScanReader(cluster, { namespace: 'test', batches: true, highWaterMark: 1 });
    const seen: RawRecord[] = [];
    for await (const b of first) {
      seen.push(...batchRecords(b as ScanBatch));
      if (seen.length >= 120) break;
    }
    const cursors = first.cursors();
    expect(cursors.length + first.donePartitions().length).toBe(4096);
    expect(cursors.some((c) => c.lastDigest)).toBe(true);
    const rest = recordsOf(await readAllBatches(new ScanReader(cluster, { namespace: 'test', partitions: cursors, batches: true })));
    expect(hex([...seen, ...rest])).toEqual(hex(records));
  });

  it('keeps buffering bounded to a few frames and the socket paused while the consumer is stalled', async () => {
    const records = dataset(10_000, 4000);
    const node = await fake({ name: 'N', onMessage: scanServer(records, 64) });
    const cluster = await connect(node.address);
    const reader = new ScanReader(cluster, { namespace: 'test', batches: true });
    const stalled = await stallAfter(reader, 500, (b) => (b as ScanBatch).count);
    expect(stalled.state.records).toBeLessThanOrEqual(2); // batches: the default highWaterMark
    // Taken, buffered (2 batches of a frame each) and the frame being walked: nothing more was read.
    expect(reader.stats.records).toBeLessThanOrEqual(stalled.consumed + 3 * 64);
    expect(await stalled.finish()).toBe(records.length);
  });

  it('limits the record rate with batches no larger than the burst', async () => {
    const records = dataset(60);
    const node = await fake({ name: 'N', onMessage: scanServer(records) });
    const cluster = await connect(node.address);
    const started = Date.now();
    const batches = await readAllBatches(new ScanReader(cluster, { namespace: 'test', recordsPerSecond: 100, batches: true }));
    expect(batches.reduce((n, b) => n + b.count, 0)).toBe(60);
    expect(Math.max(...batches.map((b) => b.count))).toBeLessThanOrEqual(10);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
  });

  it('fails with a ScanError on a server error after records in the same frame, claiming no partition done', async () => {
    const records = dataset(30);
    const node = await fake({
      name: 'N',
      onMessage: (request, send) => {
        const body = scanReplyFrames(request, records, 1000)[0]!.subarray(8);
        const failure = encodeMessagesFrame([{ info3: Info3.LAST, resultCode: 4 }]).subarray(8);
        send(messageFrame(Buffer.concat([body, failure])));
      },
    });
    const cluster = await connect(node.address);
    const reader = new ScanReader(cluster, { namespace: 'test', batches: true });
    const err = await readAllBatches(reader).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect((err as Error).message).toContain('PARAMETER');
    expect((err as ScanError).partitions).toHaveLength(4096);
    expect(reader.donePartitions()).toEqual([]);
  });

  it('fails with a ScanError on a record message without a digest', async () => {
    const node = await fake({
      name: 'N',
      onMessage: (_r, send) => send(encodeMessagesFrame([{ fields: [{ type: FieldType.NAMESPACE, data: Buffer.from('test') }] }])),
    });
    const cluster = await connect(node.address);
    const err = await readAllBatches(new ScanReader(cluster, { namespace: 'test', batches: true })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ScanError);
    expect((err as Error).message).toContain('record message without a digest field');
  });
});

/** A MESSAGE frame around `body`. */
function messageFrame(body: Buffer): Buffer {
  const frame = Buffer.alloc(PROTO_HEADER_SIZE + body.length);
  encodeProtoHeader(ProtoType.MESSAGE, body.length, frame, 0);
  body.copy(frame, PROTO_HEADER_SIZE);
  return frame;
}

/** A frame body's messages cut in two halves at a message boundary. */
function splitMessages(body: Buffer): [Buffer, Buffer] {
  const ends: number[] = [];
  for (let at = 0; at < body.length; ) {
    at = readMessage(body, at).end;
    ends.push(at);
  }
  const cut = ends[Math.floor(ends.length / 2) - 1]!;
  return [body.subarray(0, cut), body.subarray(cut)];
}

/** Bytes of one reply frame of the stalled-consumer tests: 64 records of a 4000-byte blob. */
const STALL_FRAME_BYTES = 64 * 4040 + 64 * 60;

/**
 * Takes chunks from `reader` until `records` records (countOf each chunk) were taken, then
 * stops taking for 300 ms and checks the bound of scan-reader.ts: the socket paused, and
 * held bytes no more than the frame being walked, one queued frame and one socket read.
 * `finish()` resumes to the end and returns the records taken in all.
 */
async function stallAfter(reader: ScanReader, records: number, countOf: (chunk: unknown) => number) {
  let consumed = 0;
  let paused = false;
  reader.on('data', (chunk: unknown) => {
    consumed += countOf(chunk);
    if (consumed >= records && !paused) {
      paused = true;
      reader.pause();
    }
  });
  await expect.poll(() => paused, { timeout: 10_000 }).toBe(true);
  await new Promise((r) => setTimeout(r, 300));
  const state = reader.bufferState();
  expect(state.pausedSockets).toBe(1);
  expect(state.bytes).toBeLessThanOrEqual(2 * STALL_FRAME_BYTES + 64 * 1024);
  return {
    state,
    consumed,
    finish: async () => {
      reader.resume();
      await once(reader, 'end');
      return consumed;
    },
  };
}

function pidArray(ids: number[]): Buffer {
  const b = Buffer.alloc(ids.length * 2);
  ids.forEach((id, i) => b.writeUInt16LE(id, i * 2));
  return b;
}
