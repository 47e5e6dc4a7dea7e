#!/usr/bin/env node
/**
 * The aerobak executable. Ctrl-C (SIGINT) or SIGTERM aborts the running job: it stops
 * scanning or writing, aborts uploads in progress, and exits with code 130. A second
 * Ctrl-C exits at once.
 *
 * The Node.js version is checked first, before the rest of aerobak is loaded (hence the
 * dynamic import): an unsupported runtime gets one line and exit code 2.
 *
 * Start-up (docs/performance.md, "Start-up"): V8's compile cache is turned on before the
 * rest is imported, so a second run reuses the compiled code of the modules (Node's
 * module.enableCompileCache(), in the OS temp directory; NODE_DISABLE_COMPILE_CACHE=1
 * turns it off), and app.ts imports a command only when it runs. The young generation is
 * held small from the start (young-generation.ts).
 */
import module from 'node:module';
import { holdYoungGeneration } from '../young-generation.js';
import { unsupportedNodeMessage } from './node-version.js';

// Before anything else allocates: the data paths' memory bound (young-generation.ts).
holdYoungGeneration();

try {
  (module as { enableCompileCache?: () => unknown }).enableCompileCache?.();
} catch {
  // A read-only or full temp directory: run without the cache.
}

const unsupported = unsupportedNodeMessage(process.versions.node);
if (unsupported !== null) {
  process.stderr.write(`${unsupported}\n`);
  process.exit(2);
}

const { InterruptedError } = await import('../errors.js');
const { runCli } = await import('./app.js');

const controller = new AbortController();
let interrupts = 0;
const onSignal = (name: string) => () => {
  interrupts++;
  if (interrupts > 1) process.exit(130);
  controller.abort(new InterruptedError(`interrupted by ${name}`));
};
process.on('SIGINT', onSignal('SIGINT'));
process.on('SIGTERM', onSignal('SIGTERM'));

process.exitCode = await runCli(process.argv.slice(2), {
  io: { stdout: process.stdout, stderr: process.stderr, env: process.env },
  signal: controller.signal,
});
