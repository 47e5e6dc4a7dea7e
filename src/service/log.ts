/**
 * The service's log: one line per event on stderr, as text (`<ISO time> <level> <message>
 * key=value ...`) or, with --log-format json, as JSON lines for a log shipper. Never a
 * secret: messages carry names, locations and counts only.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFields = Record<string, string | number | boolean | undefined>;

export interface Logger {
  (level: LogLevel, message: string, fields?: LogFields): void;
}

export function createLogger(out: NodeJS.WritableStream, format: 'text' | 'json', now: () => Date = () => new Date(), debug = false): Logger {
  return (level, message, fields = {}) => {
    if (level === 'debug' && !debug) return;
    const time = now().toISOString();
    const defined = Object.entries(fields).filter(([, v]) => v !== undefined);
    if (format === 'json') {
      out.write(`${JSON.stringify({ time, level, message, ...Object.fromEntries(defined) })}\n`);
      return;
    }
    const extra = defined.map(([k, v]) => `${k}=${typeof v === 'string' && /[\s"]/.test(v) ? JSON.stringify(v) : String(v)}`).join(' ');
    out.write(`${time} ${level.padEnd(5)} ${message}${extra ? ` ${extra}` : ''}\n`);
  };
}
