/**
 * The benchmark's knobs, all from the environment (see docs/performance.md):
 *
 *   AEROBAK_BENCH_RECORDS         records in the data set (default 1,000,000; < 1,000,000 is "quick mode")
 *   AEROBAK_BENCH_RUNS            runs of each fast case (default 3, 1 in quick mode); the median is reported
 *   AEROBAK_BENCH_CASES           comma list of cases to run (default all; see CASE_NAMES)
 *   AEROBAK_BENCH_PARALLEL        backup groups / restore workers / write-ceiling writers (default 4, the product's default)
 *   AEROBAK_BENCH_THROTTLE_MBPS   rate of the throttled store (default 5 MB/s, MB = 10^6 bytes)
 *   AEROBAK_BENCH_THROTTLE_SECONDS  target length of each throttled run (default 40 s); the data set is capped to fit
 *   AEROBAK_BENCH_PROFILE=1       run every case with --cpu-prof into bench/results/profiles/
 *   AEROBAK_BENCH_DIR             scratch directory for backups (default bench/results/work)
 *   AEROBAK_BENCH_KEEP=1          keep the scratch backups (and, on AEROSPIKE_HOSTS, the loaded data)
 *   AEROBAK_BENCH_SKIP_LOAD=1     do not (re)load the data set (AEROSPIKE_HOSTS only: it is already there)
 *   AEROBAK_BENCH_SET             the set of the data set (default bench): two people can share a cluster
 *   AEROSPIKE_HOSTS               use this cluster (namespaces `test` and `bar`) instead of starting the test server
 *   AEROBAK_BENCH_STARTUP_RUNS    runs of each start-up measurement (default 10; bench/cases/startup.ts)
 *   AEROBAK_BENCH_ASBACKUP, AEROBAK_BENCH_ASRESTORE, AEROBAK_BENCH_ASBACKUP_GO, AEROBAK_BENCH_ASRESTORE_GO
 *                                 Aerospike's C and Go backup tools for the anchor cases (else asbackup/asrestore on PATH)
 *   AEROBAK_BENCH_ANCHOR_PARALLEL --parallel values every anchor case tries, the fastest reported (default 4,8)
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('../..', import.meta.url));
export const RESULTS_DIR = join(BENCH_DIR, 'results');

export const SOURCE_NAMESPACE = 'test';
export const TARGET_NAMESPACE = 'bar';
/** The set the data set lives in (namespace test) and is restored to (namespace bar). */
export const SET = process.env.AEROBAK_BENCH_SET?.trim() || 'bench';

/** The anchor cases (bench/cases/anchor-common.ts), in the order they run in a round. */
export const ANCHOR_CASES = [
  'anchor-aerobak-backup-none',
  'anchor-c-backup-none',
  'anchor-go-backup-none',
  'anchor-aerobak-backup-zstd',
  'anchor-c-backup-zstd',
  'anchor-go-backup-zstd',
  'anchor-aerobak-restore',
  'anchor-c-restore',
  'anchor-go-restore',
] as const;
export type AnchorCaseName = (typeof ANCHOR_CASES)[number];

/** The S3 cases (bench/cases/s3-common.ts), in the order they run. */
export const S3_CASES = ['s3-backup', 's3-restore', 's3-backup-throttled', 's3-restore-throttled'] as const;

export const CASE_NAMES = [
  'scan-ceiling',
  'client-scan',
  'backup-none',
  'gzip-alone',
  'backup-gzip',
  'restore',
  'backup-encrypted',
  'backup-zstd',
  'restore-zstd',
  'export-parquet',
  'export-from-backup',
  'export-avro',
  'write-ceiling',
  'backup-throttled',
  'restore-throttled',
  ...S3_CASES,
  'startup',
  ...ANCHOR_CASES,
] as const;
export type CaseName = (typeof CASE_NAMES)[number];

export interface BenchConfig {
  records: number;
  quick: boolean;
  runs: number;
  cases: CaseName[];
  /** True when AEROBAK_BENCH_CASES chose the cases (else every case). */
  casesNamed: boolean;
  parallel: number;
  throttleMBps: number;
  throttleSeconds: number;
  profile: boolean;
  workDir: string;
  keep: boolean;
  skipLoad: boolean;
  /** Set when AEROSPIKE_HOSTS points at a real cluster. */
  hosts: string | undefined;
}

function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw.replace(/[_,]/g, ''));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer >= ${min}, got "${raw}"`);
  return n;
}

function numberEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: expected a positive number, got "${raw}"`);
  return n;
}

function flagEnv(name: string): boolean {
  const raw = process.env[name]?.trim().toLowerCase();
  return raw !== undefined && raw !== '' && raw !== '0' && raw !== 'false' && raw !== 'no';
}

export const DEFAULT_RECORDS = 1_000_000;

export function readConfig(): BenchConfig {
  const records = intEnv('AEROBAK_BENCH_RECORDS', DEFAULT_RECORDS);
  const quick = records < DEFAULT_RECORDS;
  const casesRaw = process.env.AEROBAK_BENCH_CASES?.trim();
  let cases: CaseName[] = [...CASE_NAMES];
  if (casesRaw) {
    const wanted = casesRaw.split(',').map((s) => s.trim()).filter(Boolean);
    for (const w of wanted) {
      if (!(CASE_NAMES as readonly string[]).includes(w)) throw new Error(`AEROBAK_BENCH_CASES: unknown case "${w}" (cases: ${CASE_NAMES.join(', ')})`);
    }
    cases = CASE_NAMES.filter((c) => wanted.includes(c));
  }
  const hosts = process.env.AEROSPIKE_HOSTS?.trim() || undefined;
  return {
    records,
    quick,
    runs: intEnv('AEROBAK_BENCH_RUNS', quick ? 1 : 3),
    cases,
    casesNamed: Boolean(casesRaw),
    parallel: intEnv('AEROBAK_BENCH_PARALLEL', 4),
    throttleMBps: numberEnv('AEROBAK_BENCH_THROTTLE_MBPS', 5),
    throttleSeconds: numberEnv('AEROBAK_BENCH_THROTTLE_SECONDS', 40),
    profile: flagEnv('AEROBAK_BENCH_PROFILE'),
    workDir: process.env.AEROBAK_BENCH_DIR?.trim() || join(RESULTS_DIR, 'work'),
    keep: flagEnv('AEROBAK_BENCH_KEEP'),
    skipLoad: flagEnv('AEROBAK_BENCH_SKIP_LOAD'),
    hosts,
  };
}
