/**
 * Running aerobak in tests: as a child process, as a person would (through tsx), or
 * in-process through runCli with the output captured.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { runCli } from '../../src/cli/app.js';
import { textSink } from '../support/text-sink.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `aerobak args` as a child process, as a user would (through tsx). */
export function aerobak(args: string[], opts: { env?: NodeJS.ProcessEnv; onStdout?: (text: string, kill: (signal: NodeJS.Signals) => void) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { ...process.env, AEROSPIKE_HOSTS: '', ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      opts.onStdout?.(stdout, (s) => child.kill(s));
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs a command in-process with captured output (no TTY: no progress line). */
export async function inProcess(args: string[]): Promise<Run> {
  const stdout = textSink();
  const stderr = textSink();
  const code = await runCli(args, {
    io: { stdout: stdout.stream, stderr: stderr.stream, env: {} },
    signal: new AbortController().signal,
  });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

export const noStack = (text: string) => expect(text).not.toMatch(/^\s+at /m);
