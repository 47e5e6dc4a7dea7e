import { describe, expect, it } from 'vitest';
import { ProgressMeter } from '../../src/jobs/progress.js';

describe('ProgressMeter', () => {
  it('computes rate over a sliding window, percent and ETA from the total', () => {
    let now = 1_000;
    const meter = new ProgressMeter('backup', 1_000, () => now);
    now += 2_000;
    const v = meter.view({ records: 200, bytes: 20_000 });
    expect(v).toMatchObject({ phase: 'backup', records: 200, totalRecords: 1_000, elapsedMs: 2_000, recordsPerSecond: 100, bytesPerSecond: 10_000, percent: 20 });
    expect(v.etaSeconds).toBe(8);
    // A stall shows once the window has moved past the busy period.
    now += 20_000;
    meter.view({ records: 200, bytes: 20_000 });
    now += 1_000;
    expect(meter.view({ records: 200, bytes: 20_000 }).recordsPerSecond).toBe(0);
  });

  it('caps percent at 100 and has no ETA without a total', () => {
    let now = 0;
    const withTotal = new ProgressMeter('restore', 10, () => now);
    now = 1_000;
    expect(withTotal.view({ records: 15, bytes: 0 })).toMatchObject({ percent: 100, etaSeconds: 0 });
    const without = new ProgressMeter('restore', undefined, () => now);
    now = 2_000;
    const v = without.view({ records: 5, bytes: 0 });
    expect(v.percent).toBeUndefined();
    expect(v.etaSeconds).toBeUndefined();
  });
});
