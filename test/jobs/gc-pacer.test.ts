/**
 * gc-pacer: a minor GC after every PACE_BYTES of released big buffers, none before; and
 * a young generation that stops growing at YOUNG_CAP_BYTES once held.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import v8 from 'node:v8';
import { PACE_BYTES, collectSoon } from '../../src/jobs/gc-pacer.js';
import { YOUNG_CAP_BYTES, holdYoungGeneration } from '../../src/young-generation.js';

describe('collectSoon', () => {
  let minors = 0;
  let observer: PerformanceObserver;

  beforeEach(() => {
    minors = 0;
    observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) if (((e as { detail?: unknown }).detail as { kind?: number } | undefined)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minors++;
    });
    observer.observe({ entryTypes: ['gc'] });
  });

  afterEach(() => observer.disconnect());

  /** GC entries are delivered asynchronously. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  it('runs one minor GC per PACE_BYTES released', async () => {
    // Start from a fresh count: one pace's worth rounds the counter up to a GC.
    collectSoon(PACE_BYTES);
    await settle();
    const before = minors;
    collectSoon(PACE_BYTES / 2);
    collectSoon(PACE_BYTES / 2 - 1);
    await settle();
    // Allocation alone may scavenge too, so only "at least" can be asserted for the paced one.
    const between = minors - before;
    collectSoon(1);
    await settle();
    expect(minors - before).toBeGreaterThanOrEqual(between + 1);
  });

  it('does not throw for any byte count', () => {
    expect(() => {
      for (let i = 0; i < 100; i++) collectSoon(PACE_BYTES / 7);
      collectSoon(0);
    }).not.toThrow();
  });

  it('holds the young generation: it grows no further than YOUNG_CAP_BYTES (or the size it had)', () => {
    const youngSize = () => v8.getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space')!.space_size;
    holdYoungGeneration();
    const start = youngSize();
    // Objects that survive scavenges are what make V8 double the young generation.
    const kept: number[][] = [];
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < 2000; i++) kept.push([round, i, round * i]);
      collectSoon(PACE_BYTES);
    }
    expect(kept).toHaveLength(400_000);
    expect(youngSize()).toBeLessThanOrEqual(Math.max(start, YOUNG_CAP_BYTES));
  });
});
