/**
 * The service's Prometheus metrics (docs/service.md, "Metrics"), on a registry of its own
 * (prom-client): per routine the last success and failure times, the last run's
 * duration, records, bytes and files, runs by outcome, retries; running counters of the
 * records and bytes processed, so that `rate()` gives a running job's speed; verify,
 * drill and prune outcomes; queue and lease gauges; and the process metrics
 * (collectDefaultMetrics).
 *
 * Labels are bounded by the configuration: routine, repository, kind, operation,
 * outcome. Never a job id or a backup location, which would grow without end.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export type RunOutcome = 'success' | 'failure' | 'skipped_overlap' | 'cancelled' | 'interrupted';
export type Operation = 'backup' | 'restore' | 'verify' | 'drill';

export class ServiceMetrics {
  readonly registry = new Registry();
  readonly lastSuccess: Gauge<'routine'>;
  readonly lastFailure: Gauge<'routine'>;
  readonly lastDuration: Gauge<'routine'>;
  readonly lastRecords: Gauge<'routine'>;
  readonly lastBytes: Gauge<'routine'>;
  readonly lastFiles: Gauge<'routine'>;
  readonly runs: Counter<'routine' | 'outcome'>;
  readonly retries: Counter<'routine'>;
  readonly running: Gauge<'routine'>;
  readonly records: Counter<'routine' | 'operation'>;
  readonly bytes: Counter<'routine' | 'operation'>;
  readonly verifyLastSuccess: Gauge<'routine'>;
  readonly verifyRuns: Counter<'routine' | 'outcome'>;
  readonly drillLastSuccess: Gauge<'routine'>;
  readonly drillRuns: Counter<'routine' | 'outcome'>;
  readonly drillDifference: Gauge<'routine'>;
  readonly pruneRuns: Counter<'routine' | 'outcome'>;
  readonly pruneDeleted: Counter<'routine'>;
  readonly nextRun: Gauge<'routine' | 'kind'>;
  readonly jobsQueued: Gauge;
  readonly jobsRunning: Gauge;
  readonly leaseHeld: Gauge<'repository'>;
  readonly notifyFailures: Counter;

  constructor() {
    const registers = [this.registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers });
    this.lastSuccess = gauge('aerobak_backup_last_success_timestamp_seconds', 'Unix time the newest complete backup of the routine finished (0: none yet)', ['routine']);
    this.lastFailure = gauge('aerobak_backup_last_failure_timestamp_seconds', 'Unix time the last failed backup run of the routine ended (0: none recorded)', ['routine']);
    this.lastDuration = gauge('aerobak_backup_last_duration_seconds', 'Duration of the last successful backup run of the routine', ['routine']);
    this.lastRecords = gauge('aerobak_backup_last_records', 'Records in the last successful backup of the routine', ['routine']);
    this.lastBytes = gauge('aerobak_backup_last_bytes', 'Stored bytes of the last successful backup of the routine', ['routine']);
    this.lastFiles = gauge('aerobak_backup_last_files', 'Data files of the last successful backup of the routine', ['routine']);
    this.runs = counter('aerobak_backup_runs_total', 'Backup runs of the routine by outcome: success, failure, skipped_overlap, cancelled, interrupted', ['routine', 'outcome']);
    this.retries = counter('aerobak_backup_retries_total', 'Retries scheduled after a failed backup run', ['routine']);
    this.running = gauge('aerobak_backup_running', '1 while a backup of the routine runs', ['routine']);
    this.records = counter('aerobak_records_processed_total', 'Records read by backups, written by restores, decoded by verifies, per routine and operation', ['routine', 'operation']);
    this.bytes = counter('aerobak_bytes_processed_total', 'Bytes moved by backups and restores, read by verifies, per routine and operation', ['routine', 'operation']);
    this.verifyLastSuccess = gauge('aerobak_verify_last_success_timestamp_seconds', 'Unix time the last verify of the routine\'s newest backup passed', ['routine']);
    this.verifyRuns = counter('aerobak_verify_runs_total', 'Scheduled verifies by outcome: success, failure', ['routine', 'outcome']);
    this.drillLastSuccess = gauge('aerobak_drill_last_success_timestamp_seconds', 'Unix time the last restore drill of the routine matched its record count', ['routine']);
    this.drillRuns = counter('aerobak_drill_runs_total', 'Restore drills by outcome: success, failure (counts differ or the restore failed)', ['routine', 'outcome']);
    this.drillDifference = gauge('aerobak_drill_record_difference', 'Records found in the scratch namespace minus records expected, at the last drill', ['routine']);
    this.pruneRuns = counter('aerobak_prune_runs_total', 'Retention runs after a successful backup, by outcome', ['routine', 'outcome']);
    this.pruneDeleted = counter('aerobak_prune_deleted_backups_total', 'Backups deleted by retention', ['routine']);
    this.nextRun = gauge('aerobak_routine_next_run_timestamp_seconds', 'Unix time of the next scheduled run, by kind (full, incremental, verify, drill)', ['routine', 'kind']);
    this.jobsQueued = new Gauge({ name: 'aerobak_jobs_queued', help: 'Jobs waiting for a slot (max-concurrent-jobs)', registers });
    this.jobsRunning = new Gauge({ name: 'aerobak_jobs_running', help: 'Jobs running', registers });
    this.leaseHeld = gauge('aerobak_lease_held', '1 while this instance holds the repository\'s scheduler lease', ['repository']);
    this.notifyFailures = new Counter({ name: 'aerobak_notify_failures_total', help: 'Webhook notifications that could not be delivered', registers });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Zero series for every routine, so that dashboards and `absent()`-free alerts see them from the start. */
  declareRoutine(routine: string, repository: string): void {
    this.lastSuccess.set({ routine }, 0);
    this.lastFailure.set({ routine }, 0);
    this.running.set({ routine }, 0);
    for (const outcome of ['success', 'failure', 'skipped_overlap'] as const) this.runs.inc({ routine, outcome }, 0);
    this.retries.inc({ routine }, 0);
    this.records.inc({ routine, operation: 'backup' }, 0);
    this.bytes.inc({ routine, operation: 'backup' }, 0);
    this.leaseHeld.set({ repository }, 0);
  }

  /** Text exposition format, and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * Feeds a job's progress views (absolute counts) into the processed-records and -bytes
 * counters as deltas, so a counter keeps rising across jobs and `rate()` works.
 */
export function progressCounter(metrics: ServiceMetrics, routine: string, operation: Operation): (records: number, bytes: number) => void {
  let seenRecords = 0;
  let seenBytes = 0;
  return (records, bytes) => {
    if (records > seenRecords) metrics.records.inc({ routine, operation }, records - seenRecords);
    if (bytes > seenBytes) metrics.bytes.inc({ routine, operation }, bytes - seenBytes);
    seenRecords = Math.max(seenRecords, records);
    seenBytes = Math.max(seenBytes, bytes);
  };
}
