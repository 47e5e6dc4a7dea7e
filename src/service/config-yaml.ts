/**
 * Reading the service's YAML configuration with positions: a small typed walker over the
 * `yaml` package's document nodes, so that every problem becomes one ConfigError whose
 * message names the file, the line and column, and the key path
 * (`aerobak.yaml:14:5: routines.users-nightly.fulll: unknown key ...`).
 *
 * Why a walker and not `doc.toJS()` plus a schema library: the plain object has lost the
 * positions, and an operator fixing a config at 3 a.m. wants the line. Each Section checks
 * its keys against the list it allows when it is created, so an unknown (misspelt) key is
 * an error, never silently ignored.
 *
 * Environment substitution happens here, on string values only (never on keys): `${VAR}`
 * is replaced by the variable's value, `$${` stands for a literal `${`, and a variable
 * that is unset or empty is an error naming it and the key that uses it. Values are
 * substituted after parsing, so a secret can hold any character without YAML quoting.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node, type Pair, type YAMLMap } from 'yaml';
import { AerobakError } from '../errors.js';

/** A configuration problem: exit code 2 (usage), one line naming the file, position and key. */
export class ConfigError extends AerobakError {
  constructor(message: string) {
    super('usage', 'CONFIG_INVALID', message);
  }
}

/** What every Section shares: the file, its line counter, the environment. */
export interface ConfigContext {
  file: string;
  lines: LineCounter;
  env: NodeJS.ProcessEnv;
}

/** Parses YAML text; a syntax error (or a duplicate key) is a ConfigError at its position. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv, sections: readonly string[]): Section {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  const ctx: ConfigContext = { file, lines, env };
  const first = doc.errors[0];
  if (first) {
    const pos = lines.linePos(first.pos[0]);
    const message = first.message.split('\n', 1)[0]!.replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: ${first.code === 'DUPLICATE_KEY' ? 'a key appears twice in the same section' : `YAML syntax error: ${message}`}`);
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ''))) throw new ConfigError(`${file}:1:1: the configuration is empty`);
  if (!isMap(root)) throw new ConfigError(`${file}:1:1: the configuration must be a mapping of sections (http, clusters, repositories, routines, ...)`);
  return new Section(ctx, '', root as YAMLMap, sections);
}

/** `1h30m`, `45s`, `7d`, `2w`, `250ms` → milliseconds (a plain number counts seconds). */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let end = 0;
  for (let m = re.exec(t); m; m = re.exec(t)) {
    total += Number(m[1]) * units[m[2]!]!;
    end = re.lastIndex;
  }
  return end === t.length && end > 0 ? Math.round(total) : undefined;
}

/** One mapping of the configuration, at `path`, with the keys it allows. */
export class Section {
  readonly #pairs = new Map<string, Pair<Node, Node | null>>();

  constructor(
    readonly ctx: ConfigContext,
    readonly path: string,
    readonly node: YAMLMap,
    allowed: readonly string[] | undefined,
  ) {
    for (const pair of node.items as Pair<Node, Node | null>[]) {
      const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
      if (key === undefined) throw this.errorAt(pair.key, 'keys must be plain names');
      if (allowed && !allowed.includes(key)) {
        throw this.errorAt(pair.key, `unknown key; ${this.path === '' ? 'the sections are' : 'expected one of'}: ${allowed.join(', ')}`, key);
      }
      this.#pairs.set(key, pair);
    }
  }

  /** The position of a node (or of this section) as `file:line:col`. */
  where(node: Node | null | undefined): string {
    const offset = node?.range?.[0] ?? this.node.range?.[0] ?? 0;
    const pos = this.ctx.lines.linePos(offset);
    return `${this.ctx.file}:${Math.max(1, pos.line)}:${Math.max(1, pos.col)}`;
  }

  keyPath(key?: string): string {
    if (key === undefined) return this.path === '' ? '(top level)' : this.path;
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** A ConfigError at `node`, about `key` of this section (or the section itself). */
  errorAt(node: Node | null | undefined, problem: string, key?: string): ConfigError {
    return new ConfigError(`${this.where(node)}: ${this.keyPath(key)}: ${problem}`);
  }

  /** A ConfigError at the value of `key` (or at the key, or at the section when it is absent). */
  error(key: string | undefined, problem: string): ConfigError {
    const pair = key === undefined ? undefined : this.#pairs.get(key);
    return this.errorAt(pair ? (pair.value ?? pair.key) : this.node, problem, key);
  }

  has(key: string): boolean {
    const v = this.#pairs.get(key)?.value;
    return v !== undefined && v !== null && !(isScalar(v) && v.value === null);
  }

  keys(): string[] {
    return [...this.#pairs.keys()];
  }

  /** A required key that is missing: the error points at the section. */
  missing(key: string, hint = ''): ConfigError {
    return new ConfigError(`${this.where(this.node)}: ${this.keyPath(key)}: is required${hint ? ` (${hint})` : ''}`);
  }

  #value(key: string): Node | undefined {
    const v = this.#pairs.get(key)?.value;
    return v === null || v === undefined || (isScalar(v) && v.value === null) ? undefined : v;
  }

  /** A string value, with ${VAR} substituted. Numbers and booleans are taken as their text. */
  str(key: string): string | undefined {
    const node = this.#value(key);
    if (node === undefined) return undefined;
    if (!isScalar(node) || typeof node.value === 'object') throw this.error(key, 'must be a single value, not a list or mapping');
    return this.substitute(String(node.value), key);
  }

  requiredStr(key: string, hint?: string): string {
    const v = this.str(key);
    if (v === undefined || v === '') throw this.missing(key, hint);
    return v;
  }

  int(key: string, range: { min: number; max?: number }): number | undefined {
    const text = this.str(key);
    if (text === undefined) return undefined;
    if (!/^\d+$/.test(text.trim())) throw this.error(key, `"${text}" is not a whole number`);
    const n = Number(text);
    if (n < range.min || (range.max !== undefined && n > range.max)) throw this.error(key, `${n} is out of range (${range.min}${range.max !== undefined ? `-${range.max}` : ' or more'})`);
    return n;
  }

  bool(key: string): boolean | undefined {
    const node = this.#value(key);
    if (node === undefined) return undefined;
    if (isScalar(node) && typeof node.value === 'boolean') return node.value;
    const text = this.str(key);
    if (text === 'true' || text === 'false') return text === 'true';
    throw this.error(key, 'must be true or false');
  }

  /** Milliseconds from `30s`, `5m`, `1h`, `7d` (a bare number counts seconds). */
  duration(key: string, range: { minMs: number; maxMs?: number } = { minMs: 0 }): number | undefined {
    const text = this.str(key);
    if (text === undefined) return undefined;
    const ms = parseDuration(text);
    if (ms === undefined) throw this.error(key, `"${text}" is not a duration (examples: 30s, 5m, 1h30m, 7d)`);
    if (ms < range.minMs || (range.maxMs !== undefined && ms > range.maxMs)) throw this.error(key, `"${text}" is out of range (${range.minMs / 1000}s${range.maxMs !== undefined ? ` to ${range.maxMs / 1000}s` : ' or more'})`);
    return ms;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[]): T | undefined {
    const text = this.str(key);
    if (text === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(text)) throw this.error(key, `"${text}" must be one of: ${allowed.join(', ')}`);
    return text as T;
  }

  /** A list of names: a YAML sequence (`[a, b]`) or a comma-separated string. */
  list(key: string): string[] | undefined {
    const node = this.#value(key);
    if (node === undefined) return undefined;
    const items: string[] = [];
    if (isSeq(node)) {
      for (const item of node.items as Node[]) {
        if (!isScalar(item) || typeof item.value === 'object') throw this.errorAt(item, 'list items must be single values', key);
        items.push(this.substitute(String(item.value), key));
      }
    } else {
      items.push(...(this.str(key) ?? '').split(','));
    }
    const out = items.map((s) => s.trim()).filter((s) => s.length > 0);
    return out;
  }

  /** A nested mapping with the keys it allows; undefined when the key is absent. */
  section(key: string, allowed: readonly string[] | undefined): Section | undefined {
    const node = this.#value(key);
    if (node === undefined) return undefined;
    if (!isMap(node)) throw this.error(key, 'must be a mapping (key: value lines, or { key: value })');
    return new Section(this.ctx, this.keyPath(key), node as YAMLMap, allowed);
  }

  /** The entries of a mapping of named things (clusters, routines): name → section. */
  named(key: string, allowed: readonly string[]): [string, Section][] {
    const outer = this.section(key, undefined);
    if (!outer) return [];
    return outer.keys().map((name) => {
      if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(name)) throw outer.error(name, 'names are letters, digits, "-", "_" and "." (up to 63, starting with a letter or digit)');
      const inner = outer.section(name, allowed);
      if (!inner) throw outer.error(name, 'must be a mapping of its settings');
      return [name, inner];
    });
  }

  /** `${VAR}` → the variable's value; `$${` → `${`. An unset or empty variable is an error naming it. */
  substitute(text: string, key: string): string {
    return text.replace(/\$(\$)?\{([^}]*)\}/g, (whole, escaped: string | undefined, name: string) => {
      if (escaped) return whole.slice(1);
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw this.error(key, `"\${${name}}" is not an environment variable reference (names are letters, digits and _)`);
      const value = this.ctx.env[name];
      if (value === undefined || value === '') throw this.error(key, `environment variable ${name} is ${value === undefined ? 'not set' : 'empty'}`);
      return value;
    });
  }
}
