/**
 * WireRecordEncoder against the path it replaces: for any record message, the bytes it
 * appends must be the bytes writeRecord appends for what RecordDecoder makes of the
 * message, and for any message the decoder refuses it must throw what the decoder throws.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordDecoder } from '../../src/aerospike/record-decoder.js';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { FieldType, Info3, MSG_HEADER_SIZE, OpType, readMessage, writeField, writeHeader, writeOp, type Field } from '../../src/aerospike/wire/message.js';
import { PROTO_HEADER_SIZE, ProtoType, ProtocolError } from '../../src/aerospike/wire/proto.js';
import { AvroReader, AvroWriter, readRecord, writeRecord } from '../../src/avro/record-binary.js';
import { WireRecordEncoder } from '../../src/avro/wire-record.js';
import { loadCapture } from '../support/captures.js';

// ---------------------------------------------------------------------------
// Building record messages

interface WireOp {
  type: number;
  /** Raw name bytes: not necessarily UTF-8. */
  name: Buffer;
  value: Buffer;
  /** The op type; READ when absent (EXP_READ for a last-update time). */
  op?: number;
}

interface WireMessage {
  generation: number;
  voidTime: number;
  /** Fields in wire order. */
  fields: Field[];
  ops: WireOp[];
}

/** The message's bytes, built with the codec's writeHeader/writeField/writeOp. */
function encodeMessage(m: WireMessage): Buffer {
  let size = MSG_HEADER_SIZE;
  for (const f of m.fields) size += 5 + f.data.length;
  for (const o of m.ops) size += 8 + o.name.length + o.value.length;
  const buf = Buffer.alloc(size);
  let at = writeHeader(buf, 0, { generation: m.generation, recordTtl: m.voidTime }, m.fields.length, m.ops.length);
  for (const f of m.fields) at = writeField(buf, at, f);
  for (const o of m.ops) {
    // writeOp takes the name as a string (written as UTF-8): write a placeholder of the
    // same length, then the raw name bytes over it.
    const nameAt = at + 8;
    at = writeOp(buf, at, { op: o.op ?? OpType.READ, particleType: o.type, name: 'x'.repeat(o.name.length), value: o.value });
    o.name.copy(buf, nameAt);
  }
  expect(at).toBe(size);
  return buf;
}

const bytes = (hex: string): Buffer => Buffer.from(hex, 'hex');
const text = (s: string): Buffer => Buffer.from(s, 'utf8');
const digestField = (fill = 7): Field => ({ type: FieldType.DIGEST, data: Buffer.alloc(20, fill) });
const nsField = (ns: Buffer | string): Field => ({ type: FieldType.NAMESPACE, data: typeof ns === 'string' ? text(ns) : ns });
const setField = (set: Buffer | string): Field => ({ type: FieldType.SET, data: typeof set === 'string' ? text(set) : set });
const keyField = (type: number, key: Buffer): Field => ({ type: FieldType.KEY, data: Buffer.concat([Buffer.from([type]), key]) });
const op = (name: Buffer | string, type: number, value: Buffer | string): WireOp => ({
  type,
  name: typeof name === 'string' ? text(name) : name,
  value: typeof value === 'string' ? text(value) : value,
});
const message = (fields: Field[], ops: WireOp[] = [], generation = 1, voidTime = 0): Buffer => encodeMessage({ generation, voidTime, fields, ops });

// ---------------------------------------------------------------------------
// The two paths

type Outcome = { bytes: Buffer; end: number; record: RawRecord } | { error: Error };

/** The reference: a fresh RecordDecoder, then writeRecord. */
function viaDecoder(body: Buffer, at: number): Outcome {
  const decoder = new RecordDecoder();
  let record: RawRecord;
  try {
    record = decoder.decode(body, at);
  } catch (error) {
    return { error: error as Error };
  }
  const w = new AvroWriter(16);
  writeRecord(w, record);
  return { bytes: Buffer.from(w.buf.subarray(0, w.pos)), end: decoder.end, record };
}

/** Bytes already in the writer: the encoder must append after them, and leave them alone when it throws. */
const PREFIX = bytes('a1b2c3');

function writerWithPrefix(): AvroWriter {
  const w = new AvroWriter(4); // small: the encoder has to grow it
  PREFIX.copy(w.buf, 0);
  w.pos = PREFIX.length;
  return w;
}

/**
 * Checks that `encoder.write(w, body, at)` does what the reference does: the same bytes
 * appended after what `w` held, the same end offset, or the same error with `w` as it
 * was. Returns the encoder's end offset (undefined after a throw).
 */
function expectSameAsDecoder(encoder: WireRecordEncoder, body: Buffer, at: number, w = writerWithPrefix()): number | undefined {
  const expected = viaDecoder(body, at);
  const start = w.pos;
  const before = Buffer.from(w.buf.subarray(0, start));
  let end: number;
  try {
    end = encoder.write(w, body, at);
  } catch (error) {
    if (!('error' in expected)) throw error;
    expect((error as Error).constructor).toBe(expected.error.constructor);
    expect((error as Error).message).toBe(expected.error.message);
    expect(w.pos).toBe(start);
    expect(w.buf.subarray(0, start).equals(before), 'the bytes before the record changed').toBe(true);
    return undefined;
  }
  if ('error' in expected) throw new Error(`the encoder accepted a message the decoder refuses (${expected.error.message})`);
  expect(w.buf.subarray(0, start).equals(before), 'the bytes before the record changed').toBe(true);
  const written = Buffer.from(w.buf.subarray(start, w.pos));
  expect(written.toString('hex')).toBe(expected.bytes.toString('hex'));
  expect(end).toBe(expected.end);
  // And the bytes read back as the decoded record.
  const rd = new AvroReader(written, 0, written.length);
  expect(hexed(readRecord(rd))).toEqual(hexed(expected.record));
  expect(rd.pos).toBe(written.length);
  return end;
}

/** `r` with its buffers as hex strings: compared in a blink even when values run to 64 KiB and more. */
function hexed(r: RawRecord): unknown {
  return {
    ...r,
    digest: r.digest.toString('hex'),
    userKey: r.userKey && { type: r.userKey.type, bytes: r.userKey.bytes.toString('hex') },
    bins: r.bins.map((b) => ({ ...b, value: b.value.toString('hex') })),
  };
}

/** The record the encoder writes for `body`, read back (for tests that state what they expect). */
function encodeAndRead(encoder: WireRecordEncoder, body: Buffer): RawRecord {
  const w = new AvroWriter();
  expect(encoder.write(w, body, 0)).toBe(body.length);
  return readRecord(new AvroReader(w.buf, 0, w.pos));
}

// ---------------------------------------------------------------------------
// Random record messages

const anyBytes = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));
const validUtf8 = (maxLength: number): fc.Arbitrary<Buffer> => fc.string({ unit: 'binary', maxLength }).map(text);
const asciiOf = (min: number, max: number): fc.Arbitrary<Buffer> => fc.integer({ min, max }).map((n) => Buffer.alloc(n, 'abcdefgh'));
const hexes = (...values: string[]): fc.Arbitrary<Buffer> => fc.constantFrom(...values).map(bytes);

/**
 * Names that test the caches and the UTF-8 rules: short and long (over 64 bytes, over 127
 * so the Avro length takes two bytes, up to the 255 a bin name can have), non-ASCII,
 * invalid UTF-8 (bad bytes, an encoded surrogate, a truncated sequence), and pairs of the
 * same length that differ in one byte.
 */
const NAME_POOL: Buffer[] = [
  ...['', 'a', 'b', 'id', 'age', 'name', 'namf', 'email', 'emaik', 'tags', 'x'.repeat(63), 'x'.repeat(64), 'y'.repeat(65), 'z'.repeat(200), 'é', 'ü'.repeat(40), '世界', '😀', 'a\u0000b'].map(text),
  ...['ff', '61ff', 'c3', '6180', 'eda080', 'f4908080', 'c0af', 'e282', 'fe'.repeat(90), '61'.repeat(70) + 'ff'].map(bytes),
];
const nameArb = (maxRandom: number): fc.Arbitrary<Buffer> =>
  fc.oneof({ arbitrary: fc.constantFrom(...NAME_POOL), weight: 6 }, { arbitrary: validUtf8(maxRandom), weight: 1 }, { arbitrary: anyBytes(maxRandom), weight: 1 });

/** Doubles whose bits matter: NaN payloads and signs, infinities, -0, subnormals. */
const specialDoubles = hexes(
  '7ff8000000000000',
  '7ff8000000000001',
  'fff8000000000000',
  '7ff0000000000001',
  'fff0000000000001',
  '7fffffffffffffff',
  '7ff0000000000000',
  'fff0000000000000',
  '8000000000000000',
  '0000000000000001',
);

const geoJson = fc
  .record({ flags: fc.integer({ min: 0, max: 255 }), cells: fc.array(anyBytes(8, 8), { maxLength: 13 }), json: fc.oneof(validUtf8(20), asciiOf(60, 200), anyBytes(10)) })
  .map(({ flags, cells, json }) => {
    const head = Buffer.alloc(3);
    head[0] = flags;
    head.writeUInt16BE(cells.length, 1);
    return Buffer.concat([head, ...cells, json]);
  });

/** A value for particle type `type`: what the type promises, the edges around it, and any bytes. */
function valueOf(type: number): fc.Arbitrary<Buffer> {
  switch (type) {
    case ParticleType.INTEGER:
      return fc.oneof(anyBytes(8, 8), hexes('0000000000000000', 'ffffffffffffffff', '8000000000000000', '7fffffffffffffff'), anyBytes(12));
    case ParticleType.FLOAT:
      return fc.oneof(
        fc.double().map((d) => {
          const b = Buffer.alloc(8);
          b.writeDoubleBE(d, 0);
          return b;
        }),
        specialDoubles,
        anyBytes(8, 8),
        anyBytes(12),
      );
    case ParticleType.STRING:
      return fc.oneof(asciiOf(0, 20), validUtf8(30), asciiOf(60, 300), validUtf8(200), anyBytes(20), validUtf8(80).map((b) => Buffer.concat([b, bytes('ff')])));
    case ParticleType.BOOL:
      return fc.oneof(hexes('00', '01', '02', '80', 'ff'), anyBytes(3));
    case ParticleType.GEOJSON:
      return fc.oneof(geoJson, hexes('', '00', '0000', '000001', '00ffff7b7d', '0000007b7d'), anyBytes(40));
    default:
      return fc.oneof(anyBytes(20), anyBytes(200));
  }
}

const KNOWN_TYPES = Object.values(ParticleType);
const particleType = fc.oneof({ arbitrary: fc.constantFrom(...KNOWN_TYPES), weight: 4 }, { arbitrary: fc.integer({ min: 0, max: 255 }), weight: 1 });

/** Values over 64 KiB, so that messages (and Avro records) larger than 64 KiB come up. */
const hugeValue: fc.Arbitrary<WireOp> = fc
  .record({ name: nameArb(8), kind: fc.constantFrom('ascii', 'utf8', 'blob'), size: fc.integer({ min: 65_536, max: 70_000 }) })
  .map(({ name, kind, size }) =>
    kind === 'blob'
      ? op(name, ParticleType.BLOB, Buffer.alloc(size, 'blob\xff', 'latin1'))
      : op(name, ParticleType.STRING, kind === 'ascii' ? Buffer.alloc(size, 'text') : Buffer.alloc(size, 'é')),
  );

const opArb: fc.Arbitrary<WireOp> = fc.oneof(
  { arbitrary: fc.tuple(nameArb(20), particleType).chain(([name, type]) => valueOf(type).map((value) => op(name, type, value))), weight: 60 },
  { arbitrary: hugeValue, weight: 1 },
);

const keyArb: fc.Arbitrary<Field> = fc.oneof(
  anyBytes(8, 8).map((b) => keyField(ParticleType.INTEGER, b)),
  anyBytes(12).map((b) => keyField(ParticleType.INTEGER, b)),
  fc.oneof(validUtf8(20), asciiOf(60, 100), anyBytes(20)).map((b) => keyField(ParticleType.STRING, b)),
  anyBytes(100).map((b) => keyField(ParticleType.BLOB, b)),
  fc.tuple(particleType, anyBytes(20)).map(([t, b]) => keyField(t, b)),
);

/** Fields the encoder ignores, and second copies of the ones it reads (the last one wins, as in the decoder). */
const extraField: fc.Arbitrary<Field> = fc.oneof(
  fc.tuple(fc.constantFrom(3, 7, 9, 11, 13, 50, 255), anyBytes(24)).map(([type, data]) => ({ type, data })),
  nameArb(12).map(nsField),
  nameArb(12).map(setField),
  anyBytes(20, 20).map((data) => ({ type: FieldType.DIGEST, data })),
  keyArb,
);

const messageArb: fc.Arbitrary<WireMessage> = fc
  .record({
    ns: fc.option(nameArb(12), { freq: 10 }),
    set: fc.option(nameArb(12), { freq: 3 }),
    digest: anyBytes(20, 20),
    key: fc.option(keyArb, { freq: 2 }),
    extra: fc.array(extraField, { maxLength: 2 }),
    generation: fc.oneof(fc.constantFrom(0, 1, 0xffff_ffff), fc.nat()),
    voidTime: fc.oneof(fc.constantFrom(0, 0x7fff_ffff, 0xffff_ffff), fc.nat()),
    ops: fc.oneof({ arbitrary: fc.constant<WireOp[]>([]), weight: 1 }, { arbitrary: fc.array(opArb, { maxLength: 14 }), weight: 6 }),
  })
  .chain(({ ns, set, digest, key, extra, generation, voidTime, ops }) => {
    const fields: Field[] = [{ type: FieldType.DIGEST, data: digest }];
    if (ns !== null) fields.push(nsField(ns));
    if (set !== null) fields.push(setField(set));
    if (key !== null) fields.push(key);
    fields.push(...extra);
    return fc.shuffledSubarray(fields, { minLength: fields.length }).map((order) => ({ generation, voidTime, fields: order, ops }));
  });

/**
 * A scan's messages: consecutive records reuse the names of the one before (same bin
 * names in the same or another order, same namespace and set) or not, so the encoder's
 * caches hit, miss, and see names that change under them.
 */
const scanArb: fc.Arbitrary<WireMessage[]> = fc
  .tuple(messageArb, fc.array(fc.tuple(messageArb, fc.constantFrom('fresh', 'same names', 'reordered', 'fewer', 'more')), { maxLength: 6 }))
  .map(([first, rest]) => {
    const out = [first];
    for (const [m, how] of rest) {
      const prev = out[out.length - 1]!;
      const prevNames = prev.ops.map((o) => o.name);
      const names = m.ops.map((o, i) => {
        if (how === 'same names' || how === 'fewer' || how === 'more') return prevNames[i] ?? o.name;
        if (how === 'reordered') return prevNames[(i + 1) % Math.max(prevNames.length, 1)] ?? o.name;
        return o.name;
      });
      let ops = m.ops.map((o, i) => ({ ...o, name: names[i]! }));
      if (how === 'fewer') ops = ops.slice(0, Math.max(0, prevNames.length - 1));
      const fields = how === 'fresh' ? m.fields : [...prev.fields.filter((f) => f.type !== FieldType.DIGEST), ...m.fields.filter((f) => f.type === FieldType.DIGEST)];
      out.push({ ...m, fields, ops });
    }
    return out;
  });

// ---------------------------------------------------------------------------

/** Every record message of the captured scan replies of a real server (not LAST, not partition-done). */
function capturedRecords(capture: string): Array<{ body: Buffer; at: number }> {
  const out: Array<{ body: Buffer; at: number }> = [];
  for (const f of loadCapture(capture)) {
    if (f.dir !== 's2c' || f.type !== ProtoType.MESSAGE) continue;
    const body = f.frame.subarray(PROTO_HEADER_SIZE);
    for (let at = 0; at < body.length; ) {
      const isRecord = (body[at + 3]! & (Info3.LAST | Info3.PARTITION_DONE)) === 0 && body[at + 5] === 0;
      if (isRecord) out.push({ body, at });
      at = readMessage(body, at).end;
    }
  }
  return out;
}

describe('WireRecordEncoder', () => {
  it('writes what decode + writeRecord write for every record of the captured scan replies', () => {
    const captures = ['scan-all.jsonl', 'query-partitions.jsonl', 'scan-maxrecords.jsonl', 'scan-nobins.jsonl', 'scan-paginate.jsonl'];
    const counts: Record<string, number> = {};
    for (const capture of captures) {
      const encoder = new WireRecordEncoder();
      const records = capturedRecords(capture);
      for (const { body, at } of records) expectSameAsDecoder(encoder, body, at);
      counts[capture] = records.length;
    }
    expect(counts['scan-all.jsonl']).toBe(21);
    expect(counts['query-partitions.jsonl']).toBe(21);
    expect(counts['scan-nobins.jsonl']).toBe(21);
    expect(counts['scan-maxrecords.jsonl']).toBe(3);
    expect(counts['scan-paginate.jsonl']).toBeGreaterThanOrEqual(6);
  });

  it('writes what decode + writeRecord write for random scans of every kind of record', () => {
    let records = 0;
    fc.assert(
      fc.property(scanArb, fc.nat({ max: 3 }), (scan, pad) => {
        // The messages back to back in one body, as in a reply frame; one writer and one encoder for the scan.
        const body = Buffer.concat([Buffer.alloc(pad, 0xee), ...scan.map(encodeMessage)]);
        const encoder = new WireRecordEncoder();
        const w = writerWithPrefix();
        let at = pad;
        for (let i = 0; i < scan.length; i++) {
          const end = expectSameAsDecoder(encoder, body, at, w);
          expect(end).toBeDefined();
          at = end!;
          records++;
        }
        expect(at).toBe(body.length);
      }),
      { seed: 20261124, numRuns: 300 },
    );
    expect(records).toBeGreaterThan(600);
  });

  it('writes every user key type, bin value type and name edge case like the decoder path', () => {
    const encoder = new WireRecordEncoder();
    const digest = digestField();
    const keys = [
      keyField(ParticleType.INTEGER, bytes('8000000000000000')),
      keyField(ParticleType.INTEGER, bytes('00000000000001')),
      keyField(ParticleType.STRING, text('user-1')),
      keyField(ParticleType.STRING, text('ключ-é-世界')),
      keyField(ParticleType.STRING, bytes('6bff')),
      keyField(ParticleType.STRING, Buffer.alloc(0)),
      keyField(ParticleType.BLOB, bytes('deadbeef')),
      keyField(ParticleType.BLOB, Buffer.alloc(0)),
      keyField(ParticleType.GEOJSON, text('{}')),
      keyField(0, Buffer.alloc(0)),
      keyField(255, bytes('01')),
    ];
    for (const key of keys) expectSameAsDecoder(encoder, message([nsField('test'), digest, setField('s'), key]), 0);
    const values: WireOp[] = [
      op('i', ParticleType.INTEGER, bytes('ffffffffffffffff')),
      op('i', ParticleType.INTEGER, bytes('0001')),
      op('i', ParticleType.INTEGER, Buffer.alloc(0)),
      ...['7ff8000000000000', '7ff8000000000001', 'fff8000000000000', '7ff0000000000001', '8000000000000000', '3ff0000000000000', '3ff0'].map((h) => op('d', ParticleType.FLOAT, bytes(h))),
      op('s', ParticleType.STRING, ''),
      op('s', ParticleType.STRING, 'héllo wörld – 世界 🚀'),
      op('s', ParticleType.STRING, 'é'.repeat(100)),
      op('s', ParticleType.STRING, bytes('68ff69')),
      op('s', ParticleType.STRING, Buffer.concat([Buffer.alloc(100, 'a'), bytes('ff')])),
      ...['00', '01', '02', 'ff', '', '0001'].map((h) => op('t', ParticleType.BOOL, bytes(h))),
      op('b', ParticleType.BLOB, Buffer.alloc(0)),
      op('b', ParticleType.BLOB, Buffer.alloc(300, 0xab)),
      op('l', ParticleType.LIST, bytes('93a40374776f01c0')),
      op('m', ParticleType.MAP, bytes('81c70001c0')),
      op('h', ParticleType.HLL, Buffer.alloc(779, 1)),
      op('g', ParticleType.GEOJSON, Buffer.concat([bytes('010001'), bytes('0123456789abcdef'), text('{"type":"Point"}')])),
      op('g', ParticleType.GEOJSON, Buffer.concat([bytes('000002'), bytes('0123456789abcdef')])), // count past the end
      op('g', ParticleType.GEOJSON, Buffer.concat([bytes('000000'), bytes('7bff7d')])), // JSON not UTF-8
      op('g', ParticleType.GEOJSON, bytes('0000')),
      ...[0, 5, 7, 12, 16, 21, 24, 255].map((t) => op('p', t, bytes('0102'))),
      ...[0, 255].map((t) => op('p', t, Buffer.alloc(0))),
    ];
    expectSameAsDecoder(encoder, message([nsField('test'), digest], values), 0);
    for (const v of values) expectSameAsDecoder(encoder, message([nsField('test'), digest], [v]), 0);
    const names = NAME_POOL.filter((n) => n.length > 0);
    expectSameAsDecoder(encoder, message([nsField(bytes('6e73ff')), digest, setField(bytes('eda080'))], names.map((n) => op(n, ParticleType.INTEGER, Buffer.alloc(8)))), 0);
    expectSameAsDecoder(encoder, message([nsField('n'.repeat(300)), digest, setField('ü'.repeat(100))], [op('', 1, Buffer.alloc(8))]), 0);
    // 0 bins, no set field, an empty set field, no namespace field.
    expectSameAsDecoder(encoder, message([digest]), 0);
    expectSameAsDecoder(encoder, message([nsField('test'), digest, setField('')], [], 0xffff_ffff, 0xffff_ffff), 0);
  });

  it('copies and checks values of every length around its copy loops: 4 bytes at a time, the last 4 overlapping, native past 128', () => {
    const encoder = new WireRecordEncoder();
    const lengths = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 63, 64, 65, 126, 127, 128, 129, 130, 200];
    for (const n of lengths) {
      const ascii = Buffer.alloc(n, 'abcdefg');
      // A non-ASCII or invalid byte at each end and in the middle: the overlapping last word and the byte loop must see it.
      const variants = [ascii];
      for (const at of new Set([0, n >> 1, n - 1].filter((i) => i >= 0))) {
        for (const byte of [0xff, 0x80]) {
          const v = Buffer.from(ascii);
          v[at] = byte;
          variants.push(v);
        }
      }
      if (n >= 2) variants.push(Buffer.concat([Buffer.alloc(n - 2, 'a'), text('é')]));
      if (n >= 3) variants.push(Buffer.concat([text('€'), Buffer.alloc(n - 3, 'a')]));
      for (const v of variants) {
        const ops = [ParticleType.STRING, ParticleType.BLOB, ParticleType.LIST, ParticleType.MAP, ParticleType.HLL, 200].map((t) => op(`t${t}`, t, v));
        for (const key of [keyField(ParticleType.STRING, v), keyField(ParticleType.BLOB, v)]) {
          expectSameAsDecoder(encoder, message([nsField('test'), digestField(), key], ops), 0);
        }
      }
    }
  });

  it('compares cached names of every length byte by byte', () => {
    // A name, then the same name with one byte changed: the encoder must see every byte change.
    const encoder = new WireRecordEncoder();
    for (let n = 1; n <= 12; n++) {
      const name = Buffer.alloc(n, 'abcdefghijkl');
      for (let at = 0; at < n; at++) {
        const changed = Buffer.from(name);
        changed[at] = 0x5a;
        for (const names of [name, changed, name]) {
          const body = message([nsField(names), digestField(), setField(names)], [op(names, ParticleType.INTEGER, Buffer.alloc(8, at)), op('b', ParticleType.BOOL, bytes('01'))]);
          expectSameAsDecoder(encoder, body, 0);
        }
      }
    }
  });

  it('reads frames and writes buffers at any byte offset, and follows the writer when it changes buffers', () => {
    const encoder = new WireRecordEncoder();
    const m = message([nsField('test'), digestField(), setField('users'), keyField(ParticleType.INTEGER, bytes('0000000000000102'))], [
      op('a', ParticleType.INTEGER, bytes('fffffffffffffffe')),
      op('f', ParticleType.FLOAT, bytes('400921fb54442d18')),
      op('s', ParticleType.STRING, 'some text'),
      op('b', ParticleType.BLOB, Buffer.alloc(100, 0xab)),
    ]);
    for (const shift of [0, 1, 2, 3, 5]) {
      // The message inside a larger ArrayBuffer, `shift` bytes in, and again after itself.
      const space = new ArrayBuffer(shift + 2 * m.length + 7);
      const body = Buffer.from(space, shift, 2 * m.length);
      m.copy(body, 0);
      m.copy(body, m.length);
      const w = new AvroWriter(8);
      for (const at of [0, m.length]) expectSameAsDecoder(encoder, body, at, w);
      // Two writers in turn (a container starts a new one per block), one at an odd offset of its ArrayBuffer.
      const other = new AvroWriter(8);
      other.buf = Buffer.from(new ArrayBuffer(4096 + shift), shift, 4096);
      for (const writer of [w, other, w, other]) expectSameAsDecoder(encoder, body, m.length, writer);
    }
  });

  it('makes room for the whole record whatever room the writer has left', () => {
    // The writer grows once per record, to a bound: writers with every capacity up to the
    // record's size must still get all of it. Records where one value outgrows its wire
    // bytes the most: GeoJSON cells (8 bytes → up to 10), names with invalid UTF-8 (1 byte
    // → 3), a Particle key, longs (8 bytes → 10), generation and void time (4 → 5), no bins.
    const cells = Buffer.concat([bytes('07000d'), ...new Array<Buffer>(13).fill(bytes('8000000000000000')), text('{}')]);
    const records = [
      message([digestField()], [op('g', ParticleType.GEOJSON, cells)]),
      message([nsField(Buffer.alloc(40, 0xff)), digestField(), setField(Buffer.alloc(30, 0x80))], [op(Buffer.alloc(50, 0xfe), ParticleType.INTEGER, Buffer.alloc(8, 0x80))]),
      message([digestField(), keyField(255, Buffer.alloc(0))], [op('', 255, Buffer.alloc(0)), op('i', ParticleType.INTEGER, bytes('7fffffffffffffff'))]),
      message([digestField()], [], 0xffff_ffff, 0xffff_ffff),
    ];
    for (const body of records) {
      const encoder = new WireRecordEncoder();
      const expected = viaDecoder(body, 0);
      if ('error' in expected) throw expected.error;
      for (let capacity = 0; capacity <= expected.bytes.length; capacity++) {
        const w = new AvroWriter(1);
        w.buf = Buffer.alloc(capacity);
        expectSameAsDecoder(encoder, body, 0, w);
      }
    }
  });

  it('reads the record back as the decoder decodes it, invalid UTF-8 names as U+FFFD', () => {
    const encoder = new WireRecordEncoder();
    const body = message([nsField(bytes('6eff')), digestField(), setField(bytes('c3')), keyField(ParticleType.STRING, bytes('6bff'))], [op(bytes('61ff62'), ParticleType.STRING, bytes('ff'))]);
    const r = encodeAndRead(encoder, body);
    expect(r.namespace).toBe('n\ufffd');
    expect(r.set).toBe('\ufffd');
    expect(r.userKey).toEqual({ type: ParticleType.STRING, bytes: bytes('6bff') });
    expect(r.bins).toEqual([{ name: 'a\ufffdb', type: ParticleType.STRING, value: bytes('ff') }]);
  });

  it('does not carry names over from the record before', () => {
    const encoder = new WireRecordEncoder();
    const ints = (...names: Array<Buffer | string>) => names.map((n) => op(n, ParticleType.INTEGER, Buffer.alloc(8)));
    const steps: Array<{ fields: Field[]; ops: WireOp[]; namespace: string; set: string; names: string[] }> = [
      { fields: [nsField('test'), setField('users')], ops: ints('a', 'b', 'c'), namespace: 'test', set: 'users', names: ['a', 'b', 'c'] },
      { fields: [nsField('test'), setField('userz')], ops: ints('c', 'a', 'b'), namespace: 'test', set: 'userz', names: ['c', 'a', 'b'] },
      { fields: [nsField('tesu')], ops: ints('c', 'a'), namespace: 'tesu', set: '', names: ['c', 'a'] },
      { fields: [nsField('test'), setField('')], ops: ints('c', 'a', 'b', 'd'), namespace: 'test', set: '', names: ['c', 'a', 'b', 'd'] },
      { fields: [setField('users')], ops: [], namespace: '', set: 'users', names: [] },
      { fields: [nsField('test'), setField('users')], ops: ints(bytes('ff'), 'ab', bytes('61ff'), 'd'), namespace: 'test', set: 'users', names: ['\ufffd', 'ab', 'a\ufffd', 'd'] },
      { fields: [nsField('test'), setField(bytes('7573657273ff'))], ops: ints('é', 'ac', 'ab', 'd'), namespace: 'test', set: 'users\ufffd', names: ['é', 'ac', 'ab', 'd'] },
      { fields: [nsField('test'), setField('users')], ops: ints('x'.repeat(200), 'x'.repeat(199) + 'y'), namespace: 'test', set: 'users', names: ['x'.repeat(200), 'x'.repeat(199) + 'y'] },
      { fields: [nsField('test'), setField('users')], ops: ints('x'.repeat(199) + 'y', 'x'.repeat(200)), namespace: 'test', set: 'users', names: ['x'.repeat(199) + 'y', 'x'.repeat(200)] },
    ];
    for (const step of steps) {
      const body = message([...step.fields, digestField()], step.ops);
      expectSameAsDecoder(encoder, body, 0);
      const r = encodeAndRead(encoder, body);
      expect(r.namespace).toBe(step.namespace);
      expect(r.set).toBe(step.set);
      expect(r.bins.map((b) => b.name)).toEqual(step.names);
    }
  });

  it('throws what the decoder throws for malformed messages, and leaves the writer as it was', () => {
    const encoder = new WireRecordEncoder();
    const good = message([nsField('test'), digestField(), setField('s')], [op('a', 1, Buffer.alloc(8)), op('b', 3, 'x')]);
    expectSameAsDecoder(encoder, good, 0); // fills the caches
    const bad: Array<[Buffer, RegExp]> = [
      [message([nsField('test'), setField('s')], [op('a', 1, Buffer.alloc(8))]), /^record message without a digest field$/],
      [message([nsField('test'), { type: FieldType.DIGEST, data: Buffer.alloc(19) }]), /^digest field of 19 bytes$/],
      [message([nsField('test'), { type: FieldType.DIGEST, data: Buffer.alloc(21) }, digestField()]), /^digest field of 21 bytes$/],
      [message([nsField('test'), digestField(), { type: FieldType.KEY, data: Buffer.alloc(0) }]), /^empty key field$/],
      // The first refused field is the one reported, whatever comes after.
      [message([{ type: FieldType.KEY, data: Buffer.alloc(0) }, { type: FieldType.DIGEST, data: Buffer.alloc(3) }], [op('a', 1, '')]), /^empty key field$/],
      [message([{ type: FieldType.DIGEST, data: Buffer.alloc(3) }, { type: FieldType.KEY, data: Buffer.alloc(0) }]), /^digest field of 3 bytes$/],
      [message([nsField('test')], [op('a', 1, '')]), /^record message without a digest field$/],
    ];
    // An op whose name length byte says more than the op holds.
    const shortOp = message([nsField('test'), digestField()], [op('ok', 1, Buffer.alloc(8)), op('abc', 1, '')]);
    shortOp[shortOp.length - 3 - 1] = 4;
    bad.push([shortOp, /^op of size 7 is shorter than its bin name$/]);
    // Field errors come before op errors; size errors before both.
    const both = message([nsField('test'), { type: FieldType.DIGEST, data: Buffer.alloc(2) }], [op('abc', 1, '')]);
    both[both.length - 3 - 1] = 9;
    bad.push([both, /^digest field of 2 bytes$/]);
    const sizes = message([{ type: FieldType.DIGEST, data: Buffer.alloc(2) }], [op('abc', 1, '')]);
    sizes.writeUInt32BE(1000, MSG_HEADER_SIZE + 5 + 2);
    bad.push([sizes, /^field or op runs past the end of the frame$/]);
    // A field of size 0 (no type byte), an op of size 3 (no room for its 4 fixed bytes).
    const noType = message([digestField(), nsField('ab')]);
    noType.writeUInt32BE(0, MSG_HEADER_SIZE + 25);
    bad.push([noType, /^field or op runs past the end of the frame$/]);
    const tinyOp = message([digestField()], [op('', 1, '')]);
    tinyOp.writeUInt32BE(3, MSG_HEADER_SIZE + 25);
    bad.push([tinyOp, /^field or op runs past the end of the frame$/]);
    // Counts that promise more fields or ops than the body holds.
    const moreOps = Buffer.from(good);
    moreOps.writeUInt16BE(3, 20);
    bad.push([moreOps, /^field or op runs past the end of the frame$/]);
    const moreFields = Buffer.from(good);
    moreFields.writeUInt16BE(9, 18);
    bad.push([moreFields, /^field or op runs past the end of the frame$/]);
    // A body too short for the header: the decoder's RangeError from readUInt16BE.
    bad.push([good.subarray(0, 20), /out of range/]);

    for (const [body, error] of bad) {
      expect(() => new RecordDecoder().decode(body, 0)).toThrow(error);
      const w = writerWithPrefix();
      expect(() => encoder.write(w, body, 0)).toThrow(error);
      expect(w.pos).toBe(PREFIX.length);
      expectSameAsDecoder(encoder, body, 0);
    }
    expect(() => encoder.write(new AvroWriter(), bad[0]![0], 0)).toThrow(ProtocolError);
    // Offsets with no header at them: past the end, 1 byte short, not an integer.
    for (const at of [good.length, good.length - MSG_HEADER_SIZE + 1, 0.5]) expectSameAsDecoder(encoder, good, at);
    // The encoder is still fine afterwards.
    expectSameAsDecoder(encoder, good, 0);
  });

  it('behaves like the decoder for every truncation and random corruption of a message', () => {
    const encoder = new WireRecordEncoder();
    const m = message(
      [nsField('test'), digestField(), setField('users'), keyField(ParticleType.STRING, text('k-1'))],
      [op('a', 1, Buffer.alloc(8)), op('name', 3, 'héllo'), op('g', 23, Buffer.concat([bytes('000001'), Buffer.alloc(8), text('{}')]))],
    );
    for (let cut = 0; cut <= m.length; cut++) expectSameAsDecoder(encoder, Buffer.from(m.subarray(0, cut)), 0);
    fc.assert(
      fc.property(messageArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 3 }), (msg, edits) => {
        const body = encodeMessage(msg);
        const fresh = new WireRecordEncoder();
        expectSameAsDecoder(fresh, body, 0);
        for (const [at, byte] of edits) body[at % body.length] = byte;
        expectSameAsDecoder(fresh, body, 0);
      }),
      { seed: 1124, numRuns: 500 },
    );
  });
});

describe('the last-update time a scan asked for (an expression read op)', () => {
  const lut = (ns: bigint, type: number = ParticleType.INTEGER, bytesLength = 8): WireOp => {
    const value = Buffer.alloc(bytesLength);
    if (bytesLength === 8) value.writeBigInt64BE(ns);
    return { type, name: text('lut'), value, op: OpType.EXP_READ };
  };
  const ns = 1_764_633_600_123_000_000n;

  it('goes to lastUpdateTime, not to the bins, as the decoder reads it', () => {
    const body = message([nsField('test'), digestField(), setField('s')], [op('a', ParticleType.INTEGER, bytes('0000000000000005')), lut(ns), op('b', ParticleType.STRING, 'x')]);
    expectSameAsDecoder(new WireRecordEncoder(), body, 0);
    const r = encodeAndRead(new WireRecordEncoder(), body);
    expect(r.lastUpdateTime).toBe(ns);
    expect(r.bins.map((b) => b.name)).toEqual(['a', 'b']);
  });

  it('is refused alike by the encoder and the decoder when it is not an 8-byte integer', () => {
    for (const bad of [lut(ns, ParticleType.STRING), lut(0n, ParticleType.INTEGER, 4)]) {
      const body = message([nsField('test'), digestField()], [op('a', ParticleType.INTEGER, bytes('0000000000000005')), bad]);
      expect(expectSameAsDecoder(new WireRecordEncoder(), body, 0)).toBeUndefined();
    }
  });

  it('leaves out a record that carries it and no bin (the server sends it only for that op)', () => {
    const body = message([nsField('test'), digestField()], [lut(ns)]);
    const encoder = new WireRecordEncoder();
    const w = writerWithPrefix();
    expect(encoder.write(w, body, 0)).toBe(body.length);
    expect(encoder.skipped).toBe(true);
    expect(w.pos).toBe(PREFIX.length);
    encodeAndRead(encoder, message([nsField('test'), digestField()], [op('a', ParticleType.INTEGER, bytes('0000000000000005'))]));
    expect(encoder.skipped).toBe(false);
  });
});
