/**
 * Running aerobak commands in a chaos cycle, as its users do, with a bound on
 * how long each may take: in this process through runCli (what `aerobak`
 * runs; what the service runs job after job in one process), or as a child
 * process for the faults that kill the process itself.
 *
 * No vitest here: `npm run chaos` runs outside it.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../src/cli/app.js';
import { textSink } from '../support/text-sink.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface CommandRun {
  args: string[];
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  /** It ran past its bound and was stopped. */
  hung: boolean;
  /** A child killed by a signal (ours, for SIGKILL faults). */
  signal?: NodeJS.Signals | null;
  /** An exception escaped runCli (a crash in-process). */
  crashed?: string;
}

/** The command's `--json` summary line (the last JSON object on stdout that is not an error or progress event). */
export function summaryOf(run: CommandRun): Record<string, unknown> | undefined {
  const lines = run.stdout.split('\n').filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const obj = JSON.parse(lines[i]!) as Record<string, unknown>;
      if (obj.event === 'summary' || obj.event === undefined) return obj;
      if (obj.event !== 'error' && obj.event !== 'progress') return obj;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** The error line a failed command printed, and whether it was a known (named) error. */
export function errorOf(run: CommandRun): { named: boolean; line: string } | undefined {
  const line = run.stderr.split('\n').find((l) => l.startsWith('aerobak: error:') || l.startsWith('aerobak: unexpected error:'));
  if (!line) return undefined;
  return { named: line.startsWith('aerobak: error:') && !/^\s+at /m.test(run.stderr), line };
}

/** Runs `aerobak args` in this process; aborts it (as Ctrl-C would) after `boundMs` and says it hung. */
export async function runInProcess(args: string[], boundMs: number, env: NodeJS.ProcessEnv = process.env): Promise<CommandRun> {
  const stdout = textSink();
  const stderr = textSink();
  const controller = new AbortController();
  let hung = false;
  const timer = setTimeout(() => {
    hung = true;
    controller.abort(new Error(`chaos: the command ran past its bound of ${boundMs} ms`));
  }, boundMs);
  const started = performance.now();
  let code: number | null = null;
  let crashed: string | undefined;
  try {
    code = await runCli(args, {
      io: { stdout: stdout.stream, stderr: stderr.stream, env },
      signal: controller.signal,
    });
  } catch (err) {
    crashed = err instanceof Error ? (err.stack ?? err.message) : String(err);
  } finally {
    clearTimeout(timer);
  }
  return { args, code, stdout: stdout.text(), stderr: stderr.text(), ms: performance.now() - started, hung, ...(crashed ? { crashed } : {}) };
}

/**
 * Runs `aerobak args` as a child process (through tsx, from the sources), killed
 * with SIGKILL `killAfterMs` after its first output (with --json: its first
 * progress line, so the kill lands in the run, not in start-up) when given,
 * and after `boundMs` in any case.
 */
export function runChild(args: string[], boundMs: number, opts: { killAfterMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let hung = false;
    let killer: NodeJS.Timeout | undefined;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (opts.killAfterMs !== undefined && killer === undefined) killer = setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const bound = setTimeout(() => {
      hung = true;
      child.kill('SIGKILL');
    }, boundMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(killer);
      clearTimeout(bound);
      resolve({ args, code, stdout, stderr, ms: performance.now() - started, hung, signal });
    });
  });
}
