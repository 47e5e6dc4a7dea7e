/**
 * Jobs of the service: every backup, restore, verify and drill is a job with an id, a
 * status, live progress and a result, run through one queue that lets at most
 * `max-concurrent-jobs` run at once (first come, first served, across routines).
 *
 *   queued ─> running ─> succeeded | failed | cancelled | interrupted
 *
 * Each running job has its own AbortController: cancel (API) and shutdown (SIGTERM)
 * abort it with an InterruptedError, and the job functions (runBackup, runRestore, ...)
 * stop and clean up as they do on Ctrl-C. A backup stopped so has no manifest and keeps
 * its state: it is resumable.
 *
 * The manager keeps the most recent jobs in memory for the API; what must survive a
 * restart is written to the repository by the scheduler (state.ts).
 */
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { AerobakError, InterruptedError } from '../errors.js';
import { compactTimestamp } from '../jobs/backup.js';
import { StorageError, isAbortError } from '../storage/errors.js';

export type JobKind = 'backup' | 'restore' | 'verify' | 'drill';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';
export type JobTrigger = 'schedule' | 'api' | 'startup' | 'retry' | 'resume';

export interface JobProgress {
  records: number;
  bytes: number;
  totalRecords?: number;
  percent?: number;
  recordsPerSecond?: number;
  bytesPerSecond?: number;
  etaSeconds?: number;
  elapsedMs?: number;
}

export interface JobRecord {
  id: string;
  kind: JobKind;
  routine?: string;
  repository: string;
  trigger: JobTrigger;
  /** For a backup: what was asked for (an incremental of nothing is taken as a full). */
  backupKind?: 'full' | 'incremental';
  /** 0 for the first run, n for the n-th retry. */
  attempt: number;
  status: JobStatus;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** A backup's destination; what a restore, verify or drill reads. */
  location?: string;
  progress?: JobProgress;
  /** The job function's summary (never a secret: summaries hold counts and locations). */
  result?: unknown;
  error?: { code: string; message: string };
  /** Notes the job function emitted (destination, chain, indexes), the last few. */
  notes?: string[];
}

export interface JobContext {
  signal: AbortSignal;
  record: JobRecord;
  progress(p: JobProgress): void;
  note(message: string): void;
}

export type JobFunction = (ctx: JobContext) => Promise<unknown>;

export interface JobHooks {
  /** Right before a job starts; false (or a throw) fails it without running it. */
  beforeStart?: (job: JobRecord) => Promise<boolean>;
  onStart?: (job: JobRecord) => void;
  onFinish?: (job: JobRecord, error: unknown) => void;
  onQueueChange?: (queued: number, running: number) => void;
}

/** The service is stopping: no new job is taken. */
export class ShuttingDownError extends AerobakError {
  constructor() {
    super('interrupted', 'SHUTTING_DOWN', 'the service is shutting down: no new job is accepted');
  }
}

const HISTORY = 500;
const NOTES = 20;

export function newJobId(now: Date): string {
  return `${compactTimestamp(now)}-${randomBytes(3).toString('hex')}`;
}

interface Entry {
  record: JobRecord;
  fn: JobFunction;
  controller: AbortController;
  done: Promise<void>;
  resolve: () => void;
}

export class JobManager {
  readonly #jobs = new Map<string, Entry>();
  readonly #queue: Entry[] = [];
  #running = 0;
  #accepting = true;

  constructor(
    private readonly maxConcurrent: number,
    private readonly hooks: JobHooks = {},
    private readonly now: () => Date = () => new Date(),
  ) {}

  get accepting(): boolean {
    return this.#accepting;
  }

  /** Queues a job; it starts as soon as a slot is free. */
  submit(job: Omit<JobRecord, 'id' | 'status' | 'createdAt'> & { id?: string }, fn: JobFunction): JobRecord {
    if (!this.#accepting) throw new ShuttingDownError();
    const now = this.now();
    const record: JobRecord = { ...job, id: job.id ?? newJobId(now), status: 'queued', createdAt: now.toISOString() };
    const controller = new AbortController();
    // Every stage of a job (scans, uploads, writers) listens to this signal.
    setMaxListeners(0, controller.signal);
    let resolve!: () => void;
    const done = new Promise<void>((r) => (resolve = r));
    const entry: Entry = { record, fn, controller, done, resolve };
    this.#jobs.set(record.id, entry);
    this.#queue.push(entry);
    this.#evict();
    this.#changed();
    queueMicrotask(() => this.#pump());
    return record;
  }

  /**
   * Takes in the finished jobs of an earlier run of the service (from the repository's
   * state), oldest first; one that was queued or running then died with that process.
   */
  adopt(records: readonly JobRecord[]): void {
    const adopted: [string, Entry][] = [];
    for (const r of records) {
      if (this.#jobs.has(r.id)) continue;
      const record: JobRecord = { ...r };
      if (record.status === 'queued' || record.status === 'running') {
        record.status = 'interrupted';
        record.error ??= { code: 'SERVICE_STOPPED', message: 'the service stopped while the job was queued or running' };
      }
      adopted.push([record.id, { record, fn: async () => undefined, controller: new AbortController(), done: Promise.resolve(), resolve: () => undefined }]);
    }
    // Older than anything of this run: in front, so that list() stays newest first.
    const rest = [...this.#jobs.entries()];
    this.#jobs.clear();
    for (const [id, e] of [...adopted, ...rest]) this.#jobs.set(id, e);
    this.#evict();
  }

  get(id: string): JobRecord | undefined {
    return this.#jobs.get(id)?.record;
  }

  /** Newest first. */
  list(filter: (j: JobRecord) => boolean = () => true): JobRecord[] {
    return [...this.#jobs.values()].map((e) => e.record).filter(filter).reverse();
  }

  /** Jobs queued or running that match. */
  active(filter: (j: JobRecord) => boolean): JobRecord[] {
    return this.list((j) => (j.status === 'queued' || j.status === 'running') && filter(j));
  }

  /** Settles when the job has finished (at once for an unknown or finished one). */
  finished(id: string): Promise<void> {
    return this.#jobs.get(id)?.done ?? Promise.resolve();
  }

  /**
   * Cancels a queued job (it never runs) or aborts a running one; resolves to the
   * record, or undefined when there is no such job. A finished job is left as it is.
   */
  cancel(id: string, reason = 'cancelled through the API'): JobRecord | undefined {
    const entry = this.#jobs.get(id);
    if (!entry) return undefined;
    if (entry.record.status === 'queued') {
      this.#queue.splice(this.#queue.indexOf(entry), 1);
      this.#finish(entry, 'cancelled', new InterruptedError(reason));
    } else if (entry.record.status === 'running') {
      entry.controller.abort(new InterruptedError(reason));
    }
    return entry.record;
  }

  /**
   * Stops taking jobs, drops the queued ones (status interrupted), aborts the running
   * ones, and waits for them to settle, at most `timeoutMs`; resolves to the ids of the
   * jobs still running at the deadline.
   */
  async shutdown(reason: string, timeoutMs: number): Promise<string[]> {
    this.#accepting = false;
    for (const entry of this.#queue.splice(0)) this.#finish(entry, 'interrupted', new InterruptedError(reason));
    const running = [...this.#jobs.values()].filter((e) => e.record.status === 'running');
    for (const entry of running) entry.controller.abort(new InterruptedError(reason));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)));
    await Promise.race([Promise.all(running.map((e) => e.done)), deadline]);
    clearTimeout(timer);
    return running.filter((e) => e.record.status === 'running').map((e) => e.record.id);
  }

  #changed(): void {
    this.hooks.onQueueChange?.(this.#queue.length, this.#running);
  }

  #pump(): void {
    while (this.#accepting && this.#running < this.maxConcurrent && this.#queue.length > 0) {
      const entry = this.#queue.shift()!;
      this.#running++;
      void this.#run(entry);
    }
    this.#changed();
  }

  async #run(entry: Entry): Promise<void> {
    const { record, controller } = entry;
    try {
      if (this.hooks.beforeStart && !(await this.hooks.beforeStart(record))) {
        throw new AerobakError('failed', 'NOT_LEASE_HOLDER', `this service does not hold the scheduler lease of repository ${record.repository}: the job was not started`);
      }
      record.status = 'running';
      record.startedAt = this.now().toISOString();
      this.hooks.onStart?.(record);
      const ctx: JobContext = {
        signal: controller.signal,
        record,
        progress: (p) => (record.progress = p),
        note: (message) => {
          record.notes = [...(record.notes ?? []), message].slice(-NOTES);
        },
      };
      const result = await entry.fn(ctx);
      if (controller.signal.aborted) throw controller.signal.reason;
      record.result = result;
      this.#finish(entry, 'succeeded', undefined);
    } catch (error) {
      const reason = controller.signal.aborted && (isAbortError(error) || !(error instanceof AerobakError)) ? controller.signal.reason : error;
      const interrupted = reason instanceof InterruptedError || isAbortError(reason);
      const cancelled = interrupted && controller.signal.aborted && this.#accepting;
      this.#finish(entry, cancelled ? 'cancelled' : interrupted ? 'interrupted' : 'failed', reason);
    } finally {
      this.#running--;
      this.#pump();
    }
  }

  #finish(entry: Entry, status: JobStatus, error: unknown): void {
    const { record } = entry;
    record.status = status;
    record.finishedAt = this.now().toISOString();
    if (error !== undefined) record.error = describeError(error);
    try {
      this.hooks.onFinish?.(record, error);
    } finally {
      entry.resolve();
      this.#changed();
    }
  }

  /** Forgets the oldest finished jobs beyond the history size. */
  #evict(): void {
    if (this.#jobs.size <= HISTORY) return;
    for (const [id, e] of this.#jobs) {
      if (this.#jobs.size <= HISTORY) break;
      if (e.record.status !== 'queued' && e.record.status !== 'running') this.#jobs.delete(id);
    }
  }
}

/** A stable code and a one-line message for a job's error (the same codes as the CLI's --json). */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof AerobakError) return { code: error.code, message: error.message };
  if (error instanceof StorageError) return { code: `STORAGE_${error.code}`, message: error.message };
  if (isAbortError(error)) return { code: 'INTERRUPTED', message: 'interrupted' };
  return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error) };
}
