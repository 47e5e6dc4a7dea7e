/**
 * Replay: every client frame of the golden captures is sent, byte for byte, to the test
 * server, in capture order and on as many connections as the capture used, and each
 * reply is compared with what the real Aerospike 8.1.2 server sent: same messages,
 * fields, flags, result codes, generations and ops (values byte for byte), modulo what
 * the capture README lists as run-dependent (void times, record order and frame split
 * in scans, statistics, node names) and the test server's placeholder GeoJSON cells.
 *
 * Test-server only: the captured frames write into the fixed sets `golden`, `gbatch`
 * and `gtrunc`, which a shared real cluster must not be given.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { FieldType, Info1, Info3, readMessages, type Message } from '../../src/aerospike/wire/message.js';
import { parseInfoReply } from '../../src/aerospike/wire/info.js';
import { ProtoType } from '../../src/aerospike/wire/proto.js';
import { encodeParticle } from '../../src/aerospike/wire/values.js';
import { ParticleType } from '../../src/aerospike/types.js';
import { loadCapture, type CapturedFrame } from '../support/captures.js';
import { realClusterHosts } from '../support/aerospike.js';
import { startTestServer, type TestServerHandle } from '../support/aerospike-server/index.js';
import { WireClient } from '../support/aerospike-server/wire-client.js';
import { batchSeedRecords } from './golden.js';

/** Capture files in the order they were recorded: each one builds on the data of the ones before. */
const CAPTURES = [
  'connect.jsonl',
  'put-types.jsonl',
  'get.jsonl',
  'scan-all.jsonl',
  'query-partitions.jsonl',
  'scan-nobins.jsonl',
  'scan-maxrecords.jsonl',
  'scan-paginate.jsonl',
  'batch-write.jsonl',
  'batch-write-gen-raw.jsonl',
  'info.jsonl',
];

interface Exchange {
  conn: number;
  request: CapturedFrame;
  replies: CapturedFrame[];
}

/** Pairs each client frame with the server frames that followed it on the same connection. */
function exchanges(frames: CapturedFrame[]): Exchange[] {
  const out: Exchange[] = [];
  const open = new Map<number, Exchange>();
  for (const f of frames) {
    if (f.dir === 'c2s') {
      const ex = { conn: f.conn, request: f, replies: [] };
      out.push(ex);
      open.set(f.conn, ex);
    } else {
      open.get(f.conn)?.replies.push(f);
    }
  }
  return out;
}

const body = (frame: Buffer): Buffer => frame.subarray(8);
const messagesOf = (frame: Buffer): Message[] => [...readMessages(body(frame))];

describe.skipIf(realClusterHosts() !== undefined)('replay of the golden captures', () => {
  let server: TestServerHandle;

  beforeAll(async () => {
    server = await startTestServer({ clusterName: 'aetest' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  for (const name of CAPTURES) {
    it(`answers ${name} like the real server`, async () => {
      if (name === 'batch-write.jsonl') await seedBatchRecords(server);
      const clients = new Map<number, WireClient>();
      try {
        for (const ex of exchanges(loadCapture(name))) {
          let client = clients.get(ex.conn);
          if (!client) {
            client = await WireClient.connect(server.nodes[0]!.host, server.nodes[0]!.port);
            clients.set(ex.conn, client);
          }
          await replay(client, ex, `${name} seq ${ex.request.seq}`);
        }
      } finally {
        for (const c of clients.values()) c.close();
      }
    });
  }
});

/** Seeds test/gbatch as it was before the batch-write capture. */
async function seedBatchRecords(server: TestServerHandle): Promise<void> {
  await server.data.put(
    batchSeedRecords.map(([key, bins]) => ({
      namespace: 'test',
      set: 'gbatch',
      digest: computeDigest('gbatch', keyFromValue(key)),
      generation: 1,
      voidTime: 0,
      bins: Object.entries(bins).map(([name, v]) => ({ name, ...encodeParticle(v) })),
    })),
  );
}

async function replay(client: WireClient, ex: Exchange, where: string): Promise<void> {
  client.send(ex.request.frame);
  if (ex.request.type === ProtoType.INFO) {
    const ours = await client.nextFrame();
    expect(ours.type, where).toBe(ProtoType.INFO);
    compareInfo(parseInfoReply(ours.body), parseInfoReply(body(ex.replies[0]!.frame)), where);
    return;
  }
  const request = messagesOf(ex.request.frame)[0]!;
  const multi = (request.info1 & Info1.BATCH) !== 0 || !request.fields.some((f) => f.type === FieldType.DIGEST);
  const ourFrames: Message[][] = [];
  do {
    ourFrames.push([...readMessages((await client.nextFrame()).body)]);
  } while (multi && !ourFrames.at(-1)!.some((m) => m.info3 & Info3.LAST));
  const theirFrames = ex.replies.map((r) => messagesOf(r.frame));

  if (!multi) {
    expect(ourFrames[0], where).toHaveLength(1);
    compareMessage(ourFrames[0]![0]!, theirFrames[0]![0]!, where);
    return;
  }
  // LAST travels alone in the final frame, as on the real server.
  expect(ourFrames.at(-1), where).toEqual(theirFrames.at(-1));
  const ours = ourFrames.slice(0, -1).flat();
  const theirs = theirFrames.slice(0, -1).flat();
  expect(ours.some((m) => m.info3 & (Info3.LAST | Info3.PARTITION_DONE)), where).toBe(false);
  if (request.info1 & Info1.BATCH) {
    // Batch rows: in row order, the row index in transaction_ttl.
    expect(ours.map((m) => m.transactionTtl), where).toEqual(theirs.map((m) => m.transactionTtl));
    ours.forEach((m, i) => compareMessage(m, theirs[i]!, `${where} row ${i}`));
    return;
  }
  if (request.fields.some((f) => f.type === FieldType.MAX_RECORDS)) {
    // Which records fill the quota depends on the server's partition walk.
    expect(ours, where).toHaveLength(theirs.length);
    return;
  }
  // Scans: the same records, in any order and frame split.
  const digestOf = (m: Message) => m.fields.find((f) => f.type === FieldType.DIGEST)!.data.toString('hex');
  expect(ours.map(digestOf).sort(), where).toEqual(theirs.map(digestOf).sort());
  for (const m of ours) compareMessage(m, theirs.find((t) => digestOf(t) === digestOf(m))!, `${where} ${digestOf(m)}`);
}

function compareMessage(ours: Message, theirs: Message, where: string): void {
  expect(
    { info1: ours.info1, info2: ours.info2, info3: ours.info3, rc: ours.resultCode, gen: ours.generation, fields: ours.fields.map((f) => [f.type, f.data.toString('hex')]) },
    where,
  ).toEqual({
    info1: theirs.info1,
    info2: theirs.info2,
    info3: theirs.info3,
    rc: theirs.resultCode,
    gen: theirs.generation,
    fields: theirs.fields.map((f) => [f.type, f.data.toString('hex')]),
  });
  // Void times move with the clock: only "never expires" (0) must match exactly.
  expect(ours.recordTtl === 0, `${where} void time`).toBe(theirs.recordTtl === 0);
  expect(ours.ops.map((o) => [o.op, o.particleType, o.name]), where).toEqual(theirs.ops.map((o) => [o.op, o.particleType, o.name]));
  ours.ops.forEach((o, i) => {
    const t = theirs.ops[i]!;
    if (o.particleType === ParticleType.GEOJSON) {
      // The test server stores placeholder S2 cells (geo.ts): compare flags and JSON.
      const json = (v: Buffer) => v.subarray(3 + 8 * v.readUInt16BE(1)).toString();
      expect([o.value[0], json(o.value)], `${where} ${o.name}`).toEqual([t.value[0], json(t.value)]);
    } else {
      expect(o.value.toString('hex'), `${where} ${o.name}`).toBe(t.value.toString('hex'));
    }
  });
}

/** Info values that depend on the node, the clock or the rest of the server are compared by shape. */
function compareInfo(ours: Map<string, string>, theirs: Map<string, string>, where: string): void {
  expect([...ours.keys()], where).toEqual([...theirs.keys()]);
  const keys = (v: string, sep: string) => v.split(sep).filter(Boolean).map((kv) => kv.split('=')[0]);
  for (const [cmd, value] of ours) {
    const expected = theirs.get(cmd)!;
    if (cmd === 'node') expect(value, where).toMatch(/^[0-9A-F]{1,16}$/);
    else if (cmd === 'sets') expect(value, where).toMatch(/^(ns=\w+:set=\w+:objects=\d+:[^;]*;)*$/);
    else if (cmd.startsWith('sets/')) expect(value.replace(/=[^:;]*/g, ''), where).toBe(expected.replace(/=[^:;]*/g, ''));
    else if (cmd.startsWith('sindex/')) expect(keys(value, ';'), where).toEqual(keys(expected, ';'));
    else if (cmd.startsWith('namespace/')) {
      // A subset of the real server's statistics and configuration, same names.
      expect(keys(expected, ';'), where).toEqual(expect.arrayContaining(keys(value, ';')));
    } else expect(value, `${where} ${cmd}`).toBe(expected);
  }
}
