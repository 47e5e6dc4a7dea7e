/**
 * Conformance: the official client (aerospike npm) against the cluster of
 * test/support/aerospike.ts, replaying every scenario of the golden captures
 * (test/fixtures/aerospike-wire/README.md) and expecting what the real server answered
 * there (client-results.json, golden-scan-summary.json).
 *
 * Runs unchanged against a real cluster (AEROSPIKE_HOSTS): every check goes through the
 * network, every scenario uses its own set, index and UDF names, and cleans up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Aerospike from 'aerospike';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { FieldType, Info1, Info2, encodeMessageFrame, field, type Message } from '../../src/aerospike/wire/message.js';
import { loadGoldenSummary, type GoldenRecord } from '../support/captures.js';
import { connectClient, startCluster, uniqueSetName, type TestCluster } from '../support/aerospike.js';
import { WireClient, scanCluster } from '../support/aerospike-server/wire-client.js';
import { batchSeedRecords, decode, keyIn, putCalls, resultForKey, scenario, writeGoldenRecords, type GoldenKey, type RecordResult } from './golden.js';

let cluster: TestCluster;
let client: Aerospike.Client;
const cleanups: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  cluster = await startCluster();
  client = await connectClient(cluster);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  await client?.close();
  await cluster?.stop();
});

/** A unique set, truncated when the file is done. */
function newSet(prefix: string): string {
  const set = uniqueSetName(prefix);
  cleanups.push(() => client.truncate('test', set, 0));
  return set;
}

/** Every node of the cluster as the client sees it ("host:port" addresses, IPv6 in brackets). */
function nodesOf(c: Aerospike.Client): { host: string; port: number }[] {
  return c.getNodes().map((n) => {
    const colon = n.address.lastIndexOf(':');
    return { host: n.address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: Number(n.address.slice(colon + 1)) };
  });
}

/** Records of a set in the cluster: the nodes' `objects` (masters and replicas) over the replication factor. */
async function setObjects(set: string): Promise<number> {
  const ns = (await client.infoAny('namespace/test')).split('\t')[1]!;
  const factor = Number(/(?:^|;)effective_replication_factor=(\d+)/.exec(ns)![1]);
  let objects = 0;
  for (const { info } of await client.infoAll(`sets/test/${set}`)) objects += Number(/objects=(\d+)/.exec(info)?.[1] ?? 0);
  return objects / factor;
}

const golden = loadGoldenSummary();
const getResults = scenario<Array<{ call: string; key: GoldenKey; result?: RecordResult; error?: string; code?: number }>>('get');


function keyLabel(k: unknown): string {
  return Buffer.isBuffer(k) ? `bytes:${k.toString('hex')}` : String(k);
}

describe('connect and tend', () => {
  it('answers the tend info commands like the captured server', async () => {
    const node = (await client.infoAny('node')).split('\t')[1]!.trim();
    expect(node).toMatch(/^[0-9A-F]{1,16}$/);
    const build = (await client.infoAny('build')).split('\t')[1]!.trim();
    if (cluster.isTestServer) expect(build).toBe('8.1.2.0');
    else expect(build).toMatch(/^\d+\.\d+\.\d+(\.\d+)?$/);
    const [seed] = cluster.seeds;
    const wire = await WireClient.connect(seed!.host, seed!.port);
    try {
      const tend = await wire.info(['node', 'partition-generation', 'build']);
      expect([...tend.keys()]).toEqual(['node', 'partition-generation', 'build']);
      expect(tend.get('partition-generation')).toMatch(/^\d+$/);
      const peers = (await wire.info(['peers-clear-std'])).get('peers-clear-std')!;
      expect(peers).toMatch(/^\d+,3000,\[.*\]$/);
      // <ns>:<regime>,<replication factor>,<one base64 4096-bit bitmap per replica>;...
      const replicas = (await wire.info(['replicas'])).get('replicas')!;
      for (const entry of replicas.split(';')) {
        const [regime, count, ...bitmaps] = /^(\w+):(.*)$/.exec(entry)![2]!.split(',');
        expect([regime, count], entry).toEqual([expect.stringMatching(/^\d+$/), String(bitmaps.length)]);
        for (const b of bitmaps) expect(Buffer.from(b, 'base64')).toHaveLength(512);
      }
      expect(replicas.split(';').map((e) => e.split(':')[0])).toEqual(expect.arrayContaining(['test', 'bar']));
      const ua = await wire.info([`user-agent-set:value=${Buffer.from('1,nodejs-6.7.1,not-set').toString('base64')}`]);
      expect([...ua.values()]).toEqual(['ok']);
    } finally {
      wire.close();
    }
  });
});

describe('golden records (put-types, get, scans)', () => {
  let set: string;
  let writes: Awaited<ReturnType<typeof writeGoldenRecords>>;

  beforeAll(async () => {
    set = newSet('golden');
    writes = await writeGoldenRecords(client, set);
  });

  it('accepts every put and operate, with the captured operate results', () => {
    expect(writes).toHaveLength(putCalls.length);
    for (const { call, result } of writes) {
      if (call.call === 'operate') expect(result, call.label).toEqual(decode(call.result!));
    }
  });

  it('gets every record back as the client saw it from the real server', async () => {
    for (const g of getResults) {
      const key = keyIn(set, g.key);
      if (!g.result) {
        await expect(client.get(key)).rejects.toMatchObject({ code: g.code });
        continue;
      }
      const rec = await client.get(key);
      const expected = g.result;
      expect(rec.bins, keyLabel(g.key.key)).toEqual(decode(expected.bins));
      expect(rec.gen, keyLabel(g.key.key)).toBe(expected.gen);
      if (expected.ttl === -1) expect(rec.ttl).toBe(-1);
      else expect(rec.ttl).toBeGreaterThan(3500);
    }
  });

  it('scans all records with the client (scan-all, query-partitions, nobins, maxRecords)', async () => {
    const expectRecords = (records: Aerospike.AerospikeRecord[], expected: RecordResult[], withBins: boolean) => {
      expect(records).toHaveLength(expected.length);
      for (const rec of records) {
        const e = resultForKey(expected, rec.key.key);
        expect(e, keyLabel(rec.key.key)).toBeDefined();
        expect(rec.bins, keyLabel(rec.key.key)).toEqual(withBins ? decode(e!.bins) : {});
        expect(rec.gen, keyLabel(rec.key.key)).toBe(e!.gen);
        if (e!.ttl === -1) expect(rec.ttl).toBe(-1);
        else expect(rec.ttl).toBeGreaterThan(3500);
      }
    };
    expectRecords(await client.scan('test', set).results(), scenario<{ records: RecordResult[] }>('scan-all').records, true);
    const query = client.query('test', set);
    query.partitions(0, 4096);
    expectRecords(await query.results(), scenario<{ records: RecordResult[] }>('query-partitions').records, true);
    expectRecords(await client.scan('test', set, { nobins: true }).results(), scenario<{ records: RecordResult[] }>('scan-nobins').records, false);
    const limited = await collect(client.scan('test', set).foreach({ maxRecords: 3 }));
    expect(limited.records).toHaveLength(scenario<{ count: number }>('scan-maxrecords').count);
  });

  it('paginates a scan in pages of 2 (scan-paginate)', async () => {
    const scan = client.scan('test', set, { paginate: true });
    const seen = new Set<string>();
    for (let page = 0; page < 3; page++) {
      const { records, state } = await collect(scan.foreach({ maxRecords: 2 }));
      expect(records, `page ${page}`).toHaveLength(2);
      for (const r of records) seen.add(r.key.digest!.toString('hex'));
      expect(state).toBeTruthy();
      scan.nextPage(state as number[]);
    }
    expect(seen.size).toBe(6);
  });

  it('stores every bin with the captured particle type and bytes (wire-level scan)', async () => {
    const messages = await scanCluster(nodesOf(client), { namespace: 'test', set });
    expect(messages).toHaveLength(golden.records.length);
    for (const g of golden.records) {
      const digest = digestIn(set, g);
      const msg = digest ? messages.find((m) => fieldOf(m, FieldType.DIGEST)?.equals(digest)) : messages.find((m) => !fieldOf(m, FieldType.KEY));
      expect(msg, g.label).toBeDefined();
      expect(msg!.fields.map((f) => f.type), g.label).toEqual(g.field_order);
      expect(msg!.generation, g.label).toBe(g.generation);
      if (g.user_key) expect(fieldOf(msg!, FieldType.KEY)?.toString('hex'), g.label).toBe((g.user_key.type.toString(16).padStart(2, '0') + g.user_key.hex));
      if (g.void_time_raw === 0) expect(msg!.recordTtl, g.label).toBe(0);
      else expect(msg!.recordTtl, g.label).toBeGreaterThan(0);
      expect(msg!.ops.map((o) => [o.name, o.op, o.particleType]), g.label).toEqual(g.bins.map((b) => [b.name, b.op, b.particle_type]));
      for (const b of g.bins) {
        const op = msg!.ops.find((o) => o.name === b.name)!;
        if (b.particle_type === 23) expectGeoJson(op.value, Buffer.from(b.value_hex, 'hex'), cluster.isTestServer);
        else expect(op.value.toString('hex'), `${g.label}.${b.name}`).toBe(b.value_hex);
      }
    }
  });
});

/** GeoJSON: same flags and JSON; the cells are the real S2 cells on a real server, placeholders (at least one) here. */
function expectGeoJson(actual: Buffer, expected: Buffer, placeholderCells: boolean): void {
  const cells = (b: Buffer) => b.readUInt16BE(1);
  expect(actual[0]).toBe(expected[0]);
  expect(actual.subarray(3 + 8 * cells(actual)).toString()).toBe(expected.subarray(3 + 8 * cells(expected)).toString());
  if (placeholderCells) expect(cells(actual)).toBeGreaterThanOrEqual(1);
  else expect(actual.toString('hex')).toBe(expected.toString('hex'));
}



/** The digest a golden record gets in `set` (undefined for the record written without its key). */
function digestIn(set: string, g: GoldenRecord): Buffer | undefined {
  if (!g.user_key) {
    const call = putCalls.find((c) => c.key.digest === g.digest);
    return call ? computeDigest(set, keyFromValue(decode(call.key.key) as string)) : undefined;
  }
  const bytes = Buffer.from(g.user_key.hex, 'hex');
  return computeDigest(set, { type: g.user_key.type, bytes });
}

function fieldOf(m: Message, type: number): Buffer | undefined {
  return m.fields.find((f) => f.type === type)?.data;
}

/** Collects a RecordStream; resolves with its records and the end state (pagination). */
function collect(stream: Aerospike.RecordStream): Promise<{ records: Aerospike.AerospikeRecord[]; state: unknown }> {
  return new Promise((resolve, reject) => {
    const records: Aerospike.AerospikeRecord[] = [];
    stream.on('data', (r: Aerospike.AerospikeRecord) => records.push(r));
    stream.on('error', reject);
    stream.on('end', (state: unknown) => resolve({ records, state }));
  });
}

describe('batch writes (batch-write, batch-write-gen-raw)', () => {
  const rows = scenario<Array<{ rows: Array<{ i: number; label: string; status: number; record: { bins?: Record<string, unknown>; gen?: number; ttl?: number } }> }>>('batch-write');

  it('answers the 22 mixed rows and the batch remove with the captured statuses', async () => {
    const set = newSet('gbatch');
    const key = (k: string | number) => new Aerospike.Key('test', set, k);
    for (const [k, bins] of batchSeedRecords) {
      await client.put(key(k), bins);
    }
    const ops = Aerospike.operations;
    const W = Aerospike.batchType.BATCH_WRITE;
    const policy = (p: Record<string, unknown>) => new Aerospike.BatchWritePolicy(p);
    const exists = Aerospike.policy.exists;
    const gen = Aerospike.policy.gen;
    const batch: Aerospike.BatchWriteRecord[] = [
      { type: W, key: key('w-plain-1'), ops: [ops.write('v', 1), ops.write('s', 'a')] },
      { type: W, key: key('w-plain-2'), ops: [ops.write('v', 2)] },
      { type: W, key: key('w-plain-3'), ops: [ops.write('d', 1.5), ops.write('l', [1, 2])] },
      { type: W, key: key('w-plain-4'), ops: [ops.write('b', Buffer.from([1, 2, 3])), ops.write('t', true), ops.write('m', { x: 1 })] },
      { type: W, key: key('create-new'), ops: [ops.write('v', 'c')], policy: policy({ exists: exists.CREATE }) },
      { type: W, key: key('exists1'), ops: [ops.write('v', 'c')], policy: policy({ exists: exists.CREATE }) },
      { type: W, key: key('replace1'), ops: [ops.write('c', 3)], policy: policy({ exists: exists.REPLACE }) },
      { type: W, key: key('replace-missing'), ops: [ops.write('c', 3)], policy: policy({ exists: exists.REPLACE }) },
      { type: W, key: key('update-missing'), ops: [ops.write('c', 3)], policy: policy({ exists: exists.UPDATE }) },
      { type: W, key: key('cor1'), ops: [ops.write('new', 1)], policy: policy({ exists: exists.CREATE_OR_REPLACE }) },
      { type: W, key: key('gen1'), ops: [ops.write('v', 'eq')], policy: policy({ gen: gen.EQ }) },
      { type: W, key: key('gen2'), ops: [ops.write('v', 'gt')], policy: policy({ gen: gen.GT }) },
      { type: W, key: key('geneq-missing'), ops: [ops.write('v', 'eq')], policy: policy({ gen: gen.EQ }) },
      { type: W, key: key('gengt-missing'), ops: [ops.write('v', 'gt')], policy: policy({ gen: gen.GT }) },
      { type: W, key: key('ttl-100'), ops: [ops.write('v', 1)], policy: policy({ ttl: 100 }) },
      { type: W, key: key('ttl-never'), ops: [ops.write('v', 1)], policy: policy({ ttl: -1 }) },
      { type: W, key: key('key-send'), ops: [ops.write('v', 1)], policy: policy({ key: Aerospike.policy.key.SEND }) },
      { type: W, key: key(7), ops: [ops.write('v', 7)], policy: policy({ key: Aerospike.policy.key.SEND }) },
      { type: W, key: key('counter'), ops: [ops.add('n', 5)] },
      { type: W, key: key('w-read'), ops: [ops.write('x', 11), ops.read('x')] },
      { type: Aerospike.batchType.BATCH_REMOVE, key: key('toremove1') },
      { type: Aerospike.batchType.BATCH_READ, key: key('exists1'), readAllBins: true },
    ];
    const results = await client.batchWrite(batch);
    const expected = rows[0]!.rows;
    expect(results.map((r) => r.status)).toEqual(expected.map((r) => r.status));
    for (const [i, r] of results.entries()) {
      const e = expected[i]!;
      if (e.status !== 0) continue;
      expect(r.record.gen, e.label).toBe(e.record.gen);
      expect(r.record.bins, e.label).toEqual(e.record.bins);
      if (e.record.ttl === -1) expect(r.record.ttl, e.label).toBe(-1);
      else expect(r.record.ttl, e.label).toBeGreaterThan(90);
    }
    expect((await client.get(key('replace1'))).bins).toEqual({ c: 3 });
    expect((await client.get(key('counter'))).bins).toEqual({ n: 15 });

    const removed = await client.batchRemove([key('toremove2'), key('toremove3'), key('remove-missing')]);
    expect(removed.map((r) => r.status)).toEqual(rows[1]!.rows.map((r) => r.status));
    expect(removed.map((r) => r.status)).toEqual([0, 0, 2]);
  });

  it('checks non-zero generation values in batch rows (hand-built request, as the capture)', async () => {
    const set = newSet('gbatchraw');
    const key = (k: string) => new Aerospike.Key('test', set, k);
    await client.put(key('gen1'), { v: 'g' });
    await client.put(key('gen2'), { v: 'g' });
    await client.put(key('counter'), { n: 10 });
    await client.put(key('counter'), { n: 15 });
    await client.put(key('replace1'), { a: 1 });
    await client.put(key('replace1'), { c: 3 });
    const rows = [
      { k: 'gen1', info2: Info2.WRITE | Info2.GENERATION | Info2.RESPOND_ALL_OPS, gen: 1, v: 'raw-eq' },
      { k: 'gen2', info2: Info2.WRITE | Info2.GENERATION_GT | Info2.RESPOND_ALL_OPS, gen: 5, v: 'raw-gt' },
      { k: 'counter', info2: Info2.WRITE | Info2.GENERATION | Info2.RESPOND_ALL_OPS, gen: 9, v: 'raw-eq' },
      { k: 'replace1', info2: Info2.WRITE | Info2.GENERATION_GT | Info2.RESPOND_ALL_OPS, gen: 1, v: 'raw-gt' },
    ];
    const parts: Buffer[] = [];
    const head = Buffer.alloc(5);
    head.writeUInt32BE(rows.length);
    head[4] = 0x0d;
    parts.push(head);
    rows.forEach((r, i) => {
      const row = Buffer.alloc(4 + 20 + 1 + 3 + 2 + 4 + 4);
      row.writeUInt32BE(i, 0);
      computeDigest(set, keyFromValue(r.k)).copy(row, 4);
      row[24] = 0x0e;
      row[25] = 0;
      row[26] = r.info2;
      row[27] = 0;
      row.writeUInt16BE(r.gen, 28);
      row.writeUInt32BE(0, 30);
      row.writeUInt16BE(2, 34);
      row.writeUInt16BE(1, 36);
      const ns = fieldBytes(FieldType.NAMESPACE, 'test');
      const st = fieldBytes(FieldType.SET, set);
      const value = Buffer.from(r.v);
      const op = Buffer.alloc(8 + 1 + value.length);
      op.writeUInt32BE(4 + 1 + value.length, 0);
      op[4] = 2;
      op[5] = 3;
      op[7] = 1;
      op.write('v', 8);
      value.copy(op, 9);
      parts.push(row, ns, st, op);
    });
    const frame = encodeMessageFrame({ info1: Info1.BATCH, transactionTtl: 1000, fields: [field(FieldType.BATCH_INDEX, Buffer.concat(parts))] });
    const node = await nodeFor(set, 'gen1');
    const wire = await WireClient.connect(node.host, node.port);
    try {
      const { frames, messages } = await wire.stream(frame);
      const replies = messages.filter((m) => !(m.info3 & 0x01));
      const expected = scenario<{ rows: Array<{ result: { index: number; rc: number; gen: number } }> }>('batch-write-gen-raw').rows;
      expect(replies.map((m) => [m.transactionTtl, m.resultCode, m.generation])).toEqual(expected.map((r) => [r.result.index, r.result.rc, r.result.gen]));
      expect(frames.at(-1)).toHaveLength(1);
      expect(replies.map((m) => m.ops.map((o) => [o.op, o.particleType, o.name, o.value.length]))).toEqual([[[2, 0, 'v', 0]], [[2, 0, 'v', 0]], [], []]);
    } finally {
      wire.close();
    }
  });
});

function fieldBytes(type: number, value: string): Buffer {
  const data = Buffer.from(value);
  const out = Buffer.alloc(5 + data.length);
  out.writeUInt32BE(data.length + 1, 0);
  out[4] = type;
  data.copy(out, 5);
  return out;
}

/** The node mastering a key's partition (any node works with the test server, which proxies). */
async function nodeFor(set: string, key: string): Promise<{ host: string; port: number }> {
  const digest = computeDigest(set, keyFromValue(key));
  const pid = (digest[0]! | (digest[1]! << 8)) & 4095;
  for (const node of nodesOf(client)) {
    const wire = await WireClient.connect(node.host, node.port);
    try {
      const replicas = (await wire.info(['replicas'])).get('replicas')!;
      const entry = replicas.split(';').find((e) => e.startsWith('test:'))!;
      const bitmap = Buffer.from(entry.split(',')[2]!, 'base64');
      if (bitmap[pid >> 3]! & (0x80 >> (pid & 7))) return node;
    } finally {
      wire.close();
    }
  }
  throw new Error(`no node owns partition ${pid}`);
}

describe('info commands (info)', () => {
  it('lists namespaces, sets and namespace statistics', async () => {
    const set = newSet('ginfo');
    await client.put(new Aerospike.Key('test', set, 'a'), { v: 1 });
    expect((await client.infoAny('namespaces')).split('\t')[1]!.trim().split(';')).toEqual(expect.arrayContaining(['test', 'bar']));
    expect(await setObjects(set)).toBe(1);
    const sets = (await client.infoAll('sets')).map((r) => r.info).join('');
    expect(sets).toMatch(new RegExp(`ns=test:set=${set}:objects=\\d+:tombstones=\\d+:data_used_bytes=\\d+:truncate_lut=\\d+:sindexes=\\d+:`));
    for (const { info } of await client.infoAll(`sets/test/${set}`)) {
      const value = info.split('\t')[1]!.trim();
      expect(value).toMatch(/^objects=\d+:tombstones=0:data_used_bytes=\d+:truncate_lut=\d+:sindexes=0:index_populating=false:truncating=false:/);
      expect(value.endsWith(';')).toBe(true);
    }
    const ns = (await client.infoAny('namespace/test')).split('\t')[1]!.trim();
    const stats = new Map(ns.split(';').map((kv) => kv.split('=') as [string, string]));
    for (const name of ['objects', 'master_objects', 'ns_cluster_size', 'replication-factor', 'default-ttl']) expect(stats.get(name), name).toMatch(/^\d+$/);
    expect(await client.infoAny('namespace/nope')).toBe('namespace/nope\ttype=unknown\n');
  });

  it('creates, lists and deletes secondary indexes (with a CDT context)', async () => {
    const set = newSet('gidx');
    await client.put(new Aerospike.Key('test', set, 'a'), { i_small: 42, kind: 'x', l_nested: [1, 2] });
    const tag = uniqueSetName('idx');
    const names = { int: `${tag}_int`, str: `${tag}_str`, ctx: `${tag}_ctx` };
    cleanups.push(async () => {
      for (const n of Object.values(names)) await client.indexRemove('test', n);
    });
    await (await client.createIntegerIndex({ ns: 'test', set, bin: 'i_small', index: names.int })).waitUntilDone(50);
    await (await client.createStringIndex({ ns: 'test', set, bin: 'kind', index: names.str })).waitUntilDone(50);
    await (
      await client.createIndex({
        ns: 'test',
        set,
        bin: 'l_nested',
        index: names.ctx,
        datatype: Aerospike.indexDataType.NUMERIC,
        context: new Aerospike.cdt.Context().addListIndex(0),
      })
    ).waitUntilDone(50);
    const list = (await client.infoAny('sindex-list:')).split('\t')[1]!.trim().split(';');
    expect(list).toContain(`ns=test:indexname=${names.int}:set=${set}:bin=i_small:type=numeric:indextype=default:context=null:exp=null:state=RW`);
    expect(list).toContain(`ns=test:indexname=${names.str}:set=${set}:bin=kind:type=string:indextype=default:context=null:exp=null:state=RW`);
    expect(list).toContain(`ns=test:indexname=${names.ctx}:set=${set}:bin=l_nested:type=numeric:indextype=default:context=[list_index(0)]:exp=null:state=RW`);
    const stats = (await client.infoAny(`sindex/test/${names.int}`)).split('\t')[1]!.trim();
    expect(stats).toMatch(/^entries=\d+;used_bytes=\d+;entries_per_bval=\d+;entries_per_rec=\d+;load_pct=100;load_time=\d+;stat_gc_recs=\d+$/);
    for (const n of Object.values(names)) await client.indexRemove('test', n);
    const after = (await client.infoAny('sindex-list:')).split('\t')[1]!.trim();
    for (const n of Object.values(names)) expect(after).not.toContain(`indexname=${n}:`);
  });

  it('registers, lists, reads and removes a UDF module', async () => {
    const content = Buffer.from(
      'LS0gdGlueSBVREYgdXNlZCBmb3Igd2lyZSBjYXB0dXJlcwpmdW5jdGlvbiBhZGRfb25lKHJlYywgYmluKQogIHJlY1tiaW5dID0gKHJlY1tiaW5dIG9yIDApICsgMQogIGFlcm9zcGlrZTp1cGRhdGUocmVjKQogIHJldHVybiByZWNbYmluXQplbmQK',
      'base64',
    );
    const dir = mkdtempSync(join(tmpdir(), 'aerobak-udf-'));
    const filename = `${uniqueSetName('udf')}.lua`;
    writeFileSync(join(dir, filename), content);
    cleanups.push(async () => {
      rmSync(dir, { recursive: true, force: true });
      await client.udfRemove(filename);
    });
    await (await client.udfRegister(join(dir, filename))).waitUntilDone(50);
    const b64 = content.toString('base64');
    // The server hashes its SMD value: {"content64": ..., "type": "LUA", "name": ...} as jansson prints it.
    const hash = createHash('sha1').update(`{"content64": "${b64}", "type": "LUA", "name": "${filename}"}`).digest('hex');
    expect(await client.infoAny('udf-list')).toContain(`filename=${filename},hash=${hash},type=LUA;`);
    expect(await client.infoAny(`udf-get:filename=${filename}`)).toBe(`udf-get:filename=${filename}\ttype=LUA;content=${b64};\n`);
    await client.udfRemove(filename);
    expect(await client.infoAny('udf-list')).not.toContain(`filename=${filename},`);
  });

  it('truncates a set', async () => {
    const set = newSet('gtrunc');
    await client.put(new Aerospike.Key('test', set, 't1'), { v: 1 });
    await client.put(new Aerospike.Key('test', set, 't2'), { v: 2 });
    expect(await setObjects(set)).toBe(2);
    await client.truncate('test', set, 0);
    // The real server truncates in the background: wait for it.
    const deadline = Date.now() + 10_000;
    while ((await setObjects(set)) !== 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await setObjects(set)).toBe(0);
    for (const { info } of await client.infoAll(`sets/test/${set}`)) expect(Number(/truncate_lut=(\d+)/.exec(info)![1])).toBeGreaterThan(0);
    expect(await client.scan('test', set).results()).toHaveLength(0);
  });

  it('rejects an unknown command with error 4', async () => {
    await expect(client.infoAny('no-such-command')).rejects.toMatchObject({ code: 4 });
    const [seed] = cluster.seeds;
    const wire = await WireClient.connect(seed!.host, seed!.port);
    try {
      expect((await wire.info(['no-such-command'])).get('no-such-command')).toBe('ERROR:4:unrecognized command');
    } finally {
      wire.close();
    }
  });
});
