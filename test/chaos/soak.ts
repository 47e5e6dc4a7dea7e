/**
 * `npm run soak`: backup → verify → restore in a loop, in this one process (as
 * `aerobak serve` runs job after job), for a given time, with light faults,
 * sampling this process's memory, handles and file descriptors. A leak, a
 * ramp in any of them once warmed up, fails it (exit 1); so does any cycle
 * that loses, duplicates or changes a record, or fails.
 *
 *   AEROBAK_SOAK_MINUTES   how long (default 60)
 *   AEROBAK_SOAK_RECORDS   records per cycle (default 20000)
 *   AEROBAK_SOAK_PAUSE_MS  idle time between cycles (default 1000: a soak, not a
 *                          stress test; it leaves the machine's other work room)
 *   AEROBAK_SOAK_OUT       the JSON report (default chaos-results/soak-<start>.json)
 *
 * The Aerospike test cluster (3 nodes) runs in a child process, so that its
 * memory is not counted as aerobak's; MinIO too. Between aerobak and MinIO sit
 * Toxiproxy (latency on some cycles) and the HTTP fault proxy (a 503
 * SlowDown on an upload and a 500 on a GET in some cycles): faults the store
 * retries ride out, so every cycle must succeed. Cycles alternate between a
 * local directory and S3, and between zstd and gzip.
 *
 * Judging the samples (one every 5 s): the first 10 minutes (or the first
 * fifth of a shorter run) are warm-up; over the rest, the mean of the last
 * quarter must not exceed the mean of the first quarter by more than 15 %
 * + 16 MiB for RSS and heap, or by more than 8 for handles and descriptors.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { BatchWriter } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import { ScanReader } from '../../src/aerospike/scan-reader.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { isObjectGet, isObjectPut, isPartUpload, startHttpFaultProxy } from '../support/http-fault-proxy.js';
import { startS3Server } from '../support/s3-server.js';
import { freePort } from '../support/server-process.js';
import { startToxiproxy } from '../support/toxiproxy.js';
import { runInProcess, summaryOf, errorOf } from './commands.js';
import { cycleRecords, shapeOf, Rng } from './data.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUCKET = 'aerobak-soak';
const SAMPLE_MS = 5_000;

interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  external: number;
  handles: number;
  fds: number;
  cycles: number;
}

const intEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) {
    console.error(`soak: ${name} must be a positive number, got '${raw}'`);
    process.exit(2);
  }
  return n;
};

const minutes = intEnv('AEROBAK_SOAK_MINUTES', 60);
const recordsPerCycle = intEnv('AEROBAK_SOAK_RECORDS', 20_000);
const pauseMs = process.env.AEROBAK_SOAK_PAUSE_MS === '0' ? 0 : intEnv('AEROBAK_SOAK_PAUSE_MS', 1000);
const startedAt = new Date();
const out = process.env.AEROBAK_SOAK_OUT ?? `chaos-results/soak-${startedAt.toISOString().replace(/[:.]/g, '')}.json`;

async function fdCount(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

async function sample(cycles: number, t0: number): Promise<Sample> {
  const m = process.memoryUsage();
  return { t: Math.round((performance.now() - t0) / 1000), rss: m.rss, heapUsed: m.heapUsed, external: m.external, handles: process.getActiveResourcesInfo().length, fds: await fdCount(), cycles };
}

/** The test cluster in a child process; resolves with its seed list once it listens. */
async function startClusterProcess(): Promise<{ hosts: string; child: ChildProcess }> {
  const port = await freePort();
  // Consecutive ports from a free one: good enough on a quiet loopback.
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/aerospike-server/cli.ts', '--port', String(port), '--nodes', '3'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  process.once('exit', () => child.kill('SIGKILL'));
  const hosts = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (d: Buffer) => {
      text += d.toString();
      const m = /listening: (\S+)/.exec(text);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the test cluster exited with ${code}: ${text}`)));
  });
  return { hosts, child };
}

async function writeRecords(cluster: Cluster, records: RawRecord[]): Promise<void> {
  const refused: number[] = [];
  await pipeline(Readable.from(records), new BatchWriter(cluster, { policy: 'replace', onResult: (r) => r.outcome === 'failed' && refused.push(r.resultCode) }));
  if (refused.length) throw new Error(`soak: the cluster refused ${refused.length} records`);
}

/** Every record of a set, by digest: its shape (set, key, bins) and void time, through the wire-level scan. */
async function snapshot(cluster: Cluster, namespace: string, set: string): Promise<Map<string, { shape: string; voidTime: number }>> {
  const out = new Map<string, { shape: string; voidTime: number }>();
  for await (const r of new ScanReader(cluster, { namespace, sets: [set] })) {
    const rec = r as RawRecord;
    out.set(rec.digest.toString('hex'), { shape: shapeOf(rec), voidTime: rec.voidTime });
  }
  return out;
}

/** What differs between the source and a restored copy (a restored TTL may land a second later, as on a real server). */
function differences(source: Map<string, { shape: string; voidTime: number }>, restored: Map<string, { shape: string; voidTime: number }>): string[] {
  const out: string[] = [];
  let missing = 0;
  let changed = 0;
  for (const [digest, s] of source) {
    const r = restored.get(digest);
    if (!r) missing++;
    else if (r.shape !== s.shape || !(r.voidTime === s.voidTime || (s.voidTime !== 0 && r.voidTime === s.voidTime + 1))) changed++;
  }
  const extra = [...restored.keys()].filter((d) => !source.has(d)).length;
  if (missing) out.push(`${missing} records missing`);
  if (changed) out.push(`${changed} records changed`);
  if (extra) out.push(`${extra} records that are not in the source`);
  return out;
}

function mean(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

function judge(samples: Sample[], warmupS: number): { ok: boolean; lines: string[]; figures: Record<string, { first: number; last: number; max: number }> } {
  const steady = samples.filter((s) => s.t >= warmupS);
  const q = Math.max(1, Math.floor(steady.length / 4));
  const first = steady.slice(0, q);
  const last = steady.slice(-q);
  const lines: string[] = [];
  const figures: Record<string, { first: number; last: number; max: number }> = {};
  let ok = steady.length >= 8;
  if (!ok) lines.push(`too few samples after the warm-up (${steady.length}): run longer`);
  const check = (name: keyof Sample, bytes: boolean) => {
    if (!first.length) return;
    const a = mean(first.map((s) => s[name]));
    const b = mean(last.map((s) => s[name]));
    const max = Math.max(...steady.map((s) => s[name]));
    figures[name] = { first: a, last: b, max };
    const allowed = bytes ? a * 1.15 + 16 * 2 ** 20 : a + 8;
    const fmt = (v: number) => (bytes ? `${(v / 2 ** 20).toFixed(1)} MiB` : v.toFixed(1));
    const pass = b <= allowed;
    if (!pass) ok = false;
    lines.push(`${String(name).padEnd(9)} first quarter ${fmt(a).padStart(10)}  last quarter ${fmt(b).padStart(10)}  max ${fmt(max).padStart(10)}  ${pass ? 'flat' : `RAMP (allowed ${fmt(allowed)})`}`);
  };
  check('rss', true);
  check('heapUsed', true);
  check('handles', false);
  check('fds', false);
  return { ok, lines, figures };
}

const toxi = await startToxiproxy();
const minio = await startS3Server({ quiet: true });
await minio.createBucket(BUCKET);
const http = await startHttpFaultProxy(minio.options.endpoint!);
const s3Proxy = await toxi.proxy('s3', `127.0.0.1:${http.port}`);
process.env.AWS_ENDPOINT_URL_S3 = `http://${s3Proxy.address}`;
process.env.AWS_ACCESS_KEY_ID = minio.options.credentials!.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = minio.options.credentials!.secretAccessKey;
process.env.AWS_REGION = 'us-east-1';
const { hosts, child } = await startClusterProcess();
const work = await mkdtemp(join(tmpdir(), 'aerobak-soak-'));
const cluster = await Cluster.connect({ hosts });

const rng = new Rng(20261202);
const records = cycleRecords(rng, 'test', 'soak', recordsPerCycle);
await writeRecords(cluster, records);
const sourceRecords = await snapshot(cluster, 'test', 'soak');
const source = { count: sourceRecords.size };
console.log(`soak: ${minutes} min, ${source.count} records per cycle, cluster ${hosts}, report ${out}`);

const samples: Sample[] = [];
const failures: string[] = [];
let cycles = 0;
const t0 = performance.now();
const deadline = t0 + minutes * 60_000;
const sampler = setInterval(() => {
  void sample(cycles, t0).then((s) => {
    samples.push(s);
    if (samples.length % 12 === 0) console.log(`soak: ${Math.round(s.t / 60)} min, ${cycles} cycles, rss ${(s.rss / 2 ** 20).toFixed(0)} MiB, heap ${(s.heapUsed / 2 ** 20).toFixed(0)} MiB, handles ${s.handles}, fds ${s.fds}`);
  });
}, SAMPLE_MS);
samples.push(await sample(0, t0));

try {
  while (performance.now() < deadline && failures.length < 5) {
    const n = cycles++;
    const s3 = n % 2 === 1;
    const location = s3 ? `s3://${BUCKET}/c${n}` : join(work, `c${n}`);
    const compress = n % 4 < 2 ? 'zstd' : 'gzip';
    // Light faults the store rides out: some latency, one throttled upload, one failed GET.
    if (s3 && rng.chance(0.3)) await s3Proxy.addToxic({ type: 'latency', stream: 'upstream', attributes: { latency: rng.int(5, 40), jitter: rng.int(0, 20) } });
    if (s3 && rng.chance(0.3)) http.inject({ match: (r) => isPartUpload(r) || isObjectPut(r), status: 503, code: 'SlowDown' });
    if (s3 && rng.chance(0.3)) http.inject({ match: isObjectGet, status: 500, code: 'InternalError' });
    const steps = [
      ['backup', '-h', hosts, '-n', 'test', '-s', 'soak', '--to', location, '--compress', compress, '--json'],
      ['verify', location, '--json'],
      ['restore', '--from', location, '-h', hosts, '--namespace-map', 'test:bar', '--mode', 'replace', '--json'],
    ];
    for (const args of steps) {
      const r = await runInProcess(args, 10 * 60_000);
      if (r.code !== 0 || r.hung || r.crashed) {
        failures.push(`cycle ${n}: aerobak ${args[0]} exited ${r.code}${r.hung ? ' (hung)' : ''}: ${errorOf(r)?.line ?? r.crashed ?? r.stderr.slice(-500)}`);
        break;
      }
      const summary = summaryOf(r);
      const counted = Number(args[0] === 'restore' ? summary?.read : summary?.records);
      if (counted !== source.count) failures.push(`cycle ${n}: aerobak ${args[0]} counted ${counted} records, the source has ${source.count}`);
    }
    await toxi.reset();
    http.clear();
    if (n % 10 === 0) {
      const diff = differences(sourceRecords, await snapshot(cluster, 'bar', 'soak'));
      if (diff.length) failures.push(`cycle ${n}: the restored set differs from the source: ${diff.join(', ')}`);
    }
    if (!s3) await rm(location, { recursive: true, force: true });
    if (pauseMs > 0) await sleep(pauseMs);
  }
} finally {
  clearInterval(sampler);
}
samples.push(await sample(cycles, t0));

const warmupS = Math.min(600, (minutes * 60) / 5);
const verdict = judge(samples, warmupS);
const elapsedMin = (performance.now() - t0) / 60_000;
console.log(`\nsoak: ${cycles} cycles (backup, verify, restore of ${source.count} records) in ${elapsedMin.toFixed(1)} min; warm-up ${Math.round(warmupS / 60)} min; ${samples.length} samples`);
for (const line of verdict.lines) console.log(`  ${line}`);
for (const f of failures) console.log(`  FAILED ${f}`);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify({ startedAt, minutes, recordsPerCycle: source.count, cycles, warmupS, failures, figures: verdict.figures, samples }, null, 2) + '\n');
console.log(`soak: report in ${out}`);

await cluster.close();
child.kill('SIGTERM');
await http.close();
await minio.stop();
await toxi.stop();
await rm(work, { recursive: true, force: true });
process.exit(verdict.ok && failures.length === 0 ? 0 : 1);
