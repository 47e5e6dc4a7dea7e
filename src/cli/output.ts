/**
 * What commands print. Two modes:
 *   human  progress as one line rewritten in place on stderr (only on a TTY), notes on
 *          stderr, the summary on stdout;
 *   --json JSON lines on stdout: {"event":"progress",...} while running, then one
 *          {"event":"summary",...}; notes still go to stderr, so stdout stays parseable.
 */
import type { Writable } from 'node:stream';
import type { ProgressView } from '../jobs/progress.js';

export interface Io {
  stdout: Writable;
  stderr: Writable & { isTTY?: boolean; columns?: number };
  env: NodeJS.ProcessEnv;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatDuration(seconds: number): string {
  if (seconds < 10) return `${Math.max(0, seconds).toFixed(1)}s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m${String(r).padStart(2, '0')}s`;
  return `${r}s`;
}

export function progressLine(v: ProgressView): string {
  const parts = [`${v.phase}:`, `${formatCount(v.records)}${v.totalRecords !== undefined ? `/${formatCount(v.totalRecords)}` : ''} records`];
  if (v.percent !== undefined) parts.push(`(${v.percent.toFixed(0)}%)`);
  parts.push(formatBytes(v.bytes), `${formatCount(v.recordsPerSecond)} rec/s`, `${formatBytes(v.bytesPerSecond)}/s`);
  if (v.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(v.etaSeconds)}`);
  return parts.join(' ');
}

/** Writes one JSON object per line; bigints become strings, Buffers hex. */
export function jsonLine(out: Writable, event: string, body: object): void {
  out.write(
    JSON.stringify({ event, ...body }, (_k, v: unknown) =>
      typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v,
    ) + '\n',
  );
}

/** The progress listener for a command: a TTY line, JSON lines, or nothing. */
export class ProgressOutput {
  #shown = false;

  constructor(
    private readonly io: Io,
    private readonly json: boolean,
  ) {}

  get listener(): ((v: ProgressView) => void) | undefined {
    if (this.json) return (v) => jsonLine(this.io.stdout, 'progress', v);
    if (!this.io.stderr.isTTY) return undefined;
    return (v) => this.show(progressLine(v));
  }

  /** Rewrites the progress line in place (on a TTY only). */
  show(line: string): void {
    if (!this.io.stderr.isTTY) return;
    const width = Math.max(20, (this.io.stderr.columns ?? 100) - 1);
    this.io.stderr.write(`\r\x1b[K${line.slice(0, width)}`);
    this.#shown = true;
  }

  /** A note for the person running the command; clears the progress line first. */
  note(message: string): void {
    this.clear();
    this.io.stderr.write(`${message}\n`);
  }

  /** Ends the progress line so what follows starts on a fresh line. */
  clear(): void {
    if (this.#shown) this.io.stderr.write('\r\x1b[K');
    this.#shown = false;
  }
}

/** The hooks a job takes to report progress and notes. */
export interface JobHooks {
  onProgress?: (v: ProgressView) => void;
  note: (message: string) => void;
}

/**
 * Runs a job with the command's progress display (JSON lines, a TTY line, or nothing)
 * and clears the display however the job ends, so a summary or an error starts on a
 * fresh line.
 */
export async function withProgress<T>(io: Io, json: boolean, job: (hooks: JobHooks) => Promise<T>): Promise<T> {
  const output = new ProgressOutput(io, json);
  try {
    return await job({ ...(output.listener ? { onProgress: output.listener } : {}), note: (m) => output.note(m) });
  } finally {
    output.clear();
  }
}
