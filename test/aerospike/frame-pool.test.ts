/**
 * Pooled reply frames: the pool's hold counting, and the scan's use of it. A frame
 * buffer must come back only once nothing reads it any more; a buffer handed out while
 * a batch, the scan's progress log or a RawRecord still views it would corrupt a backup
 * silently, so each test checks the bytes held against a copy taken when they came.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RecordDecoder } from '../../src/aerospike/record-decoder.js';
import type { ScanBatch } from '../../src/aerospike/scan-batch.js';
import { ConsumedProgress } from '../../src/aerospike/scan-partitions.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { FramePool, framePool } from '../../src/aerospike/wire/frame-pool.js';
import { FrameParser, encodeFrame } from '../../src/aerospike/wire/proto.js';
import { scanReplyFrames } from './support/fake-node.js';
import { fakeNodeFixture } from './support/fixtures.js';

const { fake, connect } = fakeNodeFixture();

/** `count` records with random digests and a `valueBytes` blob each. */
function dataset(count: number, valueBytes: number): RawRecord[] {
  return Array.from({ length: count }, () => ({
    namespace: 'test',
    set: 's',
    digest: randomBytes(20),
    generation: 1,
    voidTime: 0,
    bins: [{ name: 'v', type: 4, value: randomBytes(valueBytes) }],
  }));
}

/** What a record says, as a string that does not view any buffer. */
function fingerprint(r: RawRecord): string {
  return `${r.digest.toString('hex')}:${(r.bins[0]!.value as Buffer).toString('hex')}`;
}

function batchFingerprints(batch: ScanBatch): string[] {
  const decoder = new RecordDecoder();
  return Array.from({ length: batch.count }, (_, i) => fingerprint(decoder.decode(batch.body, batch.offsets[i]!)));
}

describe('FramePool', () => {
  it('takes a buffer back only when the last hold is let go', () => {
    const pool = new FramePool();
    const a = pool.take(100_000);
    expect(a.body.length).toBe(100_000);
    const releaseBatch = a.hold();
    a.release();
    // A hold remains: the next take must not get a's buffer.
    const b = pool.take(100_000);
    expect(b.body.buffer).not.toBe(a.body.buffer);
    releaseBatch();
    releaseBatch(); // a second call does nothing
    const c = pool.take(100_500);
    expect(c.body.buffer).toBe(a.body.buffer);
    expect(c.body.length).toBe(100_500);
    expect(pool.stats).toEqual({ allocated: 2, reused: 1, free: 0 });
  });

  it('refuses a hold or a release after the buffer went back', () => {
    const pool = new FramePool();
    const a = pool.take(1000);
    a.release();
    expect(() => a.hold()).toThrow(/after its buffer went back/);
    expect(() => a.release()).toThrow(/more often than held/);
  });

  it('keeps at most maxFree buffers and none huge, and no much larger buffer for a small frame', () => {
    const pool = new FramePool(2);
    const leases = [pool.take(1 << 20), pool.take(1 << 20), pool.take(1 << 20)];
    for (const l of leases) l.release();
    expect(pool.stats.free).toBe(2);
    const small = pool.take(1000);
    expect(small.body.buffer).not.toBe(leases[0]!.body.buffer);
    expect(small.body.buffer).not.toBe(leases[1]!.body.buffer);
    expect(pool.stats.free).toBe(2);
    // A huge frame's buffer is not kept once free.
    const pool2 = new FramePool();
    pool2.take(8 << 20).release();
    expect(pool2.stats.free).toBe(0);
  });

  it('gives a parsed large frame a lease, and a compressed one none (its body is a copy)', () => {
    const pool = new FramePool();
    const parser = new FrameParser(pool);
    const body = randomBytes(200_000);
    const wire = encodeFrame(3, body);
    const frames = [...parser.push(wire.subarray(0, 1000)), ...parser.push(wire.subarray(1000))];
    expect(frames).toHaveLength(1);
    expect(frames[0]!.body.equals(body)).toBe(true);
    expect(frames[0]!.lease?.body).toBe(frames[0]!.body);
    const small = new FrameParser(pool).push(encodeFrame(3, randomBytes(100)));
    expect(small[0]!.lease).toBeUndefined();
  });
});

describe('ConsumedProgress with pooled batches', () => {
  it('holds a batch until it applied its digests, whenever the consumer releases it', () => {
    const progress = new ConsumedProgress([{ id: 0 }]);
    const digest = Buffer.alloc(20); // partition 0
    digest[19] = 7;
    const body = Buffer.concat([Buffer.alloc(30), digest]);
    let holds = 0;
    let released = 0;
    const batch: ScanBatch = {
      body,
      count: 1,
      offsets: Int32Array.of(0),
      digests: Int32Array.of(30),
      bytes: body.length,
      release: () => undefined,
      hold: () => {
        holds++;
        return () => released++;
      },
    };
    progress.pushedBatch(batch);
    expect(holds).toBe(1);
    // Still in the stream's buffer: not applied, still held.
    progress.settle(1);
    expect(released).toBe(0);
    progress.settle(0);
    expect(released).toBe(1);
    expect(progress.progress.lastDigest(0)?.equals(digest)).toBe(true);
  });
});

describe('scans with pooled frames', () => {
  // ~2 KB records, 40 a frame: frames of ~80 KB, above the size that is assembled in place (pooled).
  const records = dataset(4000, 2000);
  const serve = { onMessage: (request: Parameters<typeof scanReplyFrames>[0], send: (f: Buffer) => void) => scanReplyFrames(request, records, 40).forEach((f) => send(f)) };

  it('reuses frame buffers released by the consumer, never one a batch still holds', async () => {
    const node = await fake({ name: 'N', ...serve });
    const cluster = await connect(node.address);
    const before = framePool.stats.reused;
    const reader = new ScanReader(cluster, { namespace: 'test', batches: true });
    // The consumer keeps the last 6 batches, then checks each against what it held on arrival.
    const window: Array<{ batch: ScanBatch; seen: string[] }> = [];
    const got: string[] = [];
    const check = (w: { batch: ScanBatch; seen: string[] }): void => {
      expect(batchFingerprints(w.batch)).toEqual(w.seen);
      got.push(...w.seen);
      w.batch.release?.();
    };
    for await (const chunk of reader) {
      const batch = chunk as ScanBatch;
      expect(batch.release).toBeTypeOf('function');
      window.push({ batch, seen: batchFingerprints(batch) });
      if (window.length > 6) check(window.shift()!);
      // Give the socket time to deliver (and the pool to hand out) more frames.
      await new Promise((r) => setImmediate(r));
    }
    window.splice(0).forEach(check);
    expect(got.sort()).toEqual(records.map(fingerprint).sort());
    expect(framePool.stats.reused - before).toBeGreaterThan(records.length / 40 / 2);
  });

  it('never reuses a frame whose records were read one by one (RawRecords view it)', async () => {
    const node = await fake({ name: 'N', ...serve });
    const cluster = await connect(node.address);
    const before = framePool.stats.allocated;
    const kept: Array<{ record: RawRecord; seen: string }> = [];
    for await (const chunk of new ScanReader(cluster, { namespace: 'test' })) {
      const record = chunk as RawRecord;
      kept.push({ record, seen: fingerprint(record) });
    }
    expect(kept.map((k) => fingerprint(k.record))).toEqual(kept.map((k) => k.seen));
    expect(kept.map((k) => k.seen).sort()).toEqual(records.map(fingerprint).sort());
    // ~100 frames, each in a new buffer: at most the few free before the scan were reused.
    expect(framePool.stats.allocated - before).toBeGreaterThan(records.length / 40 - 10);
  });
});
