import { describe, expect, it } from 'vitest';
import { FrameParser, ProtoType, encodeFrame, ProtocolError } from '../../../src/aerospike/wire/proto.js';
import {
  FieldType,
  Info1,
  Info3,
  encodeMessagesFrame,
  findField,
  readMessages,
  type Message,
} from '../../../src/aerospike/wire/message.js';
import { encodeInfoRequest, infoError, parseInfoReply, parseInfoRequest } from '../../../src/aerospike/wire/info.js';
import { computeDigest, decodeKeyField, keyFromValue, partitionId } from '../../../src/aerospike/wire/digest.js';
import { loadCapture, loadGoldenSummary } from '../../support/captures.js';
import { deflateSync } from 'node:zlib';

function messagesOf(frames: Buffer[]): Message[] {
  const parser = new FrameParser();
  const out: Message[] = [];
  for (const f of frames) for (const frame of parser.push(f)) out.push(...readMessages(frame.body));
  return out;
}

describe('proto framing', () => {
  const scan = loadCapture('scan-all.jsonl').filter((f) => f.dir === 's2c' && f.type === ProtoType.MESSAGE);
  const stream = Buffer.concat(scan.map((f) => f.frame));

  it('cuts a byte stream into the captured frames whatever the chunking', () => {
    for (const chunkSize of [1, 7, 8, 9, 1000, stream.length]) {
      const parser = new FrameParser();
      const bodies: Buffer[] = [];
      for (let i = 0; i < stream.length; i += chunkSize) {
        for (const f of parser.push(stream.subarray(i, i + chunkSize))) bodies.push(f.body);
      }
      expect(bodies.map((b) => b.toString('hex'))).toEqual(scan.map((f) => f.frame.subarray(8).toString('hex')));
      expect(parser.bufferedBytes).toBe(0);
    }
  });

  it('assembles large frames in place when the reader reads straight into them', () => {
    // Large frames (random bodies of 64 KiB to 300 KiB) among small ones, read in chunks as a socket would.
    const bodies = [100, 70_000, 5, 300_000, 65_536, 65_535, 12].map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff)));
    const stream = Buffer.concat(bodies.map((b) => encodeFrame(ProtoType.MESSAGE, b)));
    for (const readSize of [1, 9, 1000, 64 * 1024, stream.length]) {
      const parser = new FrameParser();
      const got: Buffer[] = [];
      const targets = new Set<ArrayBufferLike>();
      for (let at = 0; at < stream.length; ) {
        const target = parser.readTarget();
        const n = Math.min(readSize, stream.length - at, target?.length ?? Infinity);
        let frames;
        if (target) {
          targets.add(target.buffer);
          stream.copy(target, 0, at, at + n);
          frames = parser.filled(n);
        } else {
          frames = parser.push(stream.subarray(at, at + n));
        }
        at += n;
        for (const f of frames) got.push(f.body);
      }
      expect(got.map((b) => b.toString('hex'))).toEqual(bodies.map((b) => b.toString('hex')));
      expect(parser.bufferedBytes).toBe(0);
      // The bodies of 64 KiB and more were the buffers read into (no copy after the read).
      const large = got.filter((b) => b.length >= 64 * 1024);
      if (readSize < 64 * 1024) for (const b of large) expect(targets.has(b.buffer)).toBe(true);
    }
  });

  it('refuses a fill past the frame being assembled', () => {
    const parser = new FrameParser();
    const frame = encodeFrame(ProtoType.MESSAGE, Buffer.alloc(100_000));
    parser.push(frame.subarray(0, 10));
    expect(parser.readTarget()!.length).toBe(100_000 - 2);
    expect(() => parser.filled(100_000)).toThrow(RangeError);
  });

  it('unwraps compressed frames', () => {
    const inner = scan[0]!.frame;
    const body = Buffer.alloc(8);
    body.writeBigUInt64BE(BigInt(inner.length));
    const compressed = encodeFrame(ProtoType.COMPRESSED, Buffer.concat([body, deflateSync(inner)]));
    const [frame] = new FrameParser().push(compressed);
    expect(frame!.type).toBe(ProtoType.MESSAGE);
    expect(frame!.body.equals(inner.subarray(8))).toBe(true);
  });

  it('rejects a wrong version', () => {
    const bad = Buffer.from(scan[0]!.frame);
    bad[0] = 3;
    expect(() => new FrameParser().push(bad)).toThrow(ProtocolError);
  });
});

describe('scan reply messages (scan-all capture)', () => {
  const golden = loadGoldenSummary();
  const frames = loadCapture('scan-all.jsonl').filter((f) => f.dir === 's2c' && f.type === ProtoType.MESSAGE);
  const msgs = messagesOf(frames.map((f) => f.frame));
  const records = msgs.filter((m) => !(m.info3 & Info3.LAST));

  it('ends with LAST alone in its own frame', () => {
    const last = frames[frames.length - 1]!;
    const lastMsgs = [...readMessages(last.frame.subarray(8))];
    expect(lastMsgs).toHaveLength(1);
    expect(lastMsgs[0]!.info3 & Info3.LAST).toBe(Info3.LAST);
    expect(msgs.filter((m) => m.info3 & Info3.LAST)).toHaveLength(1);
  });

  it('decodes exactly the golden records, bins, particle types and bytes', () => {
    expect(records).toHaveLength(golden.record_count);
    records.forEach((m, i) => {
      const g = golden.records[i]!;
      expect(m.fields.map((f) => f.type)).toEqual(g.field_order);
      expect(findField(m, FieldType.NAMESPACE)!.toString()).toBe(g.namespace);
      expect(findField(m, FieldType.SET)!.toString()).toBe(g.set);
      expect(findField(m, FieldType.DIGEST)!.toString('hex')).toBe(g.digest);
      const key = findField(m, FieldType.KEY);
      if (g.user_key) {
        const k = decodeKeyField(key!);
        expect(k.type).toBe(g.user_key.type);
        expect(k.bytes.toString('hex')).toBe(g.user_key.hex);
      } else {
        expect(key).toBeUndefined();
      }
      expect(m.generation).toBe(g.generation);
      expect(m.recordTtl).toBe(g.void_time_raw);
      expect(m.ops.map((o) => [o.name, o.op, o.particleType, o.value.toString('hex')])).toEqual(
        g.bins.map((b) => [b.name, b.op, b.particle_type, b.value_hex]),
      );
    });
  });

  it('re-encodes every record message byte for byte', () => {
    records.forEach((m, i) => {
      const encoded = encodeMessagesFrame([m]).subarray(8);
      expect(encoded.toString('hex')).toBe(golden.records[i]!.msg_hex);
    });
  });

  it('digests match RIPEMD-160(set, key type, key bytes) and give partition ids', () => {
    for (const g of golden.records) {
      if (!g.user_key) continue;
      const digest = computeDigest(g.set, { type: g.user_key.type, bytes: Buffer.from(g.user_key.hex, 'hex') });
      expect(digest.toString('hex')).toBe(g.digest);
      expect(partitionId(digest)).toBe((digest[0]! | (digest[1]! << 8)) & 4095);
    }
    expect(computeDigest('golden', keyFromValue('ints')).toString('hex')).toBe(
      golden.records.find((r) => r.label === 'ints')!.digest,
    );
    expect(computeDigest('golden', keyFromValue(42)).toString('hex')).toBe(golden.records.find((r) => r.label === '42')!.digest);
    expect(computeDigest('golden', keyFromValue(Buffer.from('deadbeef', 'hex'))).toString('hex')).toBe(
      golden.records.find((r) => r.label === '0xdeadbeef')!.digest,
    );
  });
});

describe('scan requests', () => {
  it('decode to the fields and flags the README describes', () => {
    const req = loadCapture('scan-all.jsonl').find((f) => f.dir === 'c2s' && f.type === ProtoType.MESSAGE)!;
    const [m] = messagesOf([req.frame]);
    expect(m!.info1).toBe(Info1.READ);
    expect(m!.info3).toBe(Info3.PARTITION_DONE);
    expect(m!.recordTtl).toBe(0xffffffff);
    expect(m!.fields.map((f) => f.type)).toEqual([
      FieldType.NAMESPACE,
      FieldType.SET,
      FieldType.SOCKET_TIMEOUT,
      FieldType.TASK_ID,
      FieldType.PID_ARRAY,
    ]);
    const pids = findField(m!, FieldType.PID_ARRAY)!;
    expect(pids.length).toBe(4096 * 2);
    expect(pids.readUInt16LE(2 * 4095)).toBe(4095);
    expect(findField(m!, FieldType.SOCKET_TIMEOUT)!.readUInt32BE(0)).toBe(30000);
    // Re-encoding what we decoded gives the request the real server accepted.
    expect(encodeMessagesFrame([m!]).equals(req.frame)).toBe(true);
  });
});

describe('info', () => {
  it('encodes requests and parses replies as captured', () => {
    const frames = loadCapture('connect.jsonl');
    const req = frames.find((f) => f.dir === 'c2s')!;
    expect(encodeInfoRequest(['node', 'partition-generation', 'build']).equals(req.frame)).toBe(true);
    expect(parseInfoRequest(req.frame.subarray(8))).toEqual(['node', 'partition-generation', 'build']);
    const reply = parseInfoReply(frames.find((f) => f.dir === 's2c')!.frame.subarray(8));
    expect(reply.get('build')).toBe('8.1.2.0');
    expect(reply.get('partition-generation')).toBe('0');
    expect(reply.get('node')).toMatch(/^[0-9A-F]+$/);
  });

  it('keeps empty values and recognises errors', () => {
    const body = Buffer.from('udf-list\t\nno-such-command\tERROR:4:unrecognized command\n');
    const reply = parseInfoReply(body);
    expect(reply.get('udf-list')).toBe('');
    expect(infoError(reply.get('no-such-command')!)).toEqual({ code: 4, message: 'unrecognized command' });
    expect(infoError('ok')).toBeUndefined();
  });
});
