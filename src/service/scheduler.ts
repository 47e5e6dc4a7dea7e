/**
 * The scheduler: croner jobs per routine (full, incremental, verify, drill), each in the
 * routine's time zone, turning due times into service jobs.
 *
 * Rules (docs/service.md, "Scheduling"):
 * - Only the holder of a repository's lease starts work for its routines; a standby
 *   instance lets due times pass.
 * - No overlap: a backup due while one of the same routine is queued or running is
 *   skipped, logged and counted (aerobak_backup_runs_total{outcome="skipped_overlap"}).
 *   When a full and an incremental are due at the same second, the full is taken.
 * - A failed backup is retried after `retry.delay`, doubling up to `retry.max-delay`,
 *   at most `retry.attempts` times; a retry resumes the failed backup when it saved a
 *   state, and the next due run replaces a retry still waiting.
 * - Missed runs (the service was down): no catch-up of every missed time. When the lease
 *   is gained (at start), a routine whose schedule was due since its newest complete
 *   backup of that kind started runs once (the full if a full was missed, else an
 *   incremental), unless `on-missed: skip`. Backups the service started and did not
 *   finish (SIGTERM, crash) are resumed instead.
 */
import { Cron } from 'croner';
import { AerobakError } from '../errors.js';
import { BACKUP_STATE_FILE } from '../jobs/backup-state.js';
import { listBackups, type BackupListing } from '../jobs/list.js';
import { MANIFEST_FILE } from '../jobs/manifest.js';
import { openStore } from '../storage/index.js';
import type { RoutineConfig, Schedule, ServiceConfig } from './config.js';
import type { JobManager, JobRecord, JobTrigger } from './jobs.js';
import type { RepositoryLease } from './lease.js';
import type { Logger } from './log.js';
import { progressCounter, type ServiceMetrics } from './metrics.js';
import { Outcomes } from './outcomes.js';
import { backupJob, drillJob, newBackupLocation, newestComplete, verifyJob, type RepositoryRef, type RunnerDeps } from './runners.js';
import type { RepositoryState } from './state.js';
import type { Notifier } from './notify.js';

export type ScheduleKind = 'full' | 'incremental' | 'verify' | 'drill';

export interface SchedulerDeps {
  config: ServiceConfig;
  jobs: JobManager;
  metrics: ServiceMetrics;
  notifier: Notifier;
  states: ReadonlyMap<string, RepositoryState>;
  leases: ReadonlyMap<string, RepositoryLease>;
  log: Logger;
  runner?: RunnerDeps;
  now?: () => Date;
}

/** A backup could not be started: overlap, no lease, shutting down. */
export class TriggerRefused extends AerobakError {
  constructor(
    code: string,
    message: string,
    readonly job?: JobRecord,
  ) {
    super('failed', code, message);
  }
}

interface PendingRetry {
  at: Date;
  attempt: number;
  timer: NodeJS.Timeout;
}

export class Scheduler {
  readonly #crons = new Map<string, Map<ScheduleKind, Cron>>();
  readonly #retries = new Map<string, PendingRetry>();
  /** Repositories whose lease is held and whose state has been read: work may start. */
  readonly #ready = new Set<string>();
  readonly outcomes: Outcomes;
  #stopped = false;

  constructor(private readonly deps: SchedulerDeps) {
    this.outcomes = new Outcomes(deps);
  }

  #now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }

  repoOf(routine: RoutineConfig): RepositoryRef {
    return this.deps.config.repositories.get(routine.repository)!;
  }

  leaseHeld(repository: string): boolean {
    return this.#ready.has(repository) && (this.deps.leases.get(repository)?.held ?? false);
  }

  leaseLost(repository: string): void {
    this.#ready.delete(repository);
  }

  /** Creates the cron jobs of every routine. */
  start(): void {
    for (const routine of this.deps.config.routines.values()) {
      const crons = new Map<ScheduleKind, Cron>();
      const add = (kind: ScheduleKind, s: Schedule | undefined) => {
        if (!s) return;
        crons.set(kind, new Cron(s.cron, { timezone: s.timeZone, mode: '5-or-6-parts', catch: true, unref: true }, () => this.#due(routine, kind)));
      };
      add('full', routine.full);
      add('incremental', routine.incremental);
      add('verify', routine.verify);
      add('drill', routine.drill?.schedule);
      this.#crons.set(routine.name, crons);
      this.#updateNextRuns(routine.name);
    }
  }

  stop(): void {
    this.#stopped = true;
    for (const crons of this.#crons.values()) for (const c of crons.values()) c.stop();
    for (const r of this.#retries.values()) clearTimeout(r.timer);
    this.#retries.clear();
  }

  nextRun(routine: string, kind: ScheduleKind): Date | undefined {
    return this.#crons.get(routine)?.get(kind)?.nextRun() ?? undefined;
  }

  pendingRetry(routine: string): { at: string; attempt: number } | undefined {
    const r = this.#retries.get(routine);
    return r ? { at: r.at.toISOString(), attempt: r.attempt } : undefined;
  }

  #updateNextRuns(routine: string): void {
    for (const [kind, cron] of this.#crons.get(routine) ?? []) {
      const next = cron.nextRun();
      if (next) this.deps.metrics.nextRun.set({ routine, kind }, Math.floor(next.getTime() / 1000));
    }
  }

  #due(routine: RoutineConfig, kind: ScheduleKind): void {
    this.#updateNextRuns(routine.name);
    if (this.#stopped || !this.leaseHeld(routine.repository)) return;
    const at = this.#now();
    // A full and an incremental due at the same second: the full is taken.
    if (kind === 'incremental' && this.#crons.get(routine.name)?.get('full')?.match(new Date(Math.floor(at.getTime() / 1000) * 1000))) return;
    try {
      if (kind === 'full' || kind === 'incremental') this.triggerBackup(routine, kind, 'schedule');
      else if (kind === 'verify') this.triggerCheck(routine, 'verify', 'schedule');
      else this.triggerCheck(routine, 'drill', 'schedule');
    } catch (error) {
      if (!(error instanceof TriggerRefused)) this.deps.log('error', `routine ${routine.name}: cannot start the ${kind} run: ${(error as Error).message}`);
    }
  }

  /**
   * Queues a backup of the routine; throws TriggerRefused when one is already queued or
   * running (counted as skipped_overlap) or when this instance does not hold the lease.
   */
  triggerBackup(routine: RoutineConfig, kind: 'full' | 'incremental', trigger: JobTrigger, p: { attempt?: number; resume?: string } = {}): JobRecord {
    if (!this.leaseHeld(routine.repository)) {
      throw new TriggerRefused('NOT_LEASE_HOLDER', `this instance does not hold the scheduler lease of repository ${routine.repository}${this.#holderText(routine.repository)}`);
    }
    const active = this.deps.jobs.active((j) => j.kind === 'backup' && j.routine === routine.name)[0];
    if (active) {
      this.deps.metrics.runs.inc({ routine: routine.name, outcome: 'skipped_overlap' });
      this.deps.log('warn', `routine ${routine.name}: ${kind} backup skipped: the backup started at ${active.startedAt ?? active.createdAt} is still ${active.status}`, { routine: routine.name, job: active.id });
      throw new TriggerRefused('BACKUP_ALREADY_RUNNING', `a backup of routine ${routine.name} is already ${active.status} (job ${active.id})`, active);
    }
    const pending = this.#retries.get(routine.name);
    if (pending && trigger !== 'retry') {
      clearTimeout(pending.timer);
      this.#retries.delete(routine.name);
    }
    const repo = this.repoOf(routine);
    const cluster = this.deps.config.clusters.get(routine.cluster)!.options;
    const runner = this.deps.runner ?? {};
    const record = this.deps.jobs.submit(
      { kind: 'backup', routine: routine.name, repository: routine.repository, trigger, backupKind: kind, attempt: p.attempt ?? 0, ...(p.resume ? { location: p.resume } : {}) },
      async (ctx) => {
        const location = p.resume ?? (await newBackupLocation(repo, routine.namespace, this.#now(), runner));
        ctx.record.location = location;
        await this.outcomes.backupStarted(routine, ctx.record);
        return backupJob(ctx, { routine, cluster, repo, kind, location, resume: p.resume !== undefined }, { ...runner, counters: progressCounter(this.deps.metrics, routine.name, 'backup') });
      },
    );
    this.outcomes.watch(record.id, (job, error) => this.#backupFinished(routine, job, error));
    this.deps.log('info', `routine ${routine.name}: ${p.resume ? 'resume of an unfinished' : kind} backup queued (${trigger}${p.attempt ? `, retry ${p.attempt}` : ''})`, { routine: routine.name, job: record.id });
    return record;
  }

  /** Queues a verify or a drill of the routine's newest backup (one of each kind at a time). */
  triggerCheck(routine: RoutineConfig, kind: 'verify' | 'drill', trigger: JobTrigger): JobRecord {
    if (!this.leaseHeld(routine.repository)) throw new TriggerRefused('NOT_LEASE_HOLDER', `this instance does not hold the scheduler lease of repository ${routine.repository}`);
    if (kind === 'drill' && !routine.drill) throw new TriggerRefused('NO_DRILL', `routine ${routine.name} has no drill configured`);
    const active = this.deps.jobs.active((j) => j.kind === kind && j.routine === routine.name)[0];
    if (active) {
      this.deps.log('warn', `routine ${routine.name}: ${kind} skipped: the previous one is still ${active.status}`, { routine: routine.name, job: active.id });
      throw new TriggerRefused('ALREADY_RUNNING', `a ${kind} of routine ${routine.name} is already ${active.status} (job ${active.id})`, active);
    }
    const repo = this.repoOf(routine);
    const runner = { ...(this.deps.runner ?? {}), counters: progressCounter(this.deps.metrics, routine.name, kind) };
    const record = this.deps.jobs.submit({ kind, routine: routine.name, repository: routine.repository, trigger, attempt: 0 }, (ctx) =>
      kind === 'verify'
        ? verifyJob(ctx, { routine, repo }, runner)
        : drillJob(ctx, { routine, repo, cluster: this.deps.config.clusters.get(routine.drill!.cluster)!.options }, runner),
    );
    this.outcomes.watch(record.id, (job, error) => this.outcomes.checkFinished(routine, job, error));
    return record;
  }

  #holderText(repository: string): string {
    const h = this.deps.leases.get(repository)?.holder;
    return h ? ` (held by ${h.owner} until ${h.expiresAt})` : '';
  }

  #backupFinished(routine: RoutineConfig, job: JobRecord, error: unknown): void {
    this.outcomes.backupFinished(routine, job, error);
    if (job.status !== 'failed' || this.#stopped) return;
    if (error instanceof AerobakError && (error.kind === 'usage' || error.code === 'NOT_LEASE_HOLDER')) return;
    const { attempts, delayMs, maxDelayMs } = routine.retry;
    if (job.attempt >= attempts) {
      this.deps.log('error', `routine ${routine.name}: backup failed after ${job.attempt} retr${job.attempt === 1 ? 'y' : 'ies'}: ${job.error?.message}`, { routine: routine.name, job: job.id });
      return;
    }
    const attempt = job.attempt + 1;
    const wait = Math.min(maxDelayMs, delayMs * 2 ** job.attempt) * (1 + Math.random() * 0.1);
    const at = new Date(this.#now().getTime() + wait);
    const timer = setTimeout(() => {
      this.#retries.delete(routine.name);
      void this.#retry(routine, job, attempt);
    }, wait);
    timer.unref();
    this.#retries.set(routine.name, { at, attempt, timer });
    this.deps.metrics.retries.inc({ routine: routine.name });
    this.deps.log('warn', `routine ${routine.name}: backup failed (${job.error?.message}); retry ${attempt} of ${attempts} at ${at.toISOString()}`, { routine: routine.name, job: job.id });
  }

  /** A retry resumes the failed backup when it saved a state, else starts a new one. */
  async #retry(routine: RoutineConfig, failed: JobRecord, attempt: number): Promise<void> {
    if (this.#stopped) return;
    const resume = failed.location && (await this.#resumable(failed.location)) ? failed.location : undefined;
    try {
      this.triggerBackup(routine, failed.backupKind ?? 'incremental', 'retry', { attempt, ...(resume ? { resume } : {}) });
    } catch (error) {
      this.deps.log('warn', `routine ${routine.name}: retry ${attempt} not started: ${(error as Error).message}`, { routine: routine.name });
    }
  }

  async #resumable(location: string): Promise<boolean> {
    try {
      const store = await (this.deps.runner?.openStore ?? openStore)(location, 'read');
      return (await store.stat(BACKUP_STATE_FILE)) !== null && (await store.stat(MANIFEST_FILE)) === null;
    } catch {
      return false;
    }
  }

  /**
   * The start of work on a repository (its lease just gained): resumes the backups the
   * service left unfinished, then applies the missed-run rule to the other routines.
   */
  async leaseGained(repository: string): Promise<void> {
    const state = this.deps.states.get(repository)!;
    await state.load();
    this.#ready.add(repository);
    this.outcomes.seedFromState(repository);
    const repo = this.deps.config.repositories.get(repository)!;
    let listing: BackupListing[] = [];
    try {
      listing = await listBackups(repo.location, this.deps.runner?.openStore ? { openStore: this.deps.runner.openStore } : {});
    } catch (error) {
      this.deps.log('warn', `repository ${repository}: cannot list its backups (${(error as Error).message}); no missed-run check`, { repository });
    }
    for (const routine of this.deps.config.routines.values()) {
      if (routine.repository !== repository || this.#stopped) continue;
      this.outcomes.seedFromListing(routine, listing);
      try {
        if (await this.#resumeUnfinished(routine, state)) continue;
        const missed = this.#missedKind(routine, listing);
        if (missed) {
          this.deps.log('info', `routine ${routine.name}: a ${missed} backup was due while the service was down: running one now (on-missed: run-once)`, { routine: routine.name });
          this.triggerBackup(routine, missed, 'startup');
        }
      } catch (error) {
        if (!(error instanceof TriggerRefused)) this.deps.log('error', `routine ${routine.name}: start-up run not started: ${(error as Error).message}`, { routine: routine.name });
      }
    }
  }

  async #resumeUnfinished(routine: RoutineConfig, state: RepositoryState): Promise<boolean> {
    const unfinished = state.routine(routine.name).unfinished ?? [];
    for (const u of unfinished) {
      if (await this.#resumable(u.location)) {
        this.deps.log('info', `routine ${routine.name}: resuming the backup ${u.reason === 'interrupted' ? 'interrupted at shutdown' : 'left running by a stopped service'}: ${u.location}`, { routine: routine.name });
        this.triggerBackup(routine, u.kind ?? 'incremental', 'resume', { resume: u.location });
        return true;
      }
      this.deps.log('info', `routine ${routine.name}: ${u.location} is not resumable (complete, removed or without state): forgotten`, { routine: routine.name });
      state.removeUnfinished(routine.name, u.location);
    }
    if (unfinished.length > 0) await state.save();
    return false;
  }

  /** The kind of backup to run once at start under the missed-run rule, if any. */
  #missedKind(routine: RoutineConfig, listing: readonly BackupListing[]): 'full' | 'incremental' | undefined {
    if (routine.onMissed === 'skip') return undefined;
    const now = this.#now();
    const crons = this.#crons.get(routine.name);
    const previous = (kind: 'full' | 'incremental') => crons?.get(kind)?.previousRuns(1, now)[0];
    const startedBefore = (b: { startedAt: string } | undefined, due: Date) => !b || Date.parse(b.startedAt) < due.getTime();
    const dueFull = previous('full');
    if (dueFull && startedBefore(newestComplete(routine, listing, 'full'), dueFull)) return 'full';
    const dueIncremental = previous('incremental');
    if (dueIncremental && startedBefore(newestComplete(routine, listing), dueIncremental)) return 'incremental';
    return undefined;
  }
}
