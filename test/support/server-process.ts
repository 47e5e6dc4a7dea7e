/**
 * Runs a storage test server (MinIO, fake-gcs-server) as a child process on
 * a free loopback port with a fresh data directory, for one test file.
 *
 * The binary comes from scripts/install-test-servers.sh, which this runs
 * first: it returns at once when the pinned version is already built, and
 * builds it otherwise (minutes, once). A server that cannot be built or
 * started fails the test run; it is never skipped.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(REPO, '.cache', 'bin');

/** Long enough for a cold build of MinIO on two cores; pass it to beforeAll. */
export const SERVER_START_TIMEOUT_MS = 20 * 60_000;

export interface ServerProcess {
  /** The Go module and version the binary was built from. */
  version: string;
  port: number;
  stop(): Promise<void>;
}

export interface ServerSpec {
  /** The binary's name in .cache/bin, as install-test-servers.sh knows it. */
  name: string;
  args(port: number, dataDirectory: string): string[];
  env?: Record<string, string>;
  /** A URL that answers 200 once the server is ready. */
  readyUrl(port: number): string;
  /** Do not log the server's start (chaos runs start many). */
  quiet?: boolean;
  /** Listen on this port instead of a free one. */
  port?: number;
}

const liveChildren = new Set<ChildProcess>();
let exitHooked = false;

/** Kills the servers still running when this process exits, and turns SIGINT/SIGTERM into an exit (which the default handlers skip). */
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    if (process.listenerCount(signal) === 0) process.once(signal, () => process.exit(130));
  }
}

export async function startServer(spec: ServerSpec): Promise<ServerProcess> {
  hookExit();
  const version = await install(spec.name);
  const port = spec.port ?? (await freePort());
  const dataDirectory = await mkdtemp(join(tmpdir(), `aerobak-${spec.name}-`));
  const child = spawn(join(BIN, spec.name), spec.args(port, dataDirectory), {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-16_384));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = once(child, 'exit');
  // Never outlive the test process: a run stopped by a signal or an uncaught error still
  // takes its servers down ('exit' handlers run then; only SIGKILL of this process escapes).
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    }
    await rm(dataDirectory, { recursive: true, force: true });
  };

  try {
    await waitUntilReady(spec.readyUrl(port), () => child.exitCode !== null || child.signalCode !== null);
  } catch (error) {
    await stop();
    throw new Error(`${spec.name} (${version}) did not start: ${(error as Error).message}\n${output}`);
  }
  if (!spec.quiet) console.info(`storage tests: ${spec.name} ${version} on 127.0.0.1:${port}`);
  return { version, port, stop };
}

/** Runs the install script for `name` and returns the version it built. */
async function install(name: string): Promise<string> {
  try {
    await promisify(execFile)('bash', [join(REPO, 'scripts', 'install-test-servers.sh'), name], {
      cwd: REPO,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const { stderr = '' } = error as { stderr?: string };
    throw new Error(`cannot build test server ${name}: ${(error as Error).message}\n${stderr.slice(-8192)}`);
  }
  return (await readFile(join(BIN, `${name}.version`), 'utf8')).trim();
}

/** A TCP port that was free a moment ago (the server binds it right after). */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no TCP port');
  return address.port;
}

async function waitUntilReady(url: string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited()) throw new Error('the process exited');
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`no answer from ${url} within 60 s`);
    await sleep(100);
  }
}
