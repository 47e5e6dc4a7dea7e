/**
 * Command-line options in one place: each option's name, short alias, type, environment
 * variable and help text, and the value parsers that turn text into typed options with
 * errors a person can act on. Parsing is node:util parseArgs (strict); every parse
 * failure becomes a UsageError (exit code 2) naming the option.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AUTH_MODES, type AuthMode } from '../aerospike/auth.js';
import { parseHost, type ClusterOptions } from '../aerospike/cluster.js';
import { loadTlsOptions } from '../aerospike/tls.js';
import { InterruptedError, UsageError } from '../errors.js';
import { parsePartitions, type PartitionRange } from '../jobs/plan.js';

export interface OptionSpec {
  /** Long name, without the dashes. */
  name: string;
  short?: string;
  type: 'string' | 'boolean';
  /** May be given more than once (values are collected in order). */
  multiple?: boolean;
  /** Placeholder shown in help: `--to LOCATION`. */
  value?: string;
  /** Environment variable read when the option is absent. */
  env?: string;
  /** Default shown in help (applied by the command, which knows the type). */
  defaultText?: string;
  description: string;
}

export interface CommandHelp {
  usage: string;
  summary: string;
  /** Paragraphs after the summary. */
  details?: string[];
  sections: { title: string; options: readonly OptionSpec[] }[];
  examples: string[];
  exitCodes: readonly [number, string][];
}

export const connectionOptions: readonly OptionSpec[] = [
  {
    name: 'hosts',
    short: 'h',
    type: 'string',
    value: 'HOST[:PORT][,...]',
    env: 'AEROSPIKE_HOSTS',
    defaultText: '127.0.0.1:3000',
    description: "seed nodes (as asbackup -h; help is --help); with TLS, HOST:TLSNAME:PORT gives the name the node's certificate must carry",
  },
  { name: 'port', short: 'p', type: 'string', value: 'PORT', defaultText: '3000', description: 'port for hosts given without one' },
  { name: 'user', short: 'U', type: 'string', value: 'USER', env: 'AEROSPIKE_USER', description: 'user name, on a cluster with security enabled' },
  {
    name: 'password',
    short: 'P',
    type: 'string',
    value: 'PASSWORD',
    env: 'AEROSPIKE_PASSWORD',
    description: 'password (other users of the machine can see a command line: prefer --password-file, --password-prompt or the environment variable)',
  },
  { name: 'password-file', type: 'string', value: 'PATH', description: 'read the password from the first line of PATH' },
  { name: 'password-prompt', type: 'boolean', description: 'ask for the password on the terminal, without echo' },
  {
    name: 'auth',
    type: 'string',
    value: AUTH_MODES.join('|'),
    defaultText: 'INTERNAL',
    description: 'how to log in: INTERNAL (users of the cluster), EXTERNAL (LDAP: the password goes to the server, so TLS is required), PKI (the TLS client certificate, no password)',
  },
  { name: 'tls-enable', type: 'boolean', description: "connect with TLS; the server's certificate and TLS name are always checked" },
  { name: 'tls-name', type: 'string', value: 'NAME', description: 'TLS name of hosts given without one (and of peers announcing none); default: the host itself' },
  { name: 'tls-cafile', type: 'string', value: 'PATH', description: 'CA certificate(s) (PEM) that issued the servers\' certificates; default: the system\'s and Node\'s roots' },
  { name: 'tls-capath', type: 'string', value: 'DIR', description: 'directory of CA certificates (PEM files)' },
  { name: 'tls-certfile', type: 'string', value: 'PATH', description: 'client certificate chain (PEM), for servers that require one and for --auth PKI' },
  { name: 'tls-keyfile', type: 'string', value: 'PATH', description: "the client certificate's private key (PEM)" },
  { name: 'tls-keyfile-password', type: 'string', value: 'env:VAR|file:PATH|PASSWORD', description: 'password of an encrypted --tls-keyfile, as asbackup takes it' },
  { name: 'tls-protocols', type: 'string', value: 'PROTOCOLS', defaultText: '"TLSv1.2 TLSv1.3"', description: 'TLS versions allowed, e.g. "TLSv1.3" or "all -TLSv1 -TLSv1.1"' },
  { name: 'services-alternate', type: 'boolean', description: 'dial peers at the alternate addresses they announce (peers-*-alt): clusters behind NAT' },
];

export const outputOptions: readonly OptionSpec[] = [
  { name: 'json', type: 'boolean', description: 'JSON lines on stdout: progress events, then one summary object' },
  { name: 'debug', type: 'boolean', description: 'print stack traces of unexpected errors' },
  { name: 'help', type: 'boolean', description: 'show this help' },
];

export type ParsedValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

export interface Parsed {
  values: ParsedValues;
  positionals: string[];
}

/** Parses argv against the options; environment variables fill absent options. */
export function parseCommandLine(
  command: string,
  argv: readonly string[],
  specs: readonly OptionSpec[],
  env: NodeJS.ProcessEnv,
  maxPositionals: number,
): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const s of specs) {
    options[s.name] = { type: s.type, ...(s.short ? { short: s.short } : {}), ...(s.multiple ? { multiple: true } : {}) };
  }
  let parsed: { values: ParsedValues; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, strict: true, allowPositionals: true }) as typeof parsed;
  } catch (err) {
    // parseArgs messages are clear ("Unknown option '--nmespace'"); point to the help.
    const message = err instanceof Error ? err.message.replace(/\. To specify a positional argument.*$/s, '') : String(err);
    throw new UsageError(`${message} (see aerobak ${command} --help)`);
  }
  if (parsed.values.help) return parsed;
  if (parsed.positionals.length > maxPositionals) {
    throw new UsageError(`unexpected argument "${parsed.positionals[maxPositionals]}" (see aerobak ${command} --help)`);
  }
  for (const s of specs) {
    if (s.env && parsed.values[s.name] === undefined) {
      const v = env[s.env];
      if (v !== undefined && v !== '') parsed.values[s.name] = v;
    }
  }
  return parsed;
}

export function str(values: ParsedValues, name: string): string | undefined {
  const v = values[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new Error(`option --${name} is not a string option`);
  return v;
}

export function bool(values: ParsedValues, name: string): boolean {
  return values[name] === true;
}

/** A repeatable, comma-separated list option: `-s a,b -s c` → [a, b, c]. */
export function list(values: ParsedValues, name: string): string[] {
  const v = values[name];
  const items = v === undefined ? [] : Array.isArray(v) ? v : [v];
  return items
    .flatMap((s) => String(s).split(','))
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

export function required(values: ParsedValues, name: string, command: string): string {
  const v = str(values, name);
  if (v === undefined || v === '') throw new UsageError(`--${name} is required (see aerobak ${command} --help)`);
  return v;
}

export function integer(values: ParsedValues, name: string, range: { min: number; max?: number }): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim())) throw new UsageError(`--${name} "${text}" is not a whole number`);
  const n = Number(text);
  if (n < range.min || (range.max !== undefined && n > range.max)) {
    throw new UsageError(`--${name} ${n} is out of range (${range.min}${range.max !== undefined ? `-${range.max}` : ' or more'})`);
  }
  return n;
}

const sizeUnits: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

/**
 * "256MiB", "1G", "500MB", "4096B" → bytes. The unit is required: asbackup's
 * --file-limit counts MiB where a plain number reads as bytes, and a wrong guess would
 * be off by a million.
 */
export function size(values: ParsedValues, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(text);
  const unit = m ? sizeUnits[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`--${name} "${text}" is not a size with a unit (examples: 64MiB, 1GiB, 500MB, 4096B)`);
  const bytes = Math.round(Number(m[1]) * unit);
  if (bytes < 1) throw new UsageError(`--${name} must be at least 1 byte`);
  return bytes;
}

/**
 * A bandwidth in bytes per second: "50" or "2.5" MiB/s (asbackup's -N counts MiB/s), or
 * a number with a unit, "512KiB", "20MB", "1GiB" (an optional "/s" after it). UsageError
 * naming the option for anything else, zero or a negative number.
 */
export function bandwidth(values: ParsedValues, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]+)?\s*(?:\/\s*s)?\s*$/i.exec(text);
  const unit = m ? (m[2] === undefined ? 1024 ** 2 : sizeUnits[m[2].toLowerCase()]) : undefined;
  const bytes = m && unit !== undefined ? Number(m[1]) * unit : NaN;
  if (!(bytes >= 1) || !Number.isFinite(bytes)) {
    throw new UsageError(`--${name} "${text}" is not a positive bandwidth: give MiB per second (as asbackup -N), e.g. 50 or 2.5, or a size with a unit, e.g. 512KiB`);
  }
  return bytes;
}

/**
 * A point in time: ISO 8601 ("2026-01-24T10:00:00Z"; without a zone it is local time)
 * or asbackup's "YYYY-MM-DD_HH:MM:SS" (local time), "YYYY-MM-DD" (midnight) or
 * "HH:MM:SS" (today).
 */
export function date(values: ParsedValues, name: string, now: Date = new Date()): Date | undefined {
  const text = str(values, name)?.trim();
  if (text === undefined) return undefined;
  let d: Date | undefined;
  const timeOnly = /^(\d{2}):(\d{2}):(\d{2})$/.exec(text);
  const asbackup = /^(\d{4})-(\d{2})-(\d{2})(?:_(\d{2}):(\d{2}):(\d{2}))?$/.exec(text);
  if (timeOnly) {
    d = new Date(now.getFullYear(), now.getMonth(), now.getDate(), Number(timeOnly[1]), Number(timeOnly[2]), Number(timeOnly[3]));
  } else if (asbackup) {
    const [, y, mo, da, h, mi, s] = asbackup;
    d = new Date(Number(y), Number(mo) - 1, Number(da), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
  } else if (/^\d{4}-\d{2}-\d{2}T/.test(text)) {
    d = new Date(text);
  }
  if (d === undefined || Number.isNaN(d.getTime())) {
    throw new UsageError(`--${name} "${text}" is not a date (examples: 2026-01-24T10:00:00Z, 2026-01-24_10:00:00, 2026-01-24)`);
  }
  return d;
}

export function oneOf<T extends string>(values: ParsedValues, name: string, allowed: readonly T[]): T | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(text)) throw new UsageError(`--${name} "${text}" must be one of: ${allowed.join(', ')}`);
  return text as T;
}

/** Where --password-prompt asks, and where `env:` values come from; the process's by default. */
export interface TerminalIo {
  env?: NodeJS.ProcessEnv;
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
  prompt?: NodeJS.WritableStream;
}

const TLS_FILE_FLAGS = ['tls-name', 'tls-cafile', 'tls-capath', 'tls-certfile', 'tls-keyfile', 'tls-keyfile-password', 'tls-protocols'] as const;

/**
 * Connection options for Cluster.connect from the shared connection flags. Every
 * inconsistency is a UsageError here, before anything connects: a user without a
 * password, --auth EXTERNAL or PKI without TLS, a TLS flag without --tls-enable, an
 * unreadable file (named, never its content). The password comes from --password-file,
 * else --password-prompt (asked when connecting), else -P or AEROSPIKE_PASSWORD.
 */
export function clusterOptions(values: ParsedValues, io: TerminalIo = {}): ClusterOptions {
  const opts: ClusterOptions = { hosts: hosts(values) };
  const authText = str(values, 'auth');
  const auth = authText === undefined ? undefined : (AUTH_MODES.find((m) => m === authText.toUpperCase()) as AuthMode | undefined);
  if (authText !== undefined && auth === undefined) throw new UsageError(`--auth "${authText}" must be one of: ${AUTH_MODES.join(', ')}`);
  const tlsEnabled = bool(values, 'tls-enable');
  if (!tlsEnabled) {
    const given = TLS_FILE_FLAGS.find((f) => values[f] !== undefined);
    if (given !== undefined) throw new UsageError(`--${given} needs --tls-enable`);
  } else {
    const f = (name: (typeof TLS_FILE_FLAGS)[number]) => str(values, name);
    opts.tls = loadTlsOptions(
      { name: f('tls-name'), cafile: f('tls-cafile'), capath: f('tls-capath'), certfile: f('tls-certfile'), keyfile: f('tls-keyfile'), keyfilePassword: f('tls-keyfile-password'), protocols: f('tls-protocols') },
      io.env ?? process.env,
    );
  }
  if (bool(values, 'services-alternate')) opts.servicesAlternate = true;

  const file = str(values, 'password-file');
  const prompt = bool(values, 'password-prompt');
  if (file !== undefined && prompt) throw new UsageError('--password-file and --password-prompt: give one of them');
  if (auth === 'PKI') {
    if (!tlsEnabled || values['tls-certfile'] === undefined) {
      throw new UsageError('--auth PKI logs in with the TLS client certificate: it needs --tls-enable, --tls-certfile and --tls-keyfile');
    }
    if (file !== undefined || prompt) throw new UsageError('--auth PKI takes no password (the TLS client certificate names the user): drop --password-file / --password-prompt');
    opts.auth = 'PKI';
    return opts;
  }
  const user = str(values, 'user');
  if (user === undefined || user === '') {
    if (auth !== undefined || file !== undefined || prompt) throw new UsageError(`${auth !== undefined ? `--auth ${auth}` : file !== undefined ? '--password-file' : '--password-prompt'} needs --user (or AEROSPIKE_USER)`);
    return opts;
  }
  if (auth === 'EXTERNAL' && !tlsEnabled) {
    throw new UsageError('--auth EXTERNAL sends the password itself to the server (for LDAP): it is refused without TLS; add --tls-enable');
  }
  opts.user = user;
  if (auth !== undefined) opts.auth = auth;
  if (file !== undefined) opts.password = readPasswordFile(file);
  else if (prompt) opts.password = passwordPrompt(user, io);
  else {
    const password = str(values, 'password');
    if (password === undefined) throw new UsageError(`user "${user}" needs a password: give --password-file, --password-prompt, -P or AEROSPIKE_PASSWORD`);
    opts.password = password;
  }
  return opts;
}

/** The first line of the file, without its line end; the message of a failure names the path only. */
function readPasswordFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`--password-file ${path}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const line = text.split(/\r?\n/, 1)[0]!;
  if (line === '') throw new UsageError(`--password-file ${path}: its first line is empty`);
  return line;
}

/** A function that asks on the terminal when called (at connect time); refused at once when stdin is not a terminal. */
function passwordPrompt(user: string, io: TerminalIo): () => Promise<string> {
  const stdin = io.stdin ?? process.stdin;
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') {
    throw new UsageError('--password-prompt needs a terminal, and standard input is not one: use --password-file or AEROSPIKE_PASSWORD in scripts');
  }
  return () => readPassword(stdin, io.prompt ?? process.stderr, `Password for ${user}: `);
}

/**
 * Reads one line from a terminal in raw mode, echoing nothing: Enter ends it, Backspace
 * deletes, Ctrl-C rejects with an InterruptedError, Ctrl-D ends it as Enter does.
 */
export function readPassword(
  stdin: NodeJS.ReadableStream & { setRawMode?: (raw: boolean) => unknown },
  out: NodeJS.WritableStream,
  label: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const finish = (err?: Error): void => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      out.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    const onData = (chunk: Buffer | string): void => {
      for (const ch of chunk.toString()) {
        if (ch === '\r' || ch === '\n' || ch === '\u0004') return finish();
        if (ch === '\u0003') return finish(new InterruptedError('interrupted at the password prompt'));
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else text += ch;
      }
    };
    out.write(label);
    stdin.setRawMode?.(true);
    stdin.on('data', onData);
    stdin.resume();
  });
}

/**
 * Host list for Cluster.connect: "a:3000,b" with default port, "a:tlsname:4333" or
 * "a:tlsname" with a TLS name (asbackup's syntax). IPv6 in brackets: "[::1]:3000".
 */
export function hosts(values: ParsedValues, defaultHosts = '127.0.0.1'): { host: string; port: number; tlsName?: string }[] {
  const port = integer(values, 'port', { min: 1, max: 65535 }) ?? 3000;
  const text = str(values, 'hosts') ?? defaultHosts;
  const out = text
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h.length > 0)
    .map((h) => {
      const e = parseHost(h, port);
      if (!e) throw new UsageError(`--hosts "${h}" is not HOST or HOST:PORT (or, with a TLS name, HOST:TLSNAME or HOST:TLSNAME:PORT)`);
      return e;
    });
  if (out.length === 0) throw new UsageError('--hosts names no host');
  return out;
}

function optionLabel(s: OptionSpec): string {
  const long = `--${s.name}${s.value ? ` ${s.value}` : ''}`;
  return s.short ? `-${s.short}, ${long}` : `    ${long}`;
}

const HELP_WIDTH = 100;

/** Splits text into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}

export function renderHelp(help: CommandHelp): string {
  const lines: string[] = [`Usage: ${help.usage}`, '', ...wrap(help.summary, HELP_WIDTH)];
  for (const p of help.details ?? []) lines.push('', ...wrap(p, HELP_WIDTH));
  const column = Math.min(34, Math.max(...help.sections.flatMap((s) => s.options.map((o) => optionLabel(o).length))) + 4);
  for (const section of help.sections) {
    lines.push('', `${section.title}:`);
    for (const o of section.options) {
      const label = `  ${optionLabel(o)}`;
      const extras = [o.env ? `env ${o.env}` : '', o.defaultText ? `default ${o.defaultText}` : ''].filter(Boolean).join('; ');
      const text = wrap(extras ? `${o.description} [${extras}]` : o.description, HELP_WIDTH - column);
      const indent = ' '.repeat(column);
      if (label.length + 2 > column) lines.push(label, ...text.map((t) => indent + t));
      else lines.push(label.padEnd(column) + text[0], ...text.slice(1).map((t) => indent + t));
    }
  }
  lines.push('', 'Examples:', ...help.examples.map((e) => `  ${e}`));
  lines.push('', 'Exit codes:');
  for (const [code, text] of help.exitCodes) {
    const [first, ...rest] = wrap(text, HELP_WIDTH - 7);
    lines.push(`  ${String(code).padStart(3)}  ${first}`, ...rest.map((t) => `       ${t}`));
  }
  return lines.join('\n') + '\n';
}

/** What a scan selects, as backup and export take it: sets, bins, partitions, update times, TTL. */
export interface ScanSelection {
  sets?: string[];
  bins?: string[];
  partitions?: PartitionRange[];
  modifiedAfter?: Date;
  modifiedBefore?: Date;
  noTtlOnly?: boolean;
}

/** The scan selection options (-s, -B, --partitions, -a, -b, --no-ttl-only); UsageError for a time window no record could match. */
export function scanSelection(values: ParsedValues): ScanSelection {
  const out: ScanSelection = {};
  const sets = list(values, 'set');
  const bins = list(values, 'bins');
  if (sets.length > 0) out.sets = sets;
  if (bins.length > 0) out.bins = bins;
  const partitions = str(values, 'partitions');
  if (partitions !== undefined) out.partitions = parsePartitions(partitions);
  const after = date(values, 'modified-after');
  const before = date(values, 'modified-before');
  if (after) out.modifiedAfter = after;
  if (before) out.modifiedBefore = before;
  if (after && before && after >= before) {
    throw new UsageError(`--modified-after ${after.toISOString()} is not before --modified-before ${before.toISOString()}: no record could match`);
  }
  if (bool(values, 'no-ttl-only')) out.noTtlOnly = true;
  return out;
}
