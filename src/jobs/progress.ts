/**
 * Progress of a running job: counters sampled on a timer, turned into rates and an ETA.
 *
 * A job does not push an event per record (millions of callbacks for nothing); it
 * exposes its counters and `startProgress` samples them every `intervalMs`, so the
 * cost and the output rate are bounded whatever the record rate. Rendering (a TTY line,
 * JSON lines) is the caller's business: it receives `ProgressView`s.
 */

export interface ProgressCounters {
  records: number;
  bytes: number;
}

export interface ProgressView extends ProgressCounters {
  phase: 'backup' | 'restore' | 'export';
  /** Expected number of records, when known (backup: from the cluster's object counts; restore: from the manifest). */
  totalRecords?: number;
  elapsedMs: number;
  /** Over the last few seconds, so a stall shows quickly. */
  recordsPerSecond: number;
  bytesPerSecond: number;
  /** 0..100, when the total is known. Capped at 100: object counts are estimates. */
  percent?: number;
  /** Seconds left at the current rate, when the total is known and the rate is not zero. */
  etaSeconds?: number;
}

export type ProgressListener = (view: ProgressView) => void;

const WINDOW_MS = 10_000;

/** Computes views from successive counter samples; rates come from a sliding window. */
export class ProgressMeter {
  readonly #samples: { at: number; records: number; bytes: number }[] = [];
  readonly #start: number;

  constructor(
    readonly phase: 'backup' | 'restore' | 'export',
    readonly totalRecords: number | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.#start = now();
    this.#samples.push({ at: this.#start, records: 0, bytes: 0 });
  }

  view(counters: ProgressCounters): ProgressView {
    const at = this.now();
    this.#samples.push({ at, records: counters.records, bytes: counters.bytes });
    while (this.#samples.length > 2 && at - this.#samples[1]!.at >= WINDOW_MS) this.#samples.shift();
    const oldest = this.#samples[0]!;
    const seconds = (at - oldest.at) / 1000;
    const recordsPerSecond = seconds > 0 ? (counters.records - oldest.records) / seconds : 0;
    const bytesPerSecond = seconds > 0 ? (counters.bytes - oldest.bytes) / seconds : 0;
    const view: ProgressView = {
      phase: this.phase,
      records: counters.records,
      bytes: counters.bytes,
      elapsedMs: at - this.#start,
      recordsPerSecond,
      bytesPerSecond,
    };
    if (this.totalRecords !== undefined) {
      view.totalRecords = this.totalRecords;
      view.percent = this.totalRecords > 0 ? Math.min(100, (100 * counters.records) / this.totalRecords) : 100;
      const left = Math.max(0, this.totalRecords - counters.records);
      if (recordsPerSecond > 0) view.etaSeconds = left / recordsPerSecond;
    }
    return view;
  }
}

/**
 * Calls `listener` every `intervalMs` with the current view, and once more on `stop()`
 * (so the last line shows the final counts). The timer does not keep the process alive.
 */
export function startProgress(
  meter: ProgressMeter,
  read: () => ProgressCounters,
  listener: ProgressListener | undefined,
  intervalMs = 500,
): { stop(): void } {
  if (!listener) return { stop: () => undefined };
  const timer = setInterval(() => listener(meter.view(read())), intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      listener(meter.view(read()));
    },
  };
}
