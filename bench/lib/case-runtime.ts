/**
 * The child side of a benchmark case: each case is a script run in its own process
 * (`node --import tsx bench/cases/<case>.ts`) so that its peak RSS is its own. The parent
 * passes parameters as JSON in AEROBAK_BENCH_PARAMS; the case prints one line
 * `@@bench-result {json}` on stdout (anything else on stdout or stderr is just logged).
 */
import { holdYoungGeneration } from '../../src/young-generation.js';
import { Cluster, type ClusterOptions } from '../../src/aerospike/cluster.js';
import { setTimeout as sleep } from 'node:timers/promises';

// As the CLI does before it loads a job (src/cli/main.ts): the young generation held small,
// so that a case's memory is the product's. Case files import this module before the
// jobs' modules, so this runs before those load.
holdYoungGeneration();

export const RESULT_MARKER = '@@bench-result ';

/** Where the S3 cases write: an endpoint, its credentials and a bucket (set by bench/run.ts). */
export interface S3Target {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** The key prefix of the backup (written by the backup case, read by the restore). */
  prefix: string;
}

/** What the parent sends to every case. */
export interface CaseParams {
  hosts: string;
  namespace: string;
  targetNamespace: string;
  set: string;
  records: number;
  parallel: number;
  /** Scratch directory of this run of this case (backups go there). */
  dir: string;
  /** A backup directory made earlier (gzip-alone: a backup-none; restore: a backup-gzip). */
  input?: string;
  throttleBytesPerSecond?: number;
  /** Inclusive partition range the throttled backup is capped to. */
  partitions?: { first: number; last: number };
  /** The codec cases: compression and level of the backup. */
  compress?: 'gzip' | 'zstd' | 'none';
  level?: number;
  /** The load step: generate records [first, first + count). */
  first?: number;
  count?: number;
  /** The S3 cases: where they write and read (bench/run.ts starts the server). */
  s3?: S3Target;
}

/** What a case reports. `bytes` means what `bytesWhat` says (each case has its own). */
export interface CaseResult {
  records: number;
  bytes: number;
  bytesWhat: string;
  /** Timed part only (setup such as connecting or pre-generating records is outside). */
  seconds: number;
  /** process.resourceUsage().maxRSS / 1024, at the end of the case. */
  peakRssMB: number;
  /** User + system CPU seconds of this process during the timed part (the zlib threads count too). */
  cpuSeconds: number;
  /** RSS sampled every 250 ms during the timed part, cut into 10 slices: the max of each (MB). */
  rssProfileMB: number[];
  /** Case-specific extras (files, stored bytes, counts...). */
  extra?: Record<string, unknown>;
}

/**
 * How the cases connect. The info timeout is raised from the product's 5 s: the project's
 * test server computes `sets/<ns>/<set>` and `namespace/<ns>` statistics by walking every
 * record (about 10 s at 1M records on this machine), and the backup job asks for them to
 * estimate its progress. Nothing on the data path uses this timeout.
 */
export function clusterOptions(p: CaseParams): ClusterOptions {
  return { hosts: p.hosts, infoTimeoutMs: 120_000 };
}

export function params(): CaseParams {
  const raw = process.env.AEROBAK_BENCH_PARAMS;
  if (!raw) throw new Error('AEROBAK_BENCH_PARAMS is not set: cases are run by bench/run.ts');
  return JSON.parse(raw) as CaseParams;
}

/** Samples RSS while the timed part runs. */
export class Meter {
  private readonly samples: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly t0 = process.hrtime.bigint();
  private readonly cpu0 = process.cpuUsage();

  constructor() {
    this.sample();
    this.timer = setInterval(() => this.sample(), 250);
    this.timer.unref();
  }

  private sample(): void {
    this.samples.push(process.memoryUsage.rss() / 1048576);
  }

  /** Stops the clock and builds the result. */
  stop(r: { records: number; bytes: number; bytesWhat: string; extra?: Record<string, unknown> }): CaseResult {
    const seconds = Number(process.hrtime.bigint() - this.t0) / 1e9;
    const cpu = process.cpuUsage(this.cpu0);
    clearInterval(this.timer);
    this.sample();
    const slices = 10;
    const profile: number[] = [];
    for (let s = 0; s < slices; s++) {
      const from = Math.floor((s * this.samples.length) / slices);
      const to = Math.max(from + 1, Math.floor(((s + 1) * this.samples.length) / slices));
      const part = this.samples.slice(from, Math.min(to, this.samples.length));
      if (part.length > 0) profile.push(Math.round(Math.max(...part)));
    }
    return {
      ...r,
      seconds,
      peakRssMB: Math.round((process.resourceUsage().maxRSS / 1024) * 10) / 10,
      cpuSeconds: Math.round(((cpu.user + cpu.system) / 1e6) * 100) / 100,
      rssProfileMB: profile,
    };
  }
}

export function report(result: CaseResult): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

/** Runs a case's main function and reports; exits non-zero on failure. */
export function runCase(main: (p: CaseParams) => Promise<CaseResult>): void {
  main(params()).then(
    (result) => {
      report(result);
      // Sockets of the official client or a lingering timer must not keep the case alive.
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(1);
    },
  );
}

/**
 * Empties `namespace`.`set` with the `truncate` info command on every node, then waits a
 * little so that writes that follow get a later last-update time than the truncation
 * (a real server drops records whose last-update time is not after it).
 */
export async function truncateSet(hosts: string, namespace: string, set: string): Promise<void> {
  const cluster = await Cluster.connect({ hosts, infoTimeoutMs: 120_000 });
  try {
    const replies = await cluster.infoAll([`truncate:namespace=${namespace};set=${set}`]);
    for (const [, reply] of replies) {
      for (const [, value] of reply) {
        if (/^(ERROR|FAIL)/i.test(value)) throw new Error(`truncate ${namespace}.${set}: ${value}`);
      }
    }
  } finally {
    await cluster.close();
  }
  await sleep(1100);
}
