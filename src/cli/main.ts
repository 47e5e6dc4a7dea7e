#!/usr/bin/env node
/**
 * The aerobak executable. Ctrl-C (SIGINT) or SIGTERM aborts the running job: it stops
 * scanning or writing, aborts uploads in progress, and exits with code 130. A second
 * Ctrl-C exits at once.
 */
import { InterruptedError } from '../errors.js';
import { runCli } from './app.js';

// Under Node.js < 22 the AWS SDK warns, on every s3:// command, that its releases after
// January 2027 will need Node.js 22: ten lines on stderr that are news for this package's
// maintainers, not for the person running a backup, and that bury the one-line error of
// a failed run. A value the user set wins.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

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
