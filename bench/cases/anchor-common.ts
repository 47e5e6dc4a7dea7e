/**
 * The anchor cases (docs/performance.md, "Anchors"): Aerospike's own backup tools, run as
 * whole processes on the bench's data, server and rounds, next to aerobak run the same way
 * (its installed bin, `node dist/cli/main.js`), so the summary can print aerobak's speed
 * as a ratio to each.
 *
 *   anchor-<tool>-backup-none   a backup of namespace.set to a new directory, no compression
 *   anchor-<tool>-backup-zstd   the same with zstd (each tool's default level)
 *   anchor-<tool>-restore       a restore of that tool's uncompressed backup into the target
 *                               namespace, replacing records (asrestore -r; aerobak --mode
 *                               replace), the target set truncated first
 *
 * <tool>: `aerobak`, `c` (Aerospike's C asbackup/asrestore, aerospike-tools) and `go` (the
 * Go asbackup/asrestore of aerospike-backup-cli). The tools are found by findAnchorTools():
 * AEROBAK_BENCH_ASBACKUP, AEROBAK_BENCH_ASRESTORE (C), AEROBAK_BENCH_ASBACKUP_GO,
 * AEROBAK_BENCH_ASRESTORE_GO (Go), or `asbackup`/`asrestore` on PATH (sorted into C or Go by
 * what `--version` prints). The project never builds or installs them.
 *
 * Every run is timed from outside, start to exit (with /usr/bin/time, when there is one,
 * for the process's CPU and peak RSS). Each case tries every --parallel of
 * AEROBAK_BENCH_ANCHOR_PARALLEL (default 4,8) in each round and reports the fastest, with
 * every try in `extra.tries`: each tool at its best --parallel. Records are the data set's
 * (every tool backs up the whole set); bytes are the files the tool left in its directory.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { REPO_DIR } from '../lib/config.js';
import { truncateSet, type CaseParams, type CaseResult } from '../lib/case-runtime.js';
import type { AnchorTry } from '../lib/summary.js';

export type AnchorTool = 'aerobak' | 'c' | 'go';
export type AnchorKind = 'backup-none' | 'backup-zstd' | 'restore';

export interface AnchorTools {
  c: { backup?: string; restore?: string };
  go: { backup?: string; restore?: string };
}

/** `name` on PATH, or undefined. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (!dir) continue;
    const p = join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not there
    }
  }
  return undefined;
}

/** True when `--version` of the executable says it is the Go tool (aerospike-backup-cli). */
function isGoTool(path: string): boolean {
  const r = spawnSync(path, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  // aerospike-backup-cli 1.0 prints `version: v1.0.0 (<commit>) <build time>`; the C tool
  // `Aerospike Backup Utility` and `Version 4.x.y`.
  return /backup[- ]cli|backup-go|\bgo\d|golang|\bGo\b|^version: v\d/im.test(`${r.stdout ?? ''}${r.stderr ?? ''}`);
}

/** The anchor tools this machine has (see the header). */
export function findAnchorTools(env: NodeJS.ProcessEnv = process.env): AnchorTools {
  const tools: AnchorTools = { c: {}, go: {} };
  const set = (v: string | undefined) => (v?.trim() ? v.trim() : undefined);
  tools.c.backup = set(env.AEROBAK_BENCH_ASBACKUP);
  tools.c.restore = set(env.AEROBAK_BENCH_ASRESTORE);
  tools.go.backup = set(env.AEROBAK_BENCH_ASBACKUP_GO);
  tools.go.restore = set(env.AEROBAK_BENCH_ASRESTORE_GO);
  for (const [kind, name] of [
    ['backup', 'asbackup'],
    ['restore', 'asrestore'],
  ] as const) {
    const found = onPath(name);
    if (!found || found === tools.c[kind] || found === tools.go[kind]) continue;
    const slot = isGoTool(found) ? tools.go : tools.c;
    slot[kind] ??= found;
  }
  return tools;
}

/** The --parallel values each anchor case tries (AEROBAK_BENCH_ANCHOR_PARALLEL, default 4,8). */
export function anchorParallels(env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.AEROBAK_BENCH_ANCHOR_PARALLEL?.trim() || '4,8';
  const values = raw.split(',').map((s) => Number(s.trim()));
  if (values.length === 0 || values.some((n) => !Number.isInteger(n) || n < 1 || n > 256)) throw new Error(`AEROBAK_BENCH_ANCHOR_PARALLEL: expected a comma list of integers 1-256, got "${raw}"`);
  return [...new Set(values)];
}

/** The newest modification time of any file under `dir` (ms). */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

export const AEROBAK_BIN = join(REPO_DIR, 'dist', 'cli', 'main.js');

/**
 * Makes sure dist/ (the installed bin's code) is built from the current sources: runs the
 * project's build (`tsc -p tsconfig.build.json`, what `npm run build` runs) when
 * dist/cli/main.js is missing or older than a file of src/ or package.json.
 */
export function ensureBuilt(log: (msg: string) => void = (m) => console.error(m)): void {
  const stale = !existsSync(AEROBAK_BIN) || statSync(AEROBAK_BIN).mtimeMs < Math.max(newest(join(REPO_DIR, 'src')), statSync(join(REPO_DIR, 'package.json')).mtimeMs);
  if (!stale) return;
  log(`building dist/ (${relative(REPO_DIR, AEROBAK_BIN)} is missing or older than src/): tsc -p tsconfig.build.json`);
  const tsc = join(REPO_DIR, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: REPO_DIR, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the build failed:\n${r.stdout}${r.stderr}`);
}

export interface ProcessRun {
  code: number | null;
  seconds: number;
  /** From /usr/bin/time; undefined without it. */
  cpuSeconds?: number;
  peakRssMB?: number;
  output: string;
}

const TIME = '/usr/bin/time';

/** Runs a command to its exit, timed from outside; its output kept (the last 16 KiB). */
export function runProcess(command: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<ProcessRun> {
  const useTime = existsSync(TIME);
  const timeFile = useTime ? join(tmpdir(), `aerobak-bench-time-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`) : undefined;
  const argv = useTime ? ['-f', '%U %S %M', '-o', timeFile!, command, ...args] : args;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(useTime ? TIME : command, argv, { cwd: opts.cwd ?? REPO_DIR, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const keep = (d: Buffer) => (output = (output + d.toString()).slice(-16_384));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (timer) clearTimeout(timer);
      const run: ProcessRun = { code, seconds, output };
      if (timeFile && existsSync(timeFile)) {
        const m = /(\d+\.\d+) (\d+\.\d+) (\d+)\s*$/.exec(readFileSync(timeFile, 'utf8'));
        if (m) {
          run.cpuSeconds = Number(m[1]) + Number(m[2]);
          run.peakRssMB = Math.round(Number(m[3]) / 102.4) / 10;
        }
        rmSync(timeFile, { force: true });
      }
      resolve(run);
    });
  });
}

function dirBytes(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  if (!existsSync(dir)) return { bytes, files };
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) {
      const sub = dirBytes(p);
      bytes += sub.bytes;
      files += sub.files;
    } else {
      bytes += statSync(p).size;
      files++;
    }
  }
  return { bytes, files };
}

/** host:port list → the first host and port (the C and Go tools take -h HOST -p PORT too). */
function firstHost(hosts: string): { host: string; port: string } {
  const first = hosts.split(',')[0]!.trim();
  const colon = first.lastIndexOf(':');
  return colon < 0 ? { host: first, port: '3000' } : { host: first.slice(0, colon), port: first.slice(colon + 1) };
}

/** The command line of one run of a tool. `dir`: the backup directory (written, or read by a restore). */
export function anchorCommand(tool: AnchorTool, kind: AnchorKind, p: CaseParams, dir: string, parallel: number, tools: AnchorTools): { command: string; args: string[] } {
  const { host, port } = firstHost(p.hosts);
  if (tool === 'aerobak') {
    const base = [AEROBAK_BIN];
    if (kind === 'restore') return { command: process.execPath, args: [...base, 'restore', '-h', p.hosts, '--from', dir, '-n', `${p.namespace}:${p.targetNamespace}`, '--mode', 'replace', '-w', String(parallel)] };
    return { command: process.execPath, args: [...base, 'backup', '-h', p.hosts, '-n', p.namespace, '-s', p.set, '--to', dir, '-w', String(parallel), '-z', kind === 'backup-zstd' ? 'zstd' : 'none'] };
  }
  const slot = tools[tool];
  if (kind === 'restore') {
    if (!slot.restore) throw new Error(`no ${tool === 'c' ? 'C' : 'Go'} asrestore`);
    // asrestore: -n SRC,DST maps the namespace; -r replaces whole records and -g skips the
    // generation check (both tools), as aerobak --mode replace does.
    return { command: slot.restore, args: ['-h', host, '-p', port, '-n', `${p.namespace},${p.targetNamespace}`, '-d', dir, '-r', '-g', '--parallel', String(parallel)] };
  }
  if (!slot.backup) throw new Error(`no ${tool === 'c' ? 'C' : 'Go'} asbackup`);
  const args = ['-h', host, '-p', port, '-n', p.namespace, '-s', p.set, '-d', dir, '--parallel', String(parallel)];
  // C asbackup: -z zstd (or none, its default); the Go tool: -z ZSTD (or NONE).
  if (kind === 'backup-zstd') args.push('-z', tool === 'go' ? 'ZSTD' : 'zstd');
  return { command: slot.backup, args };
}

/**
 * One anchor case: every --parallel of AEROBAK_BENCH_ANCHOR_PARALLEL once, the fastest
 * reported. A backup case leaves its fastest run's directory at p.dir (for the restore
 * case, given it as p.input); a restore reads p.input.
 */
export async function anchorCase(tool: AnchorTool, kind: AnchorKind, p: CaseParams): Promise<CaseResult> {
  const tools = findAnchorTools();
  if (tool === 'aerobak') ensureBuilt();
  const tries: AnchorTry[] = [];
  let best: { parallel: number; run: ProcessRun; bytes: number; files: number; dir: string } | undefined;
  for (const parallel of anchorParallels()) {
    let dir: string;
    if (kind === 'restore') {
      if (!p.input) throw new Error(`${tool} restore: no input backup`);
      dir = p.input;
      await truncateSet(p.hosts, p.targetNamespace, p.set);
    } else {
      dir = join(p.dir, `parallel-${parallel}`);
      rmSync(dir, { recursive: true, force: true });
      // aerobak and the Go tool create the directory; the C asbackup wants it absent or empty.
      if (tool === 'c') mkdirSync(dir, { recursive: true });
    }
    const { command, args } = anchorCommand(tool, kind, p, dir, parallel, tools);
    const run = await runProcess(command, args, { timeoutMs: Math.max(600_000, p.records) });
    if (run.code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${run.code}:\n${run.output}`);
    const size = dirBytes(dir);
    tries.push({ parallel, seconds: run.seconds, ...(run.cpuSeconds !== undefined ? { cpuSeconds: run.cpuSeconds } : {}), ...(run.peakRssMB !== undefined ? { peakRssMB: run.peakRssMB } : {}), ...size });
    if (!best || run.seconds < best.run.seconds) {
      if (best && kind !== 'restore') rmSync(best.dir, { recursive: true, force: true });
      best = { parallel, run, ...size, dir };
    } else if (kind !== 'restore') rmSync(dir, { recursive: true, force: true });
  }
  const b = best!;
  const what = kind === 'restore' ? 'backup bytes read' : kind === 'backup-zstd' ? 'stored (zstd) bytes written' : 'stored (uncompressed) bytes written';
  return {
    records: p.records,
    bytes: b.bytes,
    bytesWhat: `${what}, whole process`,
    seconds: b.run.seconds,
    peakRssMB: b.run.peakRssMB ?? 0,
    cpuSeconds: b.run.cpuSeconds ?? 0,
    rssProfileMB: [],
    extra: { tool, kind, bestParallel: b.parallel, files: b.files, dir: kind === 'restore' ? undefined : relative(p.dir, b.dir), tries, command: anchorCommand(tool, kind, p, b.dir, b.parallel, tools).args.join(' ') },
  };
}
