/**
 * Records every module a process resolves (node --import this-file ...), and writes their
 * URLs, one a line, to the file named by AEROBAK_MODULES_OUT when the process exits. For
 * test/cli/startup.test.ts: what a command loads is its start-up cost.
 */
import { registerHooks } from 'node:module';
import { writeFileSync } from 'node:fs';

const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context);
    seen.add(result.url);
    return result;
  },
});
process.on('exit', () => {
  if (process.env.AEROBAK_MODULES_OUT) writeFileSync(process.env.AEROBAK_MODULES_OUT, [...seen].join('\n'));
});
