/**
 * The golden scenarios of test/fixtures/aerospike-wire (client-results.json), turned back
 * into official-client calls and expected values, so a test can replay them against any
 * cluster under its own set names.
 */
import Aerospike from 'aerospike';
import { loadClientResults } from '../support/captures.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/**
 * Decodes the fixture's value encoding: {$bigint}, {$bytes}, {$number}, {$double}
 * (an Aerospike.Double input), {$geojson} (an Aerospike.GeoJSON input), {$map} (a JS Map).
 */
export function decode(v: Json): unknown {
  if (Array.isArray(v)) return v.map(decode);
  if (v === null || typeof v !== 'object') return v;
  if ('$bigint' in v) return BigInt(v.$bigint as string);
  if ('$bytes' in v) return Buffer.from(v.$bytes as string, 'hex');
  if ('$number' in v) return Number(v.$number as string);
  if ('$double' in v) return new Aerospike.Double(v.$double as number);
  if ('$geojson' in v) return new Aerospike.GeoJSON(v.$geojson as string);
  if ('$map' in v) return new Map((v.$map as Json[][]).map(([k, val]) => [decode(k!), decode(val!)]));
  return Object.fromEntries(Object.entries(v).map(([k, val]) => [k, decode(val)]));
}

export interface GoldenKey {
  ns: string;
  set: string;
  key: Json;
  digest: string;
}

export interface PutCall {
  label: string;
  call: 'put' | 'operate';
  key: GoldenKey;
  bins?: Json;
  ops?: Array<{ op: number; bin: string; items?: Json; list?: Json[]; policy?: { order: number }; indexBits?: number; minhashBits?: number }>;
  meta: { ttl: number } | null;
  policy: { key: number } | null;
  result?: Json;
}

export interface RecordResult {
  key: GoldenKey;
  bins: Json;
  gen: number;
  ttl: number;
}

const results = loadClientResults() as { scenarios: Record<string, unknown> };

export function scenario<T>(name: string): T {
  return results.scenarios[name] as T;
}

export const putCalls = scenario<PutCall[]>('put-types');

/** The records test/gbatch held before the batch-write capture (README: each with gen 1). */
export const batchSeedRecords: ReadonlyArray<readonly [string, Readonly<Record<string, string | number>>]> = [
  ['exists1', { v: 'pre' }],
  ['replace1', { a: 1, b: 2 }],
  ['gen1', { v: 'g' }],
  ['gen2', { v: 'g' }],
  ['counter', { n: 10 }],
  ['cor1', { old: 1 }],
  ['toremove1', { v: 1 }],
  ['toremove2', { v: 2 }],
  ['toremove3', { v: 3 }],
];

/** The user key of a golden key as an Aerospike.Key in `set`. */
export function keyIn(set: string, key: GoldenKey): Aerospike.Key {
  return new Aerospike.Key(key.ns, set, decode(key.key) as string | number | Buffer);
}

/** The operations of an `operate` put-types call (map putItems, HLL init/add). */
export function operationsOf(call: PutCall): Aerospike.operations.Operation[] {
  return (call.ops ?? []).map((op) => {
    switch (op.op) {
      case 514:
        return Aerospike.maps.putItems(op.bin, decode(op.items!) as Record<string, number>, new Aerospike.MapPolicy({ order: op.policy!.order }));
      case 1024:
        return op.minhashBits === -1 ? Aerospike.hll.init(op.bin, op.indexBits!) : Aerospike.hll.init(op.bin, op.indexBits!, op.minhashBits!);
      case 1025:
        return op.minhashBits === -1
          ? Aerospike.hll.add(op.bin, decode(op.list!) as string[], op.indexBits!)
          : Aerospike.hll.add(op.bin, decode(op.list!) as string[], op.indexBits!, op.minhashBits!);
      default:
        throw new Error(`golden operate op ${op.op} not known to this replay`);
    }
  });
}

/**
 * Runs the put-types scenario into `set` (21 records). The capture's client sent the
 * user key unless a call's policy says otherwise (README: "{key: SEND} unless noted").
 */
export async function writeGoldenRecords(client: Aerospike.Client, set: string): Promise<Array<{ call: PutCall; result: unknown }>> {
  const out: Array<{ call: PutCall; result: unknown }> = [];
  for (const call of putCalls) {
    const key = keyIn(set, call.key);
    const keyPolicy = call.policy?.key ?? Aerospike.policy.key.SEND;
    if (call.call === 'put') {
      const policy = new Aerospike.WritePolicy({ key: keyPolicy });
      out.push({ call, result: await client.put(key, decode(call.bins!) as Aerospike.AerospikeBins, call.meta ?? undefined, policy) });
    } else {
      const rec = await client.operate(key, operationsOf(call), call.meta ?? undefined, new Aerospike.OperatePolicy({ key: keyPolicy }));
      out.push({ call, result: rec.bins });
    }
  }
  return out;
}

/** Finds the golden result for a record the client returned, by user key (or the one without a key). */
export function resultForKey(expected: RecordResult[], userKey: unknown): RecordResult | undefined {
  return expected.find((e) => {
    const k = e.key.key === undefined ? undefined : decode(e.key.key);
    if (Buffer.isBuffer(k) && Buffer.isBuffer(userKey)) return k.equals(userKey);
    return k === userKey || (k !== undefined && userKey !== undefined && String(k) === String(userKey));
  });
}
