/**
 * Valid Avro inputs for the fuzzers, made by the project's own writers (writeRecord,
 * ContainerWriter), with the offsets of their length and count fields for targeted
 * mutations.
 */
import fc from 'fast-check';
import type { RawRecord } from '../../src/aerospike/types.js';
import { ContainerWriter } from '../../src/avro/container.js';
import { AvroWriter, writeRecord } from '../../src/avro/record-binary.js';
import { RECORD_CODEC } from '../../src/avro/record-codec.js';
import { recordArb } from '../avro/records.js';
import type { Sample } from './support.js';

/** Reads Avro varints and lengths, noting where each varint starts. */
class Walker {
  pos: number;
  constructor(
    readonly b: Buffer,
    pos: number,
    readonly varints: number[],
  ) {
    this.pos = pos;
  }

  long(): number {
    this.varints.push(this.pos);
    let z = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.b.length) throw new RangeError('varint past the end of a sample');
      const byte = this.b[this.pos++]!;
      z |= BigInt(byte & 0x7f) << shift;
      shift += 7n;
      if (byte < 0x80) break;
    }
    return Number((z >> 1n) ^ -(z & 1n));
  }

  bytes(): void {
    const n = this.long();
    this.pos += n;
  }

  count(): number {
    const n = this.long();
    if (n < 0) {
      this.long();
      return -n;
    }
    return n;
  }
}

/** Offsets of every varint of one aerobak.v1.Record at `pos` (the writer's output: well formed); returns the end. */
export function recordVarints(b: Buffer, pos: number, out: number[]): number {
  const w = new Walker(b, pos, out);
  w.bytes(); // namespace
  w.bytes(); // set
  w.pos += 20;
  switch (w.long()) {
    case 1:
      w.long();
      break;
    case 2:
    case 3:
      w.bytes();
      break;
    case 4:
      w.long();
      w.bytes();
      break;
  }
  w.long(); // generation
  w.long(); // void time
  if (w.long() === 1) w.long();
  for (let n = w.count(); n !== 0; n = w.count()) {
    for (let i = 0; i < n; i++) {
      w.bytes(); // name
      switch (w.long()) {
        case 0:
          w.long();
          break;
        case 1:
          w.pos += 8;
          break;
        case 3:
          w.pos += 1;
          break;
        case 7:
          w.long();
          for (let c = w.count(); c !== 0; c = w.count()) for (let j = 0; j < c; j++) w.long();
          w.bytes();
          break;
        case 9:
          w.long();
          w.bytes();
          break;
        default:
          w.bytes();
      }
    }
  }
  return w.pos;
}

/** writeRecord's bytes of `r`. */
export function recordBytes(r: RawRecord): Buffer {
  const w = new AvroWriter(64);
  writeRecord(w, r);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

export function recordSample(r: RawRecord): Sample {
  const bytes = recordBytes(r);
  const varints: number[] = [];
  recordVarints(bytes, 0, varints);
  return { bytes, varints };
}

export const recordSampleArb: fc.Arbitrary<Sample> = recordArb.map(recordSample);

/** Offsets of the varints of a container header's map: its count, then each key's and value's length. */
export function headerVarints(header: Buffer): number[] {
  const varints: number[] = [];
  const head = new Walker(header, 4, varints);
  for (let n = head.count(); n !== 0; n = head.count()) {
    for (let i = 0; i < n; i++) {
      head.bytes();
      head.bytes();
    }
  }
  return varints;
}

/** A data file's container: the header, then the records in blocks of `blockSizes` records (the rest in one last block). */
export function containerSample(records: RawRecord[], blockSizes: number[] = []): Sample {
  const writer = new ContainerWriter(RECORD_CODEC, 1024);
  const parts: Buffer[] = [writer.header];
  const varints: number[] = headerVarints(writer.header);
  let offset = writer.header.length;
  let i = 0;
  let b = 0;
  while (i < records.length) {
    const n = Math.max(1, blockSizes[b++] ?? records.length);
    for (const r of records.slice(i, i + n)) writer.append(r);
    i += n;
    const block = writer.takeBlock()!.bytes;
    const w = new Walker(block, 0, []);
    w.long();
    w.long();
    varints.push(offset, offset + w.varints[1]!);
    let pos = w.pos;
    const inBlock: number[] = [];
    while (pos < block.length - 16) pos = recordVarints(block, pos, inBlock);
    for (const v of inBlock) varints.push(offset + v);
    parts.push(block);
    offset += block.length;
  }
  return { bytes: Buffer.concat(parts), varints };
}

/**
 * A container of `header` and one block of `values` (Avro bytes, valid or not), framed
 * right: count, size and sync marker, so that the values reach the record decoder.
 */
export function framedContainer(header: Buffer, values: Buffer[]): Buffer {
  const sync = header.subarray(header.length - 16);
  const data = Buffer.concat(values);
  return Buffer.concat([header, avroLongOf(values.length), avroLongOf(data.length), data, sync]);
}

function avroLongOf(n: number): Buffer {
  const out: number[] = [];
  let z = n * 2;
  while (z >= 0x80) {
    out.push((z % 0x80) | 0x80);
    z = Math.floor(z / 0x80);
  }
  out.push(z);
  return Buffer.from(out);
}

export interface ContainerCase {
  records: RawRecord[];
  sample: Sample;
}

export const containerCaseArb: fc.Arbitrary<ContainerCase> = fc
  .tuple(fc.array(recordArb, { maxLength: 10 }), fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 4 }))
  .map(([records, blockSizes]) => ({ records, sample: containerSample(records, blockSizes) }));
