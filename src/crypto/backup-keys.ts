/**
 * The keys of one encrypted backup in its store: the key objects (`keys/<kek id>.json`,
 * the data key wrapped for each KEK), the manifest's MAC (`manifest.hmac`), and the
 * FileCrypto its files are read and written with.
 *
 *   backup:  data key made (one KMS call with a KMS) ─> keys/<id>.json (exclusive create)
 *            ─> files encrypted ─> manifest.hmac ─> manifest.json
 *   read:    manifest.json ─> the key object of the KEK given ─> data key (one KMS call)
 *            ─> manifest.hmac checked ─> files decrypted
 */
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AerobakError } from '../errors.js';
import { readAll } from '../storage/small-objects.js';
import type { ObjectStore } from '../storage/types.js';
import { KEYS_DIRECTORY, KEY_OBJECT_FORMAT, WrongKeyError, macMatches, manifestMac, type Kek, type KeyObject } from './keys.js';
import { DecryptStream, EncryptStream, SEGMENT_BYTES } from './stream-aead.js';

export const MAC_FILE = 'manifest.hmac';

/** Encrypts and decrypts the files of one backup; `name` is the file's name in the backup (part of its key). */
export interface FileCrypto {
  readonly segmentBytes: number;
  encrypt(name: string): Transform;
  decrypt(name: string, where: string): Transform;
  /** The MAC of a manifest whose stored bytes have this SHA-256. */
  mac(manifestSha256: string): string;
  macMatches(manifestSha256: string, mac: string): boolean;
}

export function fileCrypto(dataKey: Buffer): FileCrypto {
  return {
    segmentBytes: SEGMENT_BYTES,
    encrypt: (name) => new EncryptStream(dataKey, name),
    decrypt: (name, where) => new DecryptStream(dataKey, name, where),
    mac: (sha) => manifestMac(dataKey, sha),
    macMatches: (sha, mac) => macMatches(dataKey, sha, mac),
  };
}

function join(prefix: string, name: string): string {
  const p = prefix.replace(/\/+$/, '');
  return p === '' ? name : `${p}/${name}`;
}

export function keyObjectName(id: string): string {
  return `${KEYS_DIRECTORY}/${id}.json`;
}

/** The backup's manifest or key material was altered: the MAC does not match, or is missing. */
export class ManifestAuthError extends AerobakError {
  constructor(location: string, detail: string) {
    super('failed', 'MANIFEST_NOT_AUTHENTIC', `the manifest of the encrypted backup at ${location} ${detail}`);
  }
}

/** A backup is encrypted but no key was given. */
export class KeyRequiredError extends AerobakError {
  constructor(location: string) {
    super('usage', 'KEY_REQUIRED', `the backup at ${location} is encrypted: give its key with --key-file, --key-env, --passphrase-file or --kms`);
  }
}

/** Makes the data key of a new backup and stores its key object; returns the backup's FileCrypto. */
export async function createBackupKey(store: ObjectStore, prefix: string, kek: Kek, signal?: AbortSignal): Promise<FileCrypto> {
  const { dataKey, keyObject } = await kek.newDataKey();
  await storeKeyObject(store, prefix, keyObject, signal);
  return fileCrypto(dataKey);
}

export async function storeKeyObject(store: ObjectStore, prefix: string, obj: KeyObject, signal?: AbortSignal): Promise<void> {
  const bytes = Buffer.from(`${JSON.stringify(obj, null, 2)}\n`);
  const key = join(prefix, keyObjectName(obj.kek.id));
  if (store.capabilities.exclusiveCreate) await store.create(key, [bytes], signal ? { signal } : {});
  else await store.write(key, [bytes], signal ? { signal } : {});
}

/** Every key object of the backup at `prefix`. */
export async function keyObjects(store: ObjectStore, prefix: string): Promise<Array<{ key: string; obj: KeyObject }>> {
  const out: Array<{ key: string; obj: KeyObject }> = [];
  for await (const o of store.list(join(prefix, `${KEYS_DIRECTORY}/`))) {
    if (!o.key.endsWith('.json')) continue;
    const obj = JSON.parse((await readAll(await store.read(o.key))).toString('utf8')) as KeyObject;
    if (obj.format === KEY_OBJECT_FORMAT) out.push({ key: o.key, obj });
  }
  return out;
}

/** The key object of `kek` in the backup, or undefined. */
export async function findKeyObject(store: ObjectStore, prefix: string, kek: Kek): Promise<KeyObject | undefined> {
  if (kek.id !== undefined) {
    const key = join(prefix, keyObjectName(kek.id));
    if ((await store.stat(key)) === null) return undefined;
    const obj = JSON.parse((await readAll(await store.read(key))).toString('utf8')) as KeyObject;
    return (await kek.matches(obj)) ? obj : undefined;
  }
  for (const { obj } of await keyObjects(store, prefix)) if (await kek.matches(obj)) return obj;
  return undefined;
}

/** The data key of the backup, unwrapped with `kek` (one KMS call with a KMS); WrongKeyError if it has none for it. */
export async function unwrapDataKey(store: ObjectStore, prefix: string, kek: Kek, location: string): Promise<Buffer> {
  const obj = await findKeyObject(store, prefix, kek);
  if (!obj) {
    const have = (await keyObjects(store, prefix)).map((k) => k.obj.kek.id);
    throw new WrongKeyError(location, have.length === 0 ? 'it has no key objects (keys/ is missing)' : `it has no key object for ${kek.describe} (it has keys/${have.join('.json, keys/')}.json)`);
  }
  return kek.unwrap(obj, location);
}

/**
 * The FileCrypto of an existing backup, after checking its manifest's MAC: the manifest
 * whose stored bytes have SHA-256 `manifestSha256` is the one the data key's owner wrote.
 */
export async function openBackupKey(store: ObjectStore, prefix: string, kek: Kek, location: string, manifestSha256: string): Promise<FileCrypto> {
  const crypto = fileCrypto(await unwrapDataKey(store, prefix, kek, location));
  const macKey = join(prefix, MAC_FILE);
  if ((await store.stat(macKey)) === null) throw new ManifestAuthError(location, `has no ${MAC_FILE}: it cannot be authenticated`);
  const mac = (await readAll(await store.read(macKey))).toString('utf8').trim();
  if (!crypto.macMatches(manifestSha256, mac)) throw new ManifestAuthError(location, `does not match its MAC (${MAC_FILE}): the manifest was edited, or swapped with another backup's`);
  return crypto;
}

/** Stores the MAC of the manifest about to be written (before it: a complete backup always has its MAC). */
export async function writeManifestMac(store: ObjectStore, prefix: string, crypto: FileCrypto, manifestSha256: string, signal?: AbortSignal): Promise<void> {
  await store.write(join(prefix, MAC_FILE), [Buffer.from(`${crypto.mac(manifestSha256)}\n`)], signal ? { signal } : {});
}

/** A small file encrypted whole (the metadata file). */
export async function sealBuffer(crypto: FileCrypto, name: string, bytes: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([bytes]), crypto.encrypt(name), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

/** A small encrypted file decrypted whole; rejects with DecryptError naming `where`. */
export async function openBuffer(crypto: FileCrypto, name: string, where: string, bytes: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([bytes]), crypto.decrypt(name, where), new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}
