import { describe, expect, it } from 'vitest';
import type { CaseResult } from '../../bench/lib/case-runtime.js';
import { formatAnchorTries, type AnchorTry } from '../../bench/lib/summary.js';

/** A round of an anchor case as anchorCase returns it: its tries in extra. */
function round(given: Array<Pick<AnchorTry, 'parallel' | 'seconds' | 'peakRssMB'>>): CaseResult {
  const tries: AnchorTry[] = given.map((t) => ({ ...t, bytes: 1, files: 1 }));
  const best = tries.reduce((a, b) => (b.seconds < a.seconds ? b : a));
  return { records: 1000, bytes: 1, bytesWhat: '', seconds: best.seconds, peakRssMB: best.peakRssMB ?? 0, cpuSeconds: 0, rssProfileMB: [], extra: { bestParallel: best.parallel, tries } };
}

describe('the anchors at each --parallel tried', () => {
  it('gives the median seconds and peak RSS of each --parallel over the rounds, not only of the fastest try', () => {
    const text = formatAnchorTries({
      'anchor-aerobak-restore': [
        round([{ parallel: 4, seconds: 10, peakRssMB: 130 }, { parallel: 8, seconds: 9, peakRssMB: 180 }]),
        round([{ parallel: 4, seconds: 12, peakRssMB: 134 }, { parallel: 8, seconds: 13, peakRssMB: 190 }]),
        round([{ parallel: 4, seconds: 11, peakRssMB: 128 }, { parallel: 8, seconds: 10, peakRssMB: 170 }]),
      ],
      'anchor-c-restore': [round([{ parallel: 4, seconds: 30 }])],
    })!;
    const lines = text.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^ {2}restore +aerobak +@4: 11\.00 s, 130 MB {3}@8: 10\.00 s, 180 MB$/);
    // A tool whose /usr/bin/time gave no RSS says so instead of a made-up figure.
    expect(lines[1]).toMatch(/^ {2}restore +C asbackup\/asrestore +@4: 30\.00 s, - MB$/);
  });

  it('is undefined when no anchor case ran', () => {
    expect(formatAnchorTries({ 'anchor-aerobak-restore': [] })).toBeUndefined();
  });
});
