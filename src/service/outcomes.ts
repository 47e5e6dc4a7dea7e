/**
 * What the end (and start) of a job changes besides the job's own record: the metrics,
 * the repository's service state (last success and failure, unfinished backups, job
 * history) and the failure notifications. One place, so that a backup finished by a
 * cron, an API call, a retry or a resume is accounted for the same way.
 *
 * The state is written only while this instance holds the repository's lease.
 */
import type { BackupListing } from '../jobs/list.js';
import type { RoutineConfig } from './config.js';
import type { JobRecord } from './jobs.js';
import type { BackupJobResult, DrillResult } from './runners.js';
import { newestComplete } from './runners.js';
import type { SchedulerDeps } from './scheduler.js';

type Watcher = (job: JobRecord, error: unknown) => void;

const seconds = (iso: string | number) => Math.floor((typeof iso === 'number' ? iso : Date.parse(iso)) / 1000);

export class Outcomes {
  readonly #watchers = new Map<string, Watcher>();

  constructor(private readonly deps: SchedulerDeps) {}

  /** Calls `fn` when the job finishes (JobManager's onFinish dispatches here). */
  watch(id: string, fn: Watcher): void {
    this.#watchers.set(id, fn);
  }

  /** JobManager hook. */
  onStart(job: JobRecord): void {
    if (job.kind === 'backup' && job.routine) this.deps.metrics.running.set({ routine: job.routine }, 1);
    this.deps.log('info', `job ${job.id} started: ${job.kind}${job.backupKind ? ` (${job.backupKind})` : ''}${job.routine ? ` of routine ${job.routine}` : ''}`, { job: job.id, routine: job.routine });
  }

  /** JobManager hook. */
  onFinish(job: JobRecord, error: unknown): void {
    const fn = this.#watchers.get(job.id);
    this.#watchers.delete(job.id);
    const level = job.status === 'failed' ? 'error' : job.status === 'succeeded' ? 'info' : 'warn';
    this.deps.log(level, `job ${job.id} ${job.status}: ${job.kind}${job.routine ? ` of routine ${job.routine}` : ''}${job.error ? `: ${job.error.message}` : ''}`, { job: job.id, routine: job.routine, location: job.location });
    try {
      fn?.(job, error);
    } finally {
      this.#record(job);
    }
  }

  #state(repository: string) {
    return this.deps.leases.get(repository)?.held ? this.deps.states.get(repository) : undefined;
  }

  #record(job: JobRecord): void {
    const state = this.#state(job.repository);
    if (!state) return;
    state.recordJob(job);
    void state.save();
  }

  /** The location is known and about to be written: remember it as unfinished, first. */
  async backupStarted(routine: RoutineConfig, job: JobRecord): Promise<void> {
    const state = this.#state(routine.repository);
    if (!state || !job.location) return;
    state.addUnfinished(routine.name, { location: job.location, jobId: job.id, startedAt: job.startedAt ?? new Date().toISOString(), ...(job.backupKind ? { kind: job.backupKind } : {}), reason: 'running' });
    state.recordJob(job);
    await state.save();
  }

  backupFinished(routine: RoutineConfig, job: JobRecord, _error: unknown): void {
    const { metrics } = this.deps;
    const name = routine.name;
    metrics.running.set({ routine: name }, 0);
    const state = this.#state(routine.repository);
    const r = state?.routine(name);
    const finishedAt = job.finishedAt ?? new Date().toISOString();
    const outcome = job.status === 'succeeded' ? 'success' : job.status === 'failed' ? 'failure' : job.status === 'cancelled' ? 'cancelled' : 'interrupted';
    metrics.runs.inc({ routine: name, outcome });
    if (job.status === 'succeeded') {
      const s = job.result as BackupJobResult;
      metrics.lastSuccess.set({ routine: name }, seconds(finishedAt));
      metrics.lastDuration.set({ routine: name }, s.durationMs / 1000);
      metrics.lastRecords.set({ routine: name }, s.records);
      metrics.lastBytes.set({ routine: name }, s.bytes);
      metrics.lastFiles.set({ routine: name }, s.files);
      if (r) {
        r.lastSuccessAt = finishedAt;
        r.lastRun = { jobId: job.id, kind: s.kind, location: s.location, records: s.records, bytes: s.bytes, files: s.files, durationMs: s.durationMs, status: job.status, finishedAt };
      }
      if (s.prune) {
        metrics.pruneRuns.inc({ routine: name, outcome: 'success' });
        if (s.prune.deleted.length > 0) metrics.pruneDeleted.inc({ routine: name }, s.prune.deleted.length);
      }
      if (s.pruneError) {
        metrics.pruneRuns.inc({ routine: name, outcome: 'failure' });
        this.deps.notifier.send(routine.notify, { routine: name, text: `retention of routine ${name} failed after its backup: ${s.pruneError.message}` });
      }
      if (routine.notify?.onSuccess) {
        this.deps.notifier.send(routine.notify, { routine: name, text: `routine ${name}: ${s.kind} backup complete, ${s.records} records, ${s.bytes} bytes, at ${s.location}` });
      }
    } else if (job.status === 'failed') {
      metrics.lastFailure.set({ routine: name }, seconds(finishedAt));
      if (r) {
        r.lastFailureAt = finishedAt;
        if (job.error) r.lastError = job.error;
        r.lastRun = { jobId: job.id, kind: job.backupKind ?? 'backup', ...(job.location ? { location: job.location } : {}), status: job.status, finishedAt };
      }
      this.deps.notifier.send(routine.notify, {
        routine: name,
        text: `routine ${name}: ${job.backupKind ?? ''} backup failed${job.attempt > 0 ? ` (retry ${job.attempt})` : ''}: ${job.error?.message ?? 'unknown error'}`,
      });
    }
    if (state && job.location) {
      // Interrupted (SIGTERM): kept, resumed at the next start. Done, failed or cancelled: forgotten.
      if (job.status === 'interrupted') state.addUnfinished(name, { location: job.location, jobId: job.id, startedAt: job.startedAt ?? finishedAt, ...(job.backupKind ? { kind: job.backupKind } : {}), reason: 'interrupted' });
      else state.removeUnfinished(name, job.location);
    }
  }

  /** A verify or a drill ended. */
  checkFinished(routine: RoutineConfig, job: JobRecord, error: unknown): void {
    const { metrics } = this.deps;
    const name = routine.name;
    if (job.status !== 'succeeded' && job.status !== 'failed') return;
    const ok = job.status === 'succeeded';
    const at = job.finishedAt ?? new Date().toISOString();
    const r = this.#state(routine.repository)?.routine(name);
    if (job.kind === 'verify') {
      metrics.verifyRuns.inc({ routine: name, outcome: ok ? 'success' : 'failure' });
      if (ok) metrics.verifyLastSuccess.set({ routine: name }, seconds(at));
      if (r) r.lastVerify = { at, ok, ...(job.location ? { location: job.location } : {}), ...(job.error ? { message: job.error.message } : {}) };
    } else {
      metrics.drillRuns.inc({ routine: name, outcome: ok ? 'success' : 'failure' });
      const result = (ok ? job.result : (error as { result?: DrillResult } | undefined)?.result) as DrillResult | undefined;
      if (result) metrics.drillDifference.set({ routine: name }, result.found - result.expected);
      if (ok) metrics.drillLastSuccess.set({ routine: name }, seconds(at));
      if (r) r.lastDrill = { at, ok, ...(result ? { expected: result.expected, found: result.found } : {}), ...(job.error ? { message: job.error.message } : {}) };
    }
    if (!ok) this.deps.notifier.send(routine.notify, { routine: name, text: `routine ${name}: ${job.kind === 'verify' ? 'verify of the newest backup' : 'restore drill'} failed: ${job.error?.message ?? 'unknown error'}` });
  }

  /** After a restart: the last failures and the job history from the repository's state. */
  seedFromState(repository: string): void {
    const state = this.deps.states.get(repository);
    if (!state) return;
    for (const [name, r] of Object.entries(state.state.routines)) {
      if (!this.deps.config.routines.has(name)) continue;
      if (r.lastFailureAt) this.deps.metrics.lastFailure.set({ routine: name }, seconds(r.lastFailureAt));
      if (r.lastVerify?.ok) this.deps.metrics.verifyLastSuccess.set({ routine: name }, seconds(r.lastVerify.at));
      if (r.lastDrill?.ok) this.deps.metrics.drillLastSuccess.set({ routine: name }, seconds(r.lastDrill.at));
    }
    this.deps.jobs.adopt(state.state.jobs);
  }

  /** The last success is the newest complete backup in the repository, whoever made it. */
  seedFromListing(routine: RoutineConfig, listing: readonly BackupListing[]): void {
    const newest = newestComplete(routine, listing);
    if (!newest) return;
    this.deps.metrics.lastSuccess.set({ routine: routine.name }, seconds(newest.finishedAt));
    this.deps.metrics.lastRecords.set({ routine: routine.name }, newest.records);
    this.deps.metrics.lastBytes.set({ routine: routine.name }, newest.bytes);
    this.deps.metrics.lastFiles.set({ routine: routine.name }, newest.files);
  }
}
