#!/usr/bin/env node
/**
 * The aerobak executable. Ctrl-C (SIGINT) or SIGTERM aborts the running job: it stops
 * scanning or writing, aborts uploads in progress, and exits with code 130. A second
 * Ctrl-C exits at once.
 */
import { InterruptedError } from '../errors.js';
import { runCli } from './app.js';

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
