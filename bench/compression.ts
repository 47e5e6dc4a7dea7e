/**
 * `npm run bench:compression`: backup speed, restore speed and stored size for each data
 * file compression worth considering as the default: gzip levels 1 and 6, zstd levels 1
 * and 3, and none, on the bench data set (docs/performance.md, "Compression").
 *
 * Same harness as `npm run bench` (test server in a child process or AEROSPIKE_HOSTS,
 * AEROBAK_BENCH_RECORDS, AEROBAK_BENCH_RUNS, AEROBAK_BENCH_PARALLEL); every codec's backup
 * and restore run once per round, in rounds, and the medians are printed with ratios to
 * gzip level 6 (the default before this table), measured in the same run.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RESULTS_DIR, SET, SOURCE_NAMESPACE, TARGET_NAMESPACE, readConfig } from './lib/config.js';
import { runChild, stopChildren } from './lib/child.js';
import { truncateSet, type CaseParams, type CaseResult } from './lib/case-runtime.js';
import { startServerProcess, type ServerProcess } from './lib/server.js';
import { median } from './lib/summary.js';

const config = readConfig();
const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
const workRoot = join(config.workDir, `compression-${stamp}`);
const log = (msg: string) => console.error(`[bench:compression ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const CODECS = [
  { label: 'gzip 1', compress: 'gzip', level: 1 },
  { label: 'gzip 6', compress: 'gzip', level: 6 },
  { label: 'zstd 1', compress: 'zstd', level: 1 },
  { label: 'zstd 3', compress: 'zstd', level: 3 },
  { label: 'none', compress: 'none', level: undefined },
] as const;

interface Row {
  backups: CaseResult[];
  restores: CaseResult[];
}

async function main(): Promise<void> {
  let server: ServerProcess | undefined;
  let hosts = config.hosts;
  if (hosts === undefined) {
    server = await startServerProcess([SOURCE_NAMESPACE, TARGET_NAMESPACE]);
    hosts = server.hosts;
  }
  const base: CaseParams = { hosts, namespace: SOURCE_NAMESPACE, targetNamespace: TARGET_NAMESPACE, set: SET, records: config.records, parallel: config.parallel, dir: workRoot };
  const timeoutMs = Math.max(600_000, config.records);
  mkdirSync(workRoot, { recursive: true });
  try {
    if (!(config.hosts !== undefined && config.skipLoad)) {
      log(`loading ${config.records.toLocaleString('en-US')} records...`);
      await runChild('load', base, { timeoutMs });
    }
    const rows = new Map<string, Row>(CODECS.map((c) => [c.label, { backups: [], restores: [] }]));
    for (let round = 1; round <= config.runs; round++) {
      for (const c of CODECS) {
        const dir = join(workRoot, `r${round}-${c.label.replace(' ', '')}`);
        const p: CaseParams = { ...base, dir, compress: c.compress, ...(c.level !== undefined ? { level: c.level } : {}) };
        const b = await runChild('backup-codec', p, { timeoutMs });
        const r = await runChild('restore-codec', { ...p, input: dir }, { timeoutMs });
        rows.get(c.label)!.backups.push(b);
        rows.get(c.label)!.restores.push(r);
        log(`${c.label} (round ${round}): backup ${Math.round(b.records / b.seconds).toLocaleString('en-US')} rec/s, restore ${Math.round(r.records / r.seconds).toLocaleString('en-US')} rec/s, ${(b.bytes / 1e6).toFixed(1)} MB`);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const rps = (rs: CaseResult[]) => median(rs.map((r) => r.records / r.seconds));
    const size = (rs: CaseResult[]) => median(rs.map((r) => r.bytes));
    const ref = rows.get('gzip 6')!;
    const table = [
      ['compression', 'backup rec/s', 'x gzip 6', 'restore rec/s', 'x gzip 6', 'stored MB', 'x gzip 6', 'backup CPU s'],
      ...CODECS.map((c) => {
        const row = rows.get(c.label)!;
        return [
          c.label,
          Math.round(rps(row.backups)).toLocaleString('en-US'),
          (rps(row.backups) / rps(ref.backups)).toFixed(2),
          Math.round(rps(row.restores)).toLocaleString('en-US'),
          (rps(row.restores) / rps(ref.restores)).toFixed(2),
          (size(row.backups) / 1e6).toFixed(1),
          (size(row.backups) / size(ref.backups)).toFixed(2),
          median(row.backups.map((r) => r.cpuSeconds)).toFixed(1),
        ];
      }),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => r[i]!.length)));
    const text = table.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
    const target = config.hosts === undefined ? 'the project test server (child process)' : `AEROSPIKE_HOSTS=${config.hosts}`;
    console.log(`\ncompression: ${config.records.toLocaleString('en-US')} records, median of ${config.runs} run(s), parallel ${config.parallel}, against ${target}\n\n${text}\n`);
    mkdirSync(RESULTS_DIR, { recursive: true });
    const path = join(RESULTS_DIR, `compression-${stamp}.json`);
    writeFileSync(path, `${JSON.stringify({ config: { ...config, workDir: undefined }, target, rows: Object.fromEntries(rows) }, null, 2)}\n`);
    console.log(`results: ${path}`);
    if (config.hosts !== undefined && !config.keep) for (const ns of [SOURCE_NAMESPACE, TARGET_NAMESPACE]) await truncateSet(config.hosts, ns, SET).catch(() => undefined);
  } finally {
    stopChildren();
    await server?.stop();
    rmSync(workRoot, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : err);
    process.exit(1);
  },
);
