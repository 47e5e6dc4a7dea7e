/**
 * Medians, ratios and the printed table.
 */
import type { CaseName } from './config.js';
import type { CaseResult } from './case-runtime.js';

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export interface CaseSummary {
  runs: number;
  failures: number;
  records: number;
  /** Medians over the successful runs. */
  recordsPerSecond: number;
  seconds: number;
  /** records/s × mean bin data bytes per record of the data set. */
  dataMBps: number;
  /** The case's own bytes (see bytesWhat) per second. */
  ownMBps: number;
  bytesWhat: string;
  peakRssMB: number;
  peakRssMaxMB: number;
  cpuSeconds: number;
  /** RSS profile of the median run (by records/s). */
  rssProfileMB: number[];
}

export function summarize(results: CaseResult[], failures: number, dataBytesPerRecord: number): CaseSummary | undefined {
  if (results.length === 0) return undefined;
  const rps = results.map((r) => r.records / r.seconds);
  const m = median(rps);
  const byDistance = [...results].sort((a, b) => Math.abs(a.records / a.seconds - m) - Math.abs(b.records / b.seconds - m));
  return {
    runs: results.length,
    failures,
    records: results[0]!.records,
    recordsPerSecond: m,
    seconds: median(results.map((r) => r.seconds)),
    dataMBps: (m * dataBytesPerRecord) / 1e6,
    ownMBps: median(results.map((r) => r.bytes / r.seconds / 1e6)),
    bytesWhat: results[0]!.bytesWhat,
    peakRssMB: median(results.map((r) => r.peakRssMB)),
    peakRssMaxMB: Math.max(...results.map((r) => r.peakRssMB)),
    cpuSeconds: median(results.map((r) => r.cpuSeconds)),
    rssProfileMB: byDistance[0]!.rssProfileMB,
  };
}

export interface Ratio {
  name: string;
  value: number | undefined;
  /** What it is the ratio of, in words. */
  of: string;
  /** The goal (issue 6), when there is one. */
  goal?: number;
}

export function ratios(s: Partial<Record<CaseName, CaseSummary>>): Ratio[] {
  const rps = (c: CaseName) => s[c]?.recordsPerSecond;
  const div = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? undefined : a / b);
  const scan = rps('scan-ceiling');
  const gz = rps('gzip-alone');
  const gzipCeiling = scan === undefined ? gz : gz === undefined ? scan : Math.min(scan, gz);
  return [
    { name: 'backup(none) / scan ceiling', of: 'records/s', value: div(rps('backup-none'), scan), goal: 0.9 },
    { name: 'backup(gzip) / min(scan ceiling, gzip ceiling)', of: 'records/s', value: div(rps('backup-gzip'), gzipCeiling), goal: 0.85 },
    { name: 'restore / write ceiling', of: 'records/s', value: div(rps('restore'), rps('write-ceiling')), goal: 0.85 },
    { name: 'backup(none) / official client scan', of: 'records/s', value: div(rps('backup-none'), rps('client-scan')) },
    { name: 'backup(gzip) / official client scan', of: 'records/s', value: div(rps('backup-gzip'), rps('client-scan')) },
    { name: 'scan ceiling / official client scan', of: 'records/s', value: div(scan, rps('client-scan')) },
    { name: 'backup(zstd 1) / backup(gzip 6)', of: 'records/s', value: div(rps('backup-zstd'), rps('backup-gzip')) },
    { name: 'backup(gzip 6, encrypted) / backup(gzip 6)', of: 'records/s', value: div(rps('backup-encrypted'), rps('backup-gzip')) },
    { name: 'restore(zstd 1) / restore(gzip 6)', of: 'records/s', value: div(rps('restore-zstd'), rps('restore')) },
    { name: 'export(parquet) / backup(zstd 1)', of: 'records/s', value: div(rps('export-parquet'), rps('backup-zstd')) },
    { name: 'export(parquet, from the backup) / backup(zstd 1)', of: 'records/s', value: div(rps('export-from-backup'), rps('backup-zstd')) },
    { name: 'export(avro) / backup(zstd 1)', of: 'records/s', value: div(rps('export-avro'), rps('backup-zstd')) },
    ...anchorRatios(s),
  ];
}

const ANCHOR_KINDS = [
  ['backup-none', 'backup (none)'],
  ['backup-zstd', 'backup (zstd)'],
  ['restore', 'restore'],
] as const;
const ANCHOR_TOOLS = [
  ['c', 'C asbackup/asrestore'],
  ['go', 'Go asbackup/asrestore'],
] as const;

/** aerobak / each anchor tool, whole processes at their best --parallel: only for the anchors that ran. */
export function anchorRatios(s: Partial<Record<CaseName, CaseSummary>>): Ratio[] {
  const out: Ratio[] = [];
  for (const [tool, toolName] of ANCHOR_TOOLS) {
    for (const [kind, kindName] of ANCHOR_KINDS) {
      const theirs = s[`anchor-${tool}-${kind}` as CaseName]?.recordsPerSecond;
      const ours = s[`anchor-aerobak-${kind}` as CaseName]?.recordsPerSecond;
      if (theirs === undefined) continue;
      out.push({ name: `aerobak / ${toolName}, ${kindName}, whole processes`, of: 'records/s', value: ours === undefined || theirs === 0 ? undefined : ours / theirs });
    }
  }
  return out;
}

/**
 * The anchors side by side: per kind, aerobak's records/s and each tool's (whole processes,
 * each at its best --parallel, shown after @), and aerobak's speed as a ratio to each.
 * `bestParallel` comes from the median run's extra; undefined when no anchor case ran.
 */
export function formatAnchors(s: Partial<Record<CaseName, CaseSummary>>, bestParallel: Partial<Record<CaseName, number>>): string | undefined {
  // The tools of which at least one case ran; the others get no columns.
  const tools = ANCHOR_TOOLS.filter(([tool]) => ANCHOR_KINDS.some(([kind]) => s[`anchor-${tool}-${kind}` as CaseName] !== undefined));
  if (tools.length === 0) return undefined;
  const cell = (c: CaseName) => {
    const x = s[c];
    return x === undefined ? '-' : `${fmtInt(x.recordsPerSecond)}${bestParallel[c] !== undefined ? ` @${bestParallel[c]}` : ''}`;
  };
  const head = ['', 'aerobak records/s', ...tools.flatMap(([, name]) => [`${name} records/s`, 'aerobak / it'])];
  const rows = ANCHOR_KINDS.map(([kind, kindName]) => {
    const ours = s[`anchor-aerobak-${kind}` as CaseName]?.recordsPerSecond;
    return [
      kindName,
      cell(`anchor-aerobak-${kind}` as CaseName),
      ...tools.flatMap(([tool]) => {
        const theirs = s[`anchor-${tool}-${kind}` as CaseName]?.recordsPerSecond;
        return [cell(`anchor-${tool}-${kind}` as CaseName), ours !== undefined && theirs ? (ours / theirs).toFixed(2) : '-'];
      }),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** One --parallel try of an anchor case, as anchorCase keeps it in extra.tries. */
export interface AnchorTry {
  parallel: number;
  seconds: number;
  cpuSeconds?: number;
  peakRssMB?: number;
  bytes: number;
  files: number;
}

/**
 * Every anchor tool's peak RSS and seconds at each --parallel it tried, medians over the
 * rounds: the table above reports only each round's fastest try, and a larger --parallel
 * that wins by the noise takes more memory, so the memory at the default (4) is read here.
 * Undefined when no anchor case ran.
 */
export function formatAnchorTries(runs: Partial<Record<CaseName, CaseResult[]>>): string | undefined {
  const rows: string[][] = [];
  for (const [kind, kindName] of ANCHOR_KINDS) {
    for (const [tool, toolName] of [['aerobak', 'aerobak'], ...ANCHOR_TOOLS] as const) {
      const results = runs[`anchor-${tool}-${kind}` as CaseName];
      if (!results || results.length === 0) continue;
      const byParallel = new Map<number, AnchorTry[]>();
      for (const r of results) {
        for (const t of (r.extra?.tries as AnchorTry[] | undefined) ?? []) {
          const list = byParallel.get(t.parallel) ?? [];
          list.push(t);
          byParallel.set(t.parallel, list);
        }
      }
      const cells = [...byParallel.entries()]
        .sort(([a], [b]) => a - b)
        .map(([parallel, tries]) => {
          const rss = tries.flatMap((t) => (t.peakRssMB === undefined ? [] : [t.peakRssMB]));
          const secs = median(tries.map((t) => t.seconds)).toFixed(2);
          return `@${parallel}: ${secs} s, ${rss.length > 0 ? `${median(rss).toFixed(0)} MB` : '- MB'}`;
        });
      if (cells.length > 0) rows.push([kindName, toolName, cells.join('   ')]);
    }
  }
  if (rows.length === 0) return undefined;
  const widths = [0, 1].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => `  ${r[0]!.padEnd(widths[0]!)}  ${r[1]!.padEnd(widths[1]!)}  ${r[2]}`).join('\n');
}

export interface StartupFigures {
  node?: { medianSeconds: number; minSeconds: number; maxSeconds: number; runs: number; medianCpuSeconds?: number; medianPeakRssMB?: number };
  help?: StartupFigures['node'];
  backupEmpty?: StartupFigures['node'];
}

/** The start-up case's medians, one line each. */
export function formatStartup(f: StartupFigures): string {
  const one = (label: string, x: StartupFigures['node']) =>
    x === undefined
      ? undefined
      : `  ${label.padEnd(40)} ${x.medianSeconds.toFixed(3)} s median of ${x.runs} (min ${x.minSeconds.toFixed(3)}, max ${x.maxSeconds.toFixed(3)})` +
        `${x.medianCpuSeconds !== undefined ? `, CPU ${x.medianCpuSeconds.toFixed(3)} s` : ''}${x.medianPeakRssMB !== undefined ? `, peak RSS ${x.medianPeakRssMB.toFixed(0)} MB` : ''}`;
  return [one('node -e 0 (the runtime alone)', f.node), one('aerobak --help', f.help), one('aerobak backup of an empty set', f.backupEmpty)].filter((l) => l !== undefined).join('\n');
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function formatTable(s: Partial<Record<CaseName, CaseSummary>>, order: readonly CaseName[], notes: Partial<Record<CaseName, string>>): string {
  const head = ['case', 'records', 'runs', 'records/s', 'data MB/s', 'own MB/s', 'seconds', 'CPU s', 'peak RSS MB', 'RSS over time (MB, 10 slices)'];
  const rows: string[][] = [];
  for (const c of order) {
    const x = s[c];
    if (!x) continue;
    rows.push([
      c,
      fmtInt(x.records),
      `${x.runs}${x.failures ? ` (+${x.failures} failed)` : ''}`,
      fmtInt(x.recordsPerSecond),
      x.dataMBps.toFixed(1),
      x.ownMBps > 0 ? x.ownMBps.toFixed(1) : '-',
      x.seconds.toFixed(2),
      x.cpuSeconds.toFixed(1),
      x.runs > 1 ? `${x.peakRssMB.toFixed(0)} (max ${x.peakRssMaxMB.toFixed(0)})` : x.peakRssMB.toFixed(0),
      x.rssProfileMB.join(' '),
    ]);
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const numeric = new Set([1, 3, 4, 5, 6, 7]);
  const line = (cells: string[]) => cells.map((c, i) => pad(c, widths[i]!, numeric.has(i))).join('  ');
  const out = [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
  const noteLines = order.filter((c) => s[c] && notes[c]).map((c) => `  ${c}: ${notes[c]}`);
  if (noteLines.length > 0) out.push('', ...noteLines);
  return out.join('\n');
}

export function formatRatios(list: Ratio[]): string {
  const w = Math.max(...list.map((r) => r.name.length));
  return list
    .map((r) => {
      const v = r.value === undefined ? 'n/a' : r.value.toFixed(2);
      const goal = r.goal === undefined ? '' : `   (goal >= ${r.goal.toFixed(2)}${r.value === undefined ? '' : r.value >= r.goal ? ', met' : ', not met'})`;
      return `  ${r.name.padEnd(w)}  ${v.padStart(5)}${goal}`;
    })
    .join('\n');
}
