/**
 * The project's Aerospike-protocol test server in a child process of its own
 * (test/support/aerospike-server/cli.ts, one node on a free port, namespaces test and
 * bar), so that its CPU and memory are not those of the cases.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { REPO_DIR } from './config.js';

export interface ServerProcess {
  hosts: string;
  pid: number;
  /** RSS of the server process, MB (from /proc; undefined where there is none). */
  rssMB(): Promise<number | undefined>;
  stop(): Promise<void>;
}

export async function startServerProcess(namespaces: string[]): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    // Millions of records in memory: give the heap room.
    ['--max-old-space-size=16384', '--import', 'tsx', join(REPO_DIR, 'test/support/aerospike-server/cli.ts'), '--port', '0', '--namespaces', namespaces.join(',')],
    { cwd: REPO_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const exited = once(child, 'exit');
  const hosts = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the test server did not start within 60 s:\n${output}`)), 60_000);
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      const m = /listening: (\S+)/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output = (output + chunk).slice(-16_384);
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the test server exited (code ${code}):\n${output}`));
    });
  });
  const pid = child.pid!;
  return {
    hosts,
    pid,
    async rssMB() {
      try {
        const { readFile } = await import('node:fs/promises');
        const status = await readFile(`/proc/${pid}/status`, 'utf8');
        const m = /VmRSS:\s+(\d+) kB/.exec(status);
        return m ? Math.round(Number(m[1]) / 1024) : undefined;
      } catch {
        return undefined;
      }
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited.catch(() => undefined);
      clearTimeout(killer);
    },
  };
}
