import { describe, expect, it } from 'vitest';
import { ProgressOutput, formatBytes, formatDuration, progressLine } from '../../src/cli/output.js';
import { textSink } from '../support/text-sink.js';

describe('progress output', () => {
  it('shows records of the total, percent, bytes, rates and ETA on one line', () => {
    const line = progressLine({
      phase: 'backup',
      records: 1234,
      bytes: 1024 * 1024,
      totalRecords: 10_000,
      percent: 12.34,
      elapsedMs: 2000,
      recordsPerSecond: 500,
      bytesPerSecond: 100 * 1024,
      etaSeconds: 17.5,
    });
    expect(line).toBe('backup: 1,234/10,000 records (12%) 1.00 MiB 500 rec/s 100 KiB/s ETA 18s');
  });

  it('formats sizes and durations for people', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
    expect(formatBytes(300 * 1024 ** 3)).toBe('300 GiB');
    expect(formatDuration(0.25)).toBe('0.3s');
    expect(formatDuration(75)).toBe('1m15s');
    expect(formatDuration(3 * 3600 + 120)).toBe('3h02m');
  });

  it('rewrites the line in place on a TTY, stays silent otherwise, and writes JSON lines with --json', () => {
    const capture = (isTTY: boolean) => {
      const sink = textSink();
      return { stream: Object.assign(sink.stream, { isTTY, columns: 80 }), text: sink.text };
    };
    const view = { phase: 'restore' as const, records: 1, bytes: 0, elapsedMs: 1, recordsPerSecond: 1, bytesPerSecond: 0 };

    const tty = capture(true);
    const out = new ProgressOutput({ stdout: capture(false).stream, stderr: tty.stream, env: {} }, false);
    out.listener!(view);
    out.note('hello');
    expect(tty.text()).toBe('\r\x1b[Krestore: 1 records 0 B 1 rec/s 0 B/s\r\x1b[Khello\n');

    expect(new ProgressOutput({ stdout: capture(false).stream, stderr: capture(false).stream, env: {} }, false).listener).toBeUndefined();

    const stdout = capture(false);
    new ProgressOutput({ stdout: stdout.stream, stderr: capture(false).stream, env: {} }, true).listener!(view);
    expect(JSON.parse(stdout.text())).toMatchObject({ event: 'progress', phase: 'restore', records: 1 });
  });
});
