/**
 * `npm run bench`: aerobak's benchmark harness (docs/performance.md).
 *
 *   1. starts the project's test server in a child process (or uses AEROSPIKE_HOSTS);
 *   2. loads the data set (AEROBAK_BENCH_RECORDS, default 1,000,000 records of about
 *      300 bytes) into test.bench with the wire-level BatchWriter;
 *   3. runs every case in a child process of its own, AEROBAK_BENCH_RUNS times (rounds:
 *      every case once per round, so noise on the shared machine hits all alike), then
 *      the throttled backup and restore once, on a capped data set;
 *   4. prints the medians, the ratios, and writes everything to bench/results/<time>.json.
 *
 * Also, when asked (default: always): the start-up of the installed bin, once, before the
 * rounds (bench/cases/startup.ts); and the anchor cases in every round, Aerospike's C and
 * Go backup tools next to aerobak as whole processes, when they are on this machine
 * (bench/cases/anchor-common.ts); without them one line says they were skipped.
 *
 * Exits non-zero only if a case failed: there are no timing assertions.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { ANCHOR_CASES, CASE_NAMES, S3_CASES, RESULTS_DIR, SET, SOURCE_NAMESPACE, TARGET_NAMESPACE, readConfig, type AnchorCaseName, type BenchConfig, type CaseName } from './lib/config.js';
import { findAnchorTools } from './cases/anchor-common.js';
import { CaseFailed, runChild, stopChildren } from './lib/child.js';
import { truncateSet, type CaseParams, type CaseResult, type S3Target } from './lib/case-runtime.js';
import { generateRecord, recordDataBytes } from './lib/generator.js';
import { startServerProcess, type ServerProcess } from './lib/server.js';
import { formatAnchors, formatAnchorTries, formatRatios, formatStartup, formatTable, median, ratios, summarize, type CaseSummary, type StartupFigures } from './lib/summary.js';
import { PARTITION_COUNT } from '../src/aerospike/types.js';
import { startThrottledLink, type ThrottledLink } from './lib/throttled-link.js';

const config = readConfig();
const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const workRoot = join(config.workDir, stamp);
const log = (msg: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const FAST_CASES: CaseName[] = [
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
  ...ANCHOR_CASES,
];
const THROTTLED_CASES: CaseName[] = ['backup-throttled', 'restore-throttled'];

const NOTES: Partial<Record<CaseName, string>> = {
  'scan-ceiling': 'wire-level ScanReaders in batch mode over the backup partition groups, records discarded',
  'client-scan': 'official client scan().foreach(), records discarded (no backpressure)',
  'backup-none': 'runBackup to a local dir, --compress none',
  'gzip-alone': 'zlib gzip (level 6) of the Avro files of backup-none, all files at once; records/s equivalent',
  'backup-gzip': 'runBackup to a local dir, gzip level 6',
  restore: 'runRestore of the backup-gzip output into bar, mode replace (bar.bench truncated first)',
  'backup-encrypted': 'runBackup to a local dir, gzip level 6 and --encrypt with a key (AES-256-GCM 1 MiB segments)',
  'backup-zstd': 'runBackup to a local dir, zstd at the default level (1; node:zlib zstd streams, frame checksum on)',
  'restore-zstd': 'runRestore of the backup-zstd output into bar, mode replace (bar.bench truncated first)',
  'export-parquet': 'runExport from the cluster to Parquet in a local dir, default codec (snappy)',
  'export-from-backup': 'runExport of the backup-zstd output to Parquet in a local dir, default codec (snappy)',
  'export-avro': 'runExport from the cluster to Avro in a local dir, default codec (deflate)',
  'write-ceiling': 'BatchWriter x parallel, records pre-generated in memory, mode replace; RSS includes them',
  'backup-throttled': 'runBackup gzip, store writes throttled; capped partition range',
  'restore-throttled': 'runRestore of the throttled backup, store reads throttled',
  's3-backup': 'node dist/cli/main.js backup (default zstd) to s3:// on the S3 test server (MinIO, loopback), whole process',
  's3-restore': 'node dist/cli/main.js restore --mode replace of s3-backup from s3://, whole process',
  's3-backup-throttled': 's3-backup through a link throttled both ways (one rate shared by all connections); capped partition range',
  's3-restore-throttled': 's3-restore of s3-backup-throttled through the same throttled endpoint',
  'anchor-aerobak-backup-none': 'node dist/cli/main.js backup -z none, whole process, best of AEROBAK_BENCH_ANCHOR_PARALLEL',
  'anchor-aerobak-backup-zstd': 'node dist/cli/main.js backup -z zstd, whole process, best --parallel',
  'anchor-aerobak-restore': 'node dist/cli/main.js restore --mode replace of anchor-aerobak-backup-none, whole process, best --parallel',
  'anchor-c-backup-none': "Aerospike's C asbackup, no compression, whole process, best --parallel",
  'anchor-c-backup-zstd': 'C asbackup -z zstd, whole process, best --parallel',
  'anchor-c-restore': 'C asrestore -r of anchor-c-backup-none, whole process, best --parallel',
  'anchor-go-backup-none': 'Go asbackup (aerospike-backup-cli), no compression, whole process, best --parallel',
  'anchor-go-backup-zstd': 'Go asbackup -z ZSTD, whole process, best --parallel',
  'anchor-go-restore': 'Go asrestore -r of anchor-go-backup-none, whole process, best --parallel',
};

/**
 * The anchor cases this machine can run: a tool's backups when its asbackup is there, its
 * restore when its asbackup and asrestore are, aerobak's when any of them can run; and one
 * line about what was skipped (undefined when nothing was).
 */
function anchorPlan(config: BenchConfig): { runnable: Set<CaseName>; skipped: string | undefined; tools: ReturnType<typeof findAnchorTools> } {
  const tools = findAnchorTools();
  const runnable = new Set<CaseName>();
  const missing: string[] = [];
  for (const [tool, label, backupVar, restoreVar] of [
    ['c', "Aerospike's C asbackup/asrestore", 'AEROBAK_BENCH_ASBACKUP', 'AEROBAK_BENCH_ASRESTORE'],
    ['go', 'the Go asbackup/asrestore (aerospike-backup-cli)', 'AEROBAK_BENCH_ASBACKUP_GO', 'AEROBAK_BENCH_ASRESTORE_GO'],
  ] as const) {
    const t = tools[tool];
    if (t.backup) {
      runnable.add(`anchor-${tool}-backup-none`).add(`anchor-${tool}-backup-zstd`);
      if (t.restore) runnable.add(`anchor-${tool}-restore`);
      else missing.push(`${label}: no asrestore (${restoreVar})`);
    } else missing.push(`${label} (${backupVar}, ${restoreVar}, or on PATH)`);
  }
  // aerobak's own whole-process cases are the anchors' yardstick; they also run alone when
  // AEROBAK_BENCH_CASES names them (whole-process figures of aerobak without the other tools).
  const anyBackup = runnable.size > 0;
  const anyRestore = [...runnable].some((c) => c.endsWith('-restore'));
  for (const [c, withTools] of [
    ['anchor-aerobak-backup-none', anyBackup],
    ['anchor-aerobak-backup-zstd', anyBackup],
    ['anchor-aerobak-restore', anyRestore],
  ] as const) {
    if (withTools || (config.casesNamed && config.cases.includes(c))) runnable.add(c);
  }
  const skipped =
    missing.length === 0 ? undefined : runnable.size === 0 ? `anchor cases skipped: not found: ${missing.join('; ')}` : `some anchor cases skipped: not found: ${missing.join('; ')}`;
  return { runnable, skipped, tools };
}

/** Mean bin name + value bytes per record, from the first 20,000 records of the data set. */
function meanDataBytes(): number {
  const n = Math.min(config.records, 20_000);
  let total = 0;
  for (let i = 0; i < n; i++) total += recordDataBytes(generateRecord(i, SOURCE_NAMESPACE, SET));
  return total / n;
}

interface CaseRecord {
  runs: CaseResult[];
  failures: Array<{ round: number; message: string; output: string }>;
  summary?: CaseSummary;
  params?: Partial<CaseParams>;
}

const results: Partial<Record<CaseName, CaseRecord>> = {};
let server: ServerProcess | undefined;
let failed = false;

async function main(): Promise<void> {
  log(
    `${config.records.toLocaleString('en-US')} records${config.quick ? ' (quick mode)' : ''}, ${config.runs} run(s) per case, ` +
      `parallel ${config.parallel}, cases: ${config.cases.join(', ')}${config.profile ? ', CPU profiles on' : ''}`,
  );
  const dataBytes = meanDataBytes();
  let hosts = config.hosts;
  if (hosts === undefined) {
    server = await startServerProcess([SOURCE_NAMESPACE, TARGET_NAMESPACE]);
    hosts = server.hosts;
    log(`test server (pid ${server.pid}) listening on ${hosts}`);
  } else log(`using the cluster at AEROSPIKE_HOSTS=${hosts}`);

  const base: CaseParams = {
    hosts,
    namespace: SOURCE_NAMESPACE,
    targetNamespace: TARGET_NAMESPACE,
    set: SET,
    records: config.records,
    parallel: config.parallel,
    dir: workRoot,
  };
  const timeoutMs = Math.max(600_000, config.records); // 1 ms per record, at least 10 minutes
  mkdirSync(workRoot, { recursive: true });

  const extra: Record<string, unknown> = { meanDataBytesPerRecord: Math.round(dataBytes * 10) / 10 };
  const baseline = await runChild('baseline', base, { timeoutMs: 60_000 }).catch(() => undefined);
  if (baseline) {
    extra.baselineRssMB = baseline.peakRssMB;
    log(`baseline RSS of a case process (tsx + jobs + official client loaded): ${baseline.peakRssMB} MB`);
  }

  if (config.hosts !== undefined && config.skipLoad) log('AEROBAK_BENCH_SKIP_LOAD: not loading');
  else {
    log(`loading ${config.records.toLocaleString('en-US')} records into ${SOURCE_NAMESPACE}.${SET}...`);
    const load = await runChild('load', base, { timeoutMs });
    extra.load = load;
    log(`loaded in ${load.seconds.toFixed(1)} s (${Math.round(load.records / load.seconds).toLocaleString('en-US')} records/s)`);
  }
  if (server) extra.serverRssAfterLoadMB = await server.rssMB();

  const anchors = anchorPlan(config);
  const anchorAsked = ANCHOR_CASES.some((c) => config.cases.includes(c));
  if (anchorAsked) {
    extra.anchorTools = anchors.tools;
    if (anchors.skipped) log(anchors.skipped);
  }
  const wanted = (c: CaseName) => config.cases.includes(c) && (!(ANCHOR_CASES as readonly string[]).includes(c) || anchors.runnable.has(c));

  // Start-up of the installed bin, once (it repeats its own runs).
  if (wanted('startup')) {
    const r = await measure('startup', 1, { ...base, dir: join(workRoot, 'startup') }, { timeoutMs: 600_000 });
    if (r) extra.startup = r.extra;
  }

  // The fast cases, round after round.
  for (let round = 1; round <= config.runs; round++) {
    const roundDir = join(workRoot, `round-${round}`);
    const outputs: Partial<Record<CaseName, string>> = {};
    for (const c of FAST_CASES) {
      if (!wanted(c)) continue;
      const p: CaseParams = { ...base, dir: join(roundDir, c) };
      if (c === 'gzip-alone') {
        if (!outputs['backup-none']) {
          note(c, round, 'needs backup-none in the same round (not run or failed): skipped');
          continue;
        }
        p.input = outputs['backup-none'];
      }
      if (c.startsWith('anchor-') && c.endsWith('-restore')) {
        const from = c.replace(/-restore$/, '-backup-none') as AnchorCaseName;
        if (!outputs[from]) {
          note(c, round, `needs ${from} in the same round (not run or failed): skipped`);
          continue;
        }
        p.input = outputs[from];
      }
      if (c === 'restore' || c === 'restore-zstd' || c === 'export-from-backup') {
        const from = c === 'restore' ? 'backup-gzip' : 'backup-zstd';
        if (!outputs[from]) {
          note(c, round, `needs ${from} in the same round (not run or failed): skipped`);
          continue;
        }
        p.input = outputs[from];
      }
      const r = await measure(c, round, p, {
        timeoutMs,
        ...(c === 'write-ceiling' ? { nodeFlags: ['--max-old-space-size=16384'] } : {}),
      });
      if (r && (c === 'backup-none' || c === 'backup-gzip' || c === 'backup-zstd')) outputs[c] = p.dir;
      // An anchor backup leaves its fastest run's directory under its own.
      if (r && c.startsWith('anchor-') && c.endsWith('-backup-none') && typeof r.extra?.dir === 'string') outputs[c] = join(p.dir, r.extra.dir);
    }
    if (!config.keep) rmSync(roundDir, { recursive: true, force: true });
  }

  // The throttled pair, once, on a data set capped so that each run takes about
  // throttleSeconds: at the throttled rate, or at the unthrottled speed of the same job
  // (from the rounds above) when that is slower (then the store is not the bottleneck).
  if (THROTTLED_CASES.some(wanted)) {
    const rate = config.throttleMBps * 1e6;
    const cap = throttledCap('backup-gzip', 'restore');
    const partitions = cap.partitions;
    extra.throttle = cap.figures;
    log(`throttled runs at ${config.throttleMBps} MB/s: ${cap.line}`);
    const dir = join(workRoot, 'throttled');
    const backupDir = join(dir, 'backup');
    let backedUp = false;
    if (wanted('backup-throttled') || wanted('restore-throttled')) {
      backedUp =
        (await measure(
          'backup-throttled',
          1,
          { ...base, dir: backupDir, partitions, throttleBytesPerSecond: rate },
          { timeoutMs },
          !wanted('backup-throttled'),
        )) !== undefined;
    }
    if (wanted('restore-throttled')) {
      if (backedUp) await measure('restore-throttled', 1, { ...base, dir, input: backupDir, throttleBytesPerSecond: rate }, { timeoutMs });
      else note('restore-throttled', 1, 'needs the throttled backup, which failed: skipped');
    }
    if (!config.keep) rmSync(dir, { recursive: true, force: true });
  }
  // The S3 cases, once each: the bin to and from the S3 test server, then through a link
  // throttled to the same rate as the throttled pair, on a capped data set.
  if (S3_CASES.some(wanted)) {
    try {
      extra.s3 = await runS3Cases(base, timeoutMs);
    } catch (err) {
      // Named in AEROBAK_BENCH_CASES, they must run; in a run of every case, no S3 test
      // server (MinIO, built from the Go module proxy on first use) is one skipped line.
      if (config.casesNamed) failed = true;
      log(`the S3 cases ${config.casesNamed ? 'FAILED' : 'were skipped'}: ${(err as Error).message}`);
    }
  }
  if (server) extra.serverRssAtEndMB = await server.rssMB();
  if (config.hosts !== undefined && !config.keep) {
    // A real cluster is shared: leave nothing behind (AEROBAK_BENCH_KEEP=1 keeps test.bench for AEROBAK_BENCH_SKIP_LOAD).
    log(`truncating ${SOURCE_NAMESPACE}.${SET} and ${TARGET_NAMESPACE}.${SET} on ${config.hosts}`);
    for (const ns of [SOURCE_NAMESPACE, TARGET_NAMESPACE]) await truncateSet(config.hosts, ns, SET).catch((err: Error) => log(`truncate ${ns}.${SET}: ${err.message}`));
  }

  // Summaries.
  const summaries: Partial<Record<CaseName, CaseSummary>> = {};
  for (const c of CASE_NAMES) {
    const rec = results[c];
    if (!rec || c === 'startup') continue;
    rec.summary = summarize(rec.runs, rec.failures.length, dataBytes);
    if (rec.summary) summaries[c] = rec.summary;
  }
  for (const c of [...THROTTLED_CASES, 's3-backup-throttled', 's3-restore-throttled'] as const) {
    const r = results[c]?.runs[0];
    if (!r) continue;
    const mbps = r.bytes / r.seconds / 1e6;
    const bound = mbps >= 0.8 * config.throttleMBps;
    NOTES[c] =
      `${NOTES[c]}; ${r.records.toLocaleString('en-US')} records, stored bytes at ${mbps.toFixed(1)} MB/s of ${config.throttleMBps}: ` +
      (bound ? 'the store was the bottleneck' : 'the store was NOT the bottleneck (the job is slower than the throttle; lower AEROBAK_BENCH_THROTTLE_MBPS)');
    r.extra = { ...r.extra, storeWasBottleneck: bound };
  }
  for (const c of ['s3-backup', 's3-backup-throttled'] as const) {
    const buffers = results[c]?.runs[0]?.extra?.uploadBuffersMB;
    if (typeof buffers === 'number') NOTES[c] = `${NOTES[c]}; the uploads may hold up to ${buffers} MiB (groups x (queueSize + 2) x partSize)`;
  }
  const ratioList = ratios(summaries);
  const target = config.hosts === undefined ? 'the project test server (1 node, child process)' : `AEROSPIKE_HOSTS=${config.hosts}`;
  const title =
    `aerobak benchmark: ${config.records.toLocaleString('en-US')} records (~${dataBytes.toFixed(0)} B of bin data each), ` +
    `median of ${config.runs} run(s), parallel ${config.parallel}, against ${target}${config.profile ? ' — CPU PROFILING ON, timings inflated' : ''}`;
  const table = formatTable(summaries, CASE_NAMES, NOTES);
  console.log(`\n${title}\n\n${table}\n\nRatios (records/s):\n${formatRatios(ratioList)}\n`);
  if (extra.startup) console.log(`Start-up (whole processes, the installed bin node dist/cli/main.js):\n${formatStartup(extra.startup as StartupFigures)}\n`);
  const anchorTable = formatAnchors(summaries, bestParallels());
  if (anchorTable) console.log(`Anchors (whole processes, each tool at its best --parallel, shown after @):\n${anchorTable}\n`);
  const anchorTries = formatAnchorTries(Object.fromEntries(ANCHOR_CASES.map((c) => [c, results[c]?.runs ?? []])));
  if (anchorTries) console.log(`Anchors at each --parallel tried (medians over the rounds: seconds, peak RSS):\n${anchorTries}\n`);
  if (anchorAsked && anchors.skipped) console.log(`${anchors.skipped}\n`);

  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${stamp}.json`);
  const json = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    config: { ...config, workDir: undefined },
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, totalMemGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    target,
    ...extra,
    cases: results,
    ratios: ratioList,
  };
  writeFileSync(path, `${JSON.stringify(json, null, 2)}\n`);
  console.log(`results: ${path}`);
  if (config.profile) console.log(`CPU profiles: ${join(RESULTS_DIR, 'profiles')} (summarize one: npx tsx bench/profile-summary.ts bench/results/profiles/<case>-r1-${stamp}/)`);
}

/**
 * The partition range a throttled pair runs on, so that each run takes about
 * throttleSeconds: at the throttled rate, or at the unthrottled speed of the same jobs
 * (`backupCase`, `restoreCase`, from the runs so far) when that is slower (then the store
 * is not the bottleneck).
 */
function throttledCap(backupCase: CaseName, restoreCase: CaseName): { partitions: { first: number; last: number }; figures: Record<string, unknown>; line: string } {
  const rate = config.throttleMBps * 1e6;
  const runs = results[backupCase]?.runs ?? [];
  const storedPerRecord = runs.length > 0 ? runs.reduce((n, r) => n + r.bytes, 0) / runs.reduce((n, r) => n + r.records, 0) : 250;
  const medianRps = (c: CaseName) => {
    const rs = results[c]?.runs ?? [];
    return rs.length > 0 ? median(rs.map((r) => r.records / r.seconds)) : Infinity;
  };
  const byRate = (rate * config.throttleSeconds) / storedPerRecord;
  const bySpeed = Math.min(medianRps(backupCase), medianRps(restoreCase)) * config.throttleSeconds;
  const wantedRecords = Math.min(config.records, byRate, bySpeed);
  const count = Math.max(1, Math.min(PARTITION_COUNT, Math.round((PARTITION_COUNT * wantedRecords) / config.records)));
  const partitions = { first: 0, last: count - 1 };
  const expectedRecords = Math.round((config.records * count) / PARTITION_COUNT);
  const cappedBy = wantedRecords === config.records ? 'data set size' : byRate <= bySpeed ? 'throttled rate' : 'unthrottled speed (the store will not be the bottleneck)';
  return {
    partitions,
    figures: { MBps: config.throttleMBps, targetSeconds: config.throttleSeconds, partitions: `${partitions.first}-${partitions.last}`, expectedRecords, storedBytesPerRecord: Math.round(storedPerRecord), cappedBy },
    line:
      `partitions ${partitions.first}-${partitions.last} (~${expectedRecords.toLocaleString('en-US')} records, ` +
      `~${Math.round((expectedRecords * storedPerRecord) / 1e6)} MB stored; capped by ${cappedBy})`,
  };
}

/**
 * The S3 cases: starts the S3 test server (MinIO, built on first use like the tests do) and,
 * for the throttled pair, a throttled link in front of it (bench/lib/throttled-link.ts); runs
 * the wanted cases once; stops both. Returns what the JSON keeps about them.
 */
async function runS3Cases(base: CaseParams, timeoutMs: number): Promise<Record<string, unknown>> {
  const wanted = (c: CaseName) => config.cases.includes(c);
  const { startS3Server } = await import('../test/support/s3-server.js');
  log('starting the S3 test server (MinIO) for the S3 cases...');
  const s3 = await startS3Server({ quiet: true });
  const figures: Record<string, unknown> = {};
  let link: ThrottledLink | undefined;
  try {
    await s3.createBucket('bench');
    const endpoint = s3.options.endpoint!;
    const creds = s3.options.credentials as { accessKeyId: string; secretAccessKey: string };
    const target = (prefix: string, through = endpoint): S3Target => ({ endpoint: through, region: s3.options.region ?? 'us-east-1', accessKeyId: creds.accessKeyId, secretAccessKey: creds.secretAccessKey, bucket: 'bench', prefix });
    const dir = join(workRoot, 's3');
    if (wanted('s3-backup') || wanted('s3-restore')) {
      const t = target(`${stamp}-full`);
      const backedUp = (await measure('s3-backup', 1, { ...base, dir, s3: t }, { timeoutMs }, !wanted('s3-backup'))) !== undefined;
      if (wanted('s3-restore')) {
        if (backedUp) await measure('s3-restore', 1, { ...base, dir, s3: t }, { timeoutMs });
        else note('s3-restore', 1, 'needs s3-backup, which failed: skipped');
      }
    }
    if (wanted('s3-backup-throttled') || wanted('s3-restore-throttled')) {
      const rate = config.throttleMBps * 1e6;
      const u = new URL(endpoint);
      link = await startThrottledLink({ host: u.hostname, port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)) }, rate);
      const cap = throttledCap('s3-backup', 's3-restore');
      figures.throttle = { ...cap.figures, through: 'bench/lib/throttled-link.ts: one token bucket each way, shared by every connection' };
      log(`S3 throttled runs through a link of ${config.throttleMBps} MB/s each way: ${cap.line}`);
      const t = target(`${stamp}-throttled`, `${u.protocol}//${link.address}`);
      const backedUp =
        (await measure('s3-backup-throttled', 1, { ...base, dir, s3: t, partitions: cap.partitions, throttleBytesPerSecond: rate }, { timeoutMs }, !wanted('s3-backup-throttled'))) !== undefined;
      if (wanted('s3-restore-throttled')) {
        if (backedUp) await measure('s3-restore-throttled', 1, { ...base, dir, s3: t, throttleBytesPerSecond: rate }, { timeoutMs });
        else note('s3-restore-throttled', 1, 'needs s3-backup-throttled, which failed: skipped');
      }
    }
  } finally {
    await link?.close().catch(() => undefined);
    await s3.stop();
  }
  return figures;
}

/** Each anchor case's best --parallel, in its median run. */
function bestParallels(): Partial<Record<CaseName, number>> {
  const out: Partial<Record<CaseName, number>> = {};
  for (const c of ANCHOR_CASES) {
    const runs = results[c]?.runs ?? [];
    if (runs.length === 0) continue;
    const m = median(runs.map((r) => r.records / r.seconds));
    const r = [...runs].sort((a, b) => Math.abs(a.records / a.seconds - m) - Math.abs(b.records / b.seconds - m))[0]!;
    if (typeof r.extra?.bestParallel === 'number') out[c] = r.extra.bestParallel;
  }
  return out;
}

function note(c: CaseName, round: number, message: string): void {
  log(`${c} (round ${round}): ${message}`);
}

/** Runs one case once; records its result or failure. `quiet`: a prerequisite, not reported as a case. */
async function measure(
  c: CaseName,
  round: number,
  p: CaseParams,
  opts: { timeoutMs: number; nodeFlags?: string[] },
  quiet = false,
): Promise<CaseResult | undefined> {
  const rec = (results[c] ??= { runs: [], failures: [] });
  rec.params = { ...(p.partitions ? { partitions: p.partitions } : {}), ...(p.throttleBytesPerSecond ? { throttleBytesPerSecond: p.throttleBytesPerSecond } : {}) };
  log(`${c} (round ${round})...`);
  try {
    const r = await runChild(c, p, {
      ...opts,
      ...(config.profile ? { profileLabel: `${c}-r${round}-${stamp}` } : {}),
    });
    if (!quiet) rec.runs.push(r);
    log(
      `${c} (round ${round}): ${r.records.toLocaleString('en-US')} records in ${r.seconds.toFixed(2)} s = ` +
        `${Math.round(r.records / r.seconds).toLocaleString('en-US')} records/s, peak RSS ${r.peakRssMB.toFixed(0)} MB`,
    );
    return r;
  } catch (err) {
    failed = true;
    const message = (err as Error).message;
    const output = err instanceof CaseFailed ? err.output : '';
    rec.failures.push({ round, message, output });
    log(`${c} (round ${round}) FAILED: ${message}\n${output.trim().split('\n').slice(-30).join('\n')}`);
    return undefined;
  }
}

let shuttingDown: Promise<void> | undefined;
function shutdown(): Promise<void> {
  shuttingDown ??= (async () => {
    stopChildren();
    await server?.stop();
    if (!config.keep) rmSync(workRoot, { recursive: true, force: true });
  })();
  return shuttingDown;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void shutdown().finally(() => process.exit(130));
  });
}

main().then(
  async () => {
    await shutdown();
    process.exit(failed ? 1 : 0);
  },
  async (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    await shutdown();
    process.exit(1);
  },
);
