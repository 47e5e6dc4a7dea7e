/**
 * Regression tests of the bugs the fuzzers found (docs/reliability.md, "Fuzzing"), each
 * with the property, seed and input that found it. Seeds are property seeds under
 * AEROBAK_FUZZ_SEED=20250601 (the default); the inputs are the failing inputs (or their
 * first bytes, which are enough).
 */
import { deflateSync } from 'node:zlib';
import v8 from 'node:v8';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MAX_DEPTH, MsgpackError, unpack } from '../../src/aerospike/wire/msgpack.js';
import { MAX_BODY_SIZE, ProtocolError, decompressFrame } from '../../src/aerospike/wire/proto.js';
import { WireRows } from '../../src/aerospike/batch-request.js';
import { ContainerDecoder, ContainerWriter, type ContainerCodec } from '../../src/avro/container.js';
import { ContainerDecodeError, RecordCodecError } from '../../src/avro/errors.js';
import { METADATA_CODEC } from '../../src/avro/metadata-codec.js';
import { AvroReader, readRecord } from '../../src/avro/record-binary.js';
import { RECORD_CODEC } from '../../src/avro/record-codec.js';
import { readRecordRow, type RowsReader } from '../../src/avro/record-rows.js';
import { ValueError, classifyBin, classifyKey } from '../../src/export/values.js';
import { CorruptManifestError, MAX_MANIFEST_BYTES, MetadataFileError, readManifest, readMetadata } from '../../src/jobs/manifest.js';
import { ParticleType } from '../../src/aerospike/types.js';
import { openStore } from '../../src/storage/index.js';
import { framedContainer } from './avro-samples.js';
import { avroLong } from './support.js';

const memory = (): number => {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
};

/** What decoding `bytes` with a ContainerDecoder gives: its error, and how long and how much memory it took. */
async function decodeContainer(bytes: Buffer, codec: ContainerCodec<unknown> = RECORD_CODEC, blocks?: RowsReader): Promise<{ error: unknown; ms: number; grown: number }> {
  const m0 = memory();
  const t0 = performance.now();
  const error = await pipeline(Readable.from([bytes]), new ContainerDecoder(codec, blocks ? { blocks } : {}), async (values: AsyncIterable<unknown>) => {
    for await (const _ of values);
  }).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - t0, grown: memory() - m0 };
}

describe('fuzz regressions: the Avro container', () => {
  // Found by "ContainerDecoder+RowsReader: mutated containers decode or fail with ContainerDecodeError",
  // property seed 1725144888: the header's map count set to a 9-byte varint (2^60 and more). avsc
  // read that many map entries past the end of the input: the decoder spun for years (2^30: 50 s).
  it('a header map claiming 2^60 entries fails at once with ContainerDecodeError (was: a hang)', async () => {
    const found = Buffer.from('4f626a01e2b381d0d78baee3e901166176726f2e736368656d61fc287b2274797065223a227265636f7264222c226e616d65223a225265636f7264222c226e61', 'hex');
    for (const bytes of [found, Buffer.concat([Buffer.from('Obj\x01', 'latin1'), avroLong(2n ** 30n)]), Buffer.concat([Buffer.from('Obj\x01', 'latin1'), avroLong(-(2n ** 62n)), avroLong(10n)])]) {
      const r = await decodeContainer(bytes);
      expect(r.error).toBeInstanceOf(ContainerDecodeError);
      expect((r.error as ContainerDecodeError).code).toMatch(/^AVRO_(TRUNCATED|NOT_CONTAINER)$/);
      expect(r.ms).toBeLessThan(1000);
    }
    // And a header that holds a map entry over the whole megabyte it may take is refused, not awaited forever.
    const long = Buffer.concat([Buffer.from('Obj\x01', 'latin1'), avroLong(1n), avroLong(1n), Buffer.from('k'), avroLong(2n * 1024n * 1024n), Buffer.alloc(1024 * 1024 + 16)]);
    expect((await decodeContainer(long)).error).toMatchObject({ code: 'AVRO_NOT_CONTAINER' });
  });

  // Found by "readMetadata: mutated metadata values in well-formed blocks read or fail with MetadataFileError",
  // property seed 773468957: the index count of a metadata value set to about 52 million. avsc
  // read (and allocated) that many index records past the end of a 54-byte value: seconds and
  // gigabytes for a 1.4 KB file, an out-of-memory crash for 2^31.
  const foundValue = Buffer.from('a0acc23237b66d143e934bef7f35544f0e432c524b347c3102067929750208506156790006000218767256477354713074563d3d0000', 'hex');

  it('a metadata value claiming 52 million indexes fails at once with ContainerDecodeError (was: seconds, gigabytes)', async () => {
    const header = new ContainerWriter(METADATA_CODEC).header;
    for (const value of [foundValue, Buffer.concat([avroLong(2n ** 31n), Buffer.from([0, 0])]), Buffer.concat([avroLong(0n), avroLong(-(2n ** 40n)), avroLong(3n), Buffer.from([0])])]) {
      const r = await decodeContainer(framedContainer(header, [value]), METADATA_CODEC);
      expect(r.error).toBeInstanceOf(ContainerDecodeError);
      expect((r.error as ContainerDecodeError).code).toBe('AVRO_BAD_RECORD');
      expect(r.ms).toBeLessThan(1000);
      expect(r.grown).toBeLessThan(16 * 1024 * 1024);
    }
  });

  it('readMetadata of that file fails with METADATA_CORRUPT', async () => {
    const store = await openStore('mem://fuzz-regressions/', 'write');
    const bytes = framedContainer(new ContainerWriter(METADATA_CODEC).header, [foundValue]);
    await store.write('bk/metadata.avro', [bytes]);
    const entry = { name: 'metadata.avro', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), indexes: 0, udfs: 0 };
    const error = await readMetadata(store, 'bk', entry).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MetadataFileError);
    expect(error).toMatchObject({ code: 'METADATA_CORRUPT' });
  });

  it('values avsc reads still read: a metadata file round-trips', async () => {
    const m = { indexes: [{ namespace: 'test', name: 'idx', set: 's', bin: 'b', type: 'numeric' as const, indexType: 'list' as const }], udfs: [{ filename: 'f.lua', type: 'LUA', content: Buffer.from('return 1') }] };
    const writer = new ContainerWriter(METADATA_CODEC);
    writer.append(m);
    const out: unknown[] = [];
    await pipeline(Readable.from([Buffer.concat([writer.header, writer.takeBlock()!.bytes])]), new ContainerDecoder(METADATA_CODEC), async (values: AsyncIterable<unknown>) => {
      for await (const v of values) out.push(v);
    });
    expect(out).toEqual([m]);
  });
});

describe('fuzz regressions: record bodies', () => {
  /** A record whose one array block claims `bins` bins, followed by 3 zero bytes for each (never read: the count is refused first). */
  const manyBins = (bins: number): Buffer =>
    Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(20), Buffer.from([0, 0, 0, 0]), avroLong(BigInt(bins)), Buffer.alloc(bins * 3, 0), Buffer.from([0])]);

  // Found by the fuzzing round (issue notes): readRecord took any bin count, about 60 bytes of
  // heap per byte of a pathological block (a bin object for every two bytes).
  it('readRecord refuses a record of more than 65535 bins before reading them', () => {
    const bytes = manyBins(1_000_000);
    const m0 = memory();
    expect(() => readRecord(new AvroReader(bytes, 0, bytes.length))).toThrow(/more than 65535 bins/);
    expect(memory() - m0).toBeLessThan(16 * 1024 * 1024);
  });

  /** A record with one GeoJSON bin of `cells` 1-byte cells (and no JSON). */
  const geoRecord = (cells: number): Buffer =>
    Buffer.concat([Buffer.from([0, 0]), Buffer.alloc(20), Buffer.from([0, 0, 0, 0]), avroLong(1n), Buffer.from([0, 14, 0]), avroLong(BigInt(cells)), Buffer.alloc(cells, 2), Buffer.from([0, 0, 0])]);

  // Found while checking the memory bound of record decoding (the fuzzers' inputs are too small to show it):
  // readGeoJson kept a Buffer per cell (~130 bytes of heap for a 1-byte cell) and refused more than
  // 65535 cells only after reading them all: 133 MB of heap for a 1 MB value, 256 MiB blocks could crash.
  it('a GeoJSON value of a million cells is refused before its cells are read', () => {
    const bytes = geoRecord(1_000_000);
    for (const read of [() => readRecord(new AvroReader(bytes, 0, bytes.length)), () => readRecordRow(new AvroReader(bytes, 0, bytes.length), new WireRows('ns', 64, 1), Buffer.from('ns'), {})]) {
      const m0 = memory();
      expect(read).toThrow(RecordCodecError);
      expect(memory() - m0).toBeLessThan(16 * 1024 * 1024);
    }
    // 65535 cells still read.
    const max = geoRecord(0xffff);
    expect(readRecord(new AvroReader(max, 0, max.length)).bins[0]!.value.readUInt16BE(1)).toBe(0xffff);
  });
});

describe('fuzz regressions: small objects are not read past what they can be', () => {
  // Found by the fuzzing round (issue notes): readManifest and readMetadata read the whole
  // object before looking at its size, so a wrong object (a data file renamed, a hostile
  // store) was held in memory whole.
  /** A stream of `total` bytes in 1 MiB chunks, counting what was pulled from it. */
  const endless = (total: number) => {
    const seen = { bytes: 0 };
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const stream = Readable.from(
      (function* () {
        for (let sent = 0; sent < total; sent += chunk.length) {
          seen.bytes += chunk.length;
          yield chunk;
        }
      })(),
    );
    return { stream, seen };
  };

  it('readMetadata stops at the size the manifest gives and fails with METADATA_CORRUPT', async () => {
    const { stream, seen } = endless(64 * 1024 * 1024);
    const store = { location: 'mem://x/', read: async () => stream } as unknown as Parameters<typeof readMetadata>[0];
    const error = await readMetadata(store, 'bk', { name: 'metadata.avro', size: 1000, sha256: '0'.repeat(64), indexes: 0, udfs: 0 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'METADATA_CORRUPT' });
    expect((error as Error).message).toMatch(/metadata\.avro is more than the 1000 bytes the manifest says/);
    expect(seen.bytes).toBeLessThanOrEqual(2 * 1024 * 1024);
  });

  it('readManifest refuses an object over MAX_MANIFEST_BYTES without reading it whole', async () => {
    const { stream, seen } = endless(MAX_MANIFEST_BYTES + 64 * 1024 * 1024);
    const store = { location: 'mem://x/', read: async () => stream } as unknown as Parameters<typeof readManifest>[0];
    const error = await readManifest(store, 'bk').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptManifestError);
    expect((error as Error).message).toMatch(/manifest\.json is larger than 268435456 bytes/);
    expect(seen.bytes).toBeLessThanOrEqual(MAX_MANIFEST_BYTES + 2 * 1024 * 1024);
  });
});

describe('fuzz regressions: server replies', () => {
  // Found by "FrameParser: compressed frames (decompressFrame) give a frame or throw ProtocolError",
  // property seed -722484504: a compressed frame whose zlib stream is empty threw zlib's own
  // Error (Z_BUF_ERROR), and (AEROBAK_FUZZ_RUNS=30000) one inflating to a single byte a RangeError.
  it('a compressed frame that does not inflate to a frame is a ProtocolError', () => {
    for (const hex of ['0000000000000000', '0000000000000000789c63020000030003', '0000000000000000789c0bcf2f4a0100']) {
      expect(() => decompressFrame(Buffer.from(hex, 'hex'))).toThrow(ProtocolError);
    }
  });

  // Found while reading decompressFrame for the fuzzer: inflateSync had no output limit, so a 200 KB
  // frame inflated to 200 MiB (and more) before its size was checked.
  it('a compressed frame inflating past the largest frame stops there, as a ProtocolError', () => {
    const bomb = Buffer.concat([Buffer.alloc(8), deflateSync(Buffer.alloc(MAX_BODY_SIZE + 1024 * 1024), { level: 1 })]);
    expect(bomb.length).toBeLessThan(1024 * 1024);
    // Stopped by the output limit (before the fix: inflated whole, then refused for its size).
    expect(() => decompressFrame(bomb)).toThrow(ProtocolError);
    expect(() => decompressFrame(bomb)).toThrow(/does not inflate to a frame/);
  });

  // Found by "msgpack: deeply nested lists and maps unpack or throw MsgpackError", property seed
  // 2104099752: 3337 nested one-element lists (3338 bytes) overflowed the stack (RangeError).
  it('msgpack nested deeper than MAX_DEPTH is a MsgpackError, not a stack overflow', () => {
    const found = Buffer.concat([Buffer.alloc(3337, 0x91), Buffer.from([0xc0])]);
    expect(() => unpack(found)).toThrow(MsgpackError);
    expect(() => classifyBin(ParticleType.LIST, found)).toThrow(ValueError);
    const ok = Buffer.concat([Buffer.alloc(MAX_DEPTH, 0x91), Buffer.from([0xc0])]);
    let v: unknown = unpack(ok);
    for (let i = 0; i < MAX_DEPTH; i++) v = (v as unknown[])[0];
    expect(v).toBeNull();
    expect(() => unpack(Buffer.concat([Buffer.alloc(MAX_DEPTH + 1, 0x91), Buffer.from([0xc0])]))).toThrow(MsgpackError);
  });

  // Found by "msgpack: random bytes unpack or throw MsgpackError", property seed 1930589169
  // (AEROBAK_FUZZ_RUNS=30000): `dd 00800000`, an array header claiming 8 million items, made
  // new Array(n) allocate 64 MiB for a 5-byte input.
  it('a msgpack count larger than the bytes left is refused before allocating', () => {
    for (const hex of ['dd00800000', 'ddffffffff', 'df7fffffff', 'dc0100']) {
      const m0 = memory();
      expect(() => unpack(Buffer.from(hex, 'hex'))).toThrow(MsgpackError);
      expect(memory() - m0).toBeLessThan(1024 * 1024);
    }
  });
});

describe('fuzz regressions: the export value classifier', () => {
  // Found by "classifyBin: mutated values classify or fail with ValueError" (property seed
  // -762274741) and "classifyBin: random bytes ..." (-493218241): an empty LIST value threw
  // MsgpackError, and a GeoJSON value shorter than its prefix ParticleError, which the export
  // sink does not turn into ExportValueError (naming the record).
  it('malformed LIST, MAP and GeoJSON values are ValueErrors', () => {
    expect(() => classifyBin(ParticleType.LIST, Buffer.alloc(0))).toThrow(ValueError);
    expect(() => classifyBin(ParticleType.MAP, Buffer.from('c1', 'hex'))).toThrow(ValueError);
    expect(() => classifyBin(ParticleType.MAP, Buffer.from('8101', 'hex'))).toThrow(ValueError);
    expect(() => classifyBin(ParticleType.GEOJSON, Buffer.from('00', 'hex'))).toThrow(ValueError);
    expect(() => classifyBin(ParticleType.GEOJSON, Buffer.from('000005', 'hex'))).toThrow(ValueError);
  });

  // Found by "classifyKey: user keys of any type and bytes classify or fail with ValueError",
  // property seed 1116477079: an INTEGER user key of 0 bytes threw a RangeError
  // (ERR_BUFFER_OUT_OF_BOUNDS). A backup's key of particle type 1 that is not 8 bytes has one.
  it('an INTEGER user key that is not 8 bytes is a ValueError', () => {
    expect(() => classifyKey(ParticleType.INTEGER, Buffer.alloc(0))).toThrow(ValueError);
    expect(() => classifyKey(ParticleType.INTEGER, Buffer.alloc(9))).toThrow(ValueError);
    expect(classifyKey(ParticleType.INTEGER, Buffer.from('00000000000000ff', 'hex')).cell).toBe(255n);
  });
});
