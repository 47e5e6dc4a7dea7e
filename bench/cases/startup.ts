/**
 * Start-up (docs/performance.md, "Start-up"): aerobak's installed bin (`node
 * dist/cli/main.js`, built first when dist/ is stale) as whole processes, timed from
 * outside, AEROBAK_BENCH_STARTUP_RUNS times each (default 10) after one warm-up run each:
 *
 *   help          aerobak --help
 *   backup-empty  aerobak backup -n <namespace> -s <an empty set> --to <new dir>, against the bench's server
 *   node          node -e 0, the floor: the runtime's own start-up
 *
 * Reports the median, min and max wall seconds of each (and CPU and peak RSS from
 * /usr/bin/time when there is one) in `extra`; bench/run.ts prints them. A figure, never
 * an assertion.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { runCase, type CaseParams, type CaseResult } from '../lib/case-runtime.js';
import { median } from '../lib/summary.js';
import { AEROBAK_BIN, ensureBuilt, runProcess, type ProcessRun } from './anchor-common.js';

export interface StartupFigure {
  runs: number;
  medianSeconds: number;
  minSeconds: number;
  maxSeconds: number;
  medianCpuSeconds?: number;
  medianPeakRssMB?: number;
}

function figure(runs: ProcessRun[]): StartupFigure {
  const wall = runs.map((r) => r.seconds);
  const cpu = runs.flatMap((r) => (r.cpuSeconds === undefined ? [] : [r.cpuSeconds]));
  const rss = runs.flatMap((r) => (r.peakRssMB === undefined ? [] : [r.peakRssMB]));
  return {
    runs: runs.length,
    medianSeconds: median(wall),
    minSeconds: Math.min(...wall),
    maxSeconds: Math.max(...wall),
    ...(cpu.length > 0 ? { medianCpuSeconds: median(cpu) } : {}),
    ...(rss.length > 0 ? { medianPeakRssMB: median(rss) } : {}),
  };
}

async function times(n: number, make: (i: number) => { command: string; args: string[] }): Promise<ProcessRun[]> {
  const out: ProcessRun[] = [];
  for (let i = -1; i < n; i++) {
    const { command, args } = make(i);
    const r = await runProcess(command, args, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${r.code}:\n${r.output}`);
    if (i >= 0) out.push(r);
  }
  return out;
}

async function main(p: CaseParams): Promise<CaseResult> {
  ensureBuilt();
  const n = Number(process.env.AEROBAK_BENCH_STARTUP_RUNS ?? 10);
  if (!Number.isInteger(n) || n < 1) throw new Error(`AEROBAK_BENCH_STARTUP_RUNS: expected an integer >= 1, got "${process.env.AEROBAK_BENCH_STARTUP_RUNS}"`);
  const emptySet = `${p.set}_startup_empty`;
  const node = await times(n, () => ({ command: process.execPath, args: ['-e', '0'] }));
  const help = await times(n, () => ({ command: process.execPath, args: [AEROBAK_BIN, '--help'] }));
  const backup = await times(n, (i) => ({
    command: process.execPath,
    args: [AEROBAK_BIN, 'backup', '-h', p.hosts, '-n', p.namespace, '-s', emptySet, '--to', join(p.dir, `empty-${i + 1}`)],
  }));
  rmSync(p.dir, { recursive: true, force: true });
  const all = [...help, ...backup];
  return {
    records: all.length,
    bytes: 0,
    bytesWhat: 'n/a (whole processes)',
    seconds: all.reduce((s, r) => s + r.seconds, 0),
    peakRssMB: Math.max(...all.map((r) => r.peakRssMB ?? 0)),
    cpuSeconds: all.reduce((s, r) => s + (r.cpuSeconds ?? 0), 0),
    rssProfileMB: [],
    extra: { node: figure(node), help: figure(help), backupEmpty: figure(backup), emptySet, bin: 'node dist/cli/main.js' },
  };
}

runCase(main);
