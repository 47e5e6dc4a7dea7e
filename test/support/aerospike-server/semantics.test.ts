/**
 * Test-server semantics a backup tool is tested against: digest order and resumption,
 * TTL and expiry, record size limit, write policies, filter expressions, and the result
 * codes for requests the server refuses. Single node; official client where it can
 * express the request, the raw wire client where it cannot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Aerospike from 'aerospike';
import { connect } from 'node:net';
import { computeDigest, keyFromValue, partitionId } from '../../../src/aerospike/wire/digest.js';
import { encodeExpression, exp } from '../../../src/aerospike/wire/exp.js';
import { FieldType, Info1, Info2, Info3, OpType, encodeMessageFrame, field, type Message } from '../../../src/aerospike/wire/message.js';
import { ProtoType, encodeFrame } from '../../../src/aerospike/wire/proto.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { CITRUSLEAF_EPOCH_UNIX_S } from '../../../src/aerospike/types.js';
import { connectClient } from '../aerospike.js';
import { startTestServer, type TestServerHandle } from './index.js';
import { WireClient, recordMessages, scanFrame } from './wire-client.js';

let server: TestServerHandle;
let client: Aerospike.Client;
let wire: WireClient;

beforeAll(async () => {
  server = await startTestServer({ recordSizeLimit: 4096 });
  client = await connectClient({ hosts: server.hosts, seeds: server.seeds, isTestServer: true, server, stop: () => server.stop() });
  wire = await WireClient.connect(server.nodes[0]!.host, server.nodes[0]!.port);
});

afterAll(async () => {
  wire?.close();
  await client?.close();
  await server?.stop();
});

const digestOf = (m: Message): Buffer => m.fields.find((f) => f.type === FieldType.DIGEST)!.data;

function singleRequest(opts: { info1?: number; info2?: number; info3?: number; generation?: number; ttl?: number; set: string; key: string; ops?: Message['ops']; extra?: Message['fields'] }): Buffer {
  return encodeMessageFrame({
    info1: opts.info1 ?? 0,
    info2: opts.info2 ?? 0,
    info3: opts.info3 ?? 0,
    generation: opts.generation ?? 0,
    recordTtl: opts.ttl ?? 0,
    transactionTtl: 1000,
    fields: [field(FieldType.NAMESPACE, 'test'), field(FieldType.SET, opts.set), field(FieldType.DIGEST, computeDigest(opts.set, keyFromValue(opts.key))), ...(opts.extra ?? [])],
    ops: opts.ops ?? [],
  });
}

function intOp(op: number, name: string, v: number): Message['ops'][number] {
  const value = Buffer.alloc(8);
  value.writeBigInt64BE(BigInt(v));
  return { op, particleType: 1, name, value };
}

describe('partition order', () => {
  it('returns a partition in descending digest order and resumes strictly below a digest', async () => {
    await server.data.generate({ namespace: 'test', set: 'order', count: 20_000 });
    const all = await server.data.records('test', 'order');
    const counts = new Map<number, number>();
    for (const r of all) counts.set(partitionId(r.digest), (counts.get(partitionId(r.digest)) ?? 0) + 1);
    const pid = [...counts.entries()].find(([, n]) => n >= 5)![0];

    const full = recordMessages((await wire.stream(scanFrame({ namespace: 'test', set: 'order', partitions: [pid] }))).messages);
    const digests = full.map((m) => digestOf(m).toString('hex'));
    expect(digests.length).toBe(counts.get(pid));
    expect(digests).toEqual([...digests].sort().reverse());

    const resumeAt = digestOf(full[2]!);
    const rest = recordMessages((await wire.stream(scanFrame({ namespace: 'test', set: 'order', digests: [resumeAt] }))).messages);
    expect(rest.map((m) => digestOf(m).toString('hex'))).toEqual(digests.slice(3));

    // A digest that is not stored resumes below it too.
    const between = Buffer.from(resumeAt);
    between[19] = between[19]! ^ 0x01;
    const after = recordMessages((await wire.stream(scanFrame({ namespace: 'test', set: 'order', digests: [between] }))).messages);
    expect(after.every((m) => Buffer.compare(digestOf(m), between) < 0)).toBe(true);
    await server.data.clear('test');
  });

  it('paces a scan to its records-per-second limit', async () => {
    await server.data.generate({ namespace: 'test', set: 'rps', count: 40 });
    const started = Date.now();
    const { messages } = await wire.stream(scanFrame({ namespace: 'test', set: 'rps', recordsPerSecond: 100 }));
    expect(recordMessages(messages)).toHaveLength(40);
    expect(Date.now() - started).toBeGreaterThanOrEqual(350);
  });

  it('refuses a pid named twice, in field 11 or through a field 12 digest', async () => {
    const d = computeDigest('order', keyFromValue('k1'));
    const dup = await wire.stream(scanFrame({ namespace: 'test', partitions: [partitionId(d)], digests: [d] }));
    expect(dup.messages.map((m) => m.resultCode)).toEqual([ResultCode.PARAMETER]);
    const twice = await wire.stream(scanFrame({ namespace: 'test', partitions: [7, 7] }));
    expect(twice.messages.map((m) => m.resultCode)).toEqual([ResultCode.PARAMETER]);
  });
});

describe('ttl and expiry', () => {
  it('computes void times from ttl, keeps them on 0xFFFFFFFE and expires records', async () => {
    const key = (k: string) => new Aerospike.Key('test', 'ttl', k);
    await client.put(key('short'), { v: 1 }, { ttl: 100 });
    await client.put(key('never'), { v: 1 }, { ttl: -1 });
    await client.put(key('default'), { v: 1 }, { ttl: 0 });
    const now = Math.floor((await server.clock.nowMs()) / 1000) - CITRUSLEAF_EPOCH_UNIX_S;
    const byKey = async (k: string) => (await server.data.get('test', computeDigest('ttl', keyFromValue(k))))!;
    expect((await byKey('short')).voidTime - now).toBeGreaterThanOrEqual(99);
    expect((await byKey('short')).voidTime - now).toBeLessThanOrEqual(101);
    expect((await byKey('never')).voidTime).toBe(0);
    expect((await byKey('default')).voidTime).toBe(0);

    // ttl 0xFFFFFFFE ("don't update") keeps the void time on an update.
    const before = (await byKey('short')).voidTime;
    const [reply] = await wire.call(singleRequest({ info2: Info2.WRITE, ttl: 0xfffffffe, set: 'ttl', key: 'short', ops: [intOp(OpType.WRITE, 'v', 2)] }));
    expect(reply!.resultCode).toBe(0);
    expect(reply!.recordTtl).toBe(before);
    expect((await byKey('short')).generation).toBe(2);

    // More than 10 years is refused.
    const [tooLong] = await wire.call(singleRequest({ info2: Info2.WRITE, ttl: 10 * 365 * 86400 + 1, set: 'ttl', key: 'x', ops: [intOp(OpType.WRITE, 'v', 1)] }));
    expect(tooLong!.resultCode).toBe(ResultCode.PARAMETER);

    await server.clock.advance(101_000);
    await expect(client.get(key('short'))).rejects.toMatchObject({ code: ResultCode.KEY_NOT_FOUND });
    expect((await client.get(key('never'))).bins).toEqual({ v: 1 });
    const scanned = await client.scan('test', 'ttl').results();
    expect(scanned.map((r) => r.key.digest!.toString('hex')).sort()).toEqual(
      ['never', 'default'].map((k) => computeDigest('ttl', keyFromValue(k)).toString('hex')).sort(),
    );
    // An expired record is gone for writes too: a create-only write succeeds.
    await client.put(key('short'), { v: 3 }, {}, { exists: Aerospike.policy.exists.CREATE });
    expect((await client.get(key('short'))).gen).toBe(1);
  });
});

describe('write policies', () => {
  const key = (k: string) => new Aerospike.Key('test', 'policy', k);

  it('applies exists and generation policies, a missing record counting as generation 0', async () => {
    const { exists, gen } = Aerospike.policy;
    await client.put(key('a'), { v: 1 });
    await expect(client.put(key('a'), { v: 2 }, {}, { exists: exists.CREATE })).rejects.toMatchObject({ code: ResultCode.KEY_EXISTS });
    await expect(client.put(key('missing'), { v: 2 }, {}, { exists: exists.UPDATE })).rejects.toMatchObject({ code: ResultCode.KEY_NOT_FOUND });
    await expect(client.put(key('missing'), { v: 2 }, {}, { exists: exists.REPLACE })).rejects.toMatchObject({ code: ResultCode.KEY_NOT_FOUND });
    await client.put(key('a'), { w: 1 }, {}, { exists: exists.REPLACE });
    expect((await client.get(key('a'))).bins).toEqual({ w: 1 });
    await client.put(key('a'), { x: 1 }, {}, { exists: exists.CREATE_OR_REPLACE });
    expect((await client.get(key('a'))).bins).toEqual({ x: 1 });

    await expect(client.put(key('a'), { v: 3 }, { gen: 1 }, { gen: gen.EQ })).rejects.toMatchObject({ code: ResultCode.GENERATION });
    await client.put(key('a'), { v: 3 }, { gen: 3 }, { gen: gen.EQ });
    await expect(client.put(key('a'), { v: 4 }, { gen: 4 }, { gen: gen.GT })).rejects.toMatchObject({ code: ResultCode.GENERATION });
    await client.put(key('a'), { v: 4 }, { gen: 9 }, { gen: gen.GT });
    expect((await client.get(key('a'))).gen).toBe(5);

    await client.put(key('eq0'), { v: 1 }, { gen: 0 }, { gen: gen.EQ });
    await expect(client.put(key('gt0'), { v: 1 }, { gen: 0 }, { gen: gen.GT })).rejects.toMatchObject({ code: ResultCode.GENERATION });
  });

  it('increments, appends, touches, deletes bins and refuses type mismatches', async () => {
    const ops = Aerospike.operations;
    await client.put(key('ops'), { n: 1, s: 'a' });
    const rec = await client.operate(key('ops'), [ops.incr('n', 4), ops.append('s', 'b'), ops.prepend('s', 'z'), ops.read('n'), ops.read('s')]);
    expect(rec.bins).toEqual({ n: 5, s: 'zab' });
    await expect(client.operate(key('ops'), [ops.incr('s', 1)])).rejects.toMatchObject({ code: ResultCode.BIN_TYPE });
    await client.operate(key('ops'), [ops.touch(1000)]);
    expect((await client.get(key('ops'))).ttl).toBeGreaterThan(990);
    await expect(client.operate(key('none'), [ops.touch(10)])).rejects.toMatchObject({ code: ResultCode.KEY_NOT_FOUND });
    await client.put(key('ops'), { n: null, s: null });
    await expect(client.get(key('ops'))).rejects.toMatchObject({ code: ResultCode.KEY_NOT_FOUND });
    await expect(client.exists(key('ops'))).resolves.toBe(false);
  });

  it('removes records; a durable delete is refused as on the community edition', async () => {
    await client.put(key('rm'), { v: 1 });
    await expect(client.exists(key('rm'))).resolves.toBe(true);
    await expect(client.remove(key('rm'), { durableDelete: true })).rejects.toMatchObject({ code: ResultCode.ENTERPRISE_ONLY });
    await client.remove(key('rm'));
    await expect(client.exists(key('rm'))).resolves.toBe(false);
    await expect(client.remove(key('rm'))).rejects.toMatchObject({ code: ResultCode.KEY_NOT_FOUND });
  });

  it('refuses records over the size limit with 13', async () => {
    await expect(client.put(key('big'), { b: Buffer.alloc(5000) })).rejects.toMatchObject({ code: ResultCode.RECORD_TOO_BIG });
    await client.put(key('small'), { b: Buffer.alloc(3000) });
    await expect(client.operate(key('small'), [Aerospike.operations.append('b', Buffer.alloc(2000))])).rejects.toMatchObject({ code: ResultCode.RECORD_TOO_BIG });
    expect(((await client.get(key('small'))).bins.b as Buffer).length).toBe(3000);
  });
});

describe('filter expressions', () => {
  it('filters scans on last_update and void_time, and single records with 27', async () => {
    const key = (k: string) => new Aerospike.Key('test', 'filter', k);
    await client.put(key('old'), { v: 1 }, { ttl: -1 });
    await new Promise((r) => setTimeout(r, 5));
    const cutNs = BigInt(await server.clock.nowMs()) * 1_000_000n;
    await new Promise((r) => setTimeout(r, 5));
    await client.put(key('new'), { v: 2 }, { ttl: 500 });

    const scan = async (filter: ReturnType<typeof exp.gt>) =>
      recordMessages((await wire.stream(scanFrame({ namespace: 'test', set: 'filter', filter: encodeExpression(filter) }))).messages).map((m) => m.ops[0]!.value.readBigInt64BE(0));
    expect(await scan(exp.ge(exp.lastUpdate(), exp.int(cutNs)))).toEqual([2n]);
    expect(await scan(exp.lt(exp.lastUpdate(), exp.int(cutNs)))).toEqual([1n]);
    expect(await scan(exp.eq(exp.voidTime(), exp.int(-1)))).toEqual([1n]);
    expect(await scan(exp.not(exp.eq(exp.voidTime(), exp.int(-1))))).toEqual([2n]);
    expect((await scan(exp.or(exp.eq(exp.voidTime(), exp.int(-1)), exp.gt(exp.voidTime(), exp.int(cutNs))))).sort()).toEqual([1n, 2n]);
    expect(await scan(exp.and(exp.eq(exp.voidTime(), exp.int(-1)), exp.gt(exp.lastUpdate(), exp.int(cutNs))))).toEqual([]);

    // The official client's expression builder, on a single-record read.
    const policy = new Aerospike.ReadPolicy({ filterExpression: Aerospike.exp.eq(Aerospike.exp.voidTime(), Aerospike.exp.int(-1)) });
    expect((await client.get(key('old'), policy)).bins).toEqual({ v: 1 });
    await expect(client.get(key('new'), policy)).rejects.toMatchObject({ code: ResultCode.FILTERED_OUT });

    // Expressions this server does not evaluate are refused, not ignored.
    const binFilter = new Aerospike.ReadPolicy({ filterExpression: Aerospike.exp.eq(Aerospike.exp.binInt('v'), Aerospike.exp.int(1)) });
    await expect(client.get(key('old'), binFilter)).rejects.toMatchObject({ code: ResultCode.UNSUPPORTED_FEATURE });
  });
});

describe('refused requests', () => {
  it('answers malformed and unsupported AS_MSG requests with result codes', async () => {
    const rc = async (frame: Buffer) => (await wire.call(frame))[0]!.resultCode;
    // No namespace / unknown namespace: 20.
    expect(await rc(encodeMessageFrame({ info1: Info1.READ | Info1.GET_ALL, fields: [field(FieldType.DIGEST, Buffer.alloc(20))] }))).toBe(ResultCode.NAMESPACE_NOT_FOUND);
    expect(await rc(encodeMessageFrame({ info1: Info1.READ | Info1.GET_ALL, fields: [field(FieldType.NAMESPACE, 'nope'), field(FieldType.DIGEST, Buffer.alloc(20))] }))).toBe(
      ResultCode.NAMESPACE_NOT_FOUND,
    );
    // A digest that is not 20 bytes, a transaction that is neither read nor write, a bad bin name: 4, 4, 21.
    expect(await rc(encodeMessageFrame({ info1: Info1.READ, fields: [field(FieldType.NAMESPACE, 'test'), field(FieldType.DIGEST, Buffer.alloc(19))] }))).toBe(ResultCode.PARAMETER);
    expect(await rc(singleRequest({ set: 's', key: 'k' }))).toBe(ResultCode.PARAMETER);
    expect(await rc(singleRequest({ info2: Info2.WRITE, set: 's', key: 'k', ops: [intOp(OpType.WRITE, 'a-bin-name-too-long', 1)] }))).toBe(ResultCode.BIN_NAME);
    // Trailing bytes after the message: 4.
    const frame = singleRequest({ info1: Info1.READ | Info1.GET_ALL, set: 's', key: 'k' });
    const padded = Buffer.concat([frame, Buffer.alloc(3)]);
    padded.writeUIntBE(frame.length - 8 + 3, 2, 6);
    expect(await rc(padded)).toBe(ResultCode.PARAMETER);
    // Ops this server does not implement: 16 (a list append here).
    expect(await rc(singleRequest({ info2: Info2.WRITE, set: 's', key: 'k', ops: [{ op: OpType.CDT_MODIFY, particleType: 4, name: 'l', value: Buffer.from([0x92, 0x01, 0x01]) }] }))).toBe(
      ResultCode.UNSUPPORTED_FEATURE,
    );
    // Scans without PARTITION_DONE, or without partitions: 16.
    const noDone = encodeMessageFrame({ info1: Info1.READ, fields: [field(FieldType.NAMESPACE, 'test')] });
    expect(await rc(noDone)).toBe(ResultCode.UNSUPPORTED_FEATURE);
    expect(await rc(encodeMessageFrame({ info1: Info1.READ, info3: Info3.PARTITION_DONE, fields: [field(FieldType.NAMESPACE, 'test')] }))).toBe(ResultCode.UNSUPPORTED_FEATURE);
    // A batch without rows: LAST with 4.
    const [last] = await wire.call(encodeMessageFrame({ info1: Info1.BATCH, fields: [] }));
    expect([last!.info3, last!.resultCode]).toEqual([Info3.LAST, ResultCode.PARAMETER]);
    // The connection is still usable.
    expect((await wire.info(['build'])).get('build')).toBe('8.1.2.0');
  });

  it('refuses UDF calls and secondary-index queries with 16 (not implemented here)', async () => {
    const key = new Aerospike.Key('test', 'refused', 'k');
    await client.put(key, { v: 1 });
    await expect(client.apply(key, { module: 'm', funcname: 'f', args: [] })).rejects.toMatchObject({ code: ResultCode.UNSUPPORTED_FEATURE });
    const query = client.query('test', 'refused');
    query.where(Aerospike.filter.equal('v', 1));
    await expect(query.results()).rejects.toMatchObject({ code: ResultCode.UNSUPPORTED_FEATURE });
  });

  it('answers security requests as the community edition does and hangs up on bad frames', async () => {
    wire.send(encodeFrame(ProtoType.ADMIN, Buffer.alloc(16)));
    const sec = await wire.nextFrame();
    expect([sec.type, sec.body[1]]).toEqual([ProtoType.ADMIN, 51]);

    const closed = await new Promise<boolean>((resolve) => {
      const socket = connect(server.nodes[0]!.port, server.nodes[0]!.host, () => socket.write(Buffer.from([9, 3, 0, 0, 0, 0, 0, 0])));
      socket.on('close', () => resolve(true));
      socket.on('error', () => undefined);
      setTimeout(() => resolve(false), 2000);
    });
    expect(closed).toBe(true);
  });

  it('replies to every info command, unknown ones with error 4', async () => {
    const reply = await wire.info(['no-such', 'sets/test/none', 'sindex/test/none', 'truncate:namespace=test', 'namespace/none', 'udf-get:filename=none.lua']);
    expect(Object.fromEntries(reply)).toEqual({
      'no-such': 'ERROR:4:unrecognized command',
      'sets/test/none': '',
      'sindex/test/none': 'ERROR:201:no index',
      'truncate:namespace=test': "ERROR:4:missing 'set'",
      'namespace/none': 'type=unknown',
      'udf-get:filename=none.lua': 'error=not_found',
    });
  });
});
