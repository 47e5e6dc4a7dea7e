/**
 * Access to the recorded client/server conversations in test/fixtures/aerospike-wire/
 * (real Aerospike 8.1.2 server, official client 6.7.1; see that folder's README).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

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
