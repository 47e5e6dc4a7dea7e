/**
 * The export job: one namespace, from the cluster or from a backup (or the chain ending
 * at it: the newest version of each record), to typed table files that Spark, DuckDB,
 * Trino and Athena read as one table per set (docs/export.md).
 *
 *   cluster:  N groups of partitions, each ScanReader ─> ExportSink(group)
 *   backup:   chain passes (chain-restore.ts), their data files spread over N lanes,
 *             each readDataFile ─> [chain filter] ─> ExportSink(lane)
 *   then      _manifest.json (every file: path, set, rows, size, SHA-256, schema), then
 *             _SUCCESS, written last: an export without _SUCCESS is not complete.
 *
 * A failure stops every lane, removes the files this run stored, and writes neither
 * marker. A crash can leave files behind, never a _SUCCESS.
 */
import { setMaxListeners } from 'node:events';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import pkg from '../../package.json' with { type: 'json' };
import { Cluster, parseHosts, type ClusterOptions } from '../aerospike/cluster.js';
import { formatEndpoint } from '../aerospike/connection.js';
import { allBuildsAtLeast, countObjects } from '../aerospike/metadata.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { PARTITION_COUNT, type RawRecord } from '../aerospike/types.js';
import { metadataFilter } from '../aerospike/wire/exp.js';
import { AerobakError, InterruptedError, NamespaceNotFoundError, UsageError, abortReason } from '../errors.js';
import { EXPORT_CODECS, type ExportCodec, type ExportFormat, type ExportFormatName } from '../export/format.js';
import { MANIFEST_NAME, SUCCESS_NAME, markerPrefix } from '../export/layout.js';
import { ExportSink, ExportTables, type ExportFileEntry } from '../export/sink.js';
import { openStore } from '../storage/index.js';
import { firstKey } from '../storage/small-objects.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { compactTimestamp, DEFAULT_PARALLEL } from './backup-plan.js';
import { chainAt } from './chain-at.js';
import { chainPasses, type ChainFilter } from './chain-restore.js';
import { describeChain, resolveChain, unlockChain, type ChainLink } from './chain.js';
import type { Kek } from '../crypto/keys.js';
import { readDataFile, type DataFileEntry } from './data-files.js';
import { formatRanges, partitionIds, planGroups, type PartitionRange, ALL_PARTITIONS } from './plan.js';
import { ProgressMeter, startProgress, type ProgressListener } from './progress.js';

export const EXPORT_MANIFEST_FORMAT = 'aerobak-export';
export const EXPORT_MANIFEST_VERSION = 1;

/** The oldest server whose scans can return the last-update time (with a bin list). */
const LAST_UPDATE_MIN_BUILD = '8.1.2.0';

export interface ExportOptions {
  /** Where the records come from: a cluster (scan), or a backup's location. */
  source: { cluster: ClusterOptions; namespace: string } | { from: string; at?: Date; namespace?: string };
  to: string;
  format: ExportFormatName;
  /** Default: the format's first codec (EXPORT_CODECS). */
  codec?: ExportCodec;
  sets?: string[];
  bins?: string[];
  /** Cluster only. */
  partitions?: PartitionRange[];
  modifiedAfter?: Date;
  modifiedBefore?: Date;
  noTtlOnly?: boolean;
  recordsPerSecond?: number;
  /** Scan groups (cluster) or data files read at once (backup); default 4. */
  parallel?: number;
  /** Add a snapshot level to the layout (the export's start, or the backup's). */
  snapshot?: boolean;
  fileBytes?: number;
  rowGroupBytes?: number;
  /** Cells buffered per lane before the biggest row group is written early. */
  bufferBytes?: number;
  /** The key of an encrypted backup (with `from`). */
  key?: Kek;
}

export interface ExportDeps {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  note?: (message: string) => void;
  now?: () => Date;
  openStore?: StoreOpener;
}

export interface ExportSetSummary {
  records: number;
  files: number;
  columns: number;
}

export interface ExportSummary {
  location: string;
  format: ExportFormatName;
  codec: ExportCodec;
  namespace: string;
  source: string;
  snapshot?: string;
  records: number;
  files: number;
  bytes: number;
  sets: Record<string, ExportSetSummary>;
  /** Backup source: records of older links left out because a newer one holds the record, or deleted before the newest. */
  superseded?: number;
  deleted?: number;
  durationMs: number;
}

export interface ExportManifest {
  format: typeof EXPORT_MANIFEST_FORMAT;
  formatVersion: number;
  tool: { name: string; version: string };
  startedAt: string;
  finishedAt: string;
  namespace: string;
  fileFormat: ExportFormatName;
  codec: ExportCodec;
  snapshot?: string;
  source: { cluster: { hosts: string[]; build?: string; clusterName?: string } } | { backup: string; chain: string[]; backupStartedAt: string };
  filters: Record<string, unknown>;
  records: number;
  bytes: number;
  sets: Record<string, ExportSetSummary>;
  files: ExportFileEntry[];
}

/** The destination of an export already holds files. */
export class ExportDestinationError extends AerobakError {
  constructor(location: string, example: string, snapshot: string | undefined) {
    super(
      'storage',
      'DESTINATION_NOT_EMPTY',
      snapshot === undefined
        ? `${location} already holds files (for example ${example}); export to a new, empty location, or add --snapshot to add a dated snapshot to an existing export`
        : `${location} already holds snapshot ${snapshot} (${example}); it was exported before`,
    );
  }
}

/** Loads a format's writer (and its library) on first use. */
async function loadFormat(name: ExportFormatName): Promise<ExportFormat> {
  if (name === 'parquet') return (await import('../export/parquet-file.js')).PARQUET;
  return (await import('../export/avro-file.js')).AVRO;
}

function checkOptions(opts: ExportOptions): ExportCodec {
  const codecs: readonly string[] = EXPORT_CODECS[opts.format];
  if (!codecs) throw new UsageError(`--format ${String(opts.format)} is not one of parquet, avro`);
  const codec = opts.codec ?? (codecs[0] as ExportCodec);
  if (!codecs.includes(codec)) throw new UsageError(`--codec ${codec} is not a ${opts.format} codec: ${codecs.join(', ')}`);
  if ('from' in opts.source && (opts.partitions || opts.modifiedAfter || opts.modifiedBefore || opts.noTtlOnly || opts.recordsPerSecond)) {
    throw new UsageError('--partitions, --modified-after, --modified-before, --no-ttl-only and --records-per-second filter a scan: they do not apply to --from');
  }
  return codec;
}

export async function runExport(opts: ExportOptions, deps: ExportDeps = {}): Promise<ExportSummary> {
  const now = deps.now ?? (() => new Date());
  const started = now();
  const codec = checkOptions(opts);
  const open = deps.openStore ?? openStore;
  deps.signal?.throwIfAborted();

  if ('from' in opts.source) {
    const src = opts.source;
    const chain = src.at ? await chainAt(src.from, src.at, src.namespace, open, '-n NS') : await resolveChain(src.from, open);
    await unlockChain(chain, opts.key);
    const newest = chain.at(-1)!;
    if (src.namespace !== undefined && newest.manifest.namespace !== src.namespace) {
      throw new UsageError(`the backup at ${newest.location} holds namespace ${newest.manifest.namespace}, not ${src.namespace}`);
    }
    if (chain.length > 1) deps.note?.(`exporting ${describeChain(chain)}, ending at ${newest.location}`);
    const snapshot = opts.snapshot ? compactTimestamp(new Date(newest.manifest.startedAt)) : undefined;
    const target = await openTarget(opts.to, snapshot, open);
    return run(opts, codec, target, snapshot, newest.manifest.namespace, started, deps, (ctx) => exportChain(chain, ctx, opts), {
      backup: newest.location,
      chain: chain.map((l) => l.location),
      backupStartedAt: newest.manifest.startedAt,
    });
  }

  const src = opts.source;
  const cluster = await Cluster.connect(src.cluster);
  try {
    const namespaces = cluster.namespaces();
    if (!namespaces.includes(src.namespace)) throw new NamespaceNotFoundError(src.namespace, namespaces);
    const snapshot = opts.snapshot ? compactTimestamp(started) : undefined;
    const target = await openTarget(opts.to, snapshot, open);
    const about = await cluster.info(['build', 'cluster-name']);
    const info: { hosts: string[]; build?: string; clusterName?: string } = { hosts: parseHosts(src.cluster.hosts).map(formatEndpoint) };
    const build = about.get('build');
    const name = about.get('cluster-name');
    if (build) info.build = build;
    if (name && name !== 'null') info.clusterName = name;
    return await run(opts, codec, target, snapshot, src.namespace, started, deps, (ctx) => exportCluster(cluster, src.namespace, opts, ctx), { cluster: info });
  } finally {
    await cluster.close();
  }
}

/** Opens the destination and checks it is empty (or, with a snapshot, holds no export of that snapshot). */
async function openTarget(location: string, snapshot: string | undefined, open: StoreOpener): Promise<ObjectStore> {
  const store = await open(location, 'write');
  const existing = await firstKey(store, markerPrefix(snapshot));
  if (existing !== undefined) throw new ExportDestinationError(store.location, existing, snapshot);
  return store;
}

/** What a source needs from the run: sinks to write to, a signal, counters. */
interface RunContext {
  sinks: ExportSink[];
  signal: AbortSignal;
  /** Records read from the source (before the chain filter). */
  read: { records: number; bytes: number };
  /** Estimated records, for the progress line. */
  setEstimate(records: number | undefined): void;
  note(message: string): void;
  counts: { superseded: number; deleted: number };
}

async function run(
  opts: ExportOptions,
  codec: ExportCodec,
  store: ObjectStore,
  snapshot: string | undefined,
  namespace: string,
  started: Date,
  deps: ExportDeps,
  source: (ctx: RunContext) => Promise<void>,
  sourceInfo: ExportManifest['source'],
): Promise<ExportSummary> {
  const now = deps.now ?? (() => new Date());
  const format = await loadFormat(opts.format);
  const lanes = Math.max(1, opts.parallel ?? DEFAULT_PARALLEL);
  const tables = new ExportTables(namespace, opts.format === 'avro');
  const files: ExportFileEntry[] = [];
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  const stopOnOuterAbort = (): void => controller.abort(deps.signal!.reason);
  deps.signal?.addEventListener('abort', stopOnOuterAbort, { once: true });
  const sinks = Array.from(
    { length: lanes },
    (_, lane) =>
      new ExportSink({
        store,
        tables,
        format,
        codec,
        lane,
        lanes,
        ...(snapshot ? { snapshot } : {}),
        ...(opts.rowGroupBytes ? { rowGroupBytes: opts.rowGroupBytes } : {}),
        ...(opts.bufferBytes ? { bufferBytes: opts.bufferBytes } : {}),
        ...(opts.fileBytes ? { fileBytes: opts.fileBytes } : {}),
        onFile: (entry) => files.push(entry),
        signal: controller.signal,
      }),
  );
  const read = { records: 0, bytes: 0 };
  const counts = { superseded: 0, deleted: 0 };
  let meter = new ProgressMeter('export', undefined);
  let progress = startProgress(meter, () => ({ records: read.records, bytes: read.bytes }), deps.onProgress);
  const ctx: RunContext = {
    sinks,
    signal: controller.signal,
    read,
    counts,
    note: (m) => deps.note?.(m),
    setEstimate: (records) => {
      progress.stop();
      meter = new ProgressMeter('export', records);
      progress = startProgress(meter, () => ({ records: read.records, bytes: read.bytes }), deps.onProgress);
    },
  };
  try {
    try {
      await source(ctx);
      await Promise.all(sinks.map(async (s) => {
        if (!s.writableEnded) s.end();
        await finished(s);
      }));
    } catch (err) {
      if (!controller.signal.aborted) controller.abort(err);
      for (const s of sinks) s.destroy();
      throw controller.signal.reason ?? err;
    } finally {
      progress.stop();
    }
    const sets: Record<string, ExportSetSummary> = {};
    for (const t of tables.all()) sets[t.set] = { records: 0, files: 0, columns: t.columns.length };
    for (const f of files) {
      sets[f.set]!.records += f.rows;
      sets[f.set]!.files++;
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    const finishedAt = now();
    const manifest: ExportManifest = {
      format: EXPORT_MANIFEST_FORMAT,
      formatVersion: EXPORT_MANIFEST_VERSION,
      tool: { name: 'aerobak', version: pkg.version },
      startedAt: started.toISOString(),
      finishedAt: finishedAt.toISOString(),
      namespace,
      fileFormat: opts.format,
      codec,
      ...(snapshot ? { snapshot } : {}),
      source: sourceInfo,
      filters: filtersOf(opts),
      records: files.reduce((n, f) => n + f.rows, 0),
      bytes: files.reduce((n, f) => n + f.size, 0),
      sets,
      files,
    };
    const prefix = markerPrefix(snapshot);
    controller.signal.throwIfAborted();
    await store.write(`${prefix}${MANIFEST_NAME}`, [Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`)], { signal: controller.signal });
    await store.write(`${prefix}${SUCCESS_NAME}`, [Buffer.alloc(0)], { signal: controller.signal });
    return {
      location: store.location,
      format: opts.format,
      codec,
      namespace,
      source: 'cluster' in sourceInfo ? sourceInfo.cluster.hosts.join(',') : sourceInfo.backup,
      ...(snapshot ? { snapshot } : {}),
      records: manifest.records,
      files: files.length,
      bytes: manifest.bytes,
      sets,
      ...('backup' in sourceInfo ? { superseded: counts.superseded, deleted: counts.deleted } : {}),
      durationMs: now().getTime() - started.getTime(),
    };
  } catch (err) {
    // Nothing half-written stays: the files stored so far go, and no marker was written.
    await store.deleteMany(files.map((f) => f.path)).catch(() => undefined);
    const reason = deps.signal?.aborted ? abortReason(deps.signal) : err;
    if (reason instanceof InterruptedError) throw new InterruptedError(`${reason.message}: the export to ${store.location} was stopped and its files removed`);
    throw reason;
  } finally {
    deps.signal?.removeEventListener('abort', stopOnOuterAbort);
  }
}

function filtersOf(opts: ExportOptions): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  if (opts.sets?.length) f.sets = opts.sets;
  if (opts.bins?.length) f.bins = opts.bins;
  if (opts.partitions) f.partitions = formatRanges(opts.partitions);
  if (opts.modifiedAfter) f.modifiedAfter = opts.modifiedAfter.toISOString();
  if (opts.modifiedBefore) f.modifiedBefore = opts.modifiedBefore.toISOString();
  if (opts.noTtlOnly) f.noTtlOnly = true;
  return f;
}

/** One ScanReader per lane, over its share of the partitions. */
async function exportCluster(cluster: Cluster, namespace: string, opts: ExportOptions, ctx: RunContext): Promise<void> {
  const ranges = opts.partitions ?? ALL_PARTITIONS;
  const ids = partitionIds(ranges);
  const groups = planGroups(ids, ctx.sinks.length);
  const sets = opts.sets && opts.sets.length > 0 ? opts.sets : undefined;
  const objects = await countObjects(cluster, namespace, sets ?? []);
  ctx.setEstimate(Math.round((objects * ids.length) / PARTITION_COUNT));
  const lastUpdate = (opts.bins?.length ?? 0) > 0 && (await allBuildsAtLeast(cluster, LAST_UPDATE_MIN_BUILD));
  const filter = metadataFilter({ modifiedAfter: opts.modifiedAfter, modifiedBefore: opts.modifiedBefore, noTtlOnly: opts.noTtlOnly });
  const perGroupRate = opts.recordsPerSecond === undefined ? undefined : Math.max(1, Math.floor(opts.recordsPerSecond / groups.length));
  const readers = groups.map(
    (partitions) =>
      new ScanReader(cluster, {
        namespace,
        ...(sets ? { sets } : {}),
        ...(opts.bins && opts.bins.length > 0 ? { bins: opts.bins } : {}),
        ...(lastUpdate ? { lastUpdate: true } : {}),
        partitions: partitions.map((id) => ({ id })),
        // Reply frames as they came (ScanBatches): the sink copies values from there into its column buffers.
        batches: true,
        ...(filter ? { filter } : {}),
        ...(perGroupRate !== undefined ? { recordsPerSecond: perGroupRate } : {}),
      }),
  );
  const counter = setInterval(() => {
    ctx.read.records = readers.reduce((n, r) => n + r.stats.records, 0);
    ctx.read.bytes = readers.reduce((n, r) => n + r.stats.bytes, 0);
  }, 200);
  try {
    await Promise.all(readers.map((reader, g) => pipeline(reader, ctx.sinks[g]!, { signal: ctx.signal })));
  } finally {
    clearInterval(counter);
    ctx.read.records = readers.reduce((n, r) => n + r.stats.records, 0);
    ctx.read.bytes = readers.reduce((n, r) => n + r.stats.bytes, 0);
  }
}

/** Only the wanted bins of a record (undefined when it has none of them: nothing to export). */
function selectBins(r: RawRecord, bins: ReadonlySet<string> | undefined): RawRecord | undefined {
  if (!bins) return r;
  const kept = r.bins.filter((b) => bins.has(b.name));
  return kept.length === 0 ? undefined : { ...r, bins: kept };
}

/** The chain's data files, pass by pass (newest link first within a chunk), spread over the lanes. */
async function exportChain(chain: readonly ChainLink[], ctx: RunContext, opts?: ExportOptions): Promise<void> {
  ctx.setEstimate(chain.length === 1 ? chain[0]!.manifest.records : undefined);
  for await (const pass of chainPasses(chain, { signal: ctx.signal })) {
    const queue = [...pass.files];
    await Promise.all(
      ctx.sinks.map(async (sink) => {
        for (let file = queue.shift(); file; file = queue.shift()) await exportFile(pass.link, file, pass.filter, sink, ctx, opts);
      }),
    );
    if (pass.filter) {
      ctx.counts.superseded += pass.filter.superseded;
      ctx.counts.deleted += pass.filter.deleted;
      pass.filter.superseded = 0;
      pass.filter.deleted = 0;
    }
  }
}

async function exportFile(link: ChainLink, entry: DataFileEntry, filter: ChainFilter | undefined, sink: ExportSink, ctx: RunContext, opts?: ExportOptions): Promise<void> {
  const sets = opts?.sets && opts.sets.length > 0 ? new Set(opts.sets) : undefined;
  const bins = opts?.bins && opts.bins.length > 0 ? new Set(opts.bins) : undefined;
  const records = readDataFile({ store: link.store, prefix: link.prefix, entry, compress: link.manifest.compression, signal: ctx.signal, ...(link.crypto ? { crypto: link.crypto } : {}) });
  // A Writable, not `for await`: no promise and iterator result per record.
  const forward = new Writable({
    objectMode: true,
    highWaterMark: 16,
    write(r: RawRecord, _encoding, callback) {
      ctx.read.records++;
      const wanted = (filter && !filter.keep(r.digest, 0, 0, 0)) || (sets && !sets.has(r.set)) ? undefined : selectBins(r, bins);
      if (!wanted || sink.write(wanted)) return callback();
      waitDrain(sink, ctx.signal).then(() => callback(), callback);
    },
  });
  await pipeline(records, forward);
  ctx.read.bytes += entry.size;
}

function waitDrain(sink: ExportSink, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const done = (err?: unknown): void => {
      sink.off('drain', onDrain);
      sink.off('error', onError);
      signal.removeEventListener('abort', onAbort);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onError = (err: Error): void => done(err);
    const onAbort = (): void => done(signal.reason);
    sink.once('drain', onDrain);
    sink.once('error', onError);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
