/**
 * The scan request encoder and the record decoder against the golden captures of a real
 * Aerospike 8.1.2 server (test/fixtures/aerospike-wire).
 */
import { describe, expect, it } from 'vitest';
import { RecordDecoder } from '../../src/aerospike/record-decoder.js';
import { encodeScanRequest, setNameFilter } from '../../src/aerospike/scan-request.js';
import { partitionId } from '../../src/aerospike/wire/digest.js';
import { ExpOp, exp } from '../../src/aerospike/wire/exp.js';
import { FieldType, Info3, findField, readMessage, type Message } from '../../src/aerospike/wire/message.js';
import { unpack } from '../../src/aerospike/wire/msgpack.js';
import { ProtoType } from '../../src/aerospike/wire/proto.js';
import { loadCapture, loadGoldenSummary } from '../support/captures.js';

function scanRequests(capture: string): Array<{ frame: Buffer; message: Message }> {
  return loadCapture(capture)
    .filter((f) => f.dir === 'c2s' && f.type === ProtoType.MESSAGE)
    .map((f) => ({ frame: f.frame, message: readMessage(f.frame.subarray(8), 0).message }));
}

function taskId(m: Message): bigint {
  return findField(m, FieldType.TASK_ID)!.readBigUInt64BE(0);
}

function pidsOf(m: Message): number[] {
  const data = findField(m, FieldType.PID_ARRAY);
  const out: number[] = [];
  if (data) for (let i = 0; i < data.length; i += 2) out.push(data.readUInt16LE(i));
  return out;
}

function digestsOf(m: Message): Buffer[] {
  const data = findField(m, FieldType.DIGEST_ARRAY);
  const out: Buffer[] = [];
  if (data) for (let i = 0; i < data.length; i += 20) out.push(data.subarray(i, i + 20));
  return out;
}

const all = Array.from({ length: 4096 }, (_, i) => i);
const base = { namespace: 'test', sets: ['golden'], socketTimeoutMs: 30000, resumeAfter: [] as Buffer[] };

describe('encodeScanRequest', () => {
  it('builds the captured full-scan request byte for byte (task id aside)', () => {
    const [req] = scanRequests('scan-all.jsonl');
    const ours = encodeScanRequest({ ...base, partitions: all, taskId: taskId(req!.message) });
    expect(ours.toString('hex')).toBe(req!.frame.toString('hex'));
  });

  it('builds the captured no-bins request byte for byte', () => {
    const [req] = scanRequests('scan-nobins.jsonl');
    const ours = encodeScanRequest({ ...base, noBins: true, partitions: all, taskId: taskId(req!.message) });
    expect(ours.toString('hex')).toBe(req!.frame.toString('hex'));
  });

  it('builds the captured resumed requests: field 11 without the resumed partitions, then field 12', () => {
    const pages = scanRequests('scan-paginate.jsonl').slice(1);
    expect(pages).toHaveLength(2);
    for (const { frame, message } of pages) {
      const pids = pidsOf(message);
      const digests = digestsOf(message);
      const resumed = digests.map(partitionId);
      // The C client lists a resumed partition in field 12 only.
      expect(pids.filter((p) => resumed.includes(p))).toEqual([]);
      expect(new Set([...pids, ...resumed]).size).toBe(4096);
      expect(message.fields.map((f) => f.type)).toEqual([
        FieldType.NAMESPACE,
        FieldType.SET,
        FieldType.SOCKET_TIMEOUT,
        FieldType.TASK_ID,
        FieldType.PID_ARRAY,
        FieldType.DIGEST_ARRAY,
      ]);
      const ours = encodeScanRequest({ ...base, partitions: pids, resumeAfter: digests, taskId: taskId(message) });
      expect(ours.toString('hex')).toBe(frame.toString('hex'));
    }
  });

  it('selects bins with READ ops, adds rate and filter fields in the C client order', () => {
    const frame = encodeScanRequest({
      ...base,
      sets: [],
      bins: ['a', 'bb'],
      partitions: [7],
      recordsPerSecond: 500,
      filter: exp.eq(exp.voidTime(), exp.int(-1)),
      taskId: 1n,
    });
    const { message: m } = readMessage(frame.subarray(8), 0);
    expect(m.fields.map((f) => f.type)).toEqual([
      FieldType.NAMESPACE,
      FieldType.RECORDS_PER_SECOND,
      FieldType.SOCKET_TIMEOUT,
      FieldType.TASK_ID,
      FieldType.FILTER_EXP,
      FieldType.PID_ARRAY,
    ]);
    expect(findField(m, FieldType.RECORDS_PER_SECOND)!.readUInt32BE(0)).toBe(500);
    expect(m.ops.map((o) => [o.op, o.particleType, o.name, o.value.length])).toEqual([
      [1, 0, 'a', 0],
      [1, 0, 'bb', 0],
    ]);
    expect(m.info3).toBe(Info3.PARTITION_DONE);
  });

  it('scans several sets with one set-name filter, AND-ed with the caller filter', () => {
    const filter = exp.ge(exp.lastUpdate(), exp.int(5));
    const frame = encodeScanRequest({ ...base, sets: ['a', 'b'], filter, partitions: [1], taskId: 1n });
    const { message: m } = readMessage(frame.subarray(8), 0);
    expect(findField(m, FieldType.SET)).toBeUndefined();
    const str = (s: string) => Buffer.concat([Buffer.from([3]), Buffer.from(s)]);
    const tree = unpack(findField(m, FieldType.FILTER_EXP)!);
    // Strings inside expressions carry the STRING particle type byte (as_exp.c).
    expect(JSON.stringify(tree)).toBe(
      JSON.stringify([
        ExpOp.AND,
        [ExpOp.GE, [ExpOp.LAST_UPDATE], 5],
        [ExpOp.OR, [ExpOp.EQ, [ExpOp.SET_NAME], 'a'], [ExpOp.EQ, [ExpOp.SET_NAME], 'b']],
      ]),
    );
    expect(setNameFilter(['a']).toString('hex')).toBe('9301' + '9146' + 'a2' + str('a').toString('hex'));
  });
});

describe('RecordDecoder', () => {
  const golden = loadGoldenSummary();
  const frames = loadCapture('scan-all.jsonl').filter((f) => f.dir === 's2c' && f.type === ProtoType.MESSAGE);

  it('decodes every captured scan frame into exactly the golden records', () => {
    const decoder = new RecordDecoder();
    const records = [];
    for (const f of frames) {
      const body = Buffer.from(f.frame.subarray(8));
      for (let at = 0; at < body.length; ) {
        if (body[at + 3]! & Info3.LAST) break;
        records.push(decoder.decode(body, at));
        at = decoder.end;
      }
      body.fill(0xee); // the records must not share memory with the frame
    }
    expect(records).toHaveLength(golden.record_count);
    records.forEach((r, i) => {
      const g = golden.records[i]!;
      expect(r.namespace).toBe(g.namespace);
      expect(r.set).toBe(g.set);
      expect(r.digest.toString('hex')).toBe(g.digest);
      expect(r.userKey ? { type: r.userKey.type, hex: r.userKey.bytes.toString('hex') } : null).toEqual(
        g.user_key ? { type: g.user_key.type, hex: g.user_key.hex } : null,
      );
      expect(r.generation).toBe(g.generation);
      expect(r.voidTime).toBe(g.void_time_raw);
      expect(r.bins.map((b) => [b.name, b.type, b.value.toString('hex')])).toEqual(
        g.bins.map((b) => [b.name, b.particle_type, b.value_hex]),
      );
    });
  });

  it('decodes no-bins records as metadata only', () => {
    const body = loadCapture('scan-nobins.jsonl').find((f) => f.dir === 's2c' && f.type === ProtoType.MESSAGE)!.frame.subarray(8);
    const r = new RecordDecoder().decode(body, 0);
    expect(r.bins).toEqual([]);
    expect(r.digest).toHaveLength(20);
    expect(r.generation).toBeGreaterThan(0);
  });
});
