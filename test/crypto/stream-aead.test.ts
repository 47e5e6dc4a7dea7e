/**
 * The encrypted file stream on its own: round trips at every size class around the
 * segment boundary, and each kind of tampering fails with a DecryptError before any of
 * the bad segment's plaintext comes out.
 */
import { randomBytes } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { DecryptError, DecryptStream, EncryptStream, HEADER_BYTES, TAG_BYTES, encryptedSize } from '../../src/crypto/stream-aead.js';

const SEGMENT = 4096;
const key = randomBytes(32);

async function run(input: Buffer, stream: NodeJS.ReadWriteStream, chunk = 1000): Promise<{ out: Buffer; error?: unknown }> {
  const parts: Buffer[] = [];
  const chunks = Array.from({ length: Math.ceil(input.length / chunk) }, (_, i) => input.subarray(i * chunk, (i + 1) * chunk));
  try {
    await pipeline(Readable.from(chunks), stream as never, new Writable({ write: (c: Buffer, _e, cb) => (parts.push(c), cb()) }));
    return { out: Buffer.concat(parts) };
  } catch (error) {
    return { out: Buffer.concat(parts), error };
  }
}

const encrypt = async (plain: Buffer, name = 'f', k = key) => (await run(plain, new EncryptStream(k, name, SEGMENT))).out;
const decrypt = (sealed: Buffer, name = 'f', k = key) => run(sealed, new DecryptStream(k, name, `x/${name}`), 777);

describe('encrypted file streams', () => {
  it.each([0, 1, SEGMENT - 1, SEGMENT, SEGMENT + 1, 3 * SEGMENT, 3 * SEGMENT + 5])('round-trip %i bytes, at the predicted size', async (n) => {
    const plain = randomBytes(n);
    const sealed = await encrypt(plain);
    expect(sealed.length).toBe(encryptedSize(n, SEGMENT));
    const { out, error } = await decrypt(sealed);
    expect(error).toBeUndefined();
    expect(out.equals(plain)).toBe(true);
  });

  const plain = randomBytes(3 * SEGMENT + 100);
  const sealedLength = encryptedSize(plain.length, SEGMENT);
  const segmentStart = (i: number) => HEADER_BYTES + i * (SEGMENT + TAG_BYTES);

  it.each([
    ['the header', 10],
    ['the first segment', segmentStart(0) + 5],
    ['a middle segment', segmentStart(1) + 100],
    ['the last segment', sealedLength - 3],
  ])('a flipped bit in %s fails, and nothing of the bad segment comes out', async (_what, at) => {
    const sealed = await encrypt(plain);
    sealed[at as number]! ^= 0x01;
    const { out, error } = await decrypt(sealed);
    expect(error).toBeInstanceOf(DecryptError);
    // Only whole segments before the bad one can have come out.
    expect(out.length % SEGMENT).toBe(0);
    expect(out.equals(plain.subarray(0, out.length))).toBe(true);
    expect(out.length).toBeLessThanOrEqual(Math.max(0, ((at as number) - HEADER_BYTES) / (SEGMENT + TAG_BYTES)) * SEGMENT);
  });

  it('a file truncated at a segment boundary, or inside one, fails', async () => {
    const sealed = await encrypt(plain);
    for (const cut of [segmentStart(2), segmentStart(1) + 50, HEADER_BYTES, 20]) {
      const { error } = await decrypt(sealed.subarray(0, cut));
      expect(error, `cut at ${cut}`).toBeInstanceOf(DecryptError);
    }
  });

  it('reordered segments fail', async () => {
    const sealed = await encrypt(plain);
    const a = sealed.subarray(segmentStart(0), segmentStart(1));
    const b = sealed.subarray(segmentStart(1), segmentStart(2));
    const swapped = Buffer.concat([sealed.subarray(0, HEADER_BYTES), b, a, sealed.subarray(segmentStart(2))]);
    expect((await decrypt(swapped)).error).toBeInstanceOf(DecryptError);
  });

  it('a file under another name, or another key, fails at its first segment', async () => {
    const sealed = await encrypt(plain, 'test_00_00000.avro.zst');
    const renamed = await decrypt(sealed, 'test_00_00001.avro.zst');
    expect(renamed.error).toBeInstanceOf(DecryptError);
    expect(renamed.out.length).toBe(0);
    const otherKey = await run(sealed, new DecryptStream(randomBytes(32), 'test_00_00000.avro.zst', 'x'));
    expect(otherKey.error).toBeInstanceOf(DecryptError);
    expect(otherKey.out.length).toBe(0);
  });

  it('refuses a file that is not encrypted', async () => {
    const { error } = await decrypt(Buffer.from('Obj\x01 plain avro file that is long enough to have a header'));
    expect((error as Error).message).toMatch(/not an aerobak encrypted file/);
  });

  it('two encryptions of the same bytes differ (a salt and nonce prefix per file)', async () => {
    const a = await encrypt(plain);
    const b = await encrypt(plain);
    expect(a.equals(b)).toBe(false);
  });
});
