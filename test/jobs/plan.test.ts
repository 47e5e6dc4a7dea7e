import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { formatRanges, parsePartitions, partitionIds, planGroups } from '../../src/jobs/plan.js';
import { UsageError } from '../../src/errors.js';

describe('parsePartitions', () => {
  it('reads inclusive ranges, single ids and lists', () => {
    expect(parsePartitions('0-4095')).toEqual([{ first: 0, last: 4095 }]);
    expect(parsePartitions('17')).toEqual([{ first: 17, last: 17 }]);
    expect(parsePartitions('0-99, 200-299,4095')).toEqual([
      { first: 0, last: 99 },
      { first: 200, last: 299 },
      { first: 4095, last: 4095 },
    ]);
    expect(formatRanges(parsePartitions('0-99,200,201-300'))).toBe('0-99,200,201-300');
  });

  it.each([
    ['4096', /out of range/],
    ['10-5', /ends before it starts/],
    ['0-10,5-20', /must not overlap/],
    ['a-b', /not a partition id/],
    ['1-2-3', /expected first-last/],
    ['', /not a partition id|expected/],
  ])('refuses %j with a usage error', (spec, message) => {
    expect(() => parsePartitions(spec)).toThrow(UsageError);
    expect(() => parsePartitions(spec)).toThrow(message);
  });
});

describe('planGroups', () => {
  it('splits into contiguous groups whose sizes differ by at most one, covering every id once', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 64 }), (count, groups) => {
        const ids = partitionIds([{ first: 0, last: count - 1 }]);
        const plan = planGroups(ids, groups);
        expect(plan).toHaveLength(Math.min(groups, count));
        expect(plan.flat()).toEqual(ids);
        const sizes = plan.map((g) => g.length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });

  it('gives 4 groups of 1024 for the whole namespace with 4 workers', () => {
    const plan = planGroups(partitionIds([{ first: 0, last: 4095 }]), 4);
    expect(plan.map((g) => [g[0], g.at(-1)])).toEqual([
      [0, 1023],
      [1024, 2047],
      [2048, 3071],
      [3072, 4095],
    ]);
  });
});
