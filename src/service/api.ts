/**
 * The REST API of `aerobak serve` (node:http, JSON; the contract is openapi.ts, served at
 * /openapi.json and kept as openapi/aerobak-serve.json):
 *
 *   GET  /                                 no token: the status page (status-page.ts)
 *   GET  /healthz                          no token: {"status":"ok"|"stopping"}
 *   GET  /metrics                          Prometheus text
 *   GET  /openapi.json
 *   GET  /v1/routines                      with next and last runs
 *   GET  /v1/routines/{name}
 *   GET  /v1/routines/{name}/backups       the routine's backups, with chains
 *   POST /v1/routines/{name}/backups       {"kind":"full"|"incremental"} → 202 job
 *   POST /v1/routines/{name}/verify        → 202 job
 *   POST /v1/routines/{name}/drill         → 202 job
 *   GET  /v1/repositories
 *   GET  /v1/repositories/{name}/backups
 *   POST /v1/restores                      a backup or a point in time, into a namespace → 202 job
 *   GET  /v1/jobs                          ?routine=&status=&kind=
 *   GET  /v1/jobs/{id}                     status and progress
 *   POST /v1/jobs/{id}/cancel
 *
 * Every route but /healthz and the status page needs `Authorization: Bearer <token>`,
 * compared in constant time (SHA-256 of both sides, timingSafeEqual); without it: 401.
 * Nothing returned holds a secret: no password, key, token or webhook URL is ever part
 * of a response.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { AerobakError } from '../errors.js';
import { listBackups, type BackupListing } from '../jobs/list.js';
import { RestoreRequestError, restoreRequest } from './restore-request.js';
import { routineBackups, restoreJob } from './runners.js';
import { TriggerRefused } from './scheduler.js';
import { ShuttingDownError, type JobRecord } from './jobs.js';
import { OPENAPI } from './openapi.js';
import { STATUS_PAGE_HTML } from './status-page.js';
import type { Service } from './service.js';
import type { RoutineConfig } from './config.js';

const MAX_BODY = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

type Handler = (ctx: { service: Service; params: string[]; query: URLSearchParams; body: () => Promise<Record<string, unknown>> }) => Promise<[number, unknown]>;

interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  handler: Handler;
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** Constant-time check of `Authorization: Bearer <token>`. */
export function authorized(header: string | undefined, token: string): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  // Both sides hashed first: equal lengths for timingSafeEqual, and no early exit on a length difference.
  return timingSafeEqual(digest(m ? m[1]! : ''), digest(token)) && m !== null;
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body, null, 1)}\n`;
  res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new HttpError(413, 'BODY_TOO_LARGE', `the request body is larger than ${MAX_BODY} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (text === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'BAD_JSON', 'the request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new HttpError(400, 'BAD_REQUEST', 'the request body must be a JSON object');
  return value as Record<string, unknown>;
}

function routineOf(service: Service, name: string): RoutineConfig {
  const r = service.config.routines.get(name);
  if (!r) throw new HttpError(404, 'NO_SUCH_ROUTINE', `no routine is named "${name}"`);
  return r;
}

/** A routine as the API shows it: configuration without secrets, next and last runs. */
export function describeRoutine(service: Service, r: RoutineConfig): Record<string, unknown> {
  const state = service.states.get(r.repository)?.state.routines[r.name];
  const schedule = (kind: 'full' | 'incremental' | 'verify' | 'drill', s: { cron: string; timeZone: string } | undefined) =>
    s ? { cron: s.cron, timeZone: s.timeZone, next: service.scheduler.nextRun(r.name, kind)?.toISOString() ?? null } : undefined;
  const active = service.jobs.active((j) => j.routine === r.name);
  return {
    name: r.name,
    cluster: r.cluster,
    namespace: r.namespace,
    sets: r.sets,
    repository: r.repository,
    schedules: { full: schedule('full', r.full), incremental: schedule('incremental', r.incremental), verify: schedule('verify', r.verify), drill: schedule('drill', r.drill?.schedule) },
    ...(r.drill ? { drill: { namespace: r.drill.namespace, cluster: r.drill.cluster } } : {}),
    ...(r.retention ? { retention: r.retention.policy } : {}),
    trackDeletes: r.trackDeletes,
    leaseHeld: service.scheduler.leaseHeld(r.repository),
    activeJobs: active.map((j) => ({ id: j.id, kind: j.kind, status: j.status })),
    lastSuccessAt: state?.lastSuccessAt ?? null,
    lastFailureAt: state?.lastFailureAt ?? null,
    lastError: state?.lastError ?? null,
    lastRun: state?.lastRun ?? null,
    lastVerify: state?.lastVerify ?? null,
    lastDrill: state?.lastDrill ?? null,
    pendingRetry: service.scheduler.pendingRetry(r.name) ?? null,
  };
}

/** Backups with their chains: each chain is its full and the incrementals built on it, oldest first. */
function withChains(listing: readonly BackupListing[]): { backups: BackupListing[]; chains: { full: string; backups: string[]; newest: string }[] } {
  const chains = new Map<string, BackupListing[]>();
  for (const b of listing) if (b.status === 'complete' && b.chain !== undefined) chains.set(b.chain, [...(chains.get(b.chain) ?? []), b]);
  return {
    backups: [...listing],
    chains: [...chains.entries()].map(([full, links]) => {
      const sorted = links.sort((a, b) => (a.status === 'complete' && b.status === 'complete' ? a.finishedAt.localeCompare(b.finishedAt) : 0));
      return { full, backups: sorted.map((b) => b.prefix), newest: sorted.at(-1)!.prefix };
    }),
  };
}

function triggered(fn: () => JobRecord): [number, unknown] {
  try {
    return [202, { job: fn() }];
  } catch (error) {
    if (error instanceof TriggerRefused) throw new HttpError(409, error.code, error.message, error.job ? { job: error.job } : {});
    throw error;
  }
}

const routes: Route[] = [
  { method: 'GET', pattern: /^\/openapi\.json$/, handler: async () => [200, OPENAPI] },
  {
    method: 'GET',
    pattern: /^\/v1\/routines$/,
    handler: async ({ service }) => [200, { routines: [...service.config.routines.values()].map((r) => describeRoutine(service, r)) }],
  },
  { method: 'GET', pattern: /^\/v1\/routines\/([^/]+)$/, handler: async ({ service, params }) => [200, describeRoutine(service, routineOf(service, params[0]!))] },
  {
    method: 'GET',
    pattern: /^\/v1\/routines\/([^/]+)\/backups$/,
    handler: async ({ service, params }) => {
      const r = routineOf(service, params[0]!);
      const repo = service.config.repositories.get(r.repository)!;
      const listing = routineBackups(r, await listBackups(repo.location, service.deps.openStore ? { openStore: service.deps.openStore } : {}));
      return [200, { routine: r.name, repository: repo.name, location: repo.location, ...withChains(listing) }];
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/routines\/([^/]+)\/backups$/,
    handler: async ({ service, params, body }) => {
      const r = routineOf(service, params[0]!);
      const b = await body();
      const kind = b.kind ?? (r.incremental ? 'incremental' : 'full');
      if (kind !== 'full' && kind !== 'incremental') throw new HttpError(400, 'BAD_REQUEST', '"kind" must be "full" or "incremental"');
      return triggered(() => service.scheduler.triggerBackup(r, kind, 'api'));
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/routines\/([^/]+)\/(verify|drill)$/,
    handler: async ({ service, params }) => triggered(() => service.scheduler.triggerCheck(routineOf(service, params[0]!), params[1] as 'verify' | 'drill', 'api')),
  },
  {
    method: 'GET',
    pattern: /^\/v1\/repositories$/,
    handler: async ({ service }) => [
      200,
      {
        repositories: [...service.config.repositories.values()].map((r) => ({
          name: r.name,
          location: r.location,
          encrypted: r.key !== undefined,
          leaseHeld: service.scheduler.leaseHeld(r.name),
          leaseHolder: service.leases.get(r.name)?.holder ? { owner: service.leases.get(r.name)!.holder!.owner, expiresAt: service.leases.get(r.name)!.holder!.expiresAt } : null,
          routines: [...service.config.routines.values()].filter((x) => x.repository === r.name).map((x) => x.name),
        })),
      },
    ],
  },
  {
    method: 'GET',
    pattern: /^\/v1\/repositories\/([^/]+)\/backups$/,
    handler: async ({ service, params }) => {
      const repo = service.config.repositories.get(params[0]!);
      if (!repo) throw new HttpError(404, 'NO_SUCH_REPOSITORY', `no repository is named "${params[0]}"`);
      const listing = await listBackups(repo.location, service.deps.openStore ? { openStore: service.deps.openStore } : {});
      return [200, { repository: repo.name, location: repo.location, ...withChains(listing) }];
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/restores$/,
    handler: async ({ service, body }) => {
      let req;
      try {
        req = restoreRequest(service.config, await body());
      } catch (error) {
        if (error instanceof RestoreRequestError) throw new HttpError(400, 'BAD_REQUEST', error.message);
        throw error;
      }
      const job = service.jobs.submit({ kind: 'restore', repository: req.repository, trigger: 'api', attempt: 0, location: req.options.from, ...(req.routine ? { routine: req.routine } : {}) }, (ctx) =>
        restoreJob(ctx, req.options, { ...(service.deps.openStore ? { openStore: service.deps.openStore } : {}) }),
      );
      return [202, { job }];
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/jobs$/,
    handler: async ({ service, query }) => {
      const [routine, status, kind] = ['routine', 'status', 'kind'].map((k) => query.get(k) ?? undefined);
      const limit = Math.min(500, Math.max(1, Number(query.get('limit') ?? 100) || 100));
      const jobs = service.jobs.list((j) => (routine === undefined || j.routine === routine) && (status === undefined || j.status === status) && (kind === undefined || j.kind === kind));
      return [200, { jobs: jobs.slice(0, limit) }];
    },
  },
  {
    method: 'GET',
    pattern: /^\/v1\/jobs\/([^/]+)$/,
    handler: async ({ service, params }) => {
      const job = service.jobs.get(params[0]!);
      if (!job) throw new HttpError(404, 'NO_SUCH_JOB', `no job ${params[0]} (the service remembers the last 500)`);
      return [200, job];
    },
  },
  {
    method: 'POST',
    pattern: /^\/v1\/jobs\/([^/]+)\/cancel$/,
    handler: async ({ service, params }) => {
      const job = service.jobs.get(params[0]!);
      if (!job) throw new HttpError(404, 'NO_SUCH_JOB', `no job ${params[0]}`);
      if (job.status !== 'queued' && job.status !== 'running') throw new HttpError(409, 'JOB_FINISHED', `job ${job.id} is already ${job.status}`, { job });
      service.jobs.cancel(job.id);
      return [202, { job }];
    },
  },
];

export function createApi(service: Service): Server {
  const server = createServer((req, res) => void handle(service, req, res));
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  return server;
}

async function handle(service: Service, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
      send(res, service.stopping ? 503 : 200, { status: service.stopping ? 'stopping' : 'ok' });
      return;
    }
    // The status page loads without the token and shows nothing until it is given one (status-page.ts).
    if (url.pathname === '/' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(200, {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:",
        'x-frame-options': 'DENY',
      });
      res.end(req.method === 'HEAD' ? undefined : STATUS_PAGE_HTML);
      return;
    }
    if (!authorized(req.headers.authorization, service.config.http.token)) {
      req.resume();
      send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'a valid "Authorization: Bearer <token>" header is required' } }, { 'www-authenticate': 'Bearer realm="aerobak"' });
      return;
    }
    if (url.pathname === '/metrics' && req.method === 'GET') {
      const { contentType, body } = await service.metrics.render();
      res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
      return;
    }
    const matching = routes.map((r) => ({ r, m: r.pattern.exec(url.pathname) })).filter((x) => x.m !== null);
    const hit = matching.find((x) => x.r.method === req.method);
    if (!hit) {
      req.resume();
      if (matching.length > 0) send(res, 405, { error: { code: 'METHOD_NOT_ALLOWED', message: `${req.method} is not allowed on ${url.pathname}` } }, { allow: matching.map((x) => x.r.method).join(', ') });
      else send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${url.pathname} (see /openapi.json)` } });
      return;
    }
    if (req.method === 'POST' && service.stopping) throw new HttpError(503, 'SHUTTING_DOWN', 'the service is shutting down: no new job is accepted');
    const params = hit.m!.slice(1).map((p) => decodeURIComponent(p));
    const [status, body] = await hit.r.handler({ service, params, query: url.searchParams, body: () => readBody(req) });
    send(res, status, body);
  } catch (error) {
    if (error instanceof HttpError) send(res, error.status, { error: { code: error.code, message: error.message }, ...error.extra });
    else if (error instanceof ShuttingDownError) send(res, 503, { error: { code: error.code, message: error.message } });
    else if (error instanceof AerobakError) send(res, error.kind === 'usage' ? 400 : 500, { error: { code: error.code, message: error.message } });
    else {
      service.deps.log('error', `API ${req.method} ${url.pathname}: ${(error as Error).message}`);
      send(res, 500, { error: { code: 'INTERNAL', message: (error as Error).message } });
    }
  }
}
