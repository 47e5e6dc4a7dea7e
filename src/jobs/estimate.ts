/**
 * `aerobak backup --estimate` (asbackup's `-e`): how big a backup would be and about how
 * long it would take, from a sample, without writing anything to the destination.
 *
 * How (docs/cli.md, "backup --estimate"):
 *
 * 1. Connect, check the namespace, read the cluster's object count of the namespace (or of
 *    the sets: `objects` / replication factor), as the backup does for its progress line.
 * 2. Pick the sample: whole partitions, spread evenly over the partitions the backup would
 *    scan (`--partitions`, default all 4096), as many as hold about `sampleRecords`
 *    (default 10,000, `--estimate-samples`) by the object count: at least one, at most
 *    MAX_SAMPLE_PARTITIONS (256, 1/16 of a namespace), or all of them when fewer.
 * 3. Back the sample up into memory with the backup's own code: the same scans (filters,
 *    bins), the same Avro encoding and the same compression and level, min(--parallel,
 *    partitions) scans at once. The stored bytes are the sink's own; the Avro bytes are
 *    read back by decompressing them; with `--encrypt`, each file's encryption overhead
 *    (header, a tag per 1 MiB segment) is added, as encryptedSize() computes it.
 * 4. Scale: records = sample records × partitions selected / partitions sampled (whole
 *    partitions, so time and TTL filters are counted in); stored bytes = records × stored
 *    bytes per sampled record; duration = records / the sample's records per second (its
 *    scans, encoding and compression, timed), at least stored bytes / `--bandwidth`.
 *
 * The duration is rough: a small sample's scans spend a larger share of their time
 * starting than a whole backup's, so it tends to be on the long side. Nothing is written
 * to any store and the destination is not opened.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { Cluster } from '../aerospike/cluster.js';
import { countObjects } from '../aerospike/metadata.js';
import { ScanReader } from '../aerospike/scan-reader.js';
import { PARTITION_COUNT } from '../aerospike/types.js';
import { metadataFilter } from '../aerospike/wire/exp.js';
import { ContainerWriter } from '../avro/container.js';
import { RECORD_CODEC } from '../avro/record-codec.js';
import { encryptedSize } from '../crypto/stream-aead.js';
import { NamespaceNotFoundError, UsageError, abortReason } from '../errors.js';
import { MemoryStore } from '../storage/memory/memory-store.js';
import type { BackupOptions } from './backup-options.js';
import { DEFAULT_COMPRESSION, codecOf, type Compression } from './compression.js';
import { DEFAULT_MAX_FILE_BYTES, DataFileSink, type DataFileEntry } from './data-files.js';
import { ALL_PARTITIONS, formatRanges, partitionIds } from './plan.js';

/** Records the sample aims at (asbackup's --estimate-samples default). */
export const DEFAULT_SAMPLE_RECORDS = 10_000;
/** The most partitions sampled: 1/16 of a namespace. */
export const MAX_SAMPLE_PARTITIONS = 256;
/** Partitions sampled when the object count says the selection is empty (a filter or a stale count may be wrong). */
const EMPTY_SAMPLE_PARTITIONS = 16;

export interface EstimateOptions
  extends Pick<BackupOptions, 'cluster' | 'namespace' | 'sets' | 'bins' | 'partitions' | 'modifiedAfter' | 'modifiedBefore' | 'noTtlOnly' | 'compress' | 'compressLevel' | 'parallel' | 'fileSizeBytes'> {
  /** The backup would be encrypted: add the encryption's overhead per file. */
  encrypted?: boolean;
  /** Records the sample aims at (default DEFAULT_SAMPLE_RECORDS). */
  sampleRecords?: number;
  /** The backup's --bandwidth, bytes per second: the duration is at least stored bytes / this. */
  bandwidthBytesPerSecond?: number;
}

export interface BackupEstimate {
  namespace: string;
  sets: string[];
  /** The partitions the backup would scan, as ranges. */
  partitions: string;
  compression: Compression;
  /** The codec's level (its default when none was given); undefined for none. */
  level: number | undefined;
  encrypted: boolean;
  /** Estimated records of the backup. */
  records: number;
  /** Estimated Avro bytes (before compression). */
  avroBytes: number;
  /** Estimated bytes stored (after compression and encryption): what the manifest's `bytes` would say. */
  storedBytes: number;
  /** Estimated data files (one series per --parallel group, rolled over at the file size). */
  files: number;
  /** Estimated duration of the data phase, seconds. */
  seconds: number;
  /** True when --bandwidth, not the sample's speed, sets `seconds`. */
  bandwidthBound: boolean;
  /** How the estimate was made. */
  sample: {
    /** Records the sample aimed at. */
    target: number;
    records: number;
    /** Partitions scanned whole for the sample, of `partitionsSelected`. */
    partitions: number;
    partitionsSelected: number;
    /** The sampled partition ids. */
    partitionIds: number[];
    /** The cluster's object count for the selection (scaled to the partitions selected). */
    clusterObjects: number;
    /** Bytes per record of the sample, less the file headers (counted per file). */
    avroBytesPerRecord: number;
    storedBytesPerRecord: number;
    /** What a data file's header adds: Avro bytes, and stored (compressed, encrypted). */
    fileHeaderBytes: { avro: number; stored: number };
    /** Avro bytes / stored bytes. */
    compressionRatio: number;
    /** Scans run at once for the sample. */
    scans: number;
    seconds: number;
    recordsPerSecond: number;
  };
}

export interface EstimateDeps {
  signal?: AbortSignal;
  now?: () => number;
}

/** `count` ids of `ids`, spread evenly (the middle of each of `count` equal slices). */
export function spreadSample(ids: readonly number[], count: number): number[] {
  const k = Math.max(0, Math.min(count, ids.length));
  const out: number[] = [];
  for (let j = 0; j < k; j++) out.push(ids[Math.floor(((j + 0.5) * ids.length) / k)]!);
  return out;
}

/** How many partitions hold about `target` records, by the cluster's count of `objects` in all 4096. */
export function samplePartitionCount(target: number, objects: number, selected: number): number {
  if (selected === 0) return 0;
  if (objects <= 0) return Math.min(selected, EMPTY_SAMPLE_PARTITIONS);
  const perPartition = objects / PARTITION_COUNT;
  return Math.max(1, Math.min(selected, MAX_SAMPLE_PARTITIONS, Math.ceil(target / perPartition)));
}

export async function estimateBackup(opts: EstimateOptions, deps: EstimateDeps = {}): Promise<BackupEstimate> {
  const now = deps.now ?? (() => performance.now());
  const target = opts.sampleRecords ?? DEFAULT_SAMPLE_RECORDS;
  if (!Number.isInteger(target) || target < 1) throw new UsageError(`--estimate-samples ${target}: expected a whole number of records, 1 or more`);
  const compress = opts.compress ?? DEFAULT_COMPRESSION;
  const codec = codecOf(compress);
  const level = codec.levels ? (opts.compressLevel ?? codec.levels.default) : undefined;
  const sets = opts.sets ?? [];
  const selected = partitionIds(opts.partitions ?? ALL_PARTITIONS);
  deps.signal?.throwIfAborted();

  const cluster = await Cluster.connect(opts.cluster);
  try {
    const namespaces = cluster.namespaces();
    if (!namespaces.includes(opts.namespace)) throw new NamespaceNotFoundError(opts.namespace, namespaces);
    const objects = await countObjects(cluster, opts.namespace, sets);
    const sampleIds = spreadSample(selected, samplePartitionCount(target, objects, selected.length));
    const scans = Math.max(1, Math.min(opts.parallel ?? 4, sampleIds.length));
    const t0 = now();
    const files = await backUpSample(cluster, opts, sampleIds, scans, compress, level, deps.signal);
    const seconds = Math.max((now() - t0) / 1000, 1e-3);

    const sampleRecords = files.reduce((n, f) => n + f.entry.records, 0);
    const sampleStored = files.reduce((n, f) => n + (opts.encrypted ? encryptedSize(f.entry.size) : f.entry.size), 0);
    const sampleAvro = files.reduce((n, f) => n + f.avroBytes, 0);
    const scale = sampleIds.length === 0 ? 0 : selected.length / sampleIds.length;
    const records = Math.round(sampleRecords * scale);
    // Every file starts with the Avro header (the schema, ~2 KiB): the sample's few records
    // carry as many headers as the backup's many, so headers are counted per file, not per record.
    const header = await fileOverhead(compress, level, opts.encrypted === true);
    const perRecordStored = sampleRecords === 0 ? 0 : Math.max(0, sampleStored - files.length * header.stored) / sampleRecords;
    const perRecordAvro = sampleRecords === 0 ? 0 : Math.max(0, sampleAvro - files.length * header.avro) / sampleRecords;
    const recordsPerSecond = sampleRecords / seconds;
    const bySpeed = recordsPerSecond > 0 ? records / recordsPerSecond : 0;
    // The backup's files: one series per group with records, each rolled over at the file size.
    const groups = Math.min(opts.parallel ?? 4, selected.length);
    const dataBytes = records * perRecordStored;
    const fileCount = records === 0 ? 0 : Math.min(records, groups) + Math.floor(dataBytes / (opts.fileSizeBytes ?? DEFAULT_MAX_FILE_BYTES));
    const storedBytes = Math.round(dataBytes + fileCount * header.stored);
    const byBandwidth = opts.bandwidthBytesPerSecond ? storedBytes / opts.bandwidthBytesPerSecond : 0;
    return {
      namespace: opts.namespace,
      sets,
      partitions: formatRanges(opts.partitions ?? ALL_PARTITIONS),
      compression: compress,
      level,
      encrypted: opts.encrypted === true,
      records,
      avroBytes: Math.round(records * perRecordAvro + fileCount * header.avro),
      files: fileCount,
      storedBytes,
      seconds: Math.max(bySpeed, byBandwidth),
      bandwidthBound: byBandwidth > bySpeed,
      sample: {
        target,
        records: sampleRecords,
        partitions: sampleIds.length,
        partitionsSelected: selected.length,
        partitionIds: sampleIds,
        clusterObjects: Math.round((objects * selected.length) / PARTITION_COUNT),
        avroBytesPerRecord: perRecordAvro,
        storedBytesPerRecord: perRecordStored,
        fileHeaderBytes: header,
        compressionRatio: sampleStored === 0 ? 1 : sampleAvro / sampleStored,
        scans,
        seconds,
        recordsPerSecond,
      },
    };
  } finally {
    await cluster.close();
  }
}

interface SampleFile {
  entry: DataFileEntry;
  avroBytes: number;
}

/** Backs the sample partitions up into a private memory store, `scans` at once; returns each file with its Avro size. */
async function backUpSample(
  cluster: Cluster,
  opts: EstimateOptions,
  ids: number[],
  scans: number,
  compress: Compression,
  level: number | undefined,
  outer: AbortSignal | undefined,
): Promise<SampleFile[]> {
  if (ids.length === 0) return [];
  // A bucket of its own, emptied at the end: nothing outlives the estimate.
  const store = new MemoryStore(`aerobak-estimate-${randomBytes(8).toString('hex')}`, '');
  const controller = new AbortController();
  const onAbort = () => controller.abort(outer!.reason);
  outer?.addEventListener('abort', onAbort, { once: true });
  const filter = metadataFilter({ modifiedAfter: opts.modifiedAfter, modifiedBefore: opts.modifiedBefore, noTtlOnly: opts.noTtlOnly });
  const groups: number[][] = Array.from({ length: scans }, () => []);
  ids.forEach((id, i) => groups[i % scans]!.push(id));
  const sinks: DataFileSink[] = [];
  try {
    await Promise.all(
      groups.map(async (group, g) => {
        const reader = new ScanReader(cluster, {
          namespace: opts.namespace,
          ...(opts.sets && opts.sets.length > 0 ? { sets: opts.sets } : {}),
          ...(opts.bins && opts.bins.length > 0 ? { bins: opts.bins } : {}),
          partitions: group.map((id) => ({ id })),
          batches: true,
          ...(filter ? { filter } : {}),
        });
        const sink = new DataFileSink({
          store,
          prefix: '',
          baseName: `estimate_${g}`,
          compress,
          ...(level !== undefined ? { compressLevel: level } : {}),
          partitions: group,
          signal: controller.signal,
          highWaterMark: 2,
        });
        sinks.push(sink);
        await pipeline(reader, sink, { signal: controller.signal }).catch((err: unknown) => {
          if (!controller.signal.aborted) controller.abort(err);
          throw err;
        });
      }),
    );
    if (controller.signal.aborted) throw abortReason(controller.signal);
    const out: SampleFile[] = [];
    for (const sink of sinks) {
      for (const entry of sink.files()) out.push({ entry, avroBytes: await avroSize(store, entry, compress) });
    }
    return out;
  } finally {
    outer?.removeEventListener('abort', onAbort);
    const keys: string[] = [];
    for await (const o of store.list('')) keys.push(o.key);
    if (keys.length > 0) await store.deleteMany(keys);
  }
}

/** The bytes a data file's header takes: its Avro header, and that header compressed (and encrypted) alone. */
async function fileOverhead(compress: Compression, level: number | undefined, encrypted: boolean): Promise<{ avro: number; stored: number }> {
  const avro = new ContainerWriter(RECORD_CODEC).header;
  const streams = codecOf(compress).streams;
  let stored = avro.length;
  if (streams) {
    const c = streams.compressor(level);
    let n = 0;
    c.stream.on('data', (chunk: Buffer) => (n += chunk.length));
    c.stream.end(avro);
    await finished(c.stream);
    stored = n;
  }
  return { avro: avro.length, stored: encrypted ? encryptedSize(stored) : stored };
}

/** The Avro bytes of a stored sample file: its size uncompressed. */
async function avroSize(store: MemoryStore, entry: DataFileEntry, compress: Compression): Promise<number> {
  const streams = codecOf(compress).streams;
  if (!streams) return entry.size;
  let n = 0;
  await pipeline(
    await store.read(entry.name),
    streams.decompressor(),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        n += chunk.length;
        callback();
      },
    }),
  );
  return n;
}
