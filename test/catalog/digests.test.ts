/**
 * DigestSet (packed digests in memory) and live-digest lists (their stored form): what a
 * chain restore decides deletions with.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DigestSet } from '../../src/catalog/digest-set.js';
import { digestListHeader, digestListSection, readDigestList, type DigestListEntry } from '../../src/catalog/digest-list.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';

/** A random digest of partition `p` (its first 12 bits, little-endian, are the partition id). */
function digestOf(p: number): Buffer {
  const d = randomBytes(20);
  d[0] = p & 0xff;
  d[1] = (d[1]! & 0xf0) | (p >> 8);
  return d;
}

describe('DigestSet', () => {
  it('holds exactly what was added, through growth, and finds digests inside larger buffers', () => {
    const set = new DigestSet();
    const added = Array.from({ length: 20_000 }, (_, i) => digestOf(i % 4096));
    for (const d of added) expect(set.add(d)).toBe(true);
    expect(set.size).toBe(added.length);
    for (const d of added) expect(set.add(d)).toBe(false);
    expect(set.size).toBe(added.length);
    for (const d of added) expect(set.has(d)).toBe(true);
    for (let i = 0; i < 20_000; i++) expect(set.has(digestOf(i % 4096))).toBe(false);
    // A digest that differs in its last byte only is another digest.
    const near = Buffer.from(added[7]!);
    near[19] ^= 1;
    expect(set.has(near)).toBe(false);
    const framed = Buffer.concat([randomBytes(13), added[42]!, randomBytes(5)]);
    expect(set.has(framed, 13)).toBe(true);
  });

  it('stays near 34 bytes a digest', () => {
    const set = new DigestSet(100_000);
    for (let i = 0; i < 100_000; i++) set.add(digestOf(i % 4096));
    expect(set.bytes / set.size).toBeLessThan(2 * 21 / 0.6);
  });
});

describe('live-digest lists', () => {
  async function stored(sections: Array<[number, Buffer[]]>, partitions: DigestListEntry['partitions']) {
    const store = new MemoryStore(`digests-${Math.random()}`, '');
    const bytes = Buffer.concat([digestListHeader(), ...sections.map(([p, ds]) => digestListSection(p, ds.map((d) => d.toString('latin1'))))]);
    await store.write('x.digests', [bytes]);
    const entry: DigestListEntry = {
      name: 'x.digests',
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      digests: sections.reduce((n, [, ds]) => n + new Set(ds.map((d) => d.toString('hex'))).size, 0),
      partitions,
    };
    return { store, bytes, entry };
  }

  const read = async (store: MemoryStore, entry: DigestListEntry, wanted: (p: number) => boolean = () => true) => {
    const got: string[] = [];
    await readDigestList(store, 'x.digests', entry, wanted, (p, b, at) => got.push(`${p}:${b.subarray(at, at + 20).toString('hex')}`));
    return got;
  };

  it('round-trips sorted, deduplicated digests per partition, and hands over only the wanted partitions', async () => {
    const a = Array.from({ length: 50 }, () => digestOf(10));
    const b = Array.from({ length: 30 }, () => digestOf(11));
    const { store, entry } = await stored([[10, [...a, a[3]!]], [11, b], [12, []]], { first: 10, last: 12 });
    expect(entry.digests).toBe(80);
    const all = await read(store, entry);
    expect(all).toEqual([...a.map((d) => `10:${d.toString('hex')}`).sort(), ...b.map((d) => `11:${d.toString('hex')}`).sort()]);
    expect(await read(store, entry, (p) => p === 11)).toEqual(b.map((d) => `11:${d.toString('hex')}`).sort());
  });

  it('names the file for a flipped byte, a cut, a wrong count, and a partition outside the file', async () => {
    const { store, bytes, entry } = await stored([[5, Array.from({ length: 10 }, () => digestOf(5))]], { first: 0, last: 9 });
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - 3] ^= 0x40;
    await store.write('x.digests', [flipped]);
    await expect(read(store, entry)).rejects.toMatchObject({ code: 'DIGEST_LIST_CHECKSUM_MISMATCH', message: expect.stringContaining('x.digests') });
    await store.write('x.digests', [bytes.subarray(0, bytes.length - 20)]);
    await expect(read(store, entry)).rejects.toMatchObject({ code: 'DIGEST_LIST_SIZE_MISMATCH' });
    await store.write('x.digests', [bytes.subarray(0, bytes.length - 20)]);
    await expect(read(store, { ...entry, size: bytes.length - 20 })).rejects.toMatchObject({ code: 'DIGEST_LIST_CORRUPT', message: expect.stringContaining('cut short') });
    await store.write('x.digests', [bytes]);
    await expect(read(store, { ...entry, digests: 11 })).rejects.toMatchObject({ code: 'DIGEST_LIST_CORRUPT' });
    await expect(read(store, { ...entry, partitions: { first: 6, last: 9 } })).rejects.toMatchObject({ code: 'DIGEST_LIST_CORRUPT' });
    await store.delete('x.digests');
    await expect(read(store, entry)).rejects.toMatchObject({ code: 'DIGEST_LIST_MISSING' });
  });

  it('refuses digests out of order or of another partition', async () => {
    const ds = [digestOf(3), digestOf(3)].sort(Buffer.compare);
    const section = Buffer.concat([Buffer.from([0, 0, 0, 3, 0, 0, 0, 2]), ds[1]!, ds[0]!]);
    const bytes = Buffer.concat([digestListHeader(), section]);
    const store = new MemoryStore(`digests-${Math.random()}`, '');
    await store.write('x.digests', [bytes]);
    const entry = { name: 'x.digests', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), digests: 2, partitions: { first: 0, last: 4095 } };
    await expect(read(store, entry)).rejects.toMatchObject({ code: 'DIGEST_LIST_CORRUPT', message: expect.stringContaining('ascending') });
    const other = Buffer.concat([digestListHeader(), Buffer.from([0, 0, 0, 3, 0, 0, 0, 1]), digestOf(4)]);
    await store.write('x.digests', [other]);
    await expect(read(store, { ...entry, size: other.length, digests: 1, sha256: createHash('sha256').update(other).digest('hex') })).rejects.toMatchObject({
      code: 'DIGEST_LIST_CORRUPT',
      message: expect.stringContaining('does not belong'),
    });
  });
});
