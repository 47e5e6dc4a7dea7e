/**
 * Access to the recorded client/server conversations in test/fixtures/aerospike-wire/
 * (real Aerospike 8.1.2 server, official client 6.7.1; see that folder's README).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { RawRecord } from '../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';

const dir = fileURLToPath(new URL('../fixtures/aerospike-wire/', import.meta.url));

export interface CapturedFrame {
  seq: number;
  conn: number;
  dir: 'c2s' | 's2c';
  type: number;
  size: number;
  frame: Buffer;
}

export function loadCapture(name: string): CapturedFrame[] {
  const out: CapturedFrame[] = [];
  for (const line of readFileSync(dir + name, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { seq: number; conn: number; dir?: 'c2s' | 's2c'; type?: number; size?: number; frame_hex?: string };
    if (!e.frame_hex || !e.dir) continue;
    out.push({ seq: e.seq, conn: e.conn, dir: e.dir, type: e.type!, size: e.size!, frame: Buffer.from(e.frame_hex, 'hex') });
  }
  return out;
}

export interface GoldenBin {
  name: string;
  op: number;
  particle_type: number;
  value_hex: string;
  op_hex: string;
  client_value: unknown;
}

export interface GoldenRecord {
  label: string;
  digest: string;
  namespace: string;
  set: string;
  field_order: number[];
  user_key: { type: number; hex: string; value: unknown } | null;
  generation: number;
  void_time_raw: number;
  msg_hex: string;
  bins: GoldenBin[];
}

export interface GoldenSummary {
  record_count: number;
  capture_time_clepoch_s: number;
  records: GoldenRecord[];
}

export function loadGoldenSummary(): GoldenSummary {
  return JSON.parse(readFileSync(dir + 'golden-scan-summary.json', 'utf8')) as GoldenSummary;
}

export function loadClientResults(): Record<string, unknown> {
  return JSON.parse(readFileSync(dir + 'client-results.json', 'utf8')) as Record<string, unknown>;
}

/**
 * The 21 records of the golden capture (every particle type, as a real 8.1 server
 * stores them: GeoJSON with cells, HLL, maps with order flags, double 1.0, -0.0, NaN)
 * re-keyed into `set` (the digest covers the set name). The key-less record keeps no key.
 */
export function goldenRecords(namespace: string, set: string): RawRecord[] {
  return loadGoldenSummary().records.map((g) => {
    const key =
      g.user_key === null
        ? keyFromValue(g.label)
        : { type: g.user_key.type, bytes: Buffer.from(g.user_key.hex, 'hex') };
    const r: RawRecord = {
      namespace,
      set,
      digest: computeDigest(set, key),
      generation: g.generation,
      voidTime: 0,
      bins: g.bins.map((b) => ({ name: b.name, type: b.particle_type, value: Buffer.from(b.value_hex, 'hex') })),
    };
    if (g.user_key !== null) r.userKey = key;
    return r;
  });
}
