/**
 * The OpenAPI 3 description of the `aerobak serve` API, served at /openapi.json. The
 * repository keeps the same document as openapi/aerobak-serve.json, for readers and
 * client generators; test/service/openapi.test.ts fails when the two differ (regenerate
 * with `npx tsx -e "import('./src/service/openapi.ts').then(m => m.writeOpenApiFile())"`).
 */
import { writeFile } from 'node:fs/promises';
import pkg from '../../package.json' with { type: 'json' };

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description: string) => ({ description, content: { 'application/json': { schema } } });
const error = (description: string) => json(ref('Error'), description);
const name = (what: string) => ({ name: 'name', in: 'path', required: true, description: `the ${what}'s name in the configuration`, schema: { type: 'string' } });
const accepted = json({ type: 'object', required: ['job'], properties: { job: ref('Job') } }, 'the job, queued');
const common = { '401': error('no valid bearer token'), '503': error('the service is shutting down') };

export const OPENAPI = {
  openapi: '3.0.3',
  info: {
    title: 'aerobak serve',
    version: pkg.version,
    description: 'The API of the aerobak backup service: routines, backups and their chains, jobs (backup, restore, verify, drill) with progress, and cancellation. Every path but /healthz and the status page (/) needs the bearer token of the configuration (http.token).',
  },
  servers: [{ url: 'http://127.0.0.1:9090' }],
  security: [{ bearer: [] }],
  paths: {
    '/': { get: { summary: 'the status page (no token: the page asks for it and calls the API with it)', security: [], responses: { '200': { description: 'an HTML page', content: { 'text/html': { schema: { type: 'string' } } } } } } },
    '/healthz': { get: { summary: 'liveness (no token)', security: [], responses: { '200': json(ref('Health'), 'serving'), '503': json(ref('Health'), 'stopping') } } },
    '/metrics': { get: { summary: 'Prometheus metrics (text exposition format 0.0.4)', responses: { '200': { description: 'metrics', content: { 'text/plain': { schema: { type: 'string' } } } }, '401': common['401'] } } },
    '/openapi.json': { get: { summary: 'this document', responses: { '200': json({ type: 'object' }, 'OpenAPI 3 document'), '401': common['401'] } } },
    '/v1/routines': { get: { summary: 'the routines, with their next and last runs', responses: { '200': json({ type: 'object', properties: { routines: { type: 'array', items: ref('Routine') } } }, 'routines'), '401': common['401'] } } },
    '/v1/routines/{name}': { get: { summary: 'one routine', parameters: [name('routine')], responses: { '200': json(ref('Routine'), 'the routine'), '401': common['401'], '404': error('no such routine') } } },
    '/v1/routines/{name}/backups': {
      get: { summary: "the routine's backups in its repository, with chains", parameters: [name('routine')], responses: { '200': json(ref('BackupList'), 'backups'), '401': common['401'], '404': error('no such routine') } },
      post: {
        summary: 'start a backup of the routine now',
        parameters: [name('routine')],
        requestBody: { required: false, content: { 'application/json': { schema: { type: 'object', properties: { kind: { type: 'string', enum: ['full', 'incremental'], description: 'default: incremental when the routine has an incremental schedule, else full' } } } } } },
        responses: { '202': accepted, '400': error('bad request'), ...common, '404': error('no such routine'), '409': json({ allOf: [ref('Error'), { type: 'object', properties: { job: ref('Job') } }] }, 'a backup of the routine is already queued or running (its job is given), or this instance does not hold the lease') },
      },
    },
    '/v1/routines/{name}/verify': { post: { summary: "verify the routine's newest complete backup (its whole chain)", parameters: [name('routine')], responses: { '202': accepted, ...common, '404': error('no such routine'), '409': error('already running, or no lease') } } },
    '/v1/routines/{name}/drill': { post: { summary: "restore drill: the newest backup into the routine's scratch namespace, counts compared", parameters: [name('routine')], responses: { '202': accepted, ...common, '404': error('no such routine'), '409': error('no drill configured, already running, or no lease') } } },
    '/v1/repositories': { get: { summary: 'the repositories and who holds their scheduler lease', responses: { '200': json({ type: 'object', properties: { repositories: { type: 'array', items: ref('Repository') } } }, 'repositories'), '401': common['401'] } } },
    '/v1/repositories/{name}/backups': { get: { summary: 'every backup in the repository, with chains', parameters: [name('repository')], responses: { '200': json(ref('BackupList'), 'backups'), '401': common['401'], '404': error('no such repository') } } },
    '/v1/restores': { post: { summary: 'start a restore of a backup, or of a repository at a point in time, into a namespace', requestBody: { required: true, content: { 'application/json': { schema: ref('RestoreRequest') } } }, responses: { '202': accepted, '400': error('bad request'), ...common } } },
    '/v1/jobs': {
      get: {
        summary: 'recent jobs, newest first',
        parameters: [
          { name: 'routine', in: 'query', schema: { type: 'string' } },
          { name: 'status', in: 'query', schema: ref('JobStatus') },
          { name: 'kind', in: 'query', schema: { type: 'string', enum: ['backup', 'restore', 'verify', 'drill'] } },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        ],
        responses: { '200': json({ type: 'object', properties: { jobs: { type: 'array', items: ref('Job') } } }, 'jobs'), '401': common['401'] },
      },
    },
    '/v1/jobs/{id}': { get: { summary: "a job's status, progress and result", parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }], responses: { '200': json(ref('Job'), 'the job'), '401': common['401'], '404': error('no such job') } } },
    '/v1/jobs/{id}/cancel': {
      post: {
        summary: 'cancel a queued job, or stop a running one (a stopped backup has no manifest and can be resumed with aerobak backup --resume)',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        responses: { '202': accepted, '401': common['401'], '404': error('no such job'), '409': error('the job has finished') },
      },
    },
  },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'the token of http.token in the configuration' } },
    schemas: {
      Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } } },
      Health: { type: 'object', properties: { status: { type: 'string', enum: ['ok', 'stopping'] } } },
      Schedule: { type: 'object', nullable: true, properties: { cron: { type: 'string' }, timeZone: { type: 'string' }, next: { type: 'string', format: 'date-time', nullable: true } } },
      Routine: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          cluster: { type: 'string' },
          namespace: { type: 'string' },
          sets: { type: 'array', items: { type: 'string' } },
          repository: { type: 'string' },
          schedules: { type: 'object', properties: { full: ref('Schedule'), incremental: ref('Schedule'), verify: ref('Schedule'), drill: ref('Schedule') } },
          retention: { type: 'object', additionalProperties: true },
          trackDeletes: { type: 'boolean' },
          leaseHeld: { type: 'boolean' },
          activeJobs: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, kind: { type: 'string' }, status: ref('JobStatus') } } },
          lastSuccessAt: { type: 'string', format: 'date-time', nullable: true },
          lastFailureAt: { type: 'string', format: 'date-time', nullable: true },
          lastError: { type: 'object', nullable: true, properties: { code: { type: 'string' }, message: { type: 'string' } } },
          lastRun: { type: 'object', nullable: true, additionalProperties: true },
          lastVerify: { type: 'object', nullable: true, additionalProperties: true },
          lastDrill: { type: 'object', nullable: true, additionalProperties: true },
          pendingRetry: { type: 'object', nullable: true, properties: { at: { type: 'string', format: 'date-time' }, attempt: { type: 'integer' } } },
        },
      },
      Repository: { type: 'object', properties: { name: { type: 'string' }, location: { type: 'string' }, encrypted: { type: 'boolean' }, leaseHeld: { type: 'boolean' }, leaseHolder: { type: 'object', nullable: true, properties: { owner: { type: 'string' }, expiresAt: { type: 'string', format: 'date-time' } } }, routines: { type: 'array', items: { type: 'string' } } } },
      Backup: {
        type: 'object',
        description: "one backup as aerobak list --json shows it; status complete, incomplete (no manifest: interrupted or running) or unreadable",
        properties: {
          prefix: { type: 'string' },
          location: { type: 'string' },
          status: { type: 'string', enum: ['complete', 'incomplete', 'unreadable'] },
          kind: { type: 'string', enum: ['full', 'incremental'] },
          namespace: { type: 'string' },
          sets: { type: 'array', items: { type: 'string' } },
          records: { type: 'integer' },
          bytes: { type: 'integer' },
          files: { type: 'integer' },
          startedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time' },
          parent: { type: 'string' },
          chain: { type: 'string', description: 'prefix of the full backup the chain starts from' },
          tracksDeletes: { type: 'boolean' },
          encrypted: { type: 'boolean' },
        },
        additionalProperties: true,
      },
      BackupList: {
        type: 'object',
        properties: {
          repository: { type: 'string' },
          location: { type: 'string' },
          backups: { type: 'array', items: ref('Backup') },
          chains: { type: 'array', items: { type: 'object', properties: { full: { type: 'string' }, backups: { type: 'array', items: { type: 'string' } }, newest: { type: 'string' } } } },
        },
      },
      RestoreRequest: {
        type: 'object',
        required: ['namespace'],
        description: 'routine or repository; exactly one of backup, location, at',
        properties: {
          routine: { type: 'string' },
          repository: { type: 'string' },
          backup: { type: 'string', description: "a backup's prefix in the repository (its chain is restored)" },
          location: { type: 'string', description: 'a backup location inside the repository' },
          at: { type: 'string', format: 'date-time', description: 'point in time: the newest complete backup that finished at or before it, with its chain' },
          namespace: { type: 'string', description: 'the namespace to restore into' },
          sourceNamespace: { type: 'string', description: "default: the routine's namespace" },
          cluster: { type: 'string', description: "a configured cluster; default the routine's, or the only one" },
          sets: { type: 'array', items: { type: 'string' } },
          mode: { type: 'string', enum: ['generation-greater', 'create-only', 'replace', 'ignore-generation'], default: 'generation-greater' },
          applyDeletes: { type: 'boolean' },
        },
      },
      JobStatus: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted'] },
      Job: {
        type: 'object',
        required: ['id', 'kind', 'status', 'createdAt'],
        properties: {
          id: { type: 'string' },
          kind: { type: 'string', enum: ['backup', 'restore', 'verify', 'drill'] },
          routine: { type: 'string' },
          repository: { type: 'string' },
          trigger: { type: 'string', enum: ['schedule', 'api', 'startup', 'retry', 'resume'] },
          backupKind: { type: 'string', enum: ['full', 'incremental'] },
          attempt: { type: 'integer' },
          status: ref('JobStatus'),
          createdAt: { type: 'string', format: 'date-time' },
          startedAt: { type: 'string', format: 'date-time' },
          finishedAt: { type: 'string', format: 'date-time' },
          location: { type: 'string' },
          progress: {
            type: 'object',
            properties: {
              records: { type: 'integer' },
              bytes: { type: 'integer' },
              totalRecords: { type: 'integer' },
              percent: { type: 'number' },
              recordsPerSecond: { type: 'number' },
              bytesPerSecond: { type: 'number' },
              etaSeconds: { type: 'number' },
              elapsedMs: { type: 'integer' },
            },
          },
          result: { type: 'object', additionalProperties: true, description: "the job's summary (backup: location, kind, records, bytes, files, prune report; restore: counts)" },
          error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' } } },
          notes: { type: 'array', items: { type: 'string' } },
        },
      },
    },
  },
} as const;

/** Writes openapi/aerobak-serve.json from this module (run from the repository root). */
export async function writeOpenApiFile(path = 'openapi/aerobak-serve.json'): Promise<void> {
  await writeFile(path, `${JSON.stringify(OPENAPI, null, 2)}\n`);
}
