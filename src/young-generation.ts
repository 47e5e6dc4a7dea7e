/**
 * The young generation's size, held small for the data paths' memory bound (gc-pacer.ts
 * runs the paced minor GCs that steer it). Loaded by the CLI first thing, so it imports
 * nothing of aerobak.
 */
import v8 from 'node:v8';

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
export function steerYoungGeneration(): void {
  if (growth === undefined) return;
  const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (young) setGrowth(young.space_size < YOUNG_CAP_BYTES ? 2 : 1);
}
