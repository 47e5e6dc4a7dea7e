import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import type { RawRecord } from '../../src/aerospike/types.js';
import { avroType } from '../../src/avro/avro-type.js';
import { ContainerDecoder, ContainerEncoder, ContainerWriter, type BlockReader } from '../../src/avro/container.js';
import { ContainerDecodeError } from '../../src/avro/errors.js';
import { AvroReader, readRecord } from '../../src/avro/record-binary.js';
import { RECORD_CODEC, RECORD_TYPE, avroToRecord, recordToAvro, type AvroRecord } from '../../src/avro/record-codec.js';
import { RECORD_SCHEMA_V1 } from '../../src/avro/schemas.js';
import { decodeWithAvroJs } from './avro-js.js';
import { goldenRecords, sampleRecords } from './records.js';

async function encode(records: RawRecord[], blockBytes?: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(
    Readable.from(records),
    new ContainerEncoder({ blockBytes }),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        chunks.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(chunks);
}

/** Feeds `bytes` to a decoder in chunks of 1..chunk bytes; resolves to the records or rejects with the decoder's error. */
async function decode(bytes: Buffer, chunk = 4096): Promise<RawRecord[]> {
  const pieces: Buffer[] = [];
  for (let i = 0, n = 1; i < bytes.length; i += n, n = 1 + ((n * 7919) % chunk)) pieces.push(bytes.subarray(i, i + n));
  const out: RawRecord[] = [];
  await pipeline(Readable.from(pieces), new ContainerDecoder(), async (records: AsyncIterable<RawRecord>) => {
    for await (const r of records) out.push(r);
  });
  return out;
}

/** A BlockReader that keeps a copy of each record's bytes, as its contract asks. */
class CopyingReader implements BlockReader<Buffer[]> {
  blocks: Array<{ count: number; bytes: number }> = [];
  #records: Buffer[] = [];

  begin(count: number, bytes: number): void {
    this.blocks.push({ count, bytes });
  }

  read(rd: AvroReader): void {
    const start = rd.pos;
    readRecord(rd);
    this.#records.push(Buffer.from(rd.buf.subarray(start, rd.pos)));
  }

  end(): Buffer[] {
    const block = this.#records;
    this.#records = [];
    return block;
  }
}

/** decode() with a CopyingReader: the records of each block, and the decoder. */
async function decodeBlocks(bytes: Buffer, chunk: number): Promise<{ blocks: RawRecord[][]; reader: CopyingReader; decoder: ContainerDecoder }> {
  const pieces: Buffer[] = [];
  for (let i = 0, n = 1; i < bytes.length; i += n, n = 1 + ((n * 7919) % chunk)) pieces.push(bytes.subarray(i, i + n));
  const reader = new CopyingReader();
  const decoder = new ContainerDecoder(RECORD_CODEC, { blocks: reader });
  const blocks: RawRecord[][] = [];
  await pipeline(Readable.from(pieces), decoder, async (chunks: AsyncIterable<Buffer[]>) => {
    for await (const block of chunks) blocks.push(block.map((b) => readRecord(new AvroReader(b, 0, b.length))));
  });
  return { blocks, reader, decoder };
}

async function decodeError(bytes: Buffer): Promise<ContainerDecodeError> {
  const error = await decode(bytes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ContainerDecodeError);
  return error as ContainerDecodeError;
}

/** Byte offsets where each block starts (after the header), and the end. */
function blockStarts(file: Buffer): number[] {
  const long = avro.Type.forSchema('long');
  const header = new ContainerWriter(RECORD_CODEC).header.length;
  const starts: number[] = [];
  let pos = header;
  while (pos < file.length) {
    starts.push(pos);
    const count = long.decode(file, pos);
    const size = long.decode(file, count.offset);
    pos = size.offset + (size.value as number) + 16;
  }
  starts.push(pos);
  return starts;
}

describe('Avro container files', () => {
  const records = sampleRecords(400);

  it('round-trip records through many blocks, whatever the chunking', async () => {
    const file = await encode(records, 2048);
    expect(blockStarts(file).length).toBeGreaterThan(10);
    expect(await decode(file, 7)).toEqual(records);
    expect(await decode(file, 100_000)).toEqual(records);
  });

  it('with a BlockReader, push one value per block, its records read from bytes reused from block to block', async () => {
    const file = await encode(records, 2048);
    const starts = blockStarts(file);
    for (const chunk of [7, 3000, 100_000]) {
      const { blocks, reader, decoder } = await decodeBlocks(file, chunk);
      expect(blocks).toHaveLength(starts.length - 1);
      expect(blocks.flat()).toEqual(records);
      expect(reader.blocks.map((b) => b.count)).toEqual(blocks.map((b) => b.length));
      expect(decoder.records).toBe(records.length);
    }
    // A bad record fails the same way, naming the same position.
    const bad = Buffer.from(file);
    const count = avro.Type.forSchema('long').decode(file, starts[1]);
    const size = avro.Type.forSchema('long').decode(file, count.offset);
    bad[size.offset] = 0x7e;
    const error = await decodeBlocks(bad, 3000).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'AVRO_BAD_RECORD', position: { offset: size.offset, block: 1 } });
    expect(error).toEqual(await decodeError(bad));
  });

  it('reuse a block buffer given back (recycle) for a later block, never one still in use', async () => {
    const writer = new ContainerWriter(RECORD_CODEC, 4096);
    const records: RawRecord[] = Array.from({ length: 7 }, (_, i) => ({
      namespace: 'test',
      set: 's',
      digest: Buffer.alloc(20, i),
      generation: 1,
      voidTime: 0,
      bins: [{ name: 'n', type: 4, value: Buffer.alloc(8, i) }],
    }));
    const blocks: Buffer[] = [];
    const take = (from: number, to: number): Buffer => {
      for (const r of records.slice(from, to)) writer.append(r);
      return writer.takeBlock()!.bytes;
    };
    const first = take(0, 2);
    const copy = Buffer.from(first);
    const second = take(2, 4);
    // Not given back: a new buffer, and the first block's bytes are untouched.
    expect(second.buffer).not.toBe(first.buffer);
    expect(first.equals(copy)).toBe(true);
    writer.recycle(first);
    // The writer started the block after `second` when it was taken; the one after gets `first`'s buffer.
    const third = take(4, 5);
    const fourth = take(5, 6);
    expect(third.buffer).not.toBe(first.buffer);
    expect(fourth.buffer).toBe(first.buffer);
    blocks.push(Buffer.from(second), Buffer.from(third), Buffer.from(fourth));
    // A block that outgrew the buffer (a record larger than the block) is not kept.
    writer.append({ ...records[0]!, bins: [{ name: 'big', type: 4, value: Buffer.alloc(64 * 1024, 7) }] });
    const grown = writer.takeBlock()!.bytes;
    writer.recycle(grown);
    writer.append(records[1]!);
    expect(writer.takeBlock()!.bytes.buffer).not.toBe(grown.buffer);
    // The reused buffer framed a valid block: the file of blocks 2 and 3 decodes to their records.
    expect(await decode(Buffer.concat([writer.header, ...blocks]))).toEqual(records.slice(2, 6));
  });

  it('write a valid empty file for an empty stream', async () => {
    const file = await encode([]);
    expect(file.subarray(0, 4).toString('latin1')).toBe('Obj\x01');
    expect(await decode(file)).toEqual([]);
  });

  it('are read by Apache avro-js, an independent implementation', async () => {
    const golden = goldenRecords();
    const values = await decodeWithAvroJs(await encode([...golden, ...records], 4096));
    expect(values.map((v) => avroToRecord(v as AvroRecord))).toEqual([...golden, ...records]);
  });

  it('read files written by another Avro writer (avsc) with the same schema', async () => {
    const encoder = new avro.streams.BlockEncoder(RECORD_TYPE, { codec: 'null', blockSize: 1000 });
    const chunks: Buffer[] = [];
    encoder.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => encoder.on('end', resolve));
    for (const r of records) encoder.write(recordToAvro(r));
    encoder.end();
    await ended;
    expect(await decode(Buffer.concat(chunks))).toEqual(records);
  });

  it('refuse another writer schema, even a compatible one, rather than resolve unions by promotion', async () => {
    // An older writer without lastUpdateTime: resolvable in Avro's terms, but not read.
    const older = avroType({ ...RECORD_SCHEMA_V1, fields: RECORD_SCHEMA_V1.fields.filter((f) => f.name !== 'lastUpdateTime') });
    const encoder = new avro.streams.BlockEncoder(older, { codec: 'null' });
    const chunks: Buffer[] = [];
    encoder.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => encoder.on('end', resolve));
    const { lastUpdateTime: _, ...v } = recordToAvro(records[0]!);
    encoder.end(v);
    await ended;
    expect(await decodeError(Buffer.concat(chunks))).toMatchObject({ code: 'AVRO_SCHEMA_MISMATCH', position: { offset: 0 } });
  });

  it('fail on a cut inside the header or a block, naming the position', async () => {
    const file = await encode(records, 2048);
    const starts = blockStarts(file);
    expect((await decodeError(file.subarray(0, 0))).code).toBe('AVRO_TRUNCATED');
    expect((await decodeError(file.subarray(0, 100))).code).toBe('AVRO_TRUNCATED');
    for (const b of [0, 3, starts.length - 2]) {
      for (const cut of [starts[b]! + 1, starts[b]! + 40, starts[b + 1]! - 1]) {
        const error = await decodeError(file.subarray(0, cut));
        expect(error.code).toBe('AVRO_TRUNCATED');
        expect(error.position).toEqual({ offset: starts[b], block: b });
        expect(error.message).toContain(`at byte ${starts[b]} (block ${b})`);
      }
    }
  });

  it('cannot see a cut exactly at a block boundary (the manifest and gzip catch it)', async () => {
    const file = await encode(records, 2048);
    const starts = blockStarts(file);
    const short = await decode(file.subarray(0, starts[2]));
    expect(short.length).toBeGreaterThan(0);
    expect(short.length).toBeLessThan(records.length);
  });

  it('fail on corruption: magic, codec, sync marker, block header, record', async () => {
    const file = await encode(records, 2048);
    const starts = blockStarts(file);

    const notAvro = Buffer.from(file);
    notAvro[0] = 0x50;
    expect((await decodeError(notAvro)).code).toBe('AVRO_NOT_CONTAINER');

    const deflated = new avro.streams.BlockEncoder(RECORD_TYPE, { codec: 'deflate' });
    const header: Buffer[] = [];
    deflated.on('data', (c: Buffer) => header.push(c));
    deflated.end(recordToAvro(records[0]!));
    await new Promise((resolve) => deflated.on('end', resolve));
    expect((await decodeError(Buffer.concat(header))).code).toBe('AVRO_UNSUPPORTED_CODEC');

    const badSync = Buffer.from(file);
    badSync[starts[3]! - 1]! ^= 0xff; // last byte of block 2's sync marker
    expect(await decodeError(badSync)).toMatchObject({ code: 'AVRO_CORRUPT_BLOCK', position: { offset: starts[2], block: 2 } });

    const badCount = Buffer.from(file);
    badCount[starts[1]!] = 0x7f; // block 1 claims -64 records
    expect(await decodeError(badCount)).toMatchObject({ code: 'AVRO_CORRUPT_BLOCK', position: { block: 1 } });

    // The first record of block 1 starts with its namespace length: make it run past the block.
    const badRecord = Buffer.from(file);
    const count = avro.Type.forSchema('long').decode(file, starts[1]);
    const size = avro.Type.forSchema('long').decode(file, count.offset);
    badRecord[size.offset] = 0x7e;
    const recordsBefore = (await decode(file.subarray(0, starts[1]))).length;
    expect(await decodeError(badRecord)).toMatchObject({
      code: 'AVRO_BAD_RECORD',
      position: { offset: size.offset, block: 1, record: recordsBefore },
    });
  });
});
