/**
 * Helpers of the service tests: a configuration written to a scratch directory, the
 * service started in-process with its log captured, API calls with (or without) the
 * token, polling, and a strict parser of the Prometheus text format.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseConfig, type ServiceConfig } from '../../src/service/config.js';
import type { JobRecord } from '../../src/service/jobs.js';
import type { LogLevel } from '../../src/service/log.js';
import { Service, type ServiceDeps } from '../../src/service/service.js';

export const TOKEN = 'test-token-0123456789abcdef';

export interface Running {
  service: Service;
  url: string;
  logs: string[];
  call<T = any>(method: string, path: string, body?: unknown, token?: string | null): Promise<{ status: number; body: T; text: string }>;
  stop(): Promise<void>;
}

/** Parses YAML text as the service would read it from `file`. */
export async function config(yaml: string, env: NodeJS.ProcessEnv = {}, file = 'aerobak.yaml'): Promise<ServiceConfig> {
  return parseConfig(yaml, file, { AEROBAK_API_TOKEN: TOKEN, ...env });
}

export async function writeConfig(dir: string, name: string, yaml: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, yaml);
  return path;
}

/** Starts the service in this process on a free port (listen 127.0.0.1:0 in the YAML). */
export async function startService(yaml: string, deps: Partial<ServiceDeps> = {}): Promise<Running> {
  const logs: string[] = [];
  const log = (level: LogLevel, message: string) => {
    logs.push(`${level} ${message}`);
    if (process.env.AEROBAK_TEST_LOG) process.stderr.write(`[service] ${level} ${message}\n`);
  };
  const service = await Service.start(await config(yaml), { log, leaseSettleMs: 50, ...deps });
  const { port } = service.address();
  const url = `http://127.0.0.1:${port}`;
  return {
    service,
    url,
    logs,
    async call(method, path, body, token = TOKEN) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      let parsed: any = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (metrics).
      }
      return { status: res.status, body: parsed, text };
    },
    async stop() {
      await service.stop('test done');
    },
  };
}

export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Polls GET /v1/jobs/{id} until the job has finished. */
export async function finished(r: Running, id: string, timeoutMs = 20_000): Promise<JobRecord> {
  return waitFor(`job ${id} to finish`, async () => {
    const { body } = await r.call<JobRecord>('GET', `/v1/jobs/${id}`);
    return body.status !== 'queued' && body.status !== 'running' ? body : undefined;
  }, timeoutMs);
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text exposition format 0.0.4: every line is a
 * `# HELP`, a `# TYPE` (before the metric's samples, once) or a sample
 * `name{label="value",...} value`; label values escaped (\\ \" \n). Throws on anything else.
 * Values as Prometheus reads them (Go's ParseFloat: NaN and Inf in any case; prom-client
 * writes an unset mean as "Nan").
 */
export function parsePrometheus(text: string): { samples: Sample[]; types: Map<string, string> } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
  const help = new RegExp(`^# HELP (${NAME}) .*$`);
  const type = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);
  const sample = new RegExp(`^(${NAME})(?:\\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*",?)*)\\})? ([-+]?(?:[0-9.]+(?:e[+-]?[0-9]+)?|[Nn]a[Nn]|[Ii]nf))(?: -?[0-9]+)?$`);
  if (!text.endsWith('\n')) throw new Error('the exposition does not end with a newline');
  text.split('\n').slice(0, -1).forEach((line, i) => {
    if (line === '') return;
    let m: RegExpExecArray | null;
    if ((m = help.exec(line))) return;
    if ((m = type.exec(line))) {
      if (types.has(m[1]!)) throw new Error(`line ${i + 1}: a second TYPE for ${m[1]}`);
      types.set(m[1]!, m[2]!);
      return;
    }
    if ((m = sample.exec(line))) {
      const labels: Record<string, string> = {};
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      const base = m[1]!.replace(/_(bucket|sum|count|total|created)$/, '');
      if (!types.has(m[1]!) && !types.has(base)) throw new Error(`line ${i + 1}: sample ${m[1]} before its TYPE`);
      samples.push({ name: m[1]!, labels, value: /^[-+]?[Ii]nf$/.test(m[3]!) ? (m[3]!.startsWith('-') ? -Infinity : Infinity) : Number(m[3]) });
      return;
    }
    throw new Error(`line ${i + 1} is not in the Prometheus text format: ${line}`);
  });
  return { samples, types };
}

export function metric(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const { samples } = parsePrometheus(text);
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}
