#!/usr/bin/env node
/**
 * The aerobak executable. Ctrl-C (SIGINT) or SIGTERM aborts the running job: it stops
 * scanning or writing, aborts uploads in progress, and exits with code 130. A second
 * Ctrl-C exits at once.
 *
 * The Node.js version is checked first, before the rest of aerobak is loaded (hence the
 * dynamic import): an unsupported runtime gets one line and exit code 2.
 */
import { unsupportedNodeMessage } from './node-version.js';

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
