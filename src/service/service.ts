/**
 * `aerobak serve` as an object: the configuration brought to life. It opens every
 * repository (the bucket must exist and the credentials work, or the start fails), takes
 * the repositories' leases, starts the scheduler and the HTTP API, and stops all of it
 * in order on shutdown:
 *
 *   stop(): crons stopped ─> no new jobs (API answers 503) ─> running jobs aborted, waited
 *   for up to shutdown-timeout ─> state written (interrupted backups marked, to resume at
 *   the next start) ─> leases released ─> notifications flushed (2 s) ─> HTTP closed
 *
 * serve.ts bounds the whole at shutdown-timeout + SHUTDOWN_GRACE_MS and exits anyway.
 */
import { once } from 'node:events';
import type { Server } from 'node:http';
import { ensureRepository } from '../catalog/repository.js';
import { AerobakError } from '../errors.js';
import { listBackups } from '../jobs/list.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { createApi } from './api.js';
import type { ServiceConfig } from './config.js';
import { JobManager } from './jobs.js';
import { RepositoryLease, newOwnerId } from './lease.js';
import type { Logger } from './log.js';
import { ServiceMetrics } from './metrics.js';
import { Notifier } from './notify.js';
import { Scheduler } from './scheduler.js';
import { RepositoryState } from './state.js';

export interface ServiceDeps {
  log: Logger;
  openStore?: StoreOpener;
  now?: () => Date;
  fetch?: typeof fetch;
  /** Owner id of the leases; default host/pid/random. */
  owner?: string;
  /** Lease takeover settle time (tests). */
  leaseSettleMs?: number;
}

export class Service {
  readonly metrics = new ServiceMetrics();
  readonly jobs: JobManager;
  readonly notifier: Notifier;
  readonly leases = new Map<string, RepositoryLease>();
  readonly states = new Map<string, RepositoryState>();
  readonly scheduler: Scheduler;
  readonly owner: string;
  readonly startedAt = new Date();
  #server: Server | undefined;
  #stopping: Promise<{ clean: boolean }> | undefined;

  private constructor(
    readonly config: ServiceConfig,
    readonly deps: ServiceDeps,
  ) {
    this.owner = deps.owner ?? newOwnerId();
    this.notifier = new Notifier((m) => deps.log('warn', m), () => this.metrics.notifyFailures.inc(), deps.fetch);
    // The hooks reach the scheduler, created just below.
    this.jobs = new JobManager(
      config.maxConcurrentJobs,
      {
        beforeStart: async (job) => job.kind === 'restore' || (await (this.leases.get(job.repository)?.confirm() ?? Promise.resolve(false))),
        onStart: (job) => this.scheduler.outcomes.onStart(job),
        onFinish: (job, error) => this.scheduler.outcomes.onFinish(job, error),
        onQueueChange: (queued, running) => {
          this.metrics.jobsQueued.set(queued);
          this.metrics.jobsRunning.set(running);
        },
      },
      deps.now,
    );
    this.scheduler = new Scheduler({
      config,
      jobs: this.jobs,
      metrics: this.metrics,
      notifier: this.notifier,
      states: this.states,
      leases: this.leases,
      log: deps.log,
      runner: { ...(deps.openStore ? { openStore: deps.openStore } : {}), ...(deps.now ? { now: deps.now } : {}) },
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  static async start(config: ServiceConfig, deps: ServiceDeps): Promise<Service> {
    const service = new Service(config, deps);
    try {
      await service.#start();
    } catch (error) {
      await service.stop('the start failed').catch(() => undefined);
      throw error;
    }
    return service;
  }

  async #start(): Promise<void> {
    const { config, deps } = this;
    const open = deps.openStore ?? openStore;
    const stores = new Map<string, ObjectStore>();
    for (const repo of config.repositories.values()) {
      const store = await open(repo.location, 'write');
      if (!store.capabilities.exclusiveCreate) {
        throw new AerobakError('storage', 'NO_EXCLUSIVE_CREATE', `repository ${repo.name} (${repo.location}) cannot create objects exclusively, which the scheduler lease needs`);
      }
      // A repository from the start (the marker), so that list, prune and restore --at see one.
      await ensureRepository(store, new Date());
      stores.set(repo.name, store);
    }
    for (const routine of config.routines.values()) this.metrics.declareRoutine(routine.name, routine.repository);
    this.#server = createApi(this);
    await this.#listen();
    this.scheduler.start();
    for (const repo of config.repositories.values()) {
      const store = stores.get(repo.name)!;
      this.states.set(repo.name, new RepositoryState(store, this.owner, (m) => deps.log('warn', m, { repository: repo.name })));
      const lease = new RepositoryLease(store, repo.name, {
        owner: this.owner,
        ttlMs: config.leaseTtlMs,
        ...(deps.now ? { now: deps.now } : {}),
        ...(deps.leaseSettleMs !== undefined ? { settleMs: deps.leaseSettleMs } : {}),
        log: (m) => deps.log('warn', m, { repository: repo.name }),
        onChange: (held) => this.#leaseChanged(repo.name, held),
      });
      this.leases.set(repo.name, lease);
    }
    // Metrics of routines whose lease another instance holds come from the listings too.
    for (const repo of config.repositories.values()) {
      void listBackups(repo.location, deps.openStore ? { openStore: deps.openStore } : {})
        .then((listing) => {
          for (const r of config.routines.values()) if (r.repository === repo.name) this.scheduler.outcomes.seedFromListing(r, listing);
        })
        .catch(() => undefined);
    }
    await Promise.all([...this.leases.values()].map((l) => l.start()));
  }

  async #listen(): Promise<void> {
    const server = this.#server!;
    const { host, port } = this.config.http;
    server.listen(port, host);
    try {
      await Promise.race([once(server, 'listening'), once(server, 'error').then(([e]) => Promise.reject(e as Error))]);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new AerobakError('usage', 'LISTEN_FAILED', `${this.config.file}: http.listen ${host}:${port}: cannot listen there (${code === 'EADDRINUSE' ? 'the address is in use' : code === 'EADDRNOTAVAIL' ? 'no such address on this machine' : code === 'EACCES' ? 'permission denied' : (error as Error).message})`);
    }
  }

  #leaseChanged(repository: string, held: boolean): void {
    this.metrics.leaseHeld.set({ repository }, held ? 1 : 0);
    if (held) {
      this.deps.log('info', `holding the scheduler lease of repository ${repository}: scheduling its routines`, { repository, owner: this.owner });
      if (!this.stopping) void this.scheduler.leaseGained(repository).catch((e: unknown) => this.deps.log('error', `repository ${repository}: ${(e as Error).message}`));
      return;
    }
    this.scheduler.leaseLost(repository);
    if (this.stopping) return;
    this.deps.log('warn', `no longer holding the scheduler lease of repository ${repository}: stopping its jobs`, { repository });
    for (const job of this.jobs.active((j) => j.repository === repository && j.kind !== 'restore')) this.jobs.cancel(job.id, `lost the scheduler lease of repository ${repository}`);
  }

  /** The address the API listens on (the port is the real one when 0 was configured). */
  address(): { host: string; port: number } {
    const a = this.#server?.address();
    return a && typeof a === 'object' ? { host: a.address, port: a.port } : { host: this.config.http.host, port: this.config.http.port };
  }

  /** Stops everything (see the header); idempotent. `clean` is false when jobs outlived the timeout. */
  stop(reason: string): Promise<{ clean: boolean }> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<{ clean: boolean }> {
    const { log } = this.deps;
    log('info', `stopping (${reason}): no new jobs; running ones are interrupted (waiting up to ${this.config.shutdownTimeoutMs / 1000} s)`);
    this.scheduler.stop();
    const left = await this.jobs.shutdown(reason, this.config.shutdownTimeoutMs);
    if (left.length > 0) log('error', `jobs still running after ${this.config.shutdownTimeoutMs / 1000} s: ${left.join(', ')}; exiting anyway (their backups stay resumable)`);
    for (const state of this.states.values()) await state.save().catch(() => undefined);
    await Promise.all([...this.leases.values()].map((l) => l.release()));
    await this.notifier.flush(2000);
    const server = this.#server;
    if (server) {
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    }
    log('info', 'stopped');
    return { clean: left.length === 0 };
  }
}
