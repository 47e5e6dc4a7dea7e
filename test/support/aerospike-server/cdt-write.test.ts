/**
 * Lists and maps as the server stores them from a write: validation (result code 1 for
 * a value it refuses), key order, flags and msgpack compaction, through single-record
 * writes, batch rows and CDT map put ops. Every expectation here was first observed on a
 * real Aerospike CE 8.1.2 server with the same bytes, so the assertions hold for it too
 * (the suite itself runs against the test server).
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Aerospike from 'aerospike';
import { BatchWriter, type WriteResult } from '../../../src/aerospike/batch-writer.js';
import { Cluster } from '../../../src/aerospike/cluster.js';
import { ParticleType, type RawRecord } from '../../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../../src/aerospike/wire/digest.js';
import { FieldType, Info1, Info2, Info3, OpType, encodeMessageFrame, field, type Message } from '../../../src/aerospike/wire/message.js';
import { ResultCode } from '../../../src/aerospike/wire/result-codes.js';
import { connectClient } from '../aerospike.js';
import { startTestServer, type TestServerHandle } from './index.js';
import { WireClient, recordMessages, scanFrame } from './wire-client.js';

const NS = 'test';
const SET = `cdtw_${process.pid.toString(36)}_${Date.now().toString(36)}`;
const MAP = ParticleType.MAP;
const LIST = ParticleType.LIST;

let server: TestServerHandle;
let wire: WireClient;

beforeAll(async () => {
  server = await startTestServer();
  wire = await WireClient.connect(server.nodes[0]!.host, server.nodes[0]!.port);
});

afterAll(async () => {
  wire?.close();
  await server?.stop();
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const digestOf = (key: string): Buffer => computeDigest(SET, keyFromValue(key));
const keyFields = (key: string) => [field(FieldType.NAMESPACE, NS), field(FieldType.SET, SET), field(FieldType.DIGEST, digestOf(key))];

/** Writes one bin with the exact bytes (create-or-replace); returns the result code. */
async function write(key: string, particleType: number, bytes: string, bin = 'b'): Promise<number> {
  const [reply] = await wire.call(
    encodeMessageFrame({
      info2: Info2.WRITE,
      info3: Info3.CREATE_OR_REPLACE,
      transactionTtl: 1000,
      fields: keyFields(key),
      ops: [{ op: OpType.WRITE, particleType, name: bin, value: hex(bytes) }],
    }),
  );
  return reply!.resultCode;
}

async function readRecord(key: string): Promise<Message> {
  const [reply] = await wire.call(encodeMessageFrame({ info1: Info1.READ | Info1.GET_ALL, transactionTtl: 1000, fields: keyFields(key) }));
  return reply!;
}

/** The stored bytes of bin `b`, as a read returns them. */
async function stored(key: string): Promise<string> {
  const reply = await readRecord(key);
  expect(reply.resultCode).toBe(ResultCode.OK);
  return reply.ops.find((o) => o.name === 'b')!.value.toString('hex');
}

/** Writes, expects success, returns what a read gives back. */
async function roundTrip(key: string, particleType: number, bytes: string): Promise<string> {
  expect(await write(key, particleType, bytes)).toBe(ResultCode.OK);
  return stored(key);
}

const norm = (s: string): string => s.replace(/\s+/g, '');

describe('map key order', () => {
  it('stores an unordered map sorted by key, for reads and scans', async () => {
    expect(await roundTrip('unordered', MAP, '83 03 a2 03 63 01 a2 03 61 02 a2 03 62')).toBe(norm('83 01 a2 03 61 02 a2 03 62 03 a2 03 63'));
    const scanned = recordMessages((await wire.stream(scanFrame({ namespace: NS, set: SET }))).messages).find((m) =>
      m.fields.some((f) => f.type === FieldType.DIGEST && f.data.equals(digestOf('unordered'))),
    );
    expect(scanned!.ops[0]!.value.toString('hex')).toBe(norm('83 01 a2 03 61 02 a2 03 62 03 a2 03 63'));
  });

  it('orders keys negative integers < integers < strings < blobs; strings by bytes, then length', async () => {
    // keys: blob 01, "b", "a", 5, -1, 2^64-1
    expect(await roundTrip('mixed', MAP, '86 a2 04 01 01 a2 03 62 02 a2 03 61 03 05 04 ff 05 cf ffffffffffffffff 06')).toBe(
      norm('86 ff 05 05 04 cf ffffffffffffffff 06 a2 03 61 03 a2 03 62 02 a2 04 01 01'),
    );
    // keys: "ab", "b", "a", "" (a str holding only its type byte)
    expect(await roundTrip('strings', MAP, '84 a3 03 61 62 01 a2 03 62 02 a2 03 61 03 a1 03 04')).toBe(norm('84 a1 03 04 a2 03 61 03 a3 03 61 62 01 a2 03 62 02'));
  });

  it('sorts maps nested in lists and maps, and keeps unordered lists as sent', async () => {
    expect(await roundTrip('nested', LIST, '92 83 03 00 01 00 02 00 93 03 01 02')).toBe(norm('92 83 01 00 02 00 03 00 93 03 01 02'));
    expect(await roundTrip('nested-map', MAP, '82 02 83 03 01 01 02 02 03 01 c0')).toBe(norm('82 01 c0 02 83 01 02 02 03 03 01'));
    expect(await roundTrip('deep', LIST, '91 91 91 83 03 00 01 00 02 00')).toBe(norm('91 91 91 83 01 00 02 00 03 00'));
  });
});

describe('refused lists and maps', () => {
  it('refuses out-of-order ordered values, duplicate and invalid keys and malformed msgpack with 1', async () => {
    const refused: [string, number, string][] = [
      ['key-ordered map out of order', MAP, '84 c7 00 01 c0 03 a2 03 63 01 a2 03 61 02 a2 03 62'],
      ['key-value-ordered map out of order', MAP, '84 c7 00 03 c0 03 a2 03 63 01 a2 03 61 02 a2 03 62'],
      ['ordered list out of order', LIST, '94 c7 00 01 03 01 02'],
      ['duplicate keys, unordered', MAP, '83 01 01 02 02 01 03'],
      ['duplicate keys, key-ordered', MAP, '84 c7 00 01 c0 01 01 01 02 02 03'],
      ['duplicate keys, different encodings', MAP, '82 01 00 cd 00 01 00'],
      ['double key', MAP, '81 cb 3ff0000000000000 01'],
      ['nil key', MAP, '81 c0 01'],
      ['list key', MAP, '81 91 01 01'],
      ['empty str key', MAP, '81 a0 01'],
      ['key of another particle type', MAP, '81 a2 05 01 01'],
      ['GeoJSON key', MAP, '81 a3 17 7b 7d 01'],
      ['bad key-ordered map in a list', LIST, '91 84 c7 00 01 c0 03 01 01 02 02 03'],
      ['bad ordered list in a map', MAP, '81 01 94 c7 00 01 03 01 02'],
      ['duplicate keys in a nested map', LIST, '91 82 01 01 01 02'],
      ['ordered list with a bigger first item, by type', LIST, '93 c7 00 01 a2 04 00 a2 03 7a'],
      ['ordered list: map before list', LIST, '93 c7 00 01 80 90'],
      ['ordered list: longer list first', LIST, '93 c7 00 01 92 01 00 91 01'],
      ['ordered list: bigger map first (size decides)', LIST, '93 c7 00 01 82 01 01 02 02 81 05 05'],
      ['ordered list: nested map compared as sent', LIST, '93 c7 00 01 82 02 00 01 00 82 01 00 03 00'],
      ['truncated map', MAP, '82 01 02 03'],
      ['bytes after the map', MAP, '81 01 02 00'],
      ['map bytes as a list', LIST, '81 01 02'],
      ['list bytes as a map', MAP, '91 01'],
      ['non-storage ext', LIST, '92 05 d4 ff 00'],
    ];
    const codes = [];
    for (const [i, [what, type, bytes]] of refused.entries()) codes.push([what, await write(`refused-${i}`, type, bytes)]);
    expect(codes).toEqual(refused.map(([what]) => [what, ResultCode.SERVER_ERROR]));
    for (let i = 0; i < refused.length; i++) expect((await readRecord(`refused-${i}`)).resultCode).toBe(ResultCode.KEY_NOT_FOUND);
  });

  it('leaves an existing record as it was when a write is refused', async () => {
    await roundTrip('kept', MAP, '81 01 02');
    const before = await readRecord('kept');
    expect(await write('kept', LIST, '94 c7 00 01 03 01 02')).toBe(ResultCode.SERVER_ERROR);
    const after = await readRecord('kept');
    expect([after.generation, after.ops[0]!.value.toString('hex')]).toEqual([before.generation, '810102']);
  });

  it('accepts what is in order: equal items in an ordered list, NaN and -0.0 beside any double, types in class order', async () => {
    expect(await roundTrip('equal-items', LIST, '94 c7 00 01 01 01 02')).toBe(norm('94 c7 00 01 01 01 02'));
    expect(await roundTrip('sorted', MAP, '84 c7 00 01 c0 01 a2 03 61 02 a2 03 62 03 a2 03 63')).toBe(norm('84 c7 00 01 c0 01 a2 03 61 02 a2 03 62 03 a2 03 63'));
    // nil < false < true < -1 < 1 < "a" < [] < {} < blob < 1.0 < GeoJSON
    const classes = '9c c7 00 01 c0 c2 c3 ff 01 a2 03 61 90 80 a2 04 01 cb 3ff0000000000000 a3 17 7b 7d';
    expect(await roundTrip('classes', LIST, classes)).toBe(norm(classes));
    expect(await roundTrip('nan', LIST, '93 c7 00 01 cb 7ff8000000000000 cb 3ff0000000000000')).toBe(norm('93 c7 00 01 cb 7ff8000000000000 cb 3ff0000000000000'));
    expect(await roundTrip('negzero', LIST, '93 c7 00 01 cb 0000000000000000 cb 8000000000000000')).toBe(norm('93 c7 00 01 cb 0000000000000000 cb 8000000000000000'));
    // Lists compare item by item, then by length; a map of fewer pairs is smaller.
    expect(await roundTrip('lists', LIST, '95 c7 00 01 90 91 01 92 01 00 91 02')).toBe(norm('95 c7 00 01 90 91 01 92 01 00 91 02'));
    expect(await roundTrip('maps', LIST, '93 c7 00 01 81 05 05 82 01 01 02 02')).toBe(norm('93 c7 00 01 81 05 05 82 01 01 02 02'));
  });
});

describe('stored form', () => {
  it('masks order flags: maps keep 1, 2, 3; lists keep 1; empty containers keep theirs', async () => {
    const cases: [number, string, string][] = [
      [MAP, '83 c7 00 02 c0 02 01 01 02', '83 c7 00 02 c0 01 02 02 01'], // 2 alone is kept but orders nothing
      [MAP, '83 c7 00 08 c0 02 01 01 02', '82 01 02 02 01'],
      [MAP, '83 c7 00 10 c0 02 01 01 02', '82 01 02 02 01'], // persist-index: not visible to reads
      [MAP, '83 c7 00 13 c0 01 01 02 02', '83 c7 00 03 c0 01 01 02 02'],
      [MAP, '82 c7 00 00 c0 05 06', '81 05 06'],
      [MAP, '82 c7 00 01 05 01 02', '82 c7 00 01 c0 01 02'], // the meta pair's value is stored as nil
      [LIST, '93 c7 00 02 02 01', '92 02 01'],
      [LIST, '92 c7 00 00 05', '91 05'],
      [LIST, '91 93 c7 00 11 01 02', '91 93 c7 00 01 01 02'],
      [LIST, '93 d5 01 00 00 01 02', '93 c7 00 01 01 02'], // any ext but a fixext 1 carries the flags
      [LIST, '91 c7 00 01', '91 c7 00 01'],
      [MAP, '81 c7 00 01 c0', '81 c7 00 01 c0'],
      [MAP, '81 c7 00 00 c0', '80'],
      [LIST, '90', '90'],
      [MAP, '80', '80'],
    ];
    const got = [];
    for (const [i, [type, bytes]] of cases.entries()) got.push(await roundTrip(`flags-${i}`, type, bytes));
    expect(got).toEqual(cases.map(([, , want]) => norm(want)));
  });

  it('stores msgpack in its shortest encoding', async () => {
    // Integers shortest; str and container headers shortest; a short bin becomes a str;
    // ext 8/16 to fixext; float32 kept.
    expect(await roundTrip('ints', LIST, '98 cd 00 05 d0 05 d1 ff ff cf 00 00 00 00 00 00 00 05 cc 05 d0 90 d1 ff 38 d3 ff ff ff ff ff fe 79 60')).toBe(
      norm('98 05 05 ff 05 05 d0 90 d1 ff 38 d2 ff fe 79 60'),
    );
    expect(await roundTrip('strs', LIST, '93 d9 03 03 61 62 da 00 02 03 61 db 00 00 00 02 03 62')).toBe(norm('93 a3 03 61 62 a2 03 61 a2 03 62'));
    expect(await roundTrip('bins', LIST, '93 c4 03 04 01 02 c5 00 02 04 01 c6 00 00 00 02 04 09')).toBe(norm('93 a3 04 01 02 a2 04 01 a2 04 09'));
    const bin32 = '91 c4 20 04 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
    expect(await roundTrip('bin32', LIST, bin32)).toBe(norm(bin32));
    expect(await roundTrip('headers', LIST, 'dc 00 02 de 00 01 01 02 dd 00 00 00 01 05')).toBe(norm('92 81 01 02 91 05'));
    expect(await roundTrip('exts', LIST, '93 05 c7 01 05 aa c8 00 02 06 aa bb')).toBe(norm('93 05 d4 05 aa d5 06 aa bb'));
    expect(await roundTrip('float32', LIST, '91 ca 3f c0 00 00')).toBe(norm('91 ca 3f c0 00 00'));
    expect(await roundTrip('blob-key', MAP, '81 c4 02 04 01 01')).toBe(norm('81 a2 04 01 01'));
  });
});

describe('batch writes', () => {
  it('fails each bad row with 1 and writes the others', async () => {
    const cluster = await Cluster.connect({ hosts: server.hosts });
    try {
      const rows: [string, number, string][] = [
        ['b-unordered', MAP, '83 03 a2 03 63 01 a2 03 61 02 a2 03 62'],
        ['b-kord-bad', MAP, '84 c7 00 01 c0 03 a2 03 63 01 a2 03 61 02 a2 03 62'],
        ['b-lord-bad', LIST, '94 c7 00 01 03 01 02'],
        ['b-list', LIST, '93 03 01 02'],
        ['b-dup', MAP, '82 01 01 01 02'],
      ];
      const records: RawRecord[] = rows.map(([k, type, bytes]) => ({
        namespace: NS,
        set: SET,
        digest: digestOf(k),
        userKey: keyFromValue(k),
        generation: 1,
        voidTime: 0,
        bins: [{ name: 'b', type, value: hex(bytes) }],
      }));
      const results: WriteResult[] = [];
      await pipeline(Readable.from(records), new BatchWriter(cluster, { policy: 'replace', onResult: (r) => results.push(r) }));
      const byKey = new Map(results.map((r) => [r.record.digest.toString('hex'), [r.outcome, r.resultCode]]));
      expect(rows.map(([k]) => byKey.get(digestOf(k).toString('hex')))).toEqual([
        ['written', 0],
        ['failed', ResultCode.SERVER_ERROR],
        ['failed', ResultCode.SERVER_ERROR],
        ['written', 0],
        ['failed', ResultCode.SERVER_ERROR],
      ]);
      expect(await stored('b-unordered')).toBe(norm('83 01 a2 03 61 02 a2 03 62 03 a2 03 63'));
      expect(await stored('b-list')).toBe('93030102');
      expect((await readRecord('b-kord-bad')).resultCode).toBe(ResultCode.KEY_NOT_FOUND);
    } finally {
      await cluster.close();
    }
  });
});

describe('map put ops', () => {
  async function op(key: string, value: string): Promise<number> {
    const [reply] = await wire.call(
      encodeMessageFrame({ info2: Info2.WRITE, transactionTtl: 1000, fields: keyFields(key), ops: [{ op: OpType.CDT_MODIFY, particleType: ParticleType.BLOB, name: 'b', value: hex(value) }] }),
    );
    return reply!.resultCode;
  }

  it('keeps unordered maps sorted and rewrites keys, values and items; refuses bad ones with 4', async () => {
    // map_put 3, 1, 2 into a new unordered map.
    for (const k of ['03', '01', '02']) expect(await op('put-seq', `93 43 ${k} 00`)).toBe(ResultCode.OK);
    expect(await stored('put-seq')).toBe(norm('83 01 00 02 00 03 00'));
    // Into a map a write created.
    expect(await write('put-into', MAP, '82 03 00 01 00')).toBe(ResultCode.OK);
    expect(await op('put-into', '93 43 02 00')).toBe(ResultCode.OK);
    expect(await stored('put-into')).toBe(norm('83 01 00 02 00 03 00'));
    // A value that is an unordered map, and non-compact msgpack.
    expect(await op('put-value', '93 43 01 82 02 00 01 00')).toBe(ResultCode.OK);
    expect(await stored('put-value')).toBe(norm('81 01 82 01 00 02 00'));
    expect(await op('put-compact', '93 43 cd 00 01 cd 00 05')).toBe(ResultCode.OK);
    expect(await stored('put-compact')).toBe(norm('81 01 05'));
    // put_items: the items are sorted, their flags dropped; the bin's order comes from the op.
    expect(await op('items', '92 44 83 03 00 01 00 02 00')).toBe(ResultCode.OK);
    expect(await stored('items')).toBe(norm('83 01 00 02 00 03 00'));
    expect(await op('items-flagged', '92 44 83 c7 00 01 c0 01 00 02 00')).toBe(ResultCode.OK);
    expect(await stored('items-flagged')).toBe(norm('82 01 00 02 00'));
    expect(await op('items-ordered', '93 44 82 02 00 01 00 01')).toBe(ResultCode.OK);
    expect(await stored('items-ordered')).toBe(norm('83 c7 00 01 c0 01 00 02 00'));

    expect(await op('bad-1', '93 43 01 93 c7 00 01 02 01')).toBe(ResultCode.PARAMETER);
    expect(await op('bad-2', '93 43 cb 3ff0000000000000 00')).toBe(ResultCode.PARAMETER);
    expect(await op('bad-3', '92 44 82 01 00 01 01')).toBe(ResultCode.PARAMETER);
    expect(await op('bad-4', '92 44 83 c7 00 01 c0 02 00 01 00')).toBe(ResultCode.PARAMETER);
    for (const k of ['bad-1', 'bad-2', 'bad-3', 'bad-4']) expect((await readRecord(k)).resultCode).toBe(ResultCode.KEY_NOT_FOUND);
  });
});

describe('official client', () => {
  it('writes JS objects and Maps as key-ordered maps that read back unchanged', async () => {
    const client = await connectClient({ hosts: server.hosts, seeds: server.seeds, isTestServer: true, server, stop: async () => {} });
    try {
      const key = new Aerospike.Key(NS, SET, 'client');
      const bins = { b: { b: 1, a: 2, c: { z: 1, y: [3, 1] } } };
      await client.put(key, bins);
      expect((await client.get(key)).bins).toEqual(bins);
      expect(await stored('client')).toBe(norm('84 c7 00 01 c0 a2 03 61 02 a2 03 62 01 a2 03 63 83 c7 00 01 c0 a2 03 79 92 03 01 a2 03 7a 01'));
      const mapKey = new Aerospike.Key(NS, SET, 'client-map');
      await client.put(mapKey, { b: new Map<unknown, unknown>([[3, 'c'], [1, 'a'], ['x', 2]]) as never });
      expect(await stored('client-map')).toBe(norm('84 c7 00 01 c0 01 a2 03 61 03 a2 03 63 a2 03 78 02'));
    } finally {
      await client.close();
    }
  });
});
