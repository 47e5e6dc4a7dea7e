/**
 * Keeps the memory of the data paths (backup, restore, verify) bounded by what they hold
 * live, not by V8's patience with garbage buffers.
 *
 * Why: the big buffers of a data path (scan reply frames, Avro blocks, zlib output
 * chunks, file read chunks, batch-write rows) are ArrayBuffers outside the JS heap. The
 * JS heap itself stays small (~15 MB) and allocates slowly, so scavenges are rare, and
 * V8 frees a dead ArrayBuffer only at a GC: a full one is forced only once ~64 MB of
 * external memory has been allocated since the last (V8's external allocation soft
 * limit). A backup allocates about 1 GB of such buffers per million records, so the
 * process carried up to ~64 MB of dead buffers (peak RSS 160-180 MB where ~110 MB is the
 * process itself), and ran ~80 full GCs (Mark-Compact, 5-70 ms each) per million
 * records to free them (docs/performance.md, "Memory").
 *
 * What: callers report the bytes of big buffers they are done with (`collectSoon`).
 * After every PACE_BYTES reported (process-wide), one minor GC (a scavenge, ~1 ms with
 * this small heap) runs: it frees the buffers that died young, which is nearly all of
 * them (they live for milliseconds). Dead buffers are then bounded by about PACE_BYTES
 * of allocations, and the full GCs that external memory forced become rare.
 *
 * How: `gc` is obtained once with `v8.setFlagsFromString('--expose-gc')` and a new VM
 * context (the flag applies to contexts created after it; the main context's globals are
 * untouched). Where that does not work, or with AEROBAK_GC_PACING=0, collectSoon does
 * nothing and V8 decides alone, as before.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import { steerYoungGeneration } from '../young-generation.js';

/** Bytes of big buffers released between two minor GCs. */
export const PACE_BYTES = 16 * 1024 * 1024;

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let gc: Gc | undefined | null = null;
let released = 0;

function obtain(): Gc | undefined {
  if (process.env.AEROBAK_GC_PACING === '0') return undefined;
  const own = (globalThis as { gc?: unknown }).gc;
  if (typeof own === 'function') return own as Gc;
  try {
    v8.setFlagsFromString('--expose-gc');
    const found: unknown = vm.runInNewContext('typeof gc === "function" ? gc : undefined');
    return typeof found === 'function' ? (found as Gc) : undefined;
  } catch {
    return undefined;
  }
}

/** Notes `bytes` of big buffers the caller no longer needs; runs a minor GC every PACE_BYTES of them. */
export function collectSoon(bytes: number): void {
  released += bytes;
  if (released < PACE_BYTES) return;
  released = 0;
  if (gc === null) gc = obtain();
  if (gc === undefined) return;
  try {
    gc({ type: 'minor', execution: 'sync' });
  } catch {
    gc = undefined;
    return;
  }
  steerYoungGeneration();
}
