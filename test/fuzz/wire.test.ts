/**
 * Fuzzing of what a server sends (docs/reliability.md, "Fuzzing"): proto framing
 * (FrameParser, compressed frames), AS_MSG messages (readMessage/readMessages), scan
 * records (RecordDecoder) and the scan reply path (NodeScan, record by record and in
 * batches), batch write replies, admin replies, info replies (parseInfoReply and the
 * values the cluster layer parses) and msgpack (unpack).
 */
import { deflateSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, describe, expect } from 'vitest';
import { readBatchReply } from '../../src/aerospike/batch-request.js';
import { NodeScan, type NodeScanOutcome } from '../../src/aerospike/node-scan.js';
import { parseReplicas } from '../../src/aerospike/partition-map.js';
import { parsePeers } from '../../src/aerospike/peers.js';
import { RecordDecoder } from '../../src/aerospike/record-decoder.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { decodeAdminMessage, encodeAdminMessage } from '../../src/aerospike/wire/admin.js';
import { encodeInfoReply, infoError, parseInfoReply, parseKeyValues } from '../../src/aerospike/wire/info.js';
import { Info3, MSG_HEADER_SIZE, readMessages } from '../../src/aerospike/wire/message.js';
import { CdtList, CdtMap, Float, GeoJsonValue, MsgExt, MsgpackError, pack, unpack, type MsgValue, type PackValue } from '../../src/aerospike/wire/msgpack.js';
import { FrameParser, MAX_BODY_SIZE, PROTO_HEADER_SIZE, ProtoType, ProtocolError, decompressFrame, encodeFrame, type Frame } from '../../src/aerospike/wire/proto.js';
import { FuzzFailure, chunkingArb, chunksOf, fuzzIt, guard, guardAsync, mutants, printCounts, randomAfter, randomBytes, type Sample } from './support.js';
import { anyMessageArb, bodySample, messageSample, recordMessageArb, scanReplyArb, type WireMessage } from './wire-samples.js';

afterAll(() => printCounts('wire'));

const anyBytes = (maxLength: number, minLength = 0): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength, maxLength }).map((b) => Buffer.from(b));

const hexed = (r: RawRecord): unknown => ({
  ...r,
  digest: r.digest.toString('hex'),
  userKey: r.userKey && { type: r.userKey.type, bytes: r.userKey.bytes.toString('hex') },
  bins: r.bins.map((b) => ({ ...b, value: b.value.toString('hex') })),
});

// ---------------------------------------------------------------------------
// Proto frames

interface FrameCase {
  /** The frames as sent (a compressed one wraps `inner`). */
  sent: Array<{ type: number; body: Buffer }>;
  /** The frames a parser returns (compressed ones unwrapped). */
  expected: Frame[];
  sample: Sample;
}

const frameArb: fc.Arbitrary<{ type: number; body: Buffer; inner?: Frame }> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ type: fc.constantFrom(ProtoType.INFO, ProtoType.ADMIN, ProtoType.MESSAGE), body: anyBytes(300) }) },
  // Large enough to be assembled in place.
  { weight: 1, arbitrary: fc.record({ type: fc.constant(ProtoType.MESSAGE), body: fc.integer({ min: 64 * 1024, max: 70 * 1024 }).map((n) => Buffer.alloc(n, n & 0xff)) }) },
  {
    weight: 2,
    arbitrary: anyBytes(300).map((inner) => {
      const frame = encodeFrame(ProtoType.MESSAGE, inner);
      const size = Buffer.alloc(8);
      size.writeBigUInt64BE(BigInt(frame.length), 0);
      return { type: ProtoType.COMPRESSED, body: Buffer.concat([size, deflateSync(frame)]), inner: { type: ProtoType.MESSAGE, body: inner } };
    }),
  },
);

const framesArb: fc.Arbitrary<FrameCase> = fc.array(frameArb, { maxLength: 5 }).map((frames) => {
  const u16s: number[] = [];
  const u32s: number[] = [];
  const u8s: number[] = [];
  let at = 0;
  for (const f of frames) {
    u8s.push(at, at + 1);
    u16s.push(at + 2);
    u32s.push(at + 4);
    at += PROTO_HEADER_SIZE + f.body.length;
  }
  return {
    sent: frames,
    expected: frames.map((f) => f.inner ?? { type: f.type, body: f.body }),
    sample: { bytes: Buffer.concat(frames.map((f) => encodeFrame(f.type, f.body))), u16s, u32s, u8s },
  };
});

/** Feeds `chunks` to a FrameParser, reading straight into large frames when `direct` says so; the frames it returns. */
function parseFrames(chunks: Buffer[], direct: boolean): Frame[] {
  const parser = new FrameParser();
  const out: Frame[] = [];
  for (let chunk of chunks) {
    while (chunk.length > 0) {
      const target = direct ? parser.readTarget() : undefined;
      if (target) {
        const n = Math.min(target.length, chunk.length);
        chunk.copy(target, 0, 0, n);
        out.push(...parser.filled(n));
        chunk = chunk.subarray(n);
      } else {
        out.push(...parser.push(chunk));
        chunk = chunk.subarray(chunk.length);
      }
    }
  }
  return out;
}

const framesHex = (frames: Frame[]) => frames.map((f) => `${f.type}:${f.body.toString('hex')}`);

describe('fuzz: FrameParser (proto framing)', () => {
  fuzzIt(
    'FrameParser',
    'valid frame streams give their frames, whatever the chunking',
    fc.tuple(framesArb, chunkingArb, fc.boolean()),
    ([c, cuts, direct]) => {
      const r = guard(c.sample.bytes, [], () => parseFrames(chunksOf(c.sample.bytes, cuts), direct));
      if (!r.ok) throw r.error;
      expect(framesHex(r.value)).toEqual(framesHex(c.expected));
    },
    { share: 0.15 },
  );

  // The documented bound: a header claiming a large body (up to MAX_BODY_SIZE) gets a buffer of that size up front.
  const frameBounds = { memory: MAX_BODY_SIZE + 32 * 1024 * 1024 };
  const check = ([bytes, cuts, direct]: [Buffer, number[], boolean]) => {
    guard(bytes, [ProtocolError], () => parseFrames(chunksOf(bytes, cuts), direct), frameBounds);
  };
  fuzzIt('FrameParser', 'mutated frame streams give frames or throw ProtocolError', fc.tuple(mutants(framesArb.map((c) => c.sample)), chunkingArb, fc.boolean()), check, { share: 0.55 });
  fuzzIt(
    'FrameParser',
    'random bytes (alone, after a proto header) give frames or throw ProtocolError',
    fc.tuple(fc.oneof(randomBytes(), randomAfter(fc.constantFrom(...[1, 2, 3, 4].map((t) => Buffer.from([2, t]))))), chunkingArb, fc.boolean()),
    check,
    { share: 0.15 },
  );

  // The inner frame of a compressed one, mutated, then deflated: past zlib, to the inner header's checks.
  const compressedArb = fc.tuple(mutants(framesArb.map((c) => c.sample)), fc.boolean(), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([inner, deflated, size]) => {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64BE(size, 0);
    return Buffer.concat([prefix, deflated ? deflateSync(inner) : inner]);
  });
  fuzzIt(
    'FrameParser',
    'compressed frames (decompressFrame) give a frame or throw ProtocolError',
    compressedArb,
    (body) => {
      guard(body, [ProtocolError], () => decompressFrame(body));
    },
    { share: 0.15 },
  );
});

// ---------------------------------------------------------------------------
// Messages

const validNames = anyMessageArb.map((m) => ({ ...m, ops: m.ops.map((o) => ({ ...o, name: Buffer.from(o.name.toString('utf8').slice(0, 20), 'utf8').subarray(0, 255) })) }));

describe('fuzz: readMessages (AS_MSG)', () => {
  fuzzIt(
    'readMessages',
    'valid bodies give their messages',
    fc.array(validNames, { maxLength: 4 }),
    (msgs) => {
      const body = bodySample(msgs).bytes;
      const r = guard(body, [], () => [...readMessages(body)]);
      if (!r.ok) throw r.error;
      expect(r.value).toHaveLength(msgs.length);
      r.value.forEach((m, i) => {
        const e = msgs[i]!;
        expect({ info1: m.info1, info3: m.info3, resultCode: m.resultCode, generation: m.generation, recordTtl: m.recordTtl, transactionTtl: m.transactionTtl }).toEqual({
          info1: e.info1,
          info3: e.info3,
          resultCode: e.resultCode,
          generation: e.generation,
          recordTtl: e.voidTime,
          transactionTtl: e.transactionTtl,
        });
        expect(m.fields.map((f) => `${f.type}:${f.data.toString('hex')}`)).toEqual(e.fields.map((f) => `${f.type}:${f.data.toString('hex')}`));
        expect(m.ops.map((o) => [o.op, o.particleType, o.name, o.value.toString('hex')])).toEqual(e.ops.map((o) => [o.op, o.type, o.name.toString('utf8'), o.value.toString('hex')]));
      });
    },
    { share: 0.15 },
  );
  const check = (body: Buffer) => {
    guard(body, [ProtocolError], () => [...readMessages(body)]);
  };
  fuzzIt('readMessages', 'mutated bodies give messages or throw ProtocolError', mutants(fc.array(anyMessageArb, { minLength: 1, maxLength: 4 }).map(bodySample)), check, { share: 0.6 });
  fuzzIt('readMessages', 'random bytes give messages or throw ProtocolError', fc.oneof(randomBytes(), randomAfter(fc.constant(Buffer.from([MSG_HEADER_SIZE])))), check, { share: 0.25 });
});

describe('fuzz: RecordDecoder (scan records)', () => {
  fuzzIt(
    'RecordDecoder',
    'valid record messages give their records',
    recordMessageArb,
    (c) => {
      const body = messageSample(c.message).bytes;
      const r = guard(body, [], () => new RecordDecoder().decode(body, 0));
      if (!r.ok) throw r.error;
      expect(hexed(r.value)).toEqual(hexed(c.record));
    },
    { share: 0.1 },
  );
  // The decoder's precondition (its caller checks it): the 22-byte header is there; a shorter body is a RangeError.
  const decoder = new RecordDecoder();
  const check = (body: Buffer) => {
    guard(body, body.length < MSG_HEADER_SIZE ? [ProtocolError, RangeError] : [ProtocolError], () => {
      const record = decoder.decode(body, 0);
      if (decoder.end > body.length) throw new FuzzFailure(`end ${decoder.end} past the body`, body);
      return record;
    });
  };
  fuzzIt('RecordDecoder', 'mutated record messages give a record or throw ProtocolError', mutants(recordMessageArb.map((c) => messageSample(c.message))), check, { share: 0.6 });
  fuzzIt('RecordDecoder', 'random messages and bytes give a record or throw ProtocolError', fc.oneof(anyMessageArb.map((m) => messageSample(m).bytes), randomBytes(512)), check, { share: 0.3 });
});

// ---------------------------------------------------------------------------
// The scan reply path

/** The scan's frames ran out (the fake connection's "socket closed"). */
class EndOfFrames extends Error {}

interface ScanRun {
  records: RawRecord[];
  /** 'done', or the class of the error the scan (or, in batches, the record encoder) failed with. */
  outcome: string;
}

/** Runs a NodeScan over `frames` from a fake node; record by record, or in batches decoded as the backup's encoder would. */
function runScan(frames: Frame[], batchMax: number | undefined): Promise<ScanRun> {
  const queue = [...frames];
  const conn = {
    write: () => true,
    readFrame: async () => {
      const f = queue.shift();
      if (!f) throw new EndOfFrames('no more frames');
      return f;
    },
    bufferedBytes: 0,
    isPaused: false,
  };
  const node = { acquire: async () => conn, release: () => undefined, discard: () => undefined, toString: () => 'fuzz-node' };
  return new Promise<ScanRun>((resolve) => {
    const records: RawRecord[] = [];
    const decoder = new RecordDecoder();
    let settled = false;
    const end = (outcome: string) => {
      if (settled) return;
      settled = true;
      resolve({ records, outcome });
    };
    const scan = new NodeScan(node as never, [0], Buffer.alloc(0), 1000, {
      readable: (s) => {
        if (batchMax === undefined) {
          for (let r = s.read(); r; r = s.read()) records.push(r);
          return;
        }
        for (let b = s.readBatch(batchMax); b && !settled; b = s.readBatch(batchMax)) {
          for (let i = 0; i < b.count; i++) {
            try {
              records.push(decoder.decode(b.body, b.offsets[i]!));
            } catch (error) {
              s.cancel();
              return end((error as Error).constructor.name);
            }
          }
        }
      },
      end: (_s, outcome: NodeScanOutcome) => end(outcome.kind === 'done' ? 'done' : outcome.error.constructor.name),
    });
    scan.start();
  });
}

const ALLOWED_SCAN_ERRORS = new Set(['ProtocolError', 'ServerError', 'EndOfFrames']);

interface ScanCase {
  frames: Frame[];
  /** For a valid reply: its records and how it ends. */
  expected?: { records: RawRecord[]; outcome: string };
}

const scanFrames = (c: { frames: WireMessage[][] }): Frame[] => c.frames.map((msgs) => ({ type: ProtoType.MESSAGE, body: bodySample(msgs).bytes }));

/** A scan reply with one frame mutated (or its type changed). */
const mutatedScanArb: fc.Arbitrary<ScanCase> = fc
  .tuple(scanReplyArb, fc.nat(), fc.array(fc.nat({ max: 255 }), { maxLength: 1 }))
  .chain(([c, which, type]) => {
    const frames = scanFrames(c);
    const i = which % frames.length;
    return mutants(fc.constant({ ...bodySample(c.frames[i]!) })).map((body) => {
      const out = [...frames];
      out[i] = { type: type[0] ?? ProtoType.MESSAGE, body };
      return { frames: out };
    });
  });

describe('fuzz: NodeScan (scan replies)', () => {
  const check = async (c: ScanCase) => {
    const bytes = Buffer.concat(c.frames.map((f) => f.body));
    const r = await guardAsync(bytes, [], async () => {
      const one = await runScan(c.frames, undefined);
      const batched = await runScan(c.frames, 3);
      return { one, batched };
    });
    if (!r.ok) throw r.error;
    const { one, batched } = r.value;
    for (const run of [one, batched]) {
      if (run.outcome !== 'done' && !ALLOWED_SCAN_ERRORS.has(run.outcome)) throw new FuzzFailure(`the scan failed with ${run.outcome}`, bytes);
    }
    if (c.expected) {
      expect(one.outcome).toBe(c.expected.outcome);
      expect(one.records.map(hexed)).toEqual(c.expected.records.map(hexed));
    }
    // In batches: the same verdict and the same records (a batch cut short by a bad message is delivered before the failure).
    expect(batched.outcome).toBe(one.outcome);
    expect(batched.records.map(hexed)).toEqual(one.records.map(hexed));
  };
  fuzzIt('NodeScan', 'valid scan replies give their records, one by one and in batches', scanReplyArb.map((c) => ({ frames: scanFrames(c), expected: { records: c.records, outcome: c.outcome } })), check, { share: 0.15 });
  fuzzIt('NodeScan', 'mutated scan replies end or fail with ProtocolError / ServerError, the same in batches', mutatedScanArb, check, { share: 0.85 });
});

describe('fuzz: readBatchReply (batch write replies)', () => {
  const rowsArb = fc.array(fc.record({ index: fc.nat({ max: 0xffff_ffff }), resultCode: fc.nat({ max: 255 }), generation: fc.nat({ max: 0xffff_ffff }), voidTime: fc.nat({ max: 0xffff_ffff }) }), { maxLength: 5 });
  const replyOf = (rows: Array<{ index: number; resultCode: number; generation: number; voidTime: number }>, last: boolean): Sample =>
    bodySample([
      ...rows.map((r): WireMessage => ({ resultCode: r.resultCode, generation: r.generation, voidTime: r.voidTime, transactionTtl: r.index, fields: [], ops: [] })),
      ...(last ? [{ info3: Info3.LAST, resultCode: 0, generation: 0, voidTime: 0, fields: [], ops: [] }] : []),
    ]);
  fuzzIt(
    'readBatchReply',
    'valid replies give their rows',
    fc.tuple(rowsArb, fc.boolean()),
    ([rows, last]) => {
      const body = replyOf(rows, last).bytes;
      const seen: unknown[] = [];
      const r = guard(body, [], () => readBatchReply(body, (row) => seen.push(row)));
      if (!r.ok) throw r.error;
      expect(r.value).toBe(last ? 0 : undefined);
      expect(seen).toEqual(rows);
    },
    { share: 0.1 },
  );
  const check = (body: Buffer) => {
    guard(body, [ProtocolError], () => readBatchReply(body, () => undefined));
  };
  fuzzIt('readBatchReply', 'mutated replies give rows or throw ProtocolError', mutants(fc.tuple(rowsArb, fc.boolean()).map(([rows, last]) => replyOf(rows, last))), check, { share: 0.6 });
  fuzzIt('readBatchReply', 'random messages and bytes give rows or throw ProtocolError', fc.oneof(fc.array(anyMessageArb, { maxLength: 3 }).map((m) => bodySample(m).bytes), randomBytes(512)), check, {
    share: 0.3,
  });
});

describe('fuzz: decodeAdminMessage (login replies)', () => {
  const adminArb = fc.record({ command: fc.nat({ max: 255 }), resultCode: fc.nat({ max: 255 }), fields: fc.array(fc.record({ id: fc.nat({ max: 255 }), data: anyBytes(40) }), { maxLength: 6 }) });
  fuzzIt(
    'decodeAdminMessage',
    'valid messages give their fields',
    adminArb,
    (m) => {
      const body = encodeAdminMessage(m).subarray(PROTO_HEADER_SIZE);
      const r = guard(body, [], () => decodeAdminMessage(body));
      if (!r.ok) throw r.error;
      expect({ command: r.value.command, resultCode: r.value.resultCode, fields: r.value.fields.map((f) => [f.id, f.data.toString('hex')]) }).toEqual({
        command: m.command,
        resultCode: m.resultCode,
        fields: m.fields.map((f) => [f.id, f.data.toString('hex')]),
      });
    },
    { share: 0.1 },
  );
  const check = (body: Buffer) => {
    guard(body, [ProtocolError], () => decodeAdminMessage(body));
  };
  const sampleOf = (m: { command: number; resultCode: number; fields: Array<{ id: number; data: Buffer }> }): Sample => {
    const body = encodeAdminMessage(m).subarray(PROTO_HEADER_SIZE);
    const u32s: number[] = [];
    let at = 16;
    for (const f of m.fields) {
      u32s.push(at);
      at += 5 + f.data.length;
    }
    return { bytes: Buffer.from(body), u32s, u8s: [3] };
  };
  fuzzIt('decodeAdminMessage', 'mutated messages give fields or throw ProtocolError', mutants(adminArb.map(sampleOf)), check, { share: 0.6 });
  fuzzIt('decodeAdminMessage', 'random bytes give fields or throw ProtocolError', randomBytes(512), check, { share: 0.3 });
});

// ---------------------------------------------------------------------------
// Info replies

const infoText = (exclude: string) => fc.string({ unit: 'binary', maxLength: 30 }).map((s) => s.replace(new RegExp(`[${exclude}]`, 'g'), '_'));

describe('fuzz: parseInfoReply and info values', () => {
  fuzzIt(
    'parseInfoReply',
    'valid replies give their command → value map',
    fc.array(fc.tuple(infoText('\\t\\n').filter((s) => s.length > 0), infoText('\\n')), { maxLength: 8 }),
    (entries) => {
      const body = encodeInfoReply(entries).subarray(PROTO_HEADER_SIZE);
      const r = guard(body, [], () => parseInfoReply(body));
      if (!r.ok) throw r.error;
      // Commands and values as the bytes carry them (a lone surrogate travels as U+FFFD).
      const norm = (s: string) => Buffer.from(s, 'utf8').toString('utf8');
      const expected = new Map<string, string>();
      for (const [cmd, value] of entries) expected.set(norm(cmd), norm(value));
      expect([...r.value]).toEqual([...expected]);
    },
    { share: 0.1 },
  );
  const replySample = fc.array(fc.tuple(infoText('\\t\\n'), infoText('\\n')), { maxLength: 8 }).map((entries): Sample => ({ bytes: Buffer.from(encodeInfoReply(entries).subarray(PROTO_HEADER_SIZE)) }));
  const check = (body: Buffer) => {
    const r = guard(body, [], () => {
      const map = parseInfoReply(body);
      // What the cluster layer does with values: errors, key=value lists.
      for (const value of map.values()) {
        infoError(value);
        parseKeyValues(value);
        parseKeyValues(value, ':');
      }
      return map;
    });
    if (!r.ok) throw r.error;
    for (const [k, v] of r.value) if (typeof k !== 'string' || typeof v !== 'string') throw new FuzzFailure('a non-string entry', body);
  };
  fuzzIt('parseInfoReply', 'mutated replies parse without throwing', mutants(replySample), check, { share: 0.6 });
  fuzzIt('parseInfoReply', 'random bytes parse without throwing', randomBytes(), check, { share: 0.3 });

  // The values of `replicas` and `peers-*` (the cluster's partition map and peers).
  const replicasArb = fc
    .array(
      fc.record({
        ns: fc.string({ maxLength: 8 }).map((s) => s.replace(/[;:]/g, '_')),
        regime: fc.option(fc.nat(), { nil: undefined }),
        bitmaps: fc.array(anyBytes(512, 512).map((b) => b.toString('base64')), { minLength: 1, maxLength: 2 }),
      }),
      { maxLength: 3 },
    )
    .map((entries) => entries.map((e) => `${e.ns}:${e.regime === undefined ? '' : `${e.regime},`}${e.bitmaps.length},${e.bitmaps.join(',')}`).join(';'));
  const peersArb = fc
    .tuple(
      fc.nat(),
      fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
      fc.array(fc.tuple(fc.string({ unit: fc.constantFrom(...'0123456789ABCDEF'), maxLength: 16 }), fc.constantFrom('', 'tls-name'), fc.array(fc.tuple(fc.constantFrom('10.0.0.1', '[::1]', 'host.example'), fc.option(fc.integer({ min: 1, max: 65535 }))), { maxLength: 3 })), { maxLength: 3 }),
    )
    .map(([gen, port, peers]) => `${gen},${port ?? ''},[${peers.map(([name, tls, hosts]) => `[${name},${tls},[${hosts.map(([h, p]) => (p === null ? h : `${h}:${p}`)).join(',')}]]`).join(',')}]`);
  const textMutants = (arb: fc.Arbitrary<string>) => mutants(arb.map((s): Sample => ({ bytes: Buffer.from(s, 'latin1') }))).map((b) => b.toString('latin1'));
  fuzzIt(
    'parseReplicas',
    'valid and mutated replicas values parse or throw ProtocolError',
    fc.oneof(replicasArb, textMutants(replicasArb), fc.string({ unit: 'binary', maxLength: 100 })),
    (value) => {
      guard(Buffer.from(value), [ProtocolError], () => parseReplicas(value));
    },
  );
  fuzzIt(
    'parsePeers',
    'valid and mutated peers values parse or throw ProtocolError',
    fc.oneof(peersArb, textMutants(peersArb), fc.string({ unit: 'binary', maxLength: 100 })),
    (value) => {
      guard(Buffer.from(value), [ProtocolError], () => parsePeers(value));
    },
  );
});

// ---------------------------------------------------------------------------
// msgpack

/** A value to pack, and what unpack gives back for it. */
interface MsgModel {
  packed: PackValue;
  /** With exactIntegers = false. */
  value: MsgValue;
  /** With exactIntegers = true. */
  exact: MsgValue;
}

const int64 = fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }).map(BigInt), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.constantFrom(0n, -1n, 127n, 128n, -32n, -33n, 2n ** 53n, -(2n ** 53n), 2n ** 63n));
const intModel: fc.Arbitrary<MsgModel> = int64.map((v) => ({
  packed: v,
  value: v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v,
  exact: v,
}));
const scalarModel: fc.Arbitrary<MsgModel> = fc.oneof(
  fc.constant({ packed: null, value: null, exact: null }),
  fc.boolean().map((b) => ({ packed: b, value: b, exact: b })),
  intModel,
  fc.double().map((d) => ({ packed: new Float(d), value: d, exact: d })),
  fc.string({ unit: 'binary', maxLength: 40 }).map((s) => {
    const t = Buffer.from(s, 'utf8').toString('utf8');
    return { packed: s, value: t, exact: t };
  }),
  anyBytes(40).map((b) => ({ packed: b, value: b, exact: b })),
  fc.string({ maxLength: 20 }).map((s) => ({ packed: new GeoJsonValue(s), value: new GeoJsonValue(s), exact: new GeoJsonValue(s) })),
);
const keyModel = fc.oneof(intModel, fc.string({ maxLength: 10 }).map((s) => ({ packed: s, value: s, exact: s })), anyBytes(8).map((b) => ({ packed: b, value: b, exact: b })));
const extModel = fc.tuple(fc.nat({ max: 255 }), anyBytes(20)).map(([t, d]) => ({ packed: new MsgExt(t, d), value: new MsgExt(t, d), exact: new MsgExt(t, d) }));

const { msg: msgModel } = fc.letrec<{ msg: MsgModel }>((tie) => ({
  msg: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalarModel,
    fc.array(tie('msg'), { maxLength: 5 }).map((items) => ({ packed: items.map((i) => i.packed), value: items.map((i) => i.value), exact: items.map((i) => i.exact) })),
    fc.tuple(fc.array(tie('msg'), { maxLength: 4 }), fc.integer({ min: 1, max: 255 })).map(([items, flags]) => ({
      packed: new CdtList(items.map((i) => i.packed as MsgValue), flags),
      value: new CdtList(items.map((i) => i.value), flags),
      exact: new CdtList(items.map((i) => i.exact), flags),
    })),
    fc.tuple(fc.array(fc.tuple(keyModel, fc.oneof(tie('msg'), extModel)), { maxLength: 4 }), fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 }))).map(([entries, flags]) => ({
      packed: new CdtMap(entries.map(([k, v]) => [k.packed as MsgValue, v.packed as MsgValue]), flags),
      value: new CdtMap(entries.map(([k, v]) => [k.value, v.value]), flags),
      exact: new CdtMap(entries.map(([k, v]) => [k.exact, v.exact]), flags),
    })),
  ),
}));

/** Nested lists and maps, `depth` deep (msgpack's recursion). */
const nestedArb = fc.tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom(0x91, 0x81, 0xdc)).map(([depth, kind]) => {
  const unit = kind === 0x91 ? [0x91] : kind === 0x81 ? [0x81, 0x01] : [0xdc, 0x00, 0x01];
  const b = Buffer.alloc(depth * unit.length + 1);
  for (let i = 0; i < depth; i++) b.set(unit, i * unit.length);
  b[b.length - 1] = 0xc0;
  return b;
});

describe('fuzz: msgpack unpack (lists, maps)', () => {
  fuzzIt(
    'msgpack',
    'packed values unpack to themselves',
    msgModel,
    (m) => {
      const bytes = pack(m.packed);
      const r = guard(bytes, [], () => [unpack(bytes), unpack(bytes, true)]);
      if (!r.ok) throw r.error;
      expect(r.value[0]).toEqual(m.value);
      expect(r.value[1]).toEqual(m.exact);
    },
    { share: 0.1 },
  );
  const check = (bytes: Buffer) => {
    guard(bytes, [MsgpackError], () => unpack(bytes));
    guard(bytes, [MsgpackError], () => unpack(bytes, true));
  };
  const sampleOf = (m: MsgModel): Sample => ({ bytes: pack(m.packed) });
  fuzzIt('msgpack', 'mutated values unpack or throw MsgpackError', mutants(msgModel.map(sampleOf)), check, { share: 0.6 });
  fuzzIt('msgpack', 'random bytes unpack or throw MsgpackError', randomBytes(), check, { share: 0.2 });
  fuzzIt('msgpack', 'deeply nested lists and maps unpack or throw MsgpackError', fc.oneof(nestedArb, mutants(nestedArb.map((bytes) => ({ bytes })))), check, { share: 0.1 });
});

