/**
 * Info protocol (proto type 1): a request is the command names joined by "\n" with a
 * trailing "\n"; the reply is "<command>\t<value>\n" per command, the command echoed
 * exactly. An empty value still has its tab ("udf-list\t\n").
 */
import { ProtoType, encodeFrame } from './proto.js';

export function encodeInfoRequest(commands: readonly string[]): Buffer {
  const body = commands.length === 0 ? '' : commands.join('\n') + '\n';
  return encodeFrame(ProtoType.INFO, Buffer.from(body, 'utf8'));
}

export function encodeInfoReply(entries: ReadonlyArray<readonly [string, string]>): Buffer {
  const body = entries.map(([cmd, value]) => `${cmd}\t${value}\n`).join('');
  return encodeFrame(ProtoType.INFO, Buffer.from(body, 'utf8'));
}

/** Splits an info request body into its commands. */
export function parseInfoRequest(body: Buffer): string[] {
  return body
    .toString('utf8')
    .split('\n')
    .filter((line) => line.length > 0);
}

/** Parses an info reply body into command → value, in reply order. */
export function parseInfoReply(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of body.toString('utf8').split('\n')) {
    if (line.length === 0) continue;
    const tab = line.indexOf('\t');
    if (tab < 0) out.set(line, '');
    else out.set(line.slice(0, tab), line.slice(tab + 1));
  }
  return out;
}

/** An info value that reports failure: "ERROR:<code>:<message>" (also "FAIL:..." on older servers). */
export function infoError(value: string): { code: number; message: string } | undefined {
  const m = /^(?:ERROR|FAIL)(?::(-?\d+))?(?::(.*))?$/s.exec(value.trim());
  if (!m) return undefined;
  return { code: m[1] === undefined ? -1 : Number(m[1]), message: m[2] ?? value };
}

/** Parses "k1=v1;k2=v2" (or with another separator) into a map. */
export function parseKeyValues(value: string, separator = ';'): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of value.split(separator)) {
    if (part.length === 0) continue;
    const eq = part.indexOf('=');
    if (eq < 0) out.set(part, '');
    else out.set(part.slice(0, eq), part.slice(eq + 1));
  }
  return out;
}
