/** Key sources: the key file rule, env keys, passphrases (scrypt), wrapping and unwrapping. */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseKeyEnv, parseKeyFile, passphraseKek, rawKek, WrongKeyError } from '../../src/crypto/keys.js';

describe('key sources', () => {
  const key = randomBytes(32);

  it('reads a key file as 32 raw bytes, 64 hex digits, or base64 of 32 bytes', () => {
    expect(parseKeyFile(key, 'k').equals(key)).toBe(true);
    expect(parseKeyFile(Buffer.from(`${key.toString('hex')}\n`), 'k').equals(key)).toBe(true);
    expect(parseKeyFile(Buffer.from(`  ${key.toString('base64')}\n`), 'k').equals(key)).toBe(true);
    expect(parseKeyFile(Buffer.from(key.toString('base64url')), 'k').equals(key)).toBe(true);
    expect(() => parseKeyFile(Buffer.from('short'), '/etc/k')).toThrow(/key file \/etc\/k: not a 32-byte key/);
    expect(() => parseKeyFile(randomBytes(33), 'k')).toThrow(/not a 32-byte key/);
  });

  it('reads an env key as base64 of 32 bytes', () => {
    expect(parseKeyEnv(key.toString('base64'), 'V').equals(key)).toBe(true);
    expect(() => parseKeyEnv(undefined, 'AEROBAK_KEY')).toThrow(/AEROBAK_KEY: the variable is not set/);
    expect(() => parseKeyEnv(randomBytes(16).toString('base64'), 'V')).toThrow(/decodes to 16/);
  });

  it('wraps a data key for a raw key; another key cannot unwrap it, and the error names no key', async () => {
    const kek = rawKek(key, 'key file a');
    const { dataKey, keyObject } = await kek.newDataKey();
    expect(await kek.unwrap(keyObject, 'loc')).toEqual(dataKey);
    expect(JSON.stringify(keyObject)).not.toContain(key.toString('base64'));
    expect(JSON.stringify(keyObject)).not.toContain(dataKey.toString('base64'));
    const other = rawKek(randomBytes(32), 'key file b');
    expect(await other.matches(keyObject)).toBe(false);
    const tampered = { ...keyObject, wrapped: Buffer.from(randomBytes(60)).toString('base64') };
    await expect(kek.unwrap(tampered, 'loc')).rejects.toBeInstanceOf(WrongKeyError);
  });

  it('derives a passphrase key with scrypt, with the salt and parameters in the key object', async () => {
    const kek = passphraseKek(Buffer.from('correct horse battery staple'), 'passphrase');
    const { dataKey, keyObject } = await kek.newDataKey();
    expect(keyObject.kek.kdf).toMatchObject({ name: 'scrypt', N: 2 ** 17, r: 8, p: 1 });
    expect(await kek.matches(keyObject)).toBe(true);
    expect(await kek.unwrap(keyObject, 'loc')).toEqual(dataKey);
    expect(await passphraseKek(Buffer.from('wrong horse battery staple'), 'p').matches(keyObject)).toBe(false);
    expect(() => passphraseKek(Buffer.from('short'), 'the passphrase in p')).toThrow(/at least 8/);
  }, 20_000);
});
