/**
 * The namespace's statistics counters (store.ts) against a walk over the stored
 * records, through random writes, replacements, deletes, lazy expiry and truncates.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { PARTITION_COUNT } from '../../../src/aerospike/types.js';
import { ServerClock } from './clock.js';
import { Namespace, flatRecordSize, type SetStats, type StoredRecord } from './store.js';

const SETS = ['', 'a', 'b', 'c'];

/** What the counters must say: stored records that are not truncated, expired ones included. */
function walked(ns: Namespace, set: string | undefined, partitions?: ReadonlySet<number>): SetStats {
  const out = { objects: 0, bytes: 0, nonExpirable: 0 };
  for (let pid = 0; pid < PARTITION_COUNT; pid++) {
    if (partitions && !partitions.has(pid)) continue;
    for (const rec of ns.partition(pid)) {
      if (set !== undefined && rec.set !== set) continue;
      const setLut = rec.set === '' ? 0 : (ns.sets.get(rec.set)?.truncateLutMs ?? 0);
      if (rec.lutMs < ns.truncateLutMs || rec.lutMs < setLut) continue;
      out.objects++;
      out.bytes += flatRecordSize(rec);
      if (rec.voidTime === 0) out.nonExpirable++;
    }
  }
  return out;
}

function random(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('Namespace statistics', () => {
  it.each([1, 2, 3])('match a walk over the records through random operations (seed %i)', (seed) => {
    const rand = random(seed);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const clock = new ServerClock();
    const ns = new Namespace('test', { defaultTtl: 0, maxRecordSize: 1 << 20 }, clock);
    // Few keys, so that writes often replace and deletes often hit.
    const digests = Array.from({ length: 300 }, (_, i) => createHash('ripemd160').update(`k${i}`).digest());
    const half = new Set(Array.from({ length: PARTITION_COUNT / 2 }, (_, i) => i * 2));
    const check = () => {
      for (const set of [undefined, ...SETS]) {
        expect(ns.stats(set)).toEqual(walked(ns, set));
        expect(ns.stats(set, half)).toEqual(walked(ns, set, half));
      }
      const bySet = ns.statsBySet(half);
      for (const set of SETS) expect(bySet.get(set) ?? { objects: 0, bytes: 0, nonExpirable: 0 }).toEqual(walked(ns, set, half));
    };
    for (let step = 0; step < 3000; step++) {
      const r = rand();
      const digest = pick(digests);
      if (r < 0.55) {
        const existing = ns.get(digest);
        const now = clock.nowClepochSeconds();
        const rec: StoredRecord = {
          digest,
          set: existing?.set ?? pick(SETS),
          key: rand() < 0.5 ? Buffer.from('03' + 'ab'.repeat(Math.floor(rand() * 5)), 'hex') : undefined,
          bins: Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, i) => ({ name: `b${i}`, type: 3, value: Buffer.alloc(Math.floor(rand() * 40)) })),
          generation: 1,
          voidTime: rand() < 0.4 ? 0 : now + 1 + Math.floor(rand() * 20),
          // Now, or (as a restore may write) a last-update time in the past.
          lutMs: clock.nowClepochMs() - (rand() < 0.2 ? Math.floor(rand() * 20_000) : 0),
        };
        ns.put(rec);
      } else if (r < 0.7) ns.remove(digest);
      else if (r < 0.85) ns.get(digest);
      else if (r < 0.9) clock.advance(Math.floor(rand() * 5000));
      else if (r < 0.93) ns.truncate(pick(SETS.slice(1)), clock.nowClepochMs() - Math.floor(rand() * 10_000));
      else if (r < 0.94) ns.truncate(undefined, clock.nowClepochMs() - Math.floor(rand() * 10_000));
      else check();
    }
    check();
  });

  it('count expired records until they are removed, and never truncated ones', () => {
    const clock = new ServerClock();
    const ns = new Namespace('test', { defaultTtl: 0, maxRecordSize: 1 << 20 }, clock);
    const digest = (k: string) => createHash('ripemd160').update(k).digest();
    const record = (k: string, voidTime: number): StoredRecord => ({
      digest: digest(k),
      set: 's',
      key: undefined,
      bins: [{ name: 'v', type: 3, value: Buffer.from('x') }],
      generation: 1,
      voidTime,
      lutMs: clock.nowClepochMs(),
    });
    ns.put(record('short', clock.nowClepochSeconds() + 10));
    ns.put(record('never', 0));
    expect(ns.stats('s')).toMatchObject({ objects: 2, nonExpirable: 1 });
    clock.advance(11_000);
    // Expired but still stored: counted, as the real server counts it until nsup deletes it.
    expect(ns.stats('s').objects).toBe(2);
    expect(ns.liveStats('s').objects).toBe(1);
    expect(ns.get(digest('short'))).toBeUndefined();
    expect(ns.stats('s').objects).toBe(1);
    ns.truncate('s', clock.nowClepochMs() + 1);
    expect(ns.stats('s')).toEqual({ objects: 0, bytes: 0, nonExpirable: 0 });
    expect(ns.stats()).toEqual({ objects: 0, bytes: 0, nonExpirable: 0 });
  });
});
