/**
 * Cluster metadata through info commands: secondary indexes, UDF modules, namespace
 * object counts.
 *
 * Why info commands on our own connection layer and not the official client: DESIGN.md
 * allows the official client for the control plane, but everything here is a handful of
 * text commands that our Cluster already speaks (it needs them for discovery and the
 * partition map). Going through it keeps one connection layer, one set of hosts/auth/TLS
 * options and one error model for a run, and lets the test server be driven by the same
 * code. It also reads what the official client cannot give losslessly: index contexts
 * and expressions as their base64 msgpack (`sindex-list:...;b64=true`), not the
 * display form `[list_index(0)]`.
 *
 * Formats (checked against test/fixtures/aerospike-wire/info.jsonl and the 8.1 server):
 *   sindex-list:ns=<ns>;b64=true → "ns=..:indexname=..:set=..|null:bin=..|null:type=numeric|
 *       string|blob|geo2dsphere:indextype=default|list|mapkeys|mapvalues:context=<b64>|null:
 *       exp=<b64>|null:state=RW|WO|ERROR" joined by ";"
 *   sindex-create:namespace=..;set=..;indexname=..;[indextype=..;][context=..;]bin=..;type=..
 *       (or exp=<b64> instead of bin) → "ok" | "ERROR:<code>:<message>". The server answers
 *       ok when the same name and definition exist, ERROR:200 when the name exists with
 *       another definition, and RENAMES an index whose definition matches under another
 *       name — so restore checks the existing indexes before it creates any.
 *   sindex/<ns>/<name> → "...;load_pct=<0..100>;..." per node (each node builds its own)
 *   udf-list → "filename=<f>,hash=<h>,type=LUA;" ... ; udf-get:filename=<f> →
 *       "type=LUA;content=<b64>;" | "error=not_found"; udf-put:filename=<f>;content=<b64>;
 *       content-len=<length of the base64 text>;udf-type=LUA; → "ok" | "error=...".
 *   Both sindex-create and udf-put return after the definition reached every node (SMD
 *   blocking set); only an index's build needs waiting for.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { InfoCommandError } from '../errors.js';
import { CITRUSLEAF_EPOCH_UNIX_S } from './types.js';
import { infoError, parseKeyValues } from './wire/info.js';

/** The narrow view of a cluster connection that metadata needs. */
export interface InfoPort {
  /** Runs commands on one node (any node when none is given). */
  info(commands: string[]): Promise<Map<string, string>>;
  /** Runs commands on every node; one reply map per node. */
  infoAll(commands: string[]): Promise<ReadonlyMap<object, Map<string, string>>>;
}

export type IndexKeyType = 'numeric' | 'string' | 'blob' | 'geo2dsphere';
export type IndexCollectionType = 'default' | 'list' | 'mapkeys' | 'mapvalues';

/** A secondary index definition, as backed up and restored. */
export interface IndexDefinition {
  namespace: string;
  name: string;
  /** Undefined for an index over all sets. */
  set?: string;
  /** The indexed bin; undefined for an expression index. */
  bin?: string;
  type: IndexKeyType;
  indexType: IndexCollectionType;
  /** Base64 of the msgpack CDT context, when the index is on an element inside the bin. */
  context?: string;
  /** Base64 of the msgpack expression, for an expression index (server 8.1+). */
  expression?: string;
}

export interface UdfModule {
  filename: string;
  /** Only LUA exists today; kept so a future type is not silently relabelled. */
  type: string;
  content: Buffer;
}

const keyTypes: readonly IndexKeyType[] = ['numeric', 'string', 'blob', 'geo2dsphere'];
const collectionTypes: readonly IndexCollectionType[] = ['default', 'list', 'mapkeys', 'mapvalues'];

export class MetadataFormatError extends InfoCommandError {
  constructor(command: string, detail: string) {
    super(command, -1, `unexpected reply: ${detail}`);
  }
}

function checkedValue(command: string, replies: Map<string, string>): string {
  const value = replies.get(command);
  if (value === undefined) throw new MetadataFormatError(command, 'no reply for the command');
  const err = infoError(value);
  if (err) throw new InfoCommandError(command, err.code, err.message);
  if (value.startsWith('error=')) throw new InfoCommandError(command, -1, value.slice('error='.length));
  return value;
}

async function infoOne(port: InfoPort, command: string): Promise<string> {
  return checkedValue(command, await port.info([command]));
}

/** Parses one entry of `sindex-list:...;b64=true`. */
export function parseIndexEntry(entry: string): IndexDefinition {
  const command = 'sindex-list';
  const kv = parseKeyValues(entry, ':');
  const field = (k: string): string | undefined => {
    const v = kv.get(k);
    return v === undefined || v === 'null' || v === 'NULL' || v === '' ? undefined : v;
  };
  const namespace = field('ns');
  const name = field('indexname');
  const type = field('type')?.toLowerCase();
  const indexType = (field('indextype') ?? 'default').toLowerCase();
  if (!namespace || !name) throw new MetadataFormatError(command, `index entry without ns or indexname: "${entry}"`);
  if (!keyTypes.includes(type as IndexKeyType)) throw new MetadataFormatError(command, `index ${name} has unknown type "${type}"`);
  if (!collectionTypes.includes(indexType as IndexCollectionType)) {
    throw new MetadataFormatError(command, `index ${name} has unknown indextype "${indexType}"`);
  }
  const def: IndexDefinition = { namespace, name, type: type as IndexKeyType, indexType: indexType as IndexCollectionType };
  const set = field('set');
  const bin = field('bin');
  const context = field('context');
  const expression = field('exp');
  if (set !== undefined) def.set = set;
  if (bin !== undefined) def.bin = bin;
  if (context !== undefined) def.context = context;
  if (expression !== undefined) def.expression = expression;
  if (def.bin === undefined && def.expression === undefined) {
    throw new MetadataFormatError(command, `index ${name} has neither a bin nor an expression`);
  }
  return def;
}

/** The secondary indexes of a namespace, with contexts and expressions in base64. */
export async function listIndexes(port: InfoPort, namespace: string): Promise<IndexDefinition[]> {
  const value = await infoOne(port, `sindex-list:ns=${namespace};b64=true`);
  return value
    .split(';')
    .filter((e) => e.trim().length > 0)
    .map(parseIndexEntry);
}

/** The info command that creates an index (the C client's parameter order). */
export function indexCreateCommand(def: IndexDefinition): string {
  const parts = [`namespace=${def.namespace}`];
  if (def.set !== undefined) parts.push(`set=${def.set}`);
  parts.push(`indexname=${def.name}`);
  if (def.indexType !== 'default') parts.push(`indextype=${def.indexType.toUpperCase()}`);
  if (def.context !== undefined) parts.push(`context=${def.context}`);
  if (def.bin !== undefined) parts.push(`bin=${def.bin}`);
  else if (def.expression !== undefined) parts.push(`exp=${def.expression}`);
  parts.push(`type=${def.type.toUpperCase()}`);
  return `sindex-create:${parts.join(';')}`;
}

/** True when two definitions index the same thing the same way (names aside). */
export function sameIndexShape(a: IndexDefinition, b: IndexDefinition): boolean {
  return (
    a.namespace === b.namespace &&
    a.set === b.set &&
    a.bin === b.bin &&
    a.type === b.type &&
    a.indexType === b.indexType &&
    a.context === b.context &&
    a.expression === b.expression
  );
}

export function describeIndex(def: IndexDefinition): string {
  const target = def.bin !== undefined ? `bin ${def.bin}` : `expression ${def.expression}`;
  const where = def.set !== undefined ? `${def.namespace}/${def.set}` : `${def.namespace} (all sets)`;
  const ctx = def.context !== undefined ? ` context ${def.context}` : '';
  const coll = def.indexType !== 'default' ? ` ${def.indexType}` : '';
  return `${where} ${target}${ctx} ${def.type}${coll}`;
}

/** What restoring an index would do against the indexes that exist. */
export type IndexPlan =
  | { kind: 'create'; index: IndexDefinition }
  | { kind: 'exists'; index: IndexDefinition }
  | { kind: 'conflict'; index: IndexDefinition; existing: IndexDefinition; reason: string };

export function planIndex(index: IndexDefinition, existing: readonly IndexDefinition[]): IndexPlan {
  const byName = existing.find((e) => e.namespace === index.namespace && e.name === index.name);
  if (byName) {
    return sameIndexShape(byName, index)
      ? { kind: 'exists', index }
      : {
          kind: 'conflict',
          index,
          existing: byName,
          reason: `index "${index.name}" exists with another definition (${describeIndex(byName)}; the backup has ${describeIndex(index)})`,
        };
  }
  const byShape = existing.find((e) => sameIndexShape(e, index));
  if (byShape) {
    return {
      kind: 'conflict',
      index,
      existing: byShape,
      reason: `index "${byShape.name}" already indexes ${describeIndex(index)}; creating "${index.name}" would rename it`,
    };
  }
  return { kind: 'create', index };
}

export async function createIndex(port: InfoPort, def: IndexDefinition): Promise<void> {
  await infoOne(port, indexCreateCommand(def));
}

export interface WaitOptions {
  signal?: AbortSignal;
  /** Poll interval in milliseconds. */
  intervalMs?: number;
  /** How long an index may stay unknown to a node (not yet propagated) before giving up. */
  appearTimeoutMs?: number;
}

/**
 * Waits until every node reports load_pct=100 for the index. A build may take long on a
 * big namespace, so there is no overall timeout; the signal ends the wait.
 */
export async function waitForIndex(port: InfoPort, namespace: string, name: string, opts: WaitOptions = {}): Promise<void> {
  const command = `sindex/${namespace}/${name}`;
  const interval = opts.intervalMs ?? 250;
  const appearBy = Date.now() + (opts.appearTimeoutMs ?? 30_000);
  for (;;) {
    opts.signal?.throwIfAborted();
    const replies = await port.infoAll([command]);
    let done = true;
    for (const reply of replies.values()) {
      const value = reply.get(command) ?? '';
      const err = infoError(value);
      if (err) {
        if (Date.now() > appearBy) throw new InfoCommandError(command, err.code, err.message);
        done = false;
        continue;
      }
      if (parseKeyValues(value).get('load_pct') !== '100') done = false;
    }
    if (done) return;
    await sleep(interval, undefined, opts.signal ? { signal: opts.signal } : {});
  }
}

/** The UDF module names registered on the cluster. */
export async function listUdfs(port: InfoPort): Promise<{ filename: string; type: string }[]> {
  const value = await infoOne(port, 'udf-list');
  const out: { filename: string; type: string }[] = [];
  for (const entry of value.split(';')) {
    if (entry.trim().length === 0) continue;
    const kv = parseKeyValues(entry, ',');
    const filename = kv.get('filename');
    if (!filename) throw new MetadataFormatError('udf-list', `entry without filename: "${entry}"`);
    out.push({ filename, type: kv.get('type') ?? 'LUA' });
  }
  return out;
}

/** One UDF module's source; undefined when the cluster does not have it. */
export async function getUdf(port: InfoPort, filename: string): Promise<UdfModule | undefined> {
  const command = `udf-get:filename=${filename}`;
  const value = (await port.info([command])).get(command);
  if (value === undefined) throw new MetadataFormatError(command, 'no reply for the command');
  if (value.startsWith('error=not_found')) return undefined;
  const kv = parseKeyValues(checkedValue(command, new Map([[command, value]])));
  const content = kv.get('content');
  if (content === undefined) throw new MetadataFormatError(command, 'no content field');
  return { filename, type: kv.get('type') ?? 'LUA', content: Buffer.from(content, 'base64') };
}

/** Every UDF module with its source. */
export async function readUdfs(port: InfoPort): Promise<UdfModule[]> {
  const out: UdfModule[] = [];
  for (const { filename } of await listUdfs(port)) {
    const udf = await getUdf(port, filename);
    // A module removed between the list and the get is simply not part of the backup.
    if (udf) out.push(udf);
  }
  return out;
}

export function udfPutCommand(udf: UdfModule): string {
  const content = udf.content.toString('base64');
  return `udf-put:filename=${udf.filename};content=${content};content-len=${content.length};udf-type=${udf.type};`;
}

/** Registers (or replaces) a UDF module; returns once every node has it. */
export async function putUdf(port: InfoPort, udf: UdfModule): Promise<void> {
  await infoOne(port, udfPutCommand(udf));
}

/**
 * How many records a scan of the namespace (or of the given sets) will return, for
 * progress and ETA. Namespaces: master_objects summed over nodes. Sets: `objects`
 * counts replicas too, so the sum is divided by the effective replication factor.
 */
export async function countObjects(port: InfoPort, namespace: string, sets: readonly string[] = []): Promise<number> {
  const nsCommand = `namespace/${namespace}`;
  const setCommands = sets.map((s) => `sets/${namespace}/${s}`);
  const replies = await port.infoAll([nsCommand, ...setCommands]);
  let total = 0;
  for (const reply of replies.values()) {
    const ns = parseKeyValues(checkedValue(nsCommand, reply));
    if (sets.length === 0) {
      total += Number(ns.get('master_objects') ?? ns.get('objects') ?? 0);
      continue;
    }
    const rf = Math.max(1, Number(ns.get('effective_replication_factor') ?? ns.get('replication-factor') ?? 1));
    for (const cmd of setCommands) {
      const value = reply.get(cmd) ?? '';
      // A set the node has never seen answers with an empty value or an error: zero objects.
      if (value === '' || infoError(value)) continue;
      total += Number(parseKeyValues(value.replace(/;$/, ''), ':').get('objects') ?? 0) / rf;
    }
  }
  return Math.round(total);
}

/**
 * The cluster's own clock: the smallest `current_time` (seconds since 2010-01-01, the
 * clock records' last-update times come from) that the nodes report for `namespace`,
 * as a Date; undefined if a node does not report it. The smallest, so that a bound taken
 * from it is at or before every node's clock (1-second resolution: the value is floored).
 */
export async function clusterClock(port: InfoPort, namespace: string): Promise<Date | undefined> {
  const command = `namespace/${namespace}`;
  let min: number | undefined;
  for (const reply of (await port.infoAll([command])).values()) {
    const value = Number(parseKeyValues(checkedValue(command, reply)).get('current_time'));
    if (!Number.isSafeInteger(value) || value <= 0) return undefined;
    min = min === undefined ? value : Math.min(min, value);
  }
  return min === undefined ? undefined : new Date((min + CITRUSLEAF_EPOCH_UNIX_S) * 1000);
}

/**
 * The truncation thresholds of a namespace, per set ('' for the namespace itself), in
 * milliseconds since 2010-01-01 (0 = never truncated): the largest value any node
 * reports. A truncate makes every record last updated before the threshold disappear
 * without a trace that a scan could see, so an incremental must know whether one moved.
 */
export async function truncateThresholds(port: InfoPort, namespace: string): Promise<Record<string, number>> {
  const nsCommand = `namespace/${namespace}`;
  const setsCommand = `sets/${namespace}`;
  const out: Record<string, number> = {};
  const raise = (key: string, value: string | undefined) => {
    const n = Number(value ?? 0);
    if (Number.isSafeInteger(n) && n > (out[key] ?? 0)) out[key] = n;
    else out[key] ??= 0;
  };
  for (const reply of (await port.infoAll([nsCommand, setsCommand])).values()) {
    raise('', parseKeyValues(checkedValue(nsCommand, reply)).get('truncate_lut'));
    const sets = reply.get(setsCommand) ?? '';
    if (sets === '' || infoError(sets)) continue;
    for (const entry of sets.split(';')) {
      if (entry === '') continue;
      const kv = parseKeyValues(entry, ':');
      const set = kv.get('set');
      if (set !== undefined) raise(set, kv.get('truncate_lut'));
    }
  }
  return out;
}

/**
 * True when every node's `build` is at least `version` (dotted numbers, e.g. "8.1.2.0"):
 * what gates a protocol feature the whole cluster must understand. A build that does
 * not parse counts as older.
 */
export async function allBuildsAtLeast(port: InfoPort, version: string): Promise<boolean> {
  const want = version.split('.').map(Number);
  const replies = await port.infoAll(['build']);
  if (replies.size === 0) return false;
  for (const reply of replies.values()) {
    const have = (reply.get('build') ?? '').split('.').map((p) => Number.parseInt(p, 10));
    for (let i = 0; i < want.length; i++) {
      const h = have[i] ?? 0;
      if (Number.isNaN(h) || h < want[i]!) return false;
      if (h > want[i]!) break;
    }
  }
  return true;
}
