/**
 * Info commands (proto type 1), parsed and answered as the server's thr_info.c does:
 * each "\n"-terminated command is echoed exactly, then a tab, its value and "\n"; a
 * trailing command without "\n" is ignored; an empty request gets the summary (the
 * summary commands this server implements). The command name ends at the first '/',
 * ':' or ';'; parameters are `k=v;k=v`. Errors read `ERROR:<code>:<message>`, and an
 * unknown command gets `ERROR:4:unrecognized command`.
 *
 * Implemented: node, build, version, edition, features, partition-generation,
 * partitions, cluster-name, statistics (a few counters), user-agent-set,
 * peers-generation, peers-clear-std/-alt, peers-tls-std/-alt, service-clear-std/-alt,
 * service-tls-std/-alt, service, services,
 * replicas (and replicas-all, replicas-master), namespaces, namespace/<ns>, sets,
 * sets/<ns>, sets/<ns>/<set>, sindex-list, sindex, sindex/<ns>, sindex/<ns>/<index>,
 * sindex-create, sindex-delete, sindex-exists, udf-put, udf-get, udf-list, udf-remove,
 * truncate, truncate-namespace. Every other command of the real server is answered as
 * unrecognized. Statistics are a subset of the real server's, computed from the store;
 * values the store has no notion of (memory, storage stripes, migrations, latency
 * counters) are left out.
 *
 * With TLS the nodes serve TLS only: the -tls- lists name them (with the configured TLS
 * name), the -clear- lists name no address. With `natAddresses` the -std lists announce
 * 127.0.0.1:1 (unreachable) and the -alt lists the real addresses. With security, an
 * unauthenticated connection gets "ERROR:80:not authenticated" for every command, and the
 * admin commands need their role (security.ts).
 */
import { encodeFrame, ProtoType } from '../../../src/aerospike/wire/proto.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { PARTITION_COUNT, CITRUSLEAF_EPOCH_UNIX_S } from '../../../src/aerospike/types.js';
import { Unpacker } from '../../../src/aerospike/wire/msgpack.js';
import { udfHash, type SindexDefinition } from './metadata.js';
import { INFO_PERMISSIONS, accessResult } from './security.js';
import type { Connection } from './connection.js';
import type { TestNode } from './node.js';
import type { Namespace, SetStats } from './store.js';

const BUILD = '8.1.2.0';
const EDITION = 'Aerospike Community Edition';
const FEATURES =
  'batch-any;batch-index;blob-bits;cdt-index;cdt-list;cdt-map;cluster-stable;float;geo;sindex-exists;' +
  'peers;pipelining;pquery;pscans;query-show;relaxed-sc;replicas;replicas-all;replicas-master;replicas-max;' +
  'truncate-namespace;udf';
/** Default port the peers list omits (the server strips ":3000" from peer addresses). */
const DEFAULT_PORT = 3000;

interface Command {
  conn: Connection;
  node: TestNode;
  params: string;
}

type Handler = (cmd: Command) => string;

function error(code: number, message: string): string {
  return `ERROR:${code}:${message}`;
}

/** as_info_parameter_get(): the value of `k` in "k1=v1;k2=v2", undefined when absent. */
function param(params: string, name: string): string | undefined {
  for (const part of params.split(';')) {
    const eq = part.indexOf('=');
    if (eq >= 0 && part.slice(0, eq) === name) return part.slice(eq + 1);
  }
  return undefined;
}

type RequiredParam = { ok: true; value: string } | { ok: false; reply: string };

/** A required parameter: missing or empty answers ERROR:4 (ERROR:20 for the namespace). */
function required(params: string, names: string[]): RequiredParam {
  const name = names[0]!;
  const code = name === 'namespace' ? ResultCode.NAMESPACE_NOT_FOUND : ResultCode.PARAMETER;
  for (const n of names) {
    const value = param(params, n);
    if (value === undefined) continue;
    if (value === '') return { ok: false, reply: error(code, `missing '${name}' value`) };
    return { ok: true, value };
  }
  return { ok: false, reply: error(code, `missing '${name}'`) };
}

function nsOf(node: TestNode, name: string): Namespace | undefined {
  return node.server.namespace(name);
}

const HANDLERS: Record<string, Handler> = {
  node: ({ node }) => node.name,
  build: () => BUILD,
  version: () => `${EDITION} build ${BUILD}`,
  edition: () => EDITION,
  features: () => FEATURES,
  'partition-generation': ({ node }) => String(node.partitionGeneration),
  partitions: () => String(PARTITION_COUNT),
  'cluster-name': ({ node }) => node.server.settings.clusterName ?? 'null',
  statistics: ({ node }) =>
    [
      `cluster_size=${node.server.nodes.filter((n) => n.state !== 'killed').length}`,
      `cluster_name=${node.server.settings.clusterName ?? 'null'}`,
      `client_connections=${node.connectionCount}`,
      `objects=${node.server.namespaceObjects().reduce((n, ns) => n + nodeObjects(node, ns).objects, 0)}`,
    ].join(';'),

  'user-agent-set': ({ conn, params }) => {
    if (conn.userAgent !== undefined) return error(ResultCode.PARAMETER, 'already set');
    const value = required(params, ['value']);
    if (!value.ok) return value.reply;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value.value) || value.value.length % 4 !== 0) {
      return error(ResultCode.PARAMETER, "'value' invalid base64");
    }
    conn.userAgent = Buffer.from(value.value, 'base64').toString('utf8');
    return 'ok';
  },

  'peers-generation': ({ node }) => String(node.peersGeneration),
  'peers-clear-std': (cmd) => peers(cmd, false, false),
  'peers-clear-alt': (cmd) => peers(cmd, false, true),
  'peers-tls-std': (cmd) => peers(cmd, true, false),
  'peers-tls-alt': (cmd) => peers(cmd, true, true),
  'service-clear-std': ({ node }) => service(node, false, false),
  'service-clear-alt': ({ node }) => service(node, false, true),
  'service-tls-std': ({ node }) => service(node, true, false),
  'service-tls-alt': ({ node }) => service(node, true, true),
  service: ({ node }) => announced(node),
  services: ({ node }) =>
    node.server
      .peersOf(node)
      .map((p) => announced(p))
      .join(';'),

  replicas: ({ node }) => replicas(node, true),
  'replicas-all': ({ node }) => replicas(node, false),
  'replicas-master': ({ node }) =>
    node.server
      .namespaceObjects()
      .map((ns) => `${ns.name}:${ownershipBitmap(node)}`)
      .join(';'),

  namespaces: ({ node }) => node.server.namespaces.join(';'),
  namespace: ({ node, params }) => {
    const ns = nsOf(node, params);
    return ns ? namespaceInfo(node, ns) : 'type=unknown';
  },
  sets: ({ node, params }) => {
    if (params === '') return node.server.namespaceObjects().map((ns) => setsInfo(node, ns)).join('');
    const slash = params.indexOf('/');
    const ns = nsOf(node, slash < 0 ? params : params.slice(0, slash));
    if (!ns) return 'ns_type=unknown';
    if (slash < 0) return setsInfo(node, ns);
    const set = params.slice(slash + 1);
    return ns.sets.has(set) ? setProps(node, ns, set) : '';
  },

  'sindex-list': ({ node, params }) => {
    const nsName = param(params, 'ns') ?? param(params, 'namespace');
    if (nsName === '') return error(ResultCode.NAMESPACE_NOT_FOUND, "missing 'namespace' value");
    if (nsName !== undefined && !nsOf(node, nsName)) return error(ResultCode.NAMESPACE_NOT_FOUND, 'namespace not found on node');
    const b64 = param(params, 'b64');
    if (b64 !== undefined && b64 !== 'true' && b64 !== 'false') return error(ResultCode.PARAMETER, 'bad b64');
    return sindexList(node, nsName, b64 === 'true');
  },
  sindex: ({ node, params }) => {
    if (params === '') return sindexList(node, undefined, false);
    const slash = params.indexOf('/');
    const ns = nsOf(node, slash < 0 ? params : params.slice(0, slash));
    if (!ns) return 'ns_type=unknown';
    if (slash < 0) return sindexList(node, ns.name, false);
    const def = node.server.metadata.sindex(ns.name, params.slice(slash + 1));
    return def ? sindexStats(ns, def) : error(ResultCode.INDEX_NOT_FOUND, 'no index');
  },
  'sindex-create': sindexCreate,
  'sindex-delete': ({ node, params }) => {
    const name = required(params, ['indexname']);
    if (!name.ok) return name.reply;
    const ns = required(params, ['namespace', 'ns']);
    if (!ns.ok) return ns.reply;
    node.server.metadata.deleteSindex(ns.value, name.value);
    return 'ok';
  },
  'sindex-exists': ({ node, params }) => {
    const name = required(params, ['indexname']);
    if (!name.ok) return name.reply;
    const ns = required(params, ['namespace', 'ns']);
    if (!ns.ok) return ns.reply;
    if (!nsOf(node, ns.value)) return error(ResultCode.NAMESPACE_NOT_FOUND, 'namespace not found on node');
    return node.server.metadata.sindex(ns.value, name.value) ? 'true' : 'false';
  },

  'udf-put': udfPut,
  'udf-get': ({ node, params }) => {
    const filename = param(params, 'filename');
    if (!filename) return 'error=invalid_filename';
    const udf = node.server.metadata.udf(filename);
    if (!udf) return 'error=not_found';
    return `type=${udf.type};content=${udf.content64};`;
  },
  'udf-list': ({ node }) =>
    node.server.metadata
      .udfList()
      .map((u) => `filename=${u.filename},hash=${udfHash(u)},type=${u.type};`)
      .join(''),
  'udf-remove': ({ node, params }) => {
    const filename = param(params, 'filename');
    if (!filename) return 'error=invalid_filename';
    node.server.metadata.removeUdf(filename);
    return 'ok';
  },

  truncate: ({ node, params }) => {
    const ns = required(params, ['namespace']);
    if (!ns.ok) return ns.reply;
    const set = required(params, ['set']);
    if (!set.ok) return set.reply;
    return truncate(node, ns.value, set.value, param(params, 'lut'));
  },
  'truncate-namespace': ({ node, params }) => {
    const ns = required(params, ['namespace']);
    if (!ns.ok) return ns.reply;
    if (param(params, 'set') !== undefined) return error(ResultCode.PARAMETER, 'unexpected set name');
    return truncate(node, ns.value, undefined, param(params, 'lut'));
  },
};

/** Summary commands answered for an empty request, in the server's order. */
const SUMMARY = ['features', 'node', 'edition', 'build', 'version', 'partition-generation'];

/** Answers one info request body with one info frame. */
export function handleInfo(conn: Connection, body: Buffer): Buffer {
  let out = '';
  const text = body.toString('utf8');
  if (text.length === 0) {
    for (const name of SUMMARY) out += `${name}\t${HANDLERS[name]!({ conn, node: conn.node, params: '' })}\n`;
  } else {
    const lines = text.split('\n');
    lines.pop(); // the part after the last "\n": unterminated, ignored like the server does
    const security = conn.node.server.security;
    for (const line of lines) {
      const { name, params } = parseCommand(line);
      const handler = Object.hasOwn(HANDLERS, name) ? HANDLERS[name] : undefined;
      const access = accessResult(security, conn, Object.hasOwn(INFO_PERMISSIONS, name) ? INFO_PERMISSIONS[name] : undefined);
      const value =
        access === ResultCode.NOT_AUTHENTICATED
          ? error(access, 'not authenticated')
          : !handler
            ? error(ResultCode.PARAMETER, 'unrecognized command')
            : access === ResultCode.ROLE_VIOLATION
              ? error(access, 'role violation')
              : handler({ conn, node: conn.node, params });
      out += `${line}\t${value}\n`;
    }
  }
  return encodeFrame(ProtoType.INFO, Buffer.from(out, 'utf8'));
}

/** parse_cmd(): the name ends at the first '/', else ':', else ';' (whichever comes first). */
function parseCommand(line: string): { name: string; params: string } {
  let at = line.indexOf('/');
  const argsKwargs = line.indexOf(':');
  const kwargs = line.indexOf(';');
  if (at < 0 || (argsKwargs >= 0 && argsKwargs < at)) at = argsKwargs;
  if (at < 0 || (kwargs >= 0 && kwargs < at)) at = kwargs;
  return at < 0 ? { name: line, params: '' } : { name: line.slice(0, at), params: line.slice(at + 1) };
}

// --------------------------------------------------------------------- cluster

/** Where clients reach `node` on this service: nowhere (the service is off), an unreachable NAT-side address, or where it listens. */
function reachableAt(node: TestNode, tls: boolean, alternate: boolean): string | undefined {
  const settings = node.server.settings;
  if (tls !== (settings.tls !== undefined)) return undefined;
  if (settings.natAddresses && !alternate) return '127.0.0.1:1';
  const at = announced(node);
  return at.endsWith(`:${DEFAULT_PORT}`) ? at.slice(0, -`:${DEFAULT_PORT}`.length) : at;
}

/** The address `node` gives out for itself: the configured announce address, else where it listens. */
function announced(node: TestNode): string {
  return node.server.settings.announce[node.index] ?? node.address;
}

/**
 * `<gen>,3000,[[<node>,<tls name>,[<host:port>]],...]`; ":3000" is stripped from
 * addresses; a service the nodes do not run lists no peer.
 */
function peers({ node }: Command, tls: boolean, alternate: boolean): string {
  const tlsName = tls ? (node.server.settings.tls?.name ?? '') : '';
  const list = node.server
    .peersOf(node)
    .map((p) => ({ p, at: reachableAt(p, tls, alternate) }))
    .filter(({ at }) => at !== undefined)
    .map(({ p, at }) => `[${p.name},${tlsName},[${at}]]`)
    .join(',');
  return `${node.peersGeneration},${DEFAULT_PORT},[${list}]`;
}

/** `service-{clear,tls}-{std,alt}`: the node's own address on that service ("" when it does not run it). */
function service(node: TestNode, tls: boolean, alternate: boolean): string {
  const at = reachableAt(node, tls, alternate);
  if (at === undefined) return '';
  return at.includes(':') ? at : `${at}:${DEFAULT_PORT}`;
}

/** `<ns>:<regime>,<replicas>,<bitmap>;...`: one 4096-bit bitmap of the partitions this node masters. */
function replicas(node: TestNode, withRegime: boolean): string {
  const bitmap = ownershipBitmap(node);
  return node.server
    .namespaceObjects()
    .map((ns) => `${ns.name}:${withRegime ? '0,' : ''}1,${bitmap}`)
    .join(';');
}

/** Base64 of 4096 bits, partition p at byte p >> 3, bit 0x80 >> (p & 7). */
function ownershipBitmap(node: TestNode): string {
  const bits = Buffer.alloc(PARTITION_COUNT / 8);
  for (const pid of node.ownedPartitions()) bits[pid >> 3]! |= 0x80 >> (pid & 7);
  return bits.toString('base64');
}

// ------------------------------------------------------------------ namespaces

/** Live records of the partitions this node masters. */
function nodeObjects(node: TestNode, ns: Namespace, set?: string): SetStats {
  return ns.stats(set, new Set(node.ownedPartitions()));
}

function namespaceInfo(node: TestNode, ns: Namespace): string {
  const stats = nodeObjects(node, ns);
  const owned = node.ownedPartitions();
  const unavailable = owned.filter((pid) => !node.server.isAvailable(pid)).length;
  const clepochS = node.server.clock.nowClepochSeconds();
  return [
    `ns_cluster_size=${node.server.nodes.filter((n) => n.state !== 'killed').length}`,
    'effective_replication_factor=1',
    `objects=${stats.objects}`,
    'tombstones=0',
    `master_objects=${stats.objects}`,
    'master_tombstones=0',
    'prole_objects=0',
    'prole_tombstones=0',
    'non_replica_objects=0',
    'dead_partitions=0',
    `unavailable_partitions=${unavailable}`,
    'stop_writes=false',
    'hwm_breached=false',
    `current_time=${clepochS}`,
    `non_expirable_objects=${stats.nonExpirable}`,
    'expired_objects=0',
    'evicted_objects=0',
    `truncate_lut=${ns.truncateLutMs}`,
    'truncating=false',
    `data_used_bytes=${stats.bytes}`,
    'allow-ttl-without-nsup=false',
    `default-ttl=${ns.config.defaultTtl}`,
    `max-record-size=${ns.config.maxRecordSize}`,
    'nsup-period=120',
    'replication-factor=1',
    'strong-consistency=false',
    'storage-engine=memory',
  ].join(';');
}

function setsInfo(node: TestNode, ns: Namespace): string {
  const bySet = ns.statsBySet(new Set(node.ownedPartitions()));
  return [...ns.sets.keys()].map((set) => `ns=${ns.name}:set=${set}:${setProps(node, ns, set, bySet.get(set) ?? { objects: 0, bytes: 0, nonExpirable: 0 })}`).join('');
}

function setProps(node: TestNode, ns: Namespace, set: string, known?: SetStats): string {
  const stats = known ?? nodeObjects(node, ns, set);
  const sindexes = node.server.metadata.sindexList(ns.name).filter((s) => s.set === set).length;
  return (
    `objects=${stats.objects}:tombstones=0:data_used_bytes=${stats.bytes}:truncate_lut=${ns.sets.get(set)?.truncateLutMs ?? 0}:` +
    `sindexes=${sindexes}:index_populating=false:truncating=false:default-read-touch-ttl-pct=0:default-ttl=0:` +
    'disable-eviction=false:enable-index=false:stop-writes-count=0:stop-writes-size=0;'
  );
}

function truncate(node: TestNode, nsName: string, set: string | undefined, lut: string | undefined): string {
  const nowMs = node.server.clock.nowClepochMs();
  let lutMs = nowMs;
  if (lut !== undefined) {
    if (lut === '') return error(ResultCode.PARAMETER, "missing 'lut' value");
    let ns: bigint;
    try {
      ns = BigInt(lut);
    } catch {
      return error(ResultCode.PARAMETER, 'would truncate to 0');
    }
    lutMs = Math.max(0, Number(ns / 1_000_000n) - CITRUSLEAF_EPOCH_UNIX_S * 1000);
    if (lutMs === 0) return error(ResultCode.PARAMETER, 'would truncate to 0');
    if (lutMs > nowMs) return error(ResultCode.PARAMETER, 'would truncate in the future');
  }
  // Like the server, an unknown namespace is not an error: the SMD item just never applies.
  nsOf(node, nsName)?.truncate(set, lutMs);
  return 'ok';
}

// -------------------------------------------------------------------- sindexes

const KEY_TYPES = new Set(['numeric', 'string', 'blob', 'geo2dsphere']);
const INDEX_TYPES = new Set(['default', 'list', 'mapkeys', 'mapvalues']);

function sindexCreate({ node, params }: Command): string {
  const name = required(params, ['indexname']);
  if (!name.ok) return name.reply;
  const ns = required(params, ['namespace', 'ns']);
  if (!ns.ok) return ns.reply;
  const set = param(params, 'set');
  if (set === '') return error(ResultCode.PARAMETER, "missing 'set' value");
  const context = param(params, 'context');
  if (context === '') return error(ResultCode.PARAMETER, "missing 'context' value");
  if (context !== undefined && contextDisplay(context) === undefined) return error(ResultCode.PARAMETER, "'context' invalid cdt context");
  const indexType = (param(params, 'indextype') ?? 'default').toLowerCase();
  if (!INDEX_TYPES.has(indexType)) {
    return error(ResultCode.PARAMETER, "bad 'indextype' - must be one of 'default', 'list', 'mapkeys', 'mapvalues'");
  }
  const indexdata = param(params, 'indexdata');
  let type = param(params, 'type');
  let bin = param(params, 'bin');
  const exp = param(params, 'exp');
  if (indexdata === undefined && type === undefined) return error(ResultCode.PARAMETER, "both 'indexdata' and 'type' are missing");
  if (indexdata !== undefined && type !== undefined) return error(ResultCode.PARAMETER, "both 'indexdata' and 'type' are specified");
  if (indexdata !== undefined) {
    const comma = indexdata.indexOf(',');
    if (comma < 0) return error(ResultCode.PARAMETER, "'indexdata' missing bin type");
    bin = indexdata.slice(0, comma);
    type = indexdata.slice(comma + 1);
    if (bin === '') return error(ResultCode.PARAMETER, "'indexdata' missing bin name");
  } else {
    if (bin !== undefined && exp !== undefined) return error(ResultCode.PARAMETER, "both 'bin' and 'exp' are specified");
    if (bin === undefined && exp === undefined) return error(ResultCode.PARAMETER, "both 'bin' and 'exp' are missing");
    if (exp !== undefined && context !== undefined) return error(ResultCode.PARAMETER, "both 'context' and 'exp' are specified");
  }
  const keyType = type!.toLowerCase();
  if (!KEY_TYPES.has(keyType)) return error(ResultCode.PARAMETER, "bad 'type' - must be one of 'numeric', 'string', 'blob', 'geo2dsphere'");
  // Like an SMD item for a namespace a node lacks, an index on an unknown namespace is accepted and ignored.
  if (!nsOf(node, ns.value)) return 'ok';
  const def: SindexDefinition = { namespace: ns.value, name: name.value, set, bin, keyType, indexType, context, exp };
  if (node.server.metadata.createSindex(def) === 'conflict') {
    return error(ResultCode.INDEX_FOUND, "'indexname' already exists with different definition");
  }
  return 'ok';
}

function sindexList(node: TestNode, namespace: string | undefined, b64: boolean): string {
  return node.server.metadata
    .sindexList(namespace)
    .map((s) => {
      const context = s.context === undefined ? 'null' : b64 ? s.context : (contextDisplay(s.context) ?? s.context);
      return (
        `ns=${s.namespace}:indexname=${s.name}:set=${s.set ?? 'null'}:bin=${s.bin ?? 'null'}:type=${s.keyType}:` +
        `indextype=${s.indexType}:context=${context}:exp=${s.exp ?? 'null'}:state=RW`
      );
    })
    .join(';');
}

function sindexStats(ns: Namespace, def: SindexDefinition): string {
  const particle = { numeric: 1, string: 3, blob: 4, 'geo2dsphere': 23 }[def.keyType];
  let entries = 0;
  for (const rec of ns.records(def.set)) {
    const bin = def.bin === undefined ? undefined : rec.bins.find((b) => b.name === def.bin);
    if (bin && (def.indexType !== 'default' || def.context !== undefined || bin.type === particle)) entries++;
  }
  return `entries=${entries};used_bytes=0;entries_per_bval=${entries > 0 ? 1 : 0};entries_per_rec=${entries > 0 ? 1 : 0};load_pct=100;load_time=0;stat_gc_recs=0`;
}

const CTX_NAMES = ['index', 'rank', 'key', 'value', 'exp'];

/**
 * cdt_ctx_to_dynbuf(): "[list_index(0), map_key(...)]" from base64 msgpack [type, value, ...].
 * Integer values display as decimals; other values are shown as their JSON form, which
 * may differ from the server's msgpack_display() text. Undefined when not a valid context.
 */
function contextDisplay(b64: string): string | undefined {
  try {
    const bytes = Buffer.from(b64, 'base64');
    const u = new Unpacker(bytes);
    const list = u.read();
    if (u.offset !== bytes.length || !Array.isArray(list) || list.length === 0 || list.length % 2 !== 0) return undefined;
    const parts: string[] = [];
    for (let i = 0; i < list.length; i += 2) {
      const type = list[i];
      if (typeof type !== 'number' || (type & 0x0f) >= CTX_NAMES.length || !(type & 0x30)) return undefined;
      const v = list[i + 1];
      const shown = typeof v === 'number' || typeof v === 'bigint' ? String(v) : JSON.stringify(v);
      parts.push(`${type & 0x10 ? 'list_' : 'map_'}${CTX_NAMES[type & 0x0f]}(${shown})`);
    }
    return `[${parts.join(', ')}]`;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------------ UDFs

function udfPut({ node, params }: Command): string {
  const filename = param(params, 'filename');
  if (!filename) return 'error=invalid_filename';
  const dot = filename.indexOf('.');
  if (dot <= 0 || dot === filename.length - 1) return 'error=invalid_filename';
  const contentLen = param(params, 'content-len');
  const len = contentLen === undefined ? NaN : Number(contentLen);
  if (!Number.isInteger(len) || len < 0 || len % 4 !== 0) return 'error=invalid_content_len';
  const type = param(params, 'udf-type') ?? 'LUA';
  if (type !== 'LUA') return 'error=invalid_udf_type';
  const content = param(params, 'content');
  if (content === undefined || content.length !== len) return 'error=invalid_content';
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(content)) return 'error=invalid_base64_content';
  node.server.metadata.putUdf({ filename, content64: content, type });
  return 'ok';
}
