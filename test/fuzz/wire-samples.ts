/**
 * Valid wire inputs for the fuzzers: AS_MSG record messages and scan reply frames, built
 * with the codec's own writers (writeHeader, writeField, writeOp), with the offsets of
 * their size, count and length fields for targeted mutations.
 */
import fc from 'fast-check';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { FieldType, Info3, MSG_HEADER_SIZE, OpType, writeField, writeHeader, writeOp, type Field } from '../../src/aerospike/wire/message.js';
import { binArb, keyArb } from '../avro/records.js';
import type { Sample } from './support.js';

export interface WireOp {
  op: number;
  type: number;
  /** Raw name bytes (not necessarily UTF-8), at most 255. */
  name: Buffer;
  value: Buffer;
}

export interface WireMessage {
  info1?: number;
  info3?: number;
  resultCode?: number;
  generation: number;
  voidTime: number;
  transactionTtl?: number;
  fields: Field[];
  ops: WireOp[];
}

/** Appends the message's bytes to `parts`, noting its fields' offsets (from `base`) in `sample`. */
function encodeInto(m: WireMessage, base: number, sample: Required<Pick<Sample, 'u32s' | 'u16s' | 'u8s'>>): Buffer {
  let size = MSG_HEADER_SIZE;
  for (const f of m.fields) size += 5 + f.data.length;
  for (const o of m.ops) size += 8 + o.name.length + o.value.length;
  const buf = Buffer.alloc(size);
  let at = writeHeader(
    buf,
    0,
    { info1: m.info1, info3: m.info3, resultCode: m.resultCode, generation: m.generation, recordTtl: m.voidTime, transactionTtl: m.transactionTtl },
    m.fields.length,
    m.ops.length,
  );
  sample.u8s.push(base);
  sample.u16s.push(base + 18, base + 20);
  for (const f of m.fields) {
    sample.u32s.push(base + at);
    at = writeField(buf, at, f);
  }
  for (const o of m.ops) {
    sample.u32s.push(base + at);
    sample.u8s.push(base + at + 7);
    const nameAt = at + 8;
    at = writeOp(buf, at, { op: o.op, particleType: o.type, name: 'x'.repeat(o.name.length), value: o.value });
    o.name.copy(buf, nameAt);
  }
  return buf;
}

/** One message as a Sample. */
export function messageSample(m: WireMessage): Sample {
  const s = { u32s: [] as number[], u16s: [] as number[], u8s: [] as number[] };
  return { bytes: encodeInto(m, 0, s), ...s };
}

/** Messages back to back (a frame body) as a Sample. */
export function bodySample(msgs: readonly WireMessage[]): Sample {
  const s = { u32s: [] as number[], u16s: [] as number[], u8s: [] as number[] };
  const parts: Buffer[] = [];
  let base = 0;
  for (const m of msgs) {
    const b = encodeInto(m, base, s);
    parts.push(b);
    base += b.length;
  }
  return { bytes: Buffer.concat(parts), ...s };
}

const text = (s: string): Buffer => Buffer.from(s, 'utf8');
const anyBytes = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));

/** A record as the server sends it, and the RawRecord a fresh RecordDecoder makes of it. */
export interface RecordMessageCase {
  message: WireMessage;
  record: RawRecord;
}

export const recordMessageArb: fc.Arbitrary<RecordMessageCase> = fc
  .record({
    namespace: fc.string({ maxLength: 10 }),
    set: fc.option(fc.string({ unit: 'binary', maxLength: 10 }), { nil: undefined }),
    digest: anyBytes(20, 20),
    key: fc.option(keyArb, { nil: undefined }),
    generation: fc.nat({ max: 0xffff_ffff }),
    voidTime: fc.nat({ max: 0xffff_ffff }),
    bins: fc.array(binArb, { maxLength: 6 }),
    lastUpdateTime: fc.option(fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }), { nil: undefined }),
    order: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    lutAt: fc.nat(),
  })
  .map((c) => {
    const fields: Field[] = [
      { type: FieldType.NAMESPACE, data: text(c.namespace) },
      { type: FieldType.DIGEST, data: c.digest },
      ...(c.set === undefined ? [] : [{ type: FieldType.SET, data: text(c.set) }]),
      ...(c.key === undefined ? [] : [{ type: FieldType.KEY, data: Buffer.concat([Buffer.from([c.key.type]), c.key.bytes]) }]),
    ];
    // Fields in any order.
    fields.sort((a, b) => (c.order[a.type % 4]! - c.order[b.type % 4]!) || a.type - b.type);
    const ops: WireOp[] = c.bins.map((b) => ({ op: OpType.READ, type: b.type, name: text(b.name), value: b.value }));
    if (c.lastUpdateTime !== undefined) {
      const value = Buffer.alloc(8);
      value.writeBigInt64BE(c.lastUpdateTime, 0);
      ops.splice(c.lutAt % (ops.length + 1), 0, { op: OpType.EXP_READ, type: ParticleType.INTEGER, name: Buffer.alloc(0), value });
    }
    const record: RawRecord = {
      namespace: c.namespace,
      set: c.set ?? '',
      digest: c.digest,
      generation: c.generation,
      voidTime: c.voidTime,
      bins: c.bins.map((b) => ({ name: text(b.name).toString('utf8'), type: b.type, value: b.value })),
    };
    if (c.key) record.userKey = c.key;
    if (c.lastUpdateTime !== undefined) record.lastUpdateTime = c.lastUpdateTime;
    return { message: { generation: c.generation, voidTime: c.voidTime, fields, ops }, record };
  });

/** The messages a scan reply is made of besides records. */
export const partitionDone = (partition: number, resultCode = 0): WireMessage => ({ info3: Info3.PARTITION_DONE, resultCode, generation: partition, voidTime: 0, fields: [], ops: [] });
export const lastMessage = (resultCode = 0): WireMessage => ({ info3: Info3.LAST, resultCode, generation: 0, voidTime: 0, fields: [], ops: [] });

/** A scan reply: frames of records and partition-done markers, then LAST alone in a frame (or KEY_NOT_FOUND). */
export interface ScanReplyCase {
  frames: WireMessage[][];
  /** The records, in order. */
  records: RawRecord[];
  /** How the scan ends: LAST or KEY_NOT_FOUND end it, LAST with another result code fails it. */
  outcome: 'done' | 'ServerError';
}

export const scanReplyArb: fc.Arbitrary<ScanReplyCase> = fc
  .tuple(
    fc.array(fc.array(fc.oneof({ weight: 6, arbitrary: recordMessageArb }, { weight: 1, arbitrary: fc.tuple(fc.nat({ max: 4095 }), fc.constantFrom(0, 0, 22, 11)) }), { maxLength: 6 }), { maxLength: 4 }),
    fc.constantFrom(0, 0, 0, 2, 11),
  )
  .map(([frames, end]) => {
    const records: RawRecord[] = [];
    const out: WireMessage[][] = frames.map((f) =>
      f.map((m) => {
        if (Array.isArray(m)) return partitionDone(m[0], m[1]);
        records.push(m.record);
        return m.message;
      }),
    );
    out.push([end === 2 ? { resultCode: 2, generation: 0, voidTime: 0, fields: [], ops: [] } : lastMessage(end)]);
    return { frames: out, records, outcome: end === 0 || end === 2 ? ('done' as const) : ('ServerError' as const) };
  });

/** Any message-like bytes in a type-3 body: random fields and ops with random sizes. */
export const anyMessageArb: fc.Arbitrary<WireMessage> = fc.record({
  info1: fc.nat({ max: 255 }),
  info3: fc.nat({ max: 255 }),
  resultCode: fc.nat({ max: 255 }),
  generation: fc.nat({ max: 0xffff_ffff }),
  voidTime: fc.nat({ max: 0xffff_ffff }),
  transactionTtl: fc.nat({ max: 0xffff_ffff }),
  fields: fc.array(fc.record({ type: fc.nat({ max: 255 }), data: anyBytes(24) }), { maxLength: 5 }),
  ops: fc.array(fc.record({ op: fc.nat({ max: 20 }), type: fc.nat({ max: 255 }), name: anyBytes(14), value: anyBytes(24) }), { maxLength: 5 }),
});
