/**
 * The benchmark's data set: a deterministic generator of RawRecords (record i is always
 * the same record, whoever generates it), with a realistic mix of particle types.
 *
 * Each record has 12 or 13 bins, about 300 bytes of bin names and values:
 *   id, age, created    INTEGER
 *   balance, score      FLOAT
 *   name, email, country, status   STRING (from word lists: compressible like real text)
 *   avatar              BLOB, 64-127 random bytes (incompressible)
 *   tags                LIST of 2-5 short strings (server msgpack)
 *   prefs               MAP of 3 entries, every other record key-ordered (order flag kept)
 *   note                STRING of 40-100 characters, on 1 record in 10
 * One record in 4 has its user key stored (a string key), the others only their digest
 * (from an integer key). One record in 5 has a TTL (void time about 30 days ahead), the
 * others never expire.
 */
import { ParticleType, type RawBin, type RawRecord } from '../../src/aerospike/types.js';
import { computeDigest } from '../../src/aerospike/wire/digest.js';
import { CdtMap, MapOrder, Packer } from '../../src/aerospike/wire/msgpack.js';
import { citrusleafNow } from '../../src/aerospike/batch-request.js';

const FIRST = ['ada', 'alan', 'grace', 'linus', 'ken', 'dennis', 'barbara', 'edsger', 'donald', 'margaret', 'john', 'radia', 'frances', 'leslie', 'niklaus', 'guido', 'bjarne', 'anders', 'yukihiro', 'rob'];
const LAST = ['lovelace', 'turing', 'hopper', 'torvalds', 'thompson', 'ritchie', 'liskov', 'dijkstra', 'knuth', 'hamilton', 'mccarthy', 'perlman', 'allen', 'lamport', 'wirth', 'rossum', 'stroustrup', 'hejlsberg', 'matsumoto', 'pike'];
const DOMAINS = ['example.com', 'mail.test', 'corp.example', 'users.example.org', 'inbox.test'];
const COUNTRIES = ['FR', 'DE', 'US', 'GB', 'JP', 'BR', 'IN', 'NG', 'CA', 'ES', 'IT', 'SE'];
const STATUSES = ['active', 'inactive', 'pending', 'suspended', 'trial'];
const TAGS = ['red', 'green', 'blue', 'alpha', 'beta', 'gamma', 'vip', 'new', 'churn', 'promo', 'mobile', 'web', 'eu', 'us', 'apac'];
const THEMES = ['dark', 'light', 'system'];
const LANGS = ['en', 'fr', 'de', 'ja', 'pt', 'es'];
const WORDS = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'lazy', 'dog', 'lorem', 'ipsum', 'dolor', 'sit', 'amet', 'record', 'backup', 'restore', 'cluster', 'partition'];

/** A small, fast PRNG (mulberry32) seeded from the record index: record i is the same everywhere. */
class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0;
  }
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(a: readonly T[]): T {
    return a[this.int(a.length)]!;
  }
}

function intBin(name: string, v: number): RawBin {
  const value = Buffer.allocUnsafe(8);
  value.writeBigInt64BE(BigInt(v), 0);
  return { name, type: ParticleType.INTEGER, value };
}

function floatBin(name: string, v: number): RawBin {
  const value = Buffer.allocUnsafe(8);
  value.writeDoubleBE(v, 0);
  return { name, type: ParticleType.FLOAT, value };
}

function stringBin(name: string, v: string): RawBin {
  return { name, type: ParticleType.STRING, value: Buffer.from(v, 'utf8') };
}

/** Base for TTLs: today at 00:00 UTC, so a data set generated twice the same day is identical. */
const TTL_BASE = citrusleafNow(Math.floor(Date.now() / 86_400_000) * 86_400_000) + 30 * 86_400;

export const BENCH_KEY_PREFIX = 'user-';

export function generateRecord(i: number, namespace: string, set: string): RawRecord {
  const rng = new Rng(i);
  const first = rng.pick(FIRST);
  const last = rng.pick(LAST);
  const avatar = Buffer.allocUnsafe(64 + rng.int(64));
  for (let b = 0; b < avatar.length; b += 4) avatar.writeUInt32LE((rng.next() * 4294967296) >>> 0, Math.min(b, avatar.length - 4));

  const tags = new Packer();
  const nTags = 2 + rng.int(4);
  tags.packArrayHeader(nTags);
  for (let t = 0; t < nTags; t++) tags.pack(rng.pick(TAGS));
  const prefsEntries: Array<[string, string | number]> = [
    ['theme', rng.pick(THEMES)],
    ['notifications', rng.int(2)],
    ['lang', rng.pick(LANGS)],
  ];
  const ordered = i % 2 === 0;
  const prefs = new Packer()
    .pack(ordered ? new CdtMap([...prefsEntries].sort((a, b) => (a[0] < b[0] ? -1 : 1)), MapOrder.KEY_ORDERED) : new CdtMap(prefsEntries))
    .finish();

  const bins: RawBin[] = [
    intBin('id', i),
    intBin('age', 18 + rng.int(70)),
    floatBin('balance', Math.round(rng.next() * 1e7) / 100),
    floatBin('score', rng.next()),
    stringBin('name', `${first} ${last}`),
    stringBin('email', `${first}.${last}${rng.int(1000)}@${rng.pick(DOMAINS)}`),
    stringBin('country', rng.pick(COUNTRIES)),
    stringBin('status', rng.pick(STATUSES)),
    { name: 'avatar', type: ParticleType.BLOB, value: avatar },
    { name: 'tags', type: ParticleType.LIST, value: tags.finish() },
    { name: 'prefs', type: ParticleType.MAP, value: prefs },
    intBin('created', 1_600_000_000_000 + rng.int(150_000_000) * 1000),
  ];
  if (i % 10 === 3) {
    const words: string[] = [];
    for (let n = 40 + rng.int(60), len = 0; len < n; ) {
      const w = rng.pick(WORDS);
      words.push(w);
      len += w.length + 1;
    }
    bins.push(stringBin('note', words.join(' ')));
  }

  const stored = i % 4 === 0;
  let digest: Buffer;
  let userKey: RawRecord['userKey'];
  if (stored) {
    userKey = { type: ParticleType.STRING, bytes: Buffer.from(`${BENCH_KEY_PREFIX}${i}`, 'utf8') };
    digest = computeDigest(set, userKey);
  } else {
    const bytes = Buffer.allocUnsafe(8);
    bytes.writeBigInt64BE(BigInt(i), 0);
    digest = computeDigest(set, { type: ParticleType.INTEGER, bytes });
  }
  const record: RawRecord = {
    namespace,
    set,
    digest,
    generation: 1,
    voidTime: i % 5 === 1 ? TTL_BASE + (i % 86_400) : 0,
    bins,
  };
  if (userKey) record.userKey = userKey;
  return record;
}

/** Bytes of bin names and values of a record (the "about 300 bytes"). */
export function recordDataBytes(r: RawRecord): number {
  let n = 0;
  for (const b of r.bins) n += b.name.length + b.value.length;
  return n;
}

/** Records first..first+count-1, one at a time. */
export function* generateRecords(first: number, count: number, namespace: string, set: string): Generator<RawRecord> {
  for (let i = first; i < first + count; i++) yield generateRecord(i, namespace, set);
}

/**
 * Bump allocation in large slabs: many small buffers that live as long as each other
 * (records held in memory by the write ceiling) without a backing store each.
 */
export class Arena {
  private slab = Buffer.allocUnsafeSlow(0);
  private at = 0;

  constructor(private readonly slabBytes = 16 * 1024 * 1024) {}

  copy(src: Buffer): Buffer {
    if (this.at + src.length > this.slab.length) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(this.slabBytes, src.length));
      this.at = 0;
    }
    const out = this.slab.subarray(this.at, this.at + src.length);
    src.copy(out);
    this.at += src.length;
    return out;
  }
}

/** The same record with every buffer copied into `arena` (about half the memory of a fresh one). */
export function compactRecord(r: RawRecord, arena: Arena): RawRecord {
  const out: RawRecord = {
    namespace: r.namespace,
    set: r.set,
    digest: arena.copy(r.digest),
    generation: r.generation,
    voidTime: r.voidTime,
    bins: r.bins.map((b) => ({ name: b.name, type: b.type, value: arena.copy(b.value) })),
  };
  if (r.userKey) out.userKey = { type: r.userKey.type, bytes: arena.copy(r.userKey.bytes) };
  return out;
}
