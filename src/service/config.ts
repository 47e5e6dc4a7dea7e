/**
 * The configuration of `aerobak serve` (docs/service.md, "Configuration reference"):
 * read from YAML, every value checked before anything starts, secrets taken from the
 * environment (`${VAR}`, `password-env`) or from files, never echoed back.
 *
 *   http          listen address, bearer token
 *   service       max-concurrent-jobs, time-zone, shutdown-timeout, lease-ttl, on-missed
 *   notify        a webhook for failures (Slack-compatible)
 *   clusters      name → hosts and credentials
 *   repositories  name → location (and an encryption key)
 *   routines      name → what to back up, where, on which schedules, kept how long
 *
 * Every problem is one ConfigError (exit code 2) naming the file, line and key: an
 * unknown key, a bad cron expression or time zone, a missing credential or environment
 * variable, a routine naming an unknown cluster or repository, a bad listen address.
 */
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { Cron } from 'croner';
import type { ClusterOptions } from '../aerospike/cluster.js';
import { AerobakError } from '../errors.js';
import type { Kek } from '../crypto/keys.js';
import { COMPRESSIONS } from '../jobs/compression.js';
import { subtractDuration, type RetentionPolicy } from '../jobs/retention.js';
import type { Compression } from '../jobs/data-files.js';
import { kekFrom } from '../cli/keys.js';
import { clusterOptions, type ParsedValues } from '../cli/options.js';
import { ConfigError, parseConfigText, type Section } from './config-yaml.js';

export { ConfigError } from './config-yaml.js';


export interface Schedule {
  /** The cron expression as written (5 fields, or 6 with a leading seconds field). */
  cron: string;
  /** IANA time zone the expression is read in. */
  timeZone: string;
}

export interface NotifyConfig {
  /** Slack-compatible incoming webhook: POST {"text": ...}. Secret (it authorises posting): never shown. */
  webhook: string;
  /** Also notify successes (default: failures only). */
  onSuccess: boolean;
}

export interface RetryConfig {
  /** Retries after a failed run (0: none). */
  attempts: number;
  delayMs: number;
  maxDelayMs: number;
}

export interface RoutineConfig {
  name: string;
  cluster: string;
  namespace: string;
  sets: string[];
  bins: string[];
  repository: string;
  full?: Schedule;
  incremental?: Schedule;
  verify?: Schedule;
  drill?: { schedule: Schedule; namespace: string; cluster: string };
  retention?: { policy: RetentionPolicy; graceMs?: number };
  parallel?: number;
  recordsPerSecond?: number;
  compress?: Compression;
  trackDeletes: boolean;
  fullIfTruncated: boolean;
  retry: RetryConfig;
  onMissed: 'run-once' | 'skip';
  notify?: NotifyConfig;
}

export interface ServiceConfig {
  /** The configuration file (absolute), for messages. */
  file: string;
  http: { host: string; port: number; token: string };
  maxConcurrentJobs: number;
  /** Default time zone of the schedules. */
  timeZone: string;
  /** How long SIGTERM waits for running jobs to stop before exiting anyway. */
  shutdownTimeoutMs: number;
  leaseTtlMs: number;
  notify?: NotifyConfig;
  clusters: Map<string, { name: string; options: ClusterOptions }>;
  repositories: Map<string, { name: string; location: string; key?: Kek }>;
  routines: Map<string, RoutineConfig>;
}

export const DEFAULT_LISTEN = '127.0.0.1:9090';
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 20_000;
/** Time allowed after the shutdown timeout for the lease release and state write: the hard bound is their sum. */
export const SHUTDOWN_GRACE_MS = 5_000;
export const DEFAULT_LEASE_TTL_MS = 60_000;
const MIN_TOKEN_LENGTH = 16;

const TOP = ['http', 'service', 'notify', 'clusters', 'repositories', 'routines'];
const HTTP = ['listen', 'token', 'token-file'];
const SERVICE = ['max-concurrent-jobs', 'time-zone', 'shutdown-timeout', 'lease-ttl', 'on-missed'];
const NOTIFY = ['webhook', 'on-success'];
const CLUSTER = ['hosts', 'port', 'user', 'password', 'password-env', 'password-file', 'auth', 'tls-enable', 'tls-name', 'tls-cafile', 'tls-capath', 'tls-certfile', 'tls-keyfile', 'tls-keyfile-password', 'tls-protocols', 'services-alternate'];
const REPOSITORY = ['location', 'encryption'];
const ENCRYPTION = ['key-file', 'key-env', 'passphrase-file', 'kms'];
const ROUTINE = [
  'cluster', 'namespace', 'sets', 'bins', 'repository', 'full', 'incremental', 'verify', 'drill', 'retention', 'time-zone',
  'parallel', 'records-per-second', 'compress', 'track-deletes', 'full-if-truncated', 'retry', 'on-missed', 'notify',
];
const RETENTION = ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-within', 'grace'];
const RETRY = ['attempts', 'delay', 'max-delay'];
const DRILL = ['schedule', 'namespace', 'cluster'];

/** Reads and checks the configuration file; ConfigError (exit 2) names file, line and key of the first problem. */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv): Promise<ServiceConfig> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError(`${file}: cannot read the configuration: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
  return parseConfig(text, file, env);
}

export async function parseConfig(text: string, file: string, env: NodeJS.ProcessEnv): Promise<ServiceConfig> {
  const root = parseConfigText(text, file, env, TOP);
  const http = root.section('http', HTTP);
  if (!http) throw root.missing('http', 'the API needs at least a token');
  const httpConfig = { ...listenAddress(http), token: await tokenOf(http) };
  const service = root.section('service', SERVICE);
  const timeZone = service ? (checkTimeZone(service, 'time-zone') ?? 'UTC') : 'UTC';
  const onMissed = service?.oneOf('on-missed', ['run-once', 'skip'] as const) ?? 'run-once';
  const notifySection = root.section('notify', NOTIFY);
  const notify = notifySection ? notifyConfig(notifySection) : undefined;

  const clusters = new Map<string, { name: string; options: ClusterOptions }>();
  for (const [name, s] of root.named('clusters', CLUSTER)) clusters.set(name, { name, options: clusterConfig(s) });
  const repositories = new Map<string, { name: string; location: string; key?: Kek }>();
  for (const [name, s] of root.named('repositories', REPOSITORY)) {
    const location = s.requiredStr('location', 'a directory, s3://bucket/prefix or gs://bucket/prefix');
    const enc = s.section('encryption', ENCRYPTION);
    const key = enc ? await keyOf(enc, env) : undefined;
    repositories.set(name, { name, location, ...(key ? { key } : {}) });
  }
  const routines = new Map<string, RoutineConfig>();
  const routineEntries = root.named('routines', ROUTINE);
  if (routineEntries.length === 0) throw root.missing('routines', 'at least one routine');
  for (const [name, s] of routineEntries) routines.set(name, routineConfig(name, s, { clusters, repositories, timeZone, onMissed, notify }));

  return {
    file,
    http: httpConfig,
    maxConcurrentJobs: service?.int('max-concurrent-jobs', { min: 1, max: 64 }) ?? 2,
    timeZone,
    shutdownTimeoutMs: service?.duration('shutdown-timeout', { minMs: 1000, maxMs: 3_600_000 }) ?? DEFAULT_SHUTDOWN_TIMEOUT_MS,
    leaseTtlMs: service?.duration('lease-ttl', { minMs: 3000, maxMs: 3_600_000 }) ?? DEFAULT_LEASE_TTL_MS,
    ...(notify ? { notify } : {}),
    clusters,
    repositories,
    routines,
  };
}

function listenAddress(http: Section): { host: string; port: number } {
  const text = http.str('listen') ?? DEFAULT_LISTEN;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const host = m ? (m[1] ?? m[2])! : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(isIP(host) !== 0 || host === 'localhost') || (m[1] !== undefined && isIP(host) !== 6) || port > 65535) {
    throw http.error('listen', `"${text}" is not a listen address: give IP:PORT or [IPv6]:PORT, for example ${DEFAULT_LISTEN}`);
  }
  return { host, port };
}

async function tokenOf(http: Section): Promise<string> {
  const inline = http.str('token');
  const file = http.str('token-file');
  if (inline !== undefined && file !== undefined) throw http.error('token-file', 'give token or token-file, not both');
  let token = inline;
  if (file !== undefined) {
    try {
      token = (await readFile(file, 'utf8')).split(/\r?\n/, 1)[0]!.trim();
    } catch (error) {
      throw http.error('token-file', `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (token === undefined || token === '') throw http.missing('token', 'the bearer token of the API: token: ${AEROBAK_API_TOKEN}, or token-file');
  if (token.length < MIN_TOKEN_LENGTH) throw http.error(file !== undefined ? 'token-file' : 'token', `the token is too short (at least ${MIN_TOKEN_LENGTH} characters; for example: openssl rand -hex 32)`);
  return token;
}

function notifyConfig(s: Section): NotifyConfig {
  const webhook = s.requiredStr('webhook', 'an http(s) URL taking a Slack-compatible {"text": ...} body');
  let url: URL | undefined;
  try {
    url = new URL(webhook);
  } catch {
    url = undefined;
  }
  // The URL itself is a secret (Slack's carry the authorisation): the message does not repeat it.
  if (!url || (url.protocol !== 'https:' && url.protocol !== 'http:')) throw s.error('webhook', 'is not an http(s) URL');
  return { webhook, onSuccess: s.bool('on-success') ?? false };
}

function checkTimeZone(s: Section, key: string): string | undefined {
  const tz = s.str(key);
  if (tz === undefined) return undefined;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw s.error(key, `"${tz}" is not a time zone (an IANA name such as UTC, Europe/Berlin, America/New_York)`);
  }
  return tz;
}

/** Checks a cron expression with croner (5 fields, or 6 with leading seconds) in its time zone. */
function schedule(s: Section, key: string, timeZone: string): Schedule | undefined {
  const text = s.str(key);
  if (text === undefined) return undefined;
  const fields = text.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6) throw s.error(key, `"${text}" is not a cron expression: it has ${fields} field(s), expected 5 (minute hour day month weekday) or 6 (with a leading seconds field)`);
  let next: Date | null;
  try {
    const job = new Cron(text, { timezone: timeZone, paused: true, mode: '5-or-6-parts' });
    next = job.nextRun();
    job.stop();
  } catch (error) {
    throw s.error(key, `"${text}" is not a valid cron expression: ${(error as Error).message.replace(/^CronPattern: /, '')}`);
  }
  if (next === null) throw s.error(key, `"${text}" never fires`);
  return { cron: text.trim(), timeZone };
}

function clusterConfig(s: Section): ClusterOptions {
  const values: ParsedValues = {};
  const hosts = s.list('hosts');
  if (!hosts || hosts.length === 0) throw s.missing('hosts', 'seed nodes, HOST:PORT[,HOST:PORT]');
  values.hosts = hosts.join(',');
  for (const key of ['port', 'user', 'auth', 'tls-name', 'tls-cafile', 'tls-capath', 'tls-certfile', 'tls-keyfile', 'tls-keyfile-password', 'tls-protocols']) {
    const v = s.str(key);
    if (v !== undefined) values[key] = v;
  }
  if (s.bool('tls-enable')) values['tls-enable'] = true;
  if (s.bool('services-alternate')) values['services-alternate'] = true;
  const sources = ['password', 'password-env', 'password-file'].filter((k) => s.has(k));
  if (sources.length > 1) throw s.error(sources[1], `give one of password, password-env, password-file, not ${sources.join(' and ')}`);
  const passwordEnv = s.str('password-env');
  if (passwordEnv !== undefined) {
    const value = s.ctx.env[passwordEnv];
    if (value === undefined || value === '') throw s.error('password-env', `environment variable ${passwordEnv} is ${value === undefined ? 'not set' : 'empty'}`);
    values.password = value;
  }
  const password = s.str('password');
  if (password !== undefined) values.password = password;
  const passwordFile = s.str('password-file');
  if (passwordFile !== undefined) values['password-file'] = passwordFile;
  const user = values.user;
  if (user !== undefined && sources.length === 0 && String(values.auth).toUpperCase() !== 'PKI') {
    throw s.error('user', `user "${String(user)}" needs a password: add password-env: VAR (or password-file: PATH, or password: \${VAR})`);
  }
  if (user === undefined && sources.length > 0) throw s.error(sources[0], 'a password needs a user: add user: NAME');
  try {
    return clusterOptions(values, { env: s.ctx.env });
  } catch (error) {
    if (error instanceof AerobakError) throw s.error(undefined, error.message.replace(/--([a-z-]+)/g, '$1'));
    throw error;
  }
}

async function keyOf(s: Section, env: NodeJS.ProcessEnv): Promise<Kek> {
  const given = ENCRYPTION.filter((k) => s.has(k));
  if (given.length !== 1) throw s.error(given[1], `give exactly one key source: ${ENCRYPTION.join(', ')}`);
  const values: ParsedValues = { [given[0]!]: s.str(given[0]!) };
  try {
    const kek = await kekFrom(values, env);
    return kek!;
  } catch (error) {
    if (error instanceof AerobakError) throw s.error(given[0], error.message.replace(/--([a-z-]+)/g, '$1'));
    throw error;
  }
}

interface Known {
  clusters: ReadonlyMap<string, unknown>;
  repositories: ReadonlyMap<string, unknown>;
  timeZone: string;
  onMissed: 'run-once' | 'skip';
  notify: NotifyConfig | undefined;
}

function reference(s: Section, key: string, known: ReadonlyMap<string, unknown>, what: string): string {
  const name = s.requiredStr(key);
  if (!known.has(name)) throw s.error(key, `no ${what} is named "${name}"; the ${what === 'cluster' ? 'clusters' : 'repositories'} are: ${[...known.keys()].join(', ') || '(none)'}`);
  return name;
}

function routineConfig(name: string, s: Section, known: Known): RoutineConfig {
  const cluster = reference(s, 'cluster', known.clusters, 'cluster');
  const repository = reference(s, 'repository', known.repositories, 'repository');
  const namespace = s.requiredStr('namespace');
  const timeZone = checkTimeZone(s, 'time-zone') ?? known.timeZone;
  const full = schedule(s, 'full', timeZone);
  const incremental = schedule(s, 'incremental', timeZone);
  if (!full && !incremental) throw s.missing('full', 'a routine needs a full or an incremental schedule, or both');
  const routine: RoutineConfig = {
    name,
    cluster,
    namespace,
    sets: s.list('sets') ?? [],
    bins: s.list('bins') ?? [],
    repository,
    trackDeletes: s.bool('track-deletes') ?? incremental !== undefined,
    fullIfTruncated: s.bool('full-if-truncated') ?? true,
    retry: retryConfig(s.section('retry', RETRY)),
    onMissed: s.oneOf('on-missed', ['run-once', 'skip'] as const) ?? known.onMissed,
  };
  if (full) routine.full = full;
  if (incremental) routine.incremental = incremental;
  const verify = schedule(s, 'verify', timeZone);
  if (verify) routine.verify = verify;
  const drill = s.section('drill', DRILL);
  if (drill) {
    const drillCluster = drill.has('cluster') ? reference(drill, 'cluster', known.clusters, 'cluster') : cluster;
    const scratch = drill.requiredStr('namespace', 'the scratch namespace the drill restores into');
    if (drillCluster === cluster && scratch === namespace) throw drill.error('namespace', `the drill restores into "${scratch}", the namespace the routine backs up: give a scratch namespace`);
    const when = schedule(drill, 'schedule', timeZone);
    if (!when) throw drill.missing('schedule', 'a cron expression');
    routine.drill = { schedule: when, namespace: scratch, cluster: drillCluster };
  }
  const retention = s.section('retention', RETENTION);
  if (retention) routine.retention = retentionConfig(retention);
  const parallel = s.int('parallel', { min: 1, max: 256 });
  if (parallel !== undefined) routine.parallel = parallel;
  const rps = s.int('records-per-second', { min: 1 });
  if (rps !== undefined) routine.recordsPerSecond = rps;
  const compress = s.oneOf('compress', COMPRESSIONS);
  if (compress !== undefined) routine.compress = compress;
  const notify = s.section('notify', NOTIFY);
  const n = notify ? notifyConfig(notify) : known.notify;
  if (n) routine.notify = n;
  return routine;
}

function retentionConfig(s: Section): { policy: RetentionPolicy; graceMs?: number } {
  const policy: RetentionPolicy = {};
  const keys: [string, Exclude<keyof RetentionPolicy, 'keepWithin'>][] = [
    ['keep-last', 'keepLast'],
    ['keep-hourly', 'keepHourly'],
    ['keep-daily', 'keepDaily'],
    ['keep-weekly', 'keepWeekly'],
    ['keep-monthly', 'keepMonthly'],
  ];
  for (const [key, field] of keys) {
    const n = s.int(key, { min: 0, max: 100_000 });
    if (n !== undefined) policy[field] = n;
  }
  const within = s.str('keep-within');
  if (within !== undefined) {
    try {
      subtractDuration(new Date(), within);
    } catch {
      throw s.error('keep-within', `"${within}" is not a duration of the retention rules (7d, 2w, 1m15d, 36h: y, m = months, w, d, h)`);
    }
    policy.keepWithin = within;
  }
  if (Object.values(policy).every((v) => !v)) throw s.errorAt(s.node, `keeps nothing: give at least one of ${RETENTION.slice(0, 6).join(', ')}`);
  const grace = s.duration('grace', { minMs: 0 });
  return { policy, ...(grace !== undefined ? { graceMs: grace } : {}) };
}

function retryConfig(s: Section | undefined): RetryConfig {
  const attempts = s?.int('attempts', { min: 0, max: 100 }) ?? 2;
  const delayMs = s?.duration('delay', { minMs: 0 }) ?? 60_000;
  const maxDelayMs = s?.duration('max-delay', { minMs: 0 }) ?? 30 * 60_000;
  if (s && maxDelayMs < delayMs) throw s.error('max-delay', 'is shorter than delay');
  return { attempts, delayMs, maxDelayMs };
}
