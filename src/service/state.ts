/**
 * What the service remembers across restarts, kept in the repository itself (so a new
 * machine or pod that takes the lease over knows it too), next to the lease:
 *
 *   <repo>/aerobak-serve-state.json
 *     routines: per routine the last success and failure (time, error), the last run's
 *               counts, and the backups it started that have not finished (resumed at
 *               the next start)
 *     jobs:     the most recent jobs of the repository (for GET /v1/jobs after a restart)
 *
 * Only the lease holder writes it, and one writer per process (writes are serialised).
 * The catalog itself (which backups exist, complete or not, their chains) is never
 * copied here: it is read from the repository with listBackups. A missing or unreadable
 * state file is an empty state, so deleting it loses history, not backups.
 */
import { StorageError } from '../storage/errors.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore } from '../storage/types.js';
import type { JobRecord } from './jobs.js';

export const SERVE_STATE_FILE = 'aerobak-serve-state.json';
export const SERVE_STATE_FORMAT = 'aerobak-serve-state';
const JOBS_KEPT = 100;

export interface UnfinishedBackup {
  location: string;
  jobId: string;
  startedAt: string;
  kind?: 'full' | 'incremental';
  /** running: the process died with it (or still runs it); interrupted: stopped by SIGTERM. */
  reason: 'running' | 'interrupted';
}

export interface RoutineState {
  lastSuccessAt?: string;
  lastFailureAt?: string;
  lastError?: { code: string; message: string };
  lastRun?: { jobId: string; kind: string; location?: string; records?: number; bytes?: number; files?: number; durationMs?: number; status: string; finishedAt?: string };
  lastVerify?: { at: string; ok: boolean; location?: string; message?: string };
  lastDrill?: { at: string; ok: boolean; expected?: number; found?: number; message?: string };
  unfinished?: UnfinishedBackup[];
}

export interface ServeState {
  format: typeof SERVE_STATE_FORMAT;
  formatVersion: 1;
  updatedAt: string;
  owner: string;
  routines: Record<string, RoutineState>;
  jobs: JobRecord[];
}

export function emptyState(owner: string): ServeState {
  return { format: SERVE_STATE_FORMAT, formatVersion: 1, updatedAt: new Date(0).toISOString(), owner, routines: {}, jobs: [] };
}

/** The state of one repository, read once at start, then written through after each change. */
export class RepositoryState {
  state: ServeState;
  #writing: Promise<void> = Promise.resolve();
  #dirty = false;
  /** Nothing is written before the stored state has been read: it would be overwritten. */
  #loaded = false;

  constructor(
    readonly store: ObjectStore,
    private readonly owner: string,
    private readonly log: (message: string) => void,
  ) {
    this.state = emptyState(owner);
  }

  /** Reads the stored state (three tries on a storage error; then an empty state, said in the log). */
  async load(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const value = JSON.parse((await readAll(await this.store.read(SERVE_STATE_FILE))).toString('utf8')) as ServeState;
        if (value?.format === SERVE_STATE_FORMAT && typeof value.routines === 'object' && Array.isArray(value.jobs)) this.state = value;
        else this.log(`${this.store.location}/${SERVE_STATE_FILE} is not a service state: starting from an empty one`);
        break;
      } catch (error) {
        if (error instanceof StorageError && error.code === 'NOT_FOUND') break;
        if (error instanceof SyntaxError || attempt >= 3) {
          this.log(`cannot read ${this.store.location}/${SERVE_STATE_FILE} (${(error as Error).message}): starting from an empty state`);
          break;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    this.#loaded = true;
  }

  routine(name: string): RoutineState {
    return (this.state.routines[name] ??= {});
  }

  /** Records a job (replacing its earlier record); keeps the newest JOBS_KEPT. */
  recordJob(job: JobRecord): void {
    const { progress: _progress, notes: _notes, ...kept } = job;
    const jobs = this.state.jobs.filter((j) => j.id !== job.id);
    jobs.push(kept);
    this.state.jobs = jobs.slice(-JOBS_KEPT);
  }

  addUnfinished(routine: string, u: UnfinishedBackup): void {
    const r = this.routine(routine);
    r.unfinished = [...(r.unfinished ?? []).filter((x) => x.location !== u.location), u];
  }

  removeUnfinished(routine: string, location: string): void {
    const r = this.routine(routine);
    r.unfinished = (r.unfinished ?? []).filter((x) => x.location !== location);
    if (r.unfinished.length === 0) delete r.unfinished;
  }

  /** Writes the state (coalescing writes that come while one is in flight). */
  save(): Promise<void> {
    if (!this.#loaded) return this.#writing;
    this.#dirty = true;
    this.#writing = this.#writing.then(async () => {
      if (!this.#dirty) return;
      this.#dirty = false;
      this.state.updatedAt = new Date().toISOString();
      this.state.owner = this.owner;
      try {
        await this.store.write(SERVE_STATE_FILE, [Buffer.from(`${JSON.stringify(this.state, null, 1)}\n`)]);
      } catch (error) {
        this.log(`cannot write ${this.store.location}/${SERVE_STATE_FILE}: ${(error as Error).message}`);
      }
    });
    return this.#writing;
  }
}
