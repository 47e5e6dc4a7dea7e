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

/** Bytes of big buffers released between two minor GCs. */
export const PACE_BYTES = 16 * 1024 * 1024;

/**
 * The young generation (both semi-spaces) grows no further once it is this large. V8
 * doubles it whenever enough bytes survived its scavenges since the last doubling, which
 * a long data path always reaches (up to 64 MB a semi-space on a large machine), and a
 * large young generation costs twice over: its pages stay in the RSS, and V8 starts
 * marking the old space whenever the old generation's headroom is smaller than the young
 * generation, which with a data path's small heap (~10 MB) is after nearly every
 * scavenge. Measured in a 2M-record restore against a real server (docs/performance.md,
 * "Memory"): 8 MB held the peak RSS ~20 MB lower at the same CPU; 2 MB (V8's start) cost
 * ~8 % more CPU in scavenges.
 */
export const YOUNG_CAP_BYTES = 8 * 1024 * 1024;

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

/** The semi-space growth factor last set (V8's default 2), or undefined when it cannot be. */
let growth: number | undefined = 2;

/**
 * Holds the young generation at its start size from now on; collectSoon then lets it
 * grow up to YOUNG_CAP_BYTES and no further. The sizes are fixed when V8 starts, but
 * the growth factor is read at every growth: the process calls this first thing (before
 * loading modules grows it), and a data path's paced GCs steer it from there. Does
 * nothing with AEROBAK_GC_PACING=0.
 */
export function holdYoungGeneration(): void {
  if (process.env.AEROBAK_GC_PACING === '0') return;
  setGrowth(1);
}

function setGrowth(factor: number): void {
  if (growth === undefined || growth === factor) return;
  try {
    v8.setFlagsFromString(`--semi-space-growth-factor=${factor}`);
    growth = factor;
  } catch {
    growth = undefined;
  }
}

/** Lets the young generation double while it is under YOUNG_CAP_BYTES, and stops it there. */
function steerYoungGeneration(): void {
  if (growth === undefined) return;
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (young) setGrowth(young.space_size < YOUNG_CAP_BYTES ? 2 : 1);
}
