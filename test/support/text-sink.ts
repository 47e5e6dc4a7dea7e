/**
 * A Writable that keeps what is written to it as text: a command's stdout or stderr in
 * tests and in the chaos run (no vitest here: `npm run chaos` imports it too).
 */
import { Writable } from 'node:stream';

export function textSink(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}
