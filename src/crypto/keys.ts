/**
 * Envelope keys of an encrypted backup (docs/security.md, "Keys"):
 *
 *   data key (32 random bytes, one per backup)
 *     ├─ per-file keys: HKDF-SHA256(data key, the file's salt, its name)   (stream-aead.ts)
 *     ├─ manifest MAC key: HKDF-SHA256(data key, "", "aerobak manifest mac v1")
 *     └─ wrapped for a key-encryption key (KEK) in `keys/<kek id>.json` beside the manifest
 *
 * A KEK is a 32-byte key (--key-file, --key-env), a key derived from a passphrase with
 * scrypt (--passphrase-file; salt and parameters in the key object), or a KMS key that
 * never leaves the KMS (--kms; kms.ts). A local KEK wraps the data key with AES-256-GCM
 * (random nonce, the KEK's id as AAD). The KEK's id names its key object: for a local key
 * an HMAC of the key (it reveals nothing of it), for a KMS key a hash of its name.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { AerobakError, UsageError } from '../errors.js';

const scrypt = promisify(scryptCb) as (password: Buffer, salt: Buffer, keylen: number, options: { N: number; r: number; p: number; maxmem: number }) => Promise<Buffer>;

export const KEY_OBJECT_FORMAT = 'aerobak-key';
export const KEY_OBJECT_VERSION = 1;
export const KEYS_DIRECTORY = 'keys';

/** scrypt cost of a passphrase's KEK: N = 2^17, r = 8, p = 1 (128 MiB, about half a second here). */
export const SCRYPT_PARAMS = { N: 2 ** 17, r: 8, p: 1 } as const;

export type KekType = 'key' | 'passphrase' | 'aws-kms' | 'gcp-kms';

/** `keys/<id>.json`: the data key of one backup, wrapped for one KEK. */
export interface KeyObject {
  format: typeof KEY_OBJECT_FORMAT;
  version: number;
  kek: {
    type: KekType;
    id: string;
    /** For a passphrase: how its KEK is derived. */
    kdf?: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
    /** For a KMS key: its name (ARN or resource name). */
    kmsKey?: string;
  };
  /** base64: nonce (12) | AES-256-GCM ciphertext (32) | tag (16) for a local KEK; the KMS's ciphertext for a KMS key. */
  wrapped: string;
  createdAt: string;
}

/** The key given cannot open the backup: no key object for it, or one that does not unwrap. */
export class WrongKeyError extends AerobakError {
  constructor(location: string, detail: string) {
    super('failed', 'WRONG_KEY', `the key given does not open the backup at ${location}: ${detail}`);
  }
}

/** A key-encryption key: wraps and unwraps data keys. */
export interface Kek {
  readonly type: KekType;
  /**
   * Names the key object; undefined when the object is found by matching instead: a
   * passphrase (its id depends on each key object's salt), a KMS key (given by alias, ARN
   * or id, matched against the names the key object records).
   */
  readonly id: string | undefined;
  /** What the person gave, for messages (never the key itself). */
  readonly describe: string;
  /** A new data key and its key object (a KMS makes the key: one call). */
  newDataKey(): Promise<{ dataKey: Buffer; keyObject: KeyObject }>;
  /** The key object of an existing data key (rekey). */
  wrap(dataKey: Buffer): Promise<KeyObject>;
  /** Whether `obj` was made for this KEK (by type and id; for a passphrase, by deriving). */
  matches(obj: KeyObject): Promise<boolean>;
  /** The data key; throws WrongKeyError naming `location` if it does not unwrap. */
  unwrap(obj: KeyObject, location: string): Promise<Buffer>;
}

/** The id of a local KEK: an HMAC of it, so that it names the key without revealing it. */
export function localKekId(kek: Buffer): string {
  return `key-${createHmac('sha256', kek).update('aerobak kek id v1').digest('hex').slice(0, 16)}`;
}

function wrapLocal(kek: Buffer, id: string, dataKey: Buffer): string {
  const nonce = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', kek, nonce);
  cipher.setAAD(Buffer.from(`aerobak data key v1 ${id}`));
  return Buffer.concat([nonce, cipher.update(dataKey), cipher.final(), cipher.getAuthTag()]).toString('base64');
}

function unwrapLocal(kek: Buffer, id: string, wrapped: string, location: string): Buffer {
  const bytes = Buffer.from(wrapped, 'base64');
  if (bytes.length !== 12 + 32 + 16) throw new WrongKeyError(location, `key object ${id} holds ${bytes.length} bytes, not a wrapped key`);
  const decipher = createDecipheriv('aes-256-gcm', kek, bytes.subarray(0, 12));
  decipher.setAAD(Buffer.from(`aerobak data key v1 ${id}`));
  decipher.setAuthTag(bytes.subarray(44));
  try {
    return Buffer.concat([decipher.update(bytes.subarray(12, 44)), decipher.final()]);
  } catch {
    throw new WrongKeyError(location, `the data key in keys/${id}.json does not unwrap with it (the key object was replaced or altered)`);
  }
}

function keyObject(kek: KeyObject['kek'], wrapped: string): KeyObject {
  return { format: KEY_OBJECT_FORMAT, version: KEY_OBJECT_VERSION, kek, wrapped, createdAt: new Date().toISOString() };
}

/** A 32-byte key as the KEK (--key-file, --key-env). */
export function rawKek(key: Buffer, describe: string): Kek {
  if (key.length !== 32) throw new UsageError(`${describe}: a key is 32 bytes, this one is ${key.length}`);
  const id = localKekId(key);
  const self: Kek = {
    type: 'key',
    id,
    describe,
    async newDataKey() {
      const dataKey = randomBytes(32);
      return { dataKey, keyObject: await self.wrap(dataKey) };
    },
    async wrap(dataKey) {
      return keyObject({ type: 'key', id }, wrapLocal(key, id, dataKey));
    },
    async matches(obj) {
      return obj.kek.type === 'key' && obj.kek.id === id;
    },
    async unwrap(obj, location) {
      return unwrapLocal(key, id, obj.wrapped, location);
    },
  };
  return self;
}

/** A passphrase as the KEK: scrypt with a salt of each key object's own. */
export function passphraseKek(passphrase: Buffer, describe: string): Kek {
  if (passphrase.length < 8) throw new UsageError(`${describe}: the passphrase is ${passphrase.length} bytes; use at least 8 (better: a long random one)`);
  const derive = (salt: Buffer, p: { N: number; r: number; p: number }) => scrypt(passphrase, salt, 32, { ...p, maxmem: 256 * p.N * p.r + 16 * 1024 * 1024 });
  const idOf = (kek: Buffer) => `passphrase-${localKekId(kek).slice(4)}`;
  const self: Kek = {
    type: 'passphrase',
    id: undefined,
    describe,
    async newDataKey() {
      const dataKey = randomBytes(32);
      return { dataKey, keyObject: await self.wrap(dataKey) };
    },
    async wrap(dataKey) {
      const salt = randomBytes(16);
      const kek = await derive(salt, SCRYPT_PARAMS);
      const id = idOf(kek);
      return keyObject({ type: 'passphrase', id, kdf: { name: 'scrypt', ...SCRYPT_PARAMS, salt: salt.toString('base64') } }, wrapLocal(kek, id, dataKey));
    },
    async matches(obj) {
      if (obj.kek.type !== 'passphrase' || obj.kek.kdf?.name !== 'scrypt') return false;
      // Ids are not secret: a plain comparison.
      return idOf(await derive(Buffer.from(obj.kek.kdf.salt, 'base64'), obj.kek.kdf)) === obj.kek.id;
    },
    async unwrap(obj, location) {
      const kdf = obj.kek.kdf;
      if (kdf?.name !== 'scrypt') throw new WrongKeyError(location, `key object ${obj.kek.id} is not a passphrase's`);
      const kek = await derive(Buffer.from(kdf.salt, 'base64'), kdf);
      return unwrapLocal(kek, obj.kek.id, obj.wrapped, location);
    },
  };
  return self;
}

/**
 * The key in a key file: exactly 32 bytes are the raw key; otherwise the text, trimmed,
 * is 64 hex digits, or base64 (or base64url) of 32 bytes. Anything else is refused.
 */
export function parseKeyFile(bytes: Buffer, path: string): Buffer {
  if (bytes.length === 32) return Buffer.from(bytes);
  const text = bytes.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    if (key.length === 32) return key;
  }
  throw new UsageError(`key file ${path}: not a 32-byte key (expected 32 raw bytes, 64 hex digits, or base64 of 32 bytes); make one with: head -c 32 /dev/urandom | base64 > ${path}`);
}

/** The key in an environment variable: base64 of 32 bytes. */
export function parseKeyEnv(value: string | undefined, variable: string): Buffer {
  if (value === undefined || value === '') throw new UsageError(`--key-env ${variable}: the variable is not set`);
  const key = Buffer.from(value.trim(), 'base64');
  if (key.length !== 32) throw new UsageError(`--key-env ${variable}: not base64 of 32 bytes (it decodes to ${key.length})`);
  return key;
}

/** The key of the manifest MAC. */
export function manifestMacKey(dataKey: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, Buffer.alloc(0), Buffer.from('aerobak manifest mac v1'), 32));
}

/** The MAC of a manifest: HMAC-SHA256 under the MAC key of the SHA-256 (hex) of its stored bytes. */
export function manifestMac(dataKey: Buffer, manifestSha256: string): string {
  return createHmac('sha256', manifestMacKey(dataKey)).update(`aerobak manifest ${manifestSha256}`).digest('hex');
}

export function macMatches(dataKey: Buffer, manifestSha256: string, mac: string): boolean {
  const want = Buffer.from(manifestMac(dataKey, manifestSha256), 'hex');
  const got = Buffer.from(mac, 'hex');
  return got.length === want.length && timingSafeEqual(got, want);
}
