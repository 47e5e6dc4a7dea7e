/**
 * Fuzzing of the backup's own files besides data (docs/reliability.md, "Fuzzing"): the
 * manifest (readManifest) and the metadata file (readMetadata), plain and encrypted.
 * Inputs: manifests and metadata that writeManifest / writeMetadata write, their bytes
 * mutated, manifests mutated field by field (values replaced, removed, added), and random
 * bytes and JSON.
 */
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, describe, expect } from 'vitest';
import { ContainerWriter } from '../../src/avro/container.js';
import { METADATA_CODEC } from '../../src/avro/metadata-codec.js';
import { fileCrypto, sealBuffer } from '../../src/crypto/backup-keys.js';
import type { DataFileEntry } from '../../src/jobs/data-files.js';
import {
  CorruptManifestError,
  ENCRYPTION_SCHEME,
  MetadataFileError,
  UnsupportedManifestError,
  readManifest,
  readMetadata,
  requiredFeatures,
  writeManifest,
  writeMetadata,
  type BackupMetadata,
  type Manifest,
  type MetadataFileEntry,
} from '../../src/jobs/manifest.js';
import type { DigestListEntry } from '../../src/catalog/digest-list.js';
import { openStore, type ObjectStore } from '../../src/storage/index.js';
import { framedContainer, headerVarints } from './avro-samples.js';
import { FuzzFailure, applyMutations, fuzzIt, guardAsync, mutants, mutationArb, printCounts, randomBytes, type Sample } from './support.js';

afterAll(() => printCounts('manifest'));

/** Each input is a stream pipeline: fewer runs in the short mode (FuzzOptions.cost). */
const STREAM_COST = { cost: 2 };

const store: ObjectStore = await openStore('mem://fuzz-manifest/', 'write');
const crypto = fileCrypto(cryptoRandomBytes(32));
let prefixes = 0;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

// ---------------------------------------------------------------------------
// Manifests

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const instant = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
const partitionSetArb = fc.oneof(
  fc.tuple(fc.nat({ max: 4095 }), fc.nat({ max: 4095 })).map(([a, b]) => ({ first: Math.min(a, b), last: Math.max(a, b) })),
  fc.uniqueArray(fc.nat({ max: 4095 }), { maxLength: 6 }).map((ids) => ids.sort((a, b) => a - b)),
);
const name = fc.string({ unit: fc.constantFrom(...'abcdefghij_0123456789-.'), minLength: 1, maxLength: 12 }).filter((s) => s !== '.' && s !== '..' && s !== 'manifest.json');
const fileName = fc.oneof({ weight: 4, arbitrary: name }, { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 99 }), name, name).map(([i, a, n]) => `shards/${i}/${a}/${n}`) });

const manifestArb: fc.Arbitrary<Manifest> = fc
  .record({
    createdAt: instant,
    startedAt: instant,
    finishedAt: instant,
    hosts: fc.array(fc.string({ maxLength: 20 }), { maxLength: 3 }),
    build: fc.option(fc.string({ maxLength: 10 }), { nil: undefined }),
    namespace: fc.string({ minLength: 1, maxLength: 10 }),
    sets: fc.option(fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), { nil: undefined }),
    modifiedAfter: fc.option(instant, { nil: undefined }),
    noTtlOnly: fc.option(fc.boolean(), { nil: undefined }),
    partitions: fc.option(fc.array(fc.tuple(fc.nat({ max: 4095 }), fc.nat({ max: 4095 })).map(([a, b]) => ({ first: Math.min(a, b), last: Math.max(a, b) })), { maxLength: 2 }), { nil: undefined }),
    compression: fc.constantFrom('gzip' as const, 'zstd' as const, 'none' as const),
    files: fc.uniqueArray(fc.record({ name: fileName, size: fc.nat({ max: 2 ** 40 }), sha256: hex64, records: fc.nat({ max: 2 ** 40 }), partitions: partitionSetArb }), {
      maxLength: 5,
      selector: (f) => f.name,
    }),
    metadata: fc.option(fc.record({ size: fc.nat(), sha256: hex64, indexes: fc.nat(), udfs: fc.nat() }), { nil: undefined }),
    incremental: fc.option(fc.record({ path: fc.oneof(name, fc.tuple(name, name).map(([a, b]) => `${a}/${b}`)), sha256: hex64, since: instant }), { nil: undefined }),
    clusterTime: fc.option(instant, { nil: undefined }),
    truncateThresholds: fc.option(fc.dictionary(fc.string({ maxLength: 6 }), fc.nat()), { nil: undefined }),
    liveDigests: fc.option(fc.array(fc.record({ size: fc.nat(), sha256: hex64, digests: fc.nat(), partitions: partitionSetArb }), { maxLength: 2 }), { nil: undefined }),
    encrypted: fc.boolean(),
  })
  .map((c) => {
    const files: DataFileEntry[] = c.files;
    const m: Manifest = {
      format: 'aerobak-backup',
      formatVersion: 2,
      tool: { name: 'aerobak', version: '0.1.0' },
      schemaVersion: 1,
      createdAt: c.createdAt,
      startedAt: c.startedAt,
      finishedAt: c.finishedAt,
      cluster: { hosts: c.hosts, ...(c.build === undefined ? {} : { build: c.build }) },
      namespace: c.namespace,
      filters: {
        ...(c.sets === undefined ? {} : { sets: c.sets }),
        ...(c.modifiedAfter === undefined ? {} : { modifiedAfter: c.modifiedAfter }),
        ...(c.noTtlOnly === undefined ? {} : { noTtlOnly: c.noTtlOnly }),
        ...(c.partitions === undefined ? {} : { partitions: c.partitions }),
      },
      compression: c.compression,
      records: files.reduce((n, f) => n + f.records, 0),
      bytes: files.reduce((n, f) => n + f.size, 0),
      files,
    };
    if (c.metadata) m.metadata = { name: 'metadata.avro', ...c.metadata };
    if (c.incremental) {
      m.kind = 'incremental';
      m.parent = { path: c.incremental.path, sha256: c.incremental.sha256 };
      m.since = c.incremental.since;
    }
    if (c.clusterTime !== undefined) m.clusterTime = c.clusterTime;
    if (c.truncateThresholds !== undefined) m.truncateThresholds = c.truncateThresholds;
    if (c.liveDigests) m.liveDigests = c.liveDigests.map((l, i): DigestListEntry => ({ name: `live_${i}.digests`, ...l }));
    if (c.encrypted) m.encryption = { scheme: ENCRYPTION_SCHEME, segmentBytes: 1024 * 1024 };
    m.requires = requiredFeatures(m);
    return m;
  });

/** Writes `m` with writeManifest under a new prefix; the prefix and the stored bytes. */
async function stored(m: Manifest): Promise<{ prefix: string; bytes: Buffer }> {
  const prefix = `m${prefixes++}`;
  await writeManifest(store, prefix, m);
  const chunks: Buffer[] = [];
  for await (const c of await store.read(`${prefix}/manifest.json`)) chunks.push(c as Buffer);
  return { prefix, bytes: Buffer.concat(chunks) };
}

async function readBytes(bytes: Buffer): Promise<Manifest> {
  const prefix = `m${prefixes++}`;
  await store.write(`${prefix}/manifest.json`, [bytes]);
  return readManifest(store, prefix);
}

/** A manifest read from bytes is what the bytes say. */
async function checkManifestBytes(bytes: Buffer): Promise<void> {
  const r = await guardAsync(bytes, [CorruptManifestError, UnsupportedManifestError], () => readBytes(bytes));
  if (r.ok) expect(r.value).toEqual(JSON.parse(bytes.toString('utf8')));
}

/** Values a field is set to: wrong types, out of range, empty, huge, hostile keys. */
const nastyValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1.5, 2 ** 53, -(2 ** 53), 1e308, '', 'x', 'gzip', 'zstd', 'incremental', 'shards/1/2/x', '../x', 'manifest.json', '2026-01-01T00:00:00Z', 'not a date', [], {}, [1, 2], { first: 0, last: 4095 }, { first: 5, last: 1 }, 'a'.repeat(64), ENCRYPTION_SCHEME, ['zstd'], ['future-feature']),
  fc.jsonValue({ maxDepth: 2 }),
);

interface Edit {
  path: number;
  op: 'set' | 'delete' | 'add';
  value: unknown;
  key: string;
}

/** Every path (keys and indexes) into `v`. */
function paths(v: unknown, at: Array<string | number> = [], out: Array<Array<string | number>> = []): Array<Array<string | number>> {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (typeof v === 'object' && v !== null) for (const [k, x] of Object.entries(v)) paths(x, [...at, k], out);
  return out;
}

function applyEdits(m: Manifest, edits: Edit[]): unknown {
  const root = JSON.parse(JSON.stringify(m)) as unknown;
  let value = root;
  for (const edit of edits) {
    // A copy of the value: the constants nastyValue gives are shared between runs.
    const e = { ...edit, value: edit.value === undefined ? undefined : (JSON.parse(JSON.stringify(edit.value)) as unknown) };
    const all = paths(value);
    const path = all[e.path % all.length]!;
    if (path.length === 0) {
      if (e.op === 'set') value = e.value;
      continue;
    }
    let parent = value as Record<string | number, unknown>;
    for (const k of path.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
    const last = path[path.length - 1]!;
    if (e.op === 'set') parent[last] = e.value;
    else if (e.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last];
    } else {
      const target = parent[last];
      if (Array.isArray(target)) target.push(e.value);
      else if (typeof target === 'object' && target !== null) (target as Record<string, unknown>)[e.key] = e.value;
      else parent[last] = e.value;
    }
  }
  return value;
}

const editArb: fc.Arbitrary<Edit> = fc.record({
  path: fc.nat(),
  op: fc.constantFrom('set' as const, 'delete' as const, 'add' as const),
  value: nastyValue,
  key: fc.constantFrom('extra', '__proto__', 'constructor', 'requires', 'kind', 'parent', 'liveDigests', 'encryption', 'metadata', 'shard'),
});

describe('fuzz: readManifest', () => {
  const parser = 'readManifest';

  fuzzIt(
    parser,
    'valid manifests read back as written',
    manifestArb,
    async (m) => {
      const { prefix, bytes } = await stored(m);
      const r = await guardAsync(bytes, [], () => readManifest(store, prefix));
      if (!r.ok) throw r.error;
      expect(r.value).toEqual(m);
    },
    { share: 0.1 },
  );

  fuzzIt(parser, 'mutated manifest bytes read as what they say or fail with CorruptManifestError / UnsupportedManifestError', mutants(manifestArb.map((m): Sample => ({ bytes: Buffer.from(`${JSON.stringify(m, null, 2)}\n`) }))), checkManifestBytes, {
    share: 0.3,
  });

  fuzzIt(
    parser,
    'manifests with fields replaced, removed or added read as what they say or fail with CorruptManifestError / UnsupportedManifestError',
    fc.tuple(manifestArb, fc.array(editArb, { minLength: 1, maxLength: 3 })),
    async ([m, edits]) => checkManifestBytes(Buffer.from(JSON.stringify(applyEdits(m, edits)))),
    { share: 0.4 },
  );

  fuzzIt(parser, 'random bytes and JSON fail with CorruptManifestError / UnsupportedManifestError', fc.oneof(randomBytes(), fc.json({ maxDepth: 3 }).map((j) => Buffer.from(j))), checkManifestBytes, { share: 0.2 });
});

// ---------------------------------------------------------------------------
// The metadata file

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const metadataArb: fc.Arbitrary<BackupMetadata> = fc.record({
  indexes: fc.array(
    fc
      .record({
        namespace: fc.string({ maxLength: 8 }),
        name: fc.string({ maxLength: 8 }),
        set: optional(fc.string({ maxLength: 8 })),
        bin: optional(fc.string({ maxLength: 8 })),
        type: fc.constantFrom('numeric' as const, 'string' as const, 'blob' as const, 'geo2dsphere' as const),
        indexType: fc.constantFrom('default' as const, 'list' as const, 'mapkeys' as const, 'mapvalues' as const),
        context: optional(fc.base64String({ maxLength: 12 })),
        expression: optional(fc.base64String({ maxLength: 12 })),
      })
      .map((i) => Object.fromEntries(Object.entries(i).filter(([, v]) => v !== undefined)) as unknown as BackupMetadata['indexes'][number]),
    { maxLength: 4 },
  ),
  udfs: fc.array(fc.record({ filename: fc.string({ maxLength: 10 }), type: fc.constant('LUA'), content: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) }), { maxLength: 3 }),
});

/** The metadata file's container, with the offsets of its header's and its block's varints. */
function metadataSample(m: BackupMetadata): Sample {
  const writer = new ContainerWriter(METADATA_CODEC);
  writer.append(m);
  const block = writer.takeBlock()!.bytes;
  const h = writer.header.length;
  // The block's count and size, then the value: its index count first.
  const varints = [...headerVarints(writer.header), h, h + 1, h + 2, h + 3];
  return { bytes: Buffer.concat([writer.header, block]), varints };
}

async function putMetadata(bytes: Buffer, m: BackupMetadata, matching: boolean, original: MetadataFileEntry): Promise<{ prefix: string; entry: MetadataFileEntry }> {
  const prefix = `meta${prefixes++}`;
  await store.write(`${prefix}/metadata.avro`, [bytes]);
  const entry = matching ? { name: 'metadata.avro', size: bytes.length, sha256: sha256(bytes), indexes: m.indexes.length, udfs: m.udfs.length } : original;
  return { prefix, entry };
}

const metaAllowed = [MetadataFileError];

describe('fuzz: readMetadata', () => {
  const parser = 'readMetadata';

  fuzzIt(
    parser,
    'valid metadata files read back as written, plain and encrypted',
    fc.tuple(metadataArb, fc.boolean()),
    async ([m, encrypted]) => {
      const prefix = `meta${prefixes++}`;
      const entry = await writeMetadata(store, prefix, m, encrypted ? { crypto } : {});
      const r = await guardAsync(undefined, [], () => readMetadata(store, prefix, entry, encrypted ? crypto : undefined));
      if (!r.ok) throw r.error;
      expect(r.value).toEqual(m);
    },
    { ...STREAM_COST, share: 0.1 },
  );

  fuzzIt(
    parser,
    'mutated metadata files (entry matching) read or fail with MetadataFileError',
    fc.tuple(metadataArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean()),
    async ([m, ms, encrypted]) => {
      const plain = applyMutations(metadataSample(m), ms);
      const bytes = encrypted ? await sealBuffer(crypto, 'metadata.avro', plain) : plain;
      const { prefix, entry } = await putMetadata(bytes, m, true, undefined as never);
      const r = await guardAsync(plain, metaAllowed, () => readMetadata(store, prefix, entry, encrypted ? crypto : undefined));
      if (r.ok && (r.value.indexes.length !== entry.indexes || r.value.udfs.length !== entry.udfs)) throw new FuzzFailure('read metadata of other counts than the entry says', plain);
    },
    { ...STREAM_COST, share: 0.3 },
  );

  // The value mutated, in a block framed right (count, size, sync): what reaches the value decoder.
  const framedArb = fc.tuple(metadataArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean()).map(([m, ms, encrypted]) => {
    const writer = new ContainerWriter(METADATA_CODEC);
    const value = METADATA_CODEC.type.toBuffer(METADATA_CODEC.toAvro(m));
    const varints = [0];
    return { m, encrypted, plain: framedContainer(writer.header, [applyMutations({ bytes: value, varints }, ms)]) };
  });
  fuzzIt(
    parser,
    'mutated metadata values in well-formed blocks read or fail with MetadataFileError',
    framedArb,
    async ({ m, encrypted, plain }) => {
      const bytes = encrypted ? await sealBuffer(crypto, 'metadata.avro', plain) : plain;
      const { prefix, entry } = await putMetadata(bytes, m, true, undefined as never);
      await guardAsync(plain, metaAllowed, () => readMetadata(store, prefix, entry, encrypted ? crypto : undefined));
    },
    { ...STREAM_COST, share: 0.25 },
  );

  fuzzIt(
    parser,
    'stored metadata bytes mutated (entry as written, or matching) fail with MetadataFileError',
    fc.tuple(metadataArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean()),
    async ([m, ms, encrypted, matching]) => {
      const prefix = `meta${prefixes++}`;
      const original = await writeMetadata(store, prefix, m, encrypted ? { crypto } : {});
      const chunks: Buffer[] = [];
      for await (const c of await store.read(`${prefix}/metadata.avro`)) chunks.push(c as Buffer);
      const storedBytes = Buffer.concat(chunks);
      const bytes = applyMutations({ bytes: storedBytes }, ms);
      const put = await putMetadata(bytes, m, matching, original);
      const r = await guardAsync(bytes, metaAllowed, () => readMetadata(store, put.prefix, put.entry, encrypted ? crypto : undefined));
      if (r.ok && !bytes.equals(storedBytes) && (encrypted || !matching)) throw new FuzzFailure('altered metadata read as sound', bytes);
    },
    { ...STREAM_COST, share: 0.2 },
  );

  fuzzIt(
    parser,
    'random bytes as the metadata file fail with MetadataFileError',
    fc.tuple(randomBytes(), fc.boolean()),
    async ([bytes, encrypted]) => {
      const m: BackupMetadata = { indexes: [], udfs: [] };
      const { prefix, entry } = await putMetadata(bytes, m, true, undefined as never);
      await guardAsync(bytes, metaAllowed, () => readMetadata(store, prefix, entry, encrypted ? crypto : undefined));
    },
    { ...STREAM_COST, share: 0.15 },
  );
});
