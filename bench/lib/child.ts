/**
 * The parent side of a case: runs `node --import tsx bench/cases/<case>.ts` in a child
 * process with its parameters in AEROBAK_BENCH_PARAMS and collects the result line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, REPO_DIR, RESULTS_DIR } from './config.js';
import { RESULT_MARKER, type CaseParams, type CaseResult } from './case-runtime.js';

export const PROFILES_DIR = join(RESULTS_DIR, 'profiles');

export interface ChildOptions {
  /** Write CPU profiles (--cpu-prof) into bench/results/profiles/<label>/. */
  profileLabel?: string;
  /** Kill the case after this long. */
  timeoutMs: number;
  /** Extra node flags (e.g. a larger heap for the write ceiling). */
  nodeFlags?: string[];
  /** Called with every line the case writes (for progress). */
  onLine?: (line: string) => void;
}

export class CaseFailed extends Error {
  constructor(
    readonly caseName: string,
    message: string,
    readonly output: string,
  ) {
    super(`${caseName}: ${message}`);
  }
}

/** Running children, so that an interrupted benchmark can stop them. */
export const running = new Set<ChildProcess>();
let stopped = false;

/** Kills the running cases; no case starts after this. */
export function stopChildren(): void {
  stopped = true;
  for (const child of running) child.kill('SIGKILL');
}

export function runChild(caseName: string, p: CaseParams, opts: ChildOptions): Promise<CaseResult> {
  if (stopped) return Promise.reject(new CaseFailed(caseName, 'the benchmark is stopping', ''));
  const args = [...(opts.nodeFlags ?? [])];
  if (opts.profileLabel) {
    // Not tsx: its output is minified to one line per module, which a profile cannot be
    // mapped back from. This loader transpiles with TypeScript; profile-summary.ts maps.
    // One directory per run: the loader's thread writes a profile of its own.
    const dir = join(PROFILES_DIR, opts.profileLabel);
    mkdirSync(dir, { recursive: true });
    args.push('--import', join(BENCH_DIR, 'lib', 'profile-register.mjs'), '--cpu-prof', '--cpu-prof-dir', dir);
  } else args.push('--import', 'tsx');
  args.push(join(BENCH_DIR, 'cases', `${caseName}.ts`));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: REPO_DIR,
      env: { ...process.env, AEROBAK_BENCH_PARAMS: JSON.stringify(p) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(child);
    let output = '';
    let result: CaseResult | undefined;
    let pending = '';
    const keep = (text: string) => {
      output = (output + text).slice(-32_768);
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      pending += chunk;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(RESULT_MARKER)) result = JSON.parse(line.slice(RESULT_MARKER.length)) as CaseResult;
        else {
          keep(`${line}\n`);
          opts.onLine?.(line);
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => keep(chunk));
    const timer = setTimeout(() => {
      keep(`\n[bench] killed after ${opts.timeoutMs / 1000} s\n`);
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      running.delete(child);
      reject(new CaseFailed(caseName, err.message, output));
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      if (code === 0 && result) resolve(result);
      else reject(new CaseFailed(caseName, signal ? `killed by ${signal}` : code === 0 ? 'no result reported' : `exit code ${code}`, output));
    });
  });
}
