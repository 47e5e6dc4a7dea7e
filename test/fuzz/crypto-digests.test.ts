/**
 * Fuzzing of encrypted segments and live-digest lists (docs/reliability.md, "Fuzzing"):
 * DecryptStream (every encrypted file), openBuffer (the encrypted metadata file) and
 * readDigestList (plain and encrypted). Inputs: what EncryptStream / sealBuffer and the
 * digest-list writer produce, mutated, and random bytes.
 */
import { createHash, randomBytes as cryptoRandomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import fc from 'fast-check';
import { afterAll, describe, expect } from 'vitest';
import { DigestListError, digestListHeader, digestListSection, readDigestList, type DigestListEntry } from '../../src/catalog/digest-list.js';
import { fileCrypto, openBuffer, sealBuffer } from '../../src/crypto/backup-keys.js';
import { DecryptError, DecryptStream, EncryptStream, HEADER_BYTES } from '../../src/crypto/stream-aead.js';
import { openStore, type ObjectStore } from '../../src/storage/index.js';
import { FuzzFailure, applyMutations, chunkingArb, chunksOf, fuzzIt, guardAsync, mutationArb, printCounts, randomAfter, randomBytes, type Sample } from './support.js';

afterAll(() => printCounts('crypto-digests'));

/** Each input is a stream pipeline: fewer runs in the short mode (FuzzOptions.cost). */
const STREAM_COST = { cost: 2 };

const dataKey = cryptoRandomBytes(32);
const crypto = fileCrypto(dataKey);
const store: ObjectStore = await openStore('mem://fuzz-digests/', 'write');
let files = 0;
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Runs `bytes` (in `chunks`) through `transform`; what came out before it ended or failed, and how. */
async function through(transform: NodeJS.ReadWriteStream & Writable, chunks: Buffer[]): Promise<{ out: Buffer; error?: Error }> {
  const out: Buffer[] = [];
  try {
    await pipeline(
      Readable.from(chunks),
      transform,
      new Writable({
        write(c: Buffer, _e, cb) {
          out.push(c);
          cb();
        },
      }),
    );
    return { out: Buffer.concat(out) };
  } catch (error) {
    return { out: Buffer.concat(out), error: error as Error };
  }
}

async function encrypt(plain: Buffer, name: string, segment: number): Promise<Buffer> {
  return (await through(new EncryptStream(dataKey, name, segment), [plain])).out;
}

// ---------------------------------------------------------------------------
// DecryptStream

interface Sealed {
  plain: Buffer;
  name: string;
  segment: number;
  sealed: Sample;
}

const SEGMENTS = [1024, 1500, 4096];
const sealedArb: fc.Arbitrary<Promise<Sealed>> = fc
  .tuple(fc.uint8Array({ maxLength: 5000 }), fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom(...SEGMENTS))
  .map(async ([p, name, segment]) => {
    const plain = Buffer.from(p);
    const bytes = await encrypt(plain, name, segment);
    // The header's version, segment size; then where each segment's tag ends.
    const u32s = [5];
    for (let at = HEADER_BYTES + segment + 16; at < bytes.length; at += segment + 16) u32s.push(at - 4);
    return { plain, name, segment, sealed: { bytes, u32s, u8s: [4] } };
  });

describe('fuzz: DecryptStream (encrypted files)', () => {
  const parser = 'DecryptStream';

  fuzzIt(
    parser,
    'encrypted files decrypt to their plaintext, whatever the chunking',
    fc.tuple(sealedArb, chunkingArb),
    async ([sealed, cuts]) => {
      const s = await sealed;
      const r = await guardAsync(s.sealed.bytes, [], () => through(new DecryptStream(dataKey, s.name, 'f'), chunksOf(s.sealed.bytes, cuts)));
      if (!r.ok) throw r.error;
      if (r.value.error) throw r.value.error;
      expect(r.value.out.equals(s.plain)).toBe(true);
    },
    { ...STREAM_COST, share: 0.1 },
  );

  fuzzIt(
    parser,
    'altered files fail with DecryptError, having let out only authenticated whole segments',
    fc.tuple(sealedArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), chunkingArb, fc.boolean()),
    async ([sealed, ms, cuts, renamed]) => {
      const s = await sealed;
      const bytes = applyMutations(s.sealed, ms);
      const name = renamed ? `${s.name}.other` : s.name;
      const r = await guardAsync(bytes, [], () => through(new DecryptStream(dataKey, name, 'f'), chunksOf(bytes, cuts)));
      if (!r.ok) throw r.error;
      const { out, error } = r.value;
      if (error === undefined) {
        if (!bytes.equals(s.sealed.bytes) || renamed) throw new FuzzFailure('an altered or renamed file decrypted', bytes);
        expect(out.equals(s.plain)).toBe(true);
        return;
      }
      if (!(error instanceof DecryptError)) throw new FuzzFailure(`failed with ${error.constructor.name}: ${error.message}`, bytes, error);
      if (out.length % s.segment !== 0 || !out.equals(s.plain.subarray(0, out.length))) throw new FuzzFailure(`let out ${out.length} bytes that are not whole authenticated segments`, bytes);
    },
    { ...STREAM_COST, share: 0.6 },
  );

  fuzzIt(
    parser,
    'random bytes (alone, after a valid header) fail with DecryptError',
    fc.tuple(fc.oneof(randomBytes(), randomAfter(fc.constant(Buffer.from('AEBK\x01\x00\x00\x04\x00', 'latin1')), 2048)), chunkingArb),
    async ([bytes, cuts]) => {
      const r = await guardAsync(bytes, [], () => through(new DecryptStream(dataKey, 'f', 'f'), chunksOf(bytes, cuts)));
      if (!r.ok) throw r.error;
      if (!(r.value.error instanceof DecryptError)) throw new FuzzFailure(`random bytes gave ${r.value.error ? r.value.error.constructor.name : 'a plaintext'}`, bytes);
    },
    { ...STREAM_COST, share: 0.3 },
  );
});

describe('fuzz: openBuffer (encrypted metadata file)', () => {
  const parser = 'openBuffer';
  const sealedBufferArb = fc.tuple(fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 8 })).map(async ([p, name]) => ({ plain: Buffer.from(p), name, bytes: await sealBuffer(crypto, name, Buffer.from(p)) }));

  fuzzIt(
    parser,
    'sealed buffers open to their plaintext',
    sealedBufferArb,
    async (sealed) => {
      const s = await sealed;
      const r = await guardAsync(s.bytes, [], () => openBuffer(crypto, s.name, 'f', s.bytes));
      if (!r.ok) throw r.error;
      expect(r.value.equals(s.plain)).toBe(true);
    },
    { ...STREAM_COST, share: 0.1 },
  );
  fuzzIt(
    parser,
    'altered or random buffers fail with DecryptError',
    fc.tuple(sealedBufferArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), randomBytes(), fc.nat({ max: 9 })),
    async ([sealed, ms, random, pick]) => {
      const s = await sealed;
      const bytes = pick === 0 ? random : applyMutations({ bytes: s.bytes, u32s: [5] }, ms);
      const r = await guardAsync(bytes, [DecryptError], () => openBuffer(crypto, s.name, 'f', bytes));
      if (r.ok && !bytes.equals(s.bytes)) throw new FuzzFailure('an altered buffer opened', bytes);
    },
    { ...STREAM_COST, share: 0.9 },
  );
});

// ---------------------------------------------------------------------------
// Live-digest lists

interface DigestListCase {
  /** Partition → its digests in order (as the file holds them). */
  sections: Array<{ partition: number; digests: Buffer[] }>;
  sample: Sample;
  entryPartitions: DigestListEntry['partitions'];
  wanted: (p: number) => boolean;
}

const digestListArb: fc.Arbitrary<DigestListCase> = fc
  .tuple(
    fc.uniqueArray(fc.nat({ max: 4095 }), { maxLength: 5 }),
    fc.array(fc.array(fc.uint8Array({ minLength: 20, maxLength: 20 }), { maxLength: 6 }), { minLength: 5, maxLength: 5 }),
    fc.boolean(),
    fc.nat({ max: 3 }),
  )
  .map(([ids, digestSets, asRange, wantedMod]) => {
    const partitions = [...ids].sort((a, b) => a - b);
    const parts: Buffer[] = [digestListHeader()];
    const u32s: number[] = [];
    let at = parts[0]!.length;
    const sections = partitions.map((p, i) => {
      const strings = digestSets[i]!.map((d) => {
        const b = Buffer.from(d);
        b[0] = p & 0xff;
        b[1] = (b[1]! & 0xf0) | (p >> 8);
        return b.toString('latin1');
      });
      const section = digestListSection(p, strings);
      u32s.push(at, at + 4);
      at += section.length;
      parts.push(section);
      return { partition: p, digests: strings.map((s) => Buffer.from(s, 'latin1')) };
    });
    const entryPartitions: DigestListEntry['partitions'] =
      asRange && partitions.length > 0 ? { first: partitions[0]!, last: partitions[partitions.length - 1]! } : partitions.length > 0 ? partitions : { first: 0, last: 0 };
    return { sections, sample: { bytes: Buffer.concat(parts), u32s, u8s: [8] }, entryPartitions, wanted: (p: number) => wantedMod === 0 || p % wantedMod === 0 };
  });

/**
 * Stores a digest list and reads it: `plain` as it is or sealed (encrypted), or the bytes
 * `storedFor` makes for the file's name. The entry matches what is stored, or (`matchEntry`
 * false) says what the valid list would be. Returns the digests handed over, or the error.
 */
async function readList(
  c: DigestListCase,
  content: { plain: Buffer } | { storedFor: (name: string) => Promise<Buffer> },
  encrypted: boolean,
  matchEntry: boolean,
): Promise<{ digests: string[] } | { error: Error }> {
  const name = `ns_${files++}.digests`;
  const stored = 'plain' in content ? (encrypted ? await sealBuffer(crypto, name, content.plain) : content.plain) : await content.storedFor(name);
  await store.write(name, [stored]);
  const total = c.sections.reduce((n, s) => n + s.digests.length, 0);
  const original = encrypted ? stored : c.sample.bytes;
  const entry: DigestListEntry = matchEntry
    ? { name, size: stored.length, sha256: sha256(stored), digests: total, partitions: c.entryPartitions }
    : { name, size: original.length, sha256: sha256(original), digests: total, partitions: c.entryPartitions };
  const digests: string[] = [];
  try {
    await readDigestList(store, name, entry, c.wanted, (p, bytes, offset) => digests.push(`${p}:${bytes.toString('hex', offset, offset + 20)}`), undefined, encrypted ? crypto.decrypt(name, name) : undefined);
    return { digests };
  } catch (error) {
    return { error: error as Error };
  }
}

describe('fuzz: readDigestList (live-digest lists)', () => {
  const parser = 'readDigestList';

  fuzzIt(
    parser,
    'valid lists hand over the digests of the wanted partitions, plain and encrypted',
    fc.tuple(digestListArb, fc.boolean()),
    async ([c, encrypted]) => {
      const r = await guardAsync(c.sample.bytes, [], () => readList(c, { plain: c.sample.bytes }, encrypted, true));
      if (!r.ok) throw r.error;
      if ('error' in r.value) throw r.value.error;
      const expected = c.sections.filter((s) => c.wanted(s.partition)).flatMap((s) => [...new Set(s.digests.map((d) => d.toString('hex')))].sort().map((d) => `${s.partition}:${d}`));
      expect(r.value.digests).toEqual(expected);
    },
    { ...STREAM_COST, share: 0.1 },
  );

  const allowedFor = (encrypted: boolean) => (e: Error) => e instanceof DigestListError || (encrypted && e instanceof DecryptError);

  fuzzIt(
    parser,
    'mutated lists (entry matching, or as written) hand over digests or fail with DigestListError',
    fc.tuple(digestListArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.boolean()),
    async ([c, ms, encrypted, matching]) => {
      const bytes = applyMutations(c.sample, ms);
      const r = await guardAsync(bytes, [], () => readList(c, { plain: bytes }, encrypted, matching));
      if (!r.ok) throw r.error;
      if ('error' in r.value) {
        if (!allowedFor(encrypted)(r.value.error)) throw new FuzzFailure(`failed with ${r.value.error.constructor.name}: ${r.value.error.message}`, bytes, r.value.error);
      } else if (!matching && !encrypted && !bytes.equals(c.sample.bytes)) {
        throw new FuzzFailure('an altered list read against the entry it was written with', bytes);
      }
    },
    { ...STREAM_COST, share: 0.6 },
  );

  fuzzIt(
    parser,
    'encrypted lists altered as stored, and random bytes, fail with DigestListError / DecryptError',
    fc.tuple(digestListArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 }), randomBytes(), fc.boolean()),
    async ([c, ms, random, useRandom]) => {
      let bytes: Buffer = random;
      const storedFor = async (name: string) => (useRandom ? random : (bytes = applyMutations({ bytes: await sealBuffer(crypto, name, c.sample.bytes), u32s: [5] }, ms)));
      const r = await guardAsync(undefined, [], () => readList(c, { storedFor }, !useRandom, true));
      if (!r.ok) throw r.error;
      if ('error' in r.value && !allowedFor(true)(r.value.error)) throw new FuzzFailure(`failed with ${r.value.error.constructor.name}: ${r.value.error.message}`, bytes, r.value.error);
    },
    { ...STREAM_COST, share: 0.3 },
  );
});
