/**
 * The bandwidth limit of `--bandwidth` (src/storage/bandwidth.ts): one token bucket shared
 * by every write (and, when asked, read) of the stores it wraps; bytes intact, time at
 * least bytes / rate (less one burst), backpressure on the source, aborts honoured.
 *
 * Elapsed times are asserted as lower bounds with slack: the limit's behaviour, not a
 * benchmark (a slow machine only makes them longer).
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BandwidthLimitedStore, SLICE_BYTES, TokenBucket, limitBandwidth } from '../../src/storage/bandwidth.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { readAll as readStream } from '../../src/storage/small-objects.js';
import type { ObjectStore, OpenIntent } from '../../src/storage/types.js';

const readAll = async (store: ObjectStore, key: string) => readStream(await store.read(key));

const MiB = 1024 * 1024;
let bucketSeq = 0;
const memory = () => new MemoryStore(`bandwidth-${process.pid}-${bucketSeq++}`, '');

/** Chunks of `size` bytes, `count` of them, counting how many were pulled. */
function source(data: Buffer, chunk: number): { iterable: AsyncIterable<Uint8Array>; pulled: () => number } {
  let pulled = 0;
  return {
    iterable: (async function* () {
      for (let at = 0; at < data.length; at += chunk) {
        pulled++;
        yield data.subarray(at, at + chunk);
      }
    })(),
    pulled: () => pulled,
  };
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

describe('TokenBucket', () => {
  it('refuses a rate that is not a positive number', () => {
    for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => new TokenBucket(bad)).toThrow(RangeError);
  });

  it('lets bytes through at the rate, one burst ahead at most', async () => {
    const bucket = new TokenBucket(4 * MiB);
    const { seconds } = await timed(async () => {
      for (let i = 0; i < 32; i++) await bucket.take(SLICE_BYTES);
    });
    // 2 MiB at 4 MiB/s: 0.5 s, less the burst (50 ms of the rate).
    expect(seconds).toBeGreaterThanOrEqual((2 * MiB - bucket.burstBytes) / (4 * MiB) - 0.02);
    expect(bucket.bytes).toBe(2 * MiB);
  });

  it('earns no credit while idle', async () => {
    const bucket = new TokenBucket(2 * MiB);
    await new Promise((r) => setTimeout(r, 300));
    const { seconds } = await timed(async () => {
      for (let i = 0; i < 16; i++) await bucket.take(SLICE_BYTES);
    });
    expect(seconds).toBeGreaterThanOrEqual((MiB - bucket.burstBytes) / (2 * MiB) - 0.02);
  });
});

describe('BandwidthLimitedStore', () => {
  it('writes every byte intact, taking at least bytes / rate', async () => {
    const inner = memory();
    const rate = 2 * MiB;
    const store = new BandwidthLimitedStore(inner, new TokenBucket(rate));
    const data = randomBytes(MiB + 12_345);
    const { value, seconds } = await timed(() => store.write('a/file.bin', source(data, 100_000).iterable));
    expect(value).toBe(data.length);
    expect(seconds).toBeGreaterThanOrEqual((data.length - store.bucket.burstBytes) / rate - 0.02);
    expect((await readAll(inner, 'a/file.bin')).equals(data)).toBe(true);
  });

  it('counts create() too, and leaves reads alone unless asked', async () => {
    const inner = memory();
    const store = new BandwidthLimitedStore(inner, new TokenBucket(MiB));
    const small = randomBytes(200_000);
    await store.create('manifest.json', [small]);
    expect(store.bucket.bytes).toBe(small.length);
    const { seconds } = await timed(() => readAll(store, 'manifest.json'));
    expect(seconds).toBeLessThan(0.15);
    expect(store.bucket.bytes).toBe(small.length);
  });

  it('limits reads with read: true, the bytes intact', async () => {
    const inner = memory();
    const data = randomBytes(MiB);
    await inner.write('big', [data]);
    const rate = 2 * MiB;
    const store = new BandwidthLimitedStore(inner, new TokenBucket(rate), { write: false, read: true });
    const { value, seconds } = await timed(() => readAll(store, 'big'));
    expect(value.equals(data)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual((data.length - store.bucket.burstBytes) / rate - 0.02);
  });

  it('pulls the source only as fast as the limit lets it through (backpressure)', async () => {
    const store = new BandwidthLimitedStore(memory(), new TokenBucket(MiB));
    const data = randomBytes(4 * MiB);
    const src = source(data, SLICE_BYTES);
    const controller = new AbortController();
    const writing = store.write('slow', src.iterable, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 300));
    // 0.3 s at 1 MiB/s is ~5 slices (+ the burst and a couple in hand), not the 64 of the source.
    expect(src.pulled()).toBeLessThan(16);
    controller.abort(new Error('stop'));
    await expect(writing).rejects.toThrow();
  });

  it('passes location, capabilities, stat, list and delete through', async () => {
    const inner = memory();
    const store = new BandwidthLimitedStore(inner, new TokenBucket(MiB));
    await inner.write('x', [Buffer.from('abc')]);
    expect(store.location).toBe(inner.location);
    expect(store.capabilities).toEqual(inner.capabilities);
    expect((await store.stat('x'))?.size).toBe(3);
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    expect(keys).toEqual(['x']);
    await store.delete('x');
    expect(await inner.stat('x')).toBeNull();
  });
});

describe('limitBandwidth', () => {
  it('shares one limit between every store it opens and every write at once', async () => {
    const inners: ObjectStore[] = [memory(), memory()];
    let n = 0;
    const rate = 2 * MiB;
    const open = limitBandwidth(async (_location: string, _intent: OpenIntent) => inners[n++]!, rate);
    const a = await open('mem://a/', 'write');
    const b = await open('mem://b/', 'write');
    const parts = [randomBytes(512 * 1024), randomBytes(512 * 1024), randomBytes(512 * 1024), randomBytes(512 * 1024)];
    const { seconds } = await timed(() =>
      Promise.all([a.write('p0', source(parts[0]!, 50_000).iterable), a.write('p1', source(parts[1]!, 50_000).iterable), b.write('p2', [parts[2]!]), b.write('p3', [parts[3]!])]),
    );
    // 2 MiB in all at 2 MiB/s: about a second, not the quarter second four separate limits would take.
    expect(seconds).toBeGreaterThanOrEqual((2 * MiB - open.bucket.burstBytes) / rate - 0.02);
    expect(open.bucket.bytes).toBe(2 * MiB);
    expect((await readAll(inners[0]!, 'p1')).equals(parts[1]!)).toBe(true);
    expect((await readAll(inners[1]!, 'p3')).equals(parts[3]!)).toBe(true);
  });
});
