/**
 * The records of one chaos cycle, the same for the same seed: the golden
 * records of a real 8.1 server's capture (every particle type as the server
 * stores it) re-keyed into the cycle's set, plus generated ones with integer,
 * string and blob keys (some without a stored key), every scalar type, lists
 * and maps, and void times (some records expire in a day, most never).
 * `blobBytes` makes records large (incompressible), for cycles whose data
 * files must be big enough for multipart uploads.
 */
import { CITRUSLEAF_EPOCH_UNIX_S, ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { computeDigest, keyFromValue } from '../../src/aerospike/wire/digest.js';
import { encodeParticle, type EncodableValue } from '../../src/aerospike/wire/values.js';
import { goldenRecords } from '../support/captures.js';

/** A small seeded PRNG (mulberry32): the same seed, the same cycle. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** [0, 1) */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let i = 0;
    for (; i + 4 <= n; i += 4) out.writeUInt32LE((this.next() * 4294967296) >>> 0, i);
    for (; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
}

const clNow = () => Math.floor(Date.now() / 1000) - CITRUSLEAF_EPOCH_UNIX_S;

export function cycleRecords(rng: Rng, namespace: string, set: string, count: number, blobBytes = 0): RawRecord[] {
  const out = goldenRecords(namespace, set);
  const dayLater = clNow() + 86_400;
  for (let i = 0; i < count; i++) {
    const keyKind = rng.int(0, 2);
    // Keys no golden record uses (those are small integers and short labels).
    const key = keyFromValue(keyKind === 0 ? 1_000_000 + i : keyKind === 1 ? `k-${i}-é` : Buffer.from(`b${i}`));
    const bins: Record<string, EncodableValue> = {
      i: rng.int(-2_000_000_000, 2_000_000_000),
      s: 'x'.repeat(rng.int(0, 60)) + String(i),
      d: rng.next() * 1e6 - 5e5,
    };
    if (rng.chance(0.3)) bins.l = [i, `e${i}`, [1, 2], { a: i }];
    if (rng.chance(0.3)) bins.m = { n: i, s: `v${i}`, nested: [true, false] };
    if (rng.chance(0.2)) bins.b = rng.chance(0.5);
    if (blobBytes > 0) bins.blob = rng.bytes(blobBytes);
    else if (rng.chance(0.3)) bins.blob = rng.bytes(rng.int(1, 300));
    const r: RawRecord = {
      namespace,
      set,
      digest: computeDigest(set, key),
      generation: rng.int(1, 50),
      voidTime: rng.chance(0.2) ? dayLater + rng.int(0, 3600) : 0,
      bins: Object.entries(bins).map(([name, v]) => ({ name, ...encodeParticle(v) })),
    };
    if (rng.chance(0.8)) r.userKey = key;
    out.push(r);
  }
  return out;
}

/**
 * A comparable view of a record: set, key, bins by name with type and bytes.
 * GeoJSON is compared as flags and JSON text: the cells between them are the
 * server's index of the value, recomputed on every write (a real server does
 * too), so they are not the backup's to keep.
 */
export function shapeOf(r: RawRecord): string {
  const bins = r.bins
    .map((b) => `${b.name}:${b.type}:${(b.type === ParticleType.GEOJSON ? geoWithoutCells(b.value) : b.value).toString('hex')}`)
    .sort()
    .join('|');
  return `${r.set}/${r.userKey ? `${r.userKey.type}:${r.userKey.bytes.toString('hex')}` : '-'}/${bins}`;
}

function geoWithoutCells(value: Buffer): Buffer {
  if (value.length < 3) return value;
  const start = 3 + 8 * value.readUInt16BE(1);
  return start > value.length ? value : Buffer.concat([value.subarray(0, 1), value.subarray(start)]);
}
