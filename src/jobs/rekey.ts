/**
 * `aerobak rekey`: wraps the data key of encrypted backups for a new key-encryption key,
 * as a new key object beside the old one (keys/<new id>.json), without touching the data
 * files or the manifest (an incremental names its parent by its manifest's SHA-256, so
 * the manifest never changes). The old key object is removed only when asked, and only
 * after the new one is stored and opens the backup.
 *
 * LOCATION is a backup, or a repository: then every complete encrypted backup in it.
 */
import { AerobakError, UsageError } from '../errors.js';
import { openStore } from '../storage/index.js';
import type { ObjectStore, StoreOpener } from '../storage/types.js';
import { fileCrypto, findKeyObject, keyObjectName, ManifestAuthError, MAC_FILE, storeKeyObject, unwrapDataKey } from '../crypto/backup-keys.js';
import type { Kek } from '../crypto/keys.js';
import { readAll } from '../storage/small-objects.js';
import { listBackups } from './list.js';
import { readManifestAndHash, MANIFEST_FILE } from './manifest.js';
import { objectKey } from './data-files.js';

export interface RekeyOptions {
  location: string;
  key: Kek;
  newKey: Kek;
  /** Remove the old key's object once the new one is stored and checked. */
  removeOld?: boolean;
}

export interface RekeyedBackup {
  location: string;
  added: string;
  removed?: string;
}

export interface RekeySummary {
  backups: RekeyedBackup[];
  /** Complete backups in the location that are not encrypted (left alone). */
  unencrypted: number;
}

/** Rekeys the backup at `prefix` of `store`. */
async function rekeyOne(store: ObjectStore, prefix: string, location: string, opts: RekeyOptions): Promise<RekeyedBackup> {
  const { manifest, sha256 } = await readManifestAndHash(store, prefix);
  if (!manifest.encryption) throw new UsageError(`the backup at ${location} is not encrypted: there is no key to rewrap`);
  const old = await findKeyObject(store, prefix, opts.key);
  const dataKey = await unwrapDataKey(store, prefix, opts.key, location);
  // The old key must open a backup whose manifest authenticates: rekey never blesses an altered backup.
  const mac = (await readAll(await store.read(objectKey(prefix, MAC_FILE)))).toString('utf8').trim();
  if (!fileCrypto(dataKey).macMatches(sha256, mac)) throw new ManifestAuthError(location, `does not match its MAC (${MAC_FILE}): not rekeyed`);
  const wrapped = await opts.newKey.wrap(dataKey);
  if (wrapped.kek.id === old!.kek.id) throw new UsageError(`the new key is the key the backup at ${location} already has`);
  try {
    await storeKeyObject(store, prefix, wrapped);
  } catch (error) {
    if ((error as { code?: string }).code === 'ALREADY_EXISTS') throw new AerobakError('failed', 'KEY_EXISTS', `the backup at ${location} already has a key object for ${opts.newKey.describe}`);
    throw error;
  }
  const check = await unwrapDataKey(store, prefix, opts.newKey, location);
  if (!check.equals(dataKey)) throw new AerobakError('failed', 'REKEY_CHECK_FAILED', `the new key object of ${location} does not give back the data key; the old one is kept`);
  const added = objectKey(prefix, keyObjectName(wrapped.kek.id));
  if (!opts.removeOld) return { location, added };
  const removed = objectKey(prefix, keyObjectName(old!.kek.id));
  await store.delete(removed);
  return { location, added, removed };
}

export async function runRekey(opts: RekeyOptions, deps: { openStore?: StoreOpener } = {}): Promise<RekeySummary> {
  const open = deps.openStore ?? openStore;
  const store = await open(opts.location, 'write');
  if ((await store.stat(MANIFEST_FILE)) !== null) return { backups: [await rekeyOne(store, '', store.location, opts)], unencrypted: 0 };
  const summary: RekeySummary = { backups: [], unencrypted: 0 };
  for (const b of await listBackups(opts.location, { openStore: open })) {
    if (b.status !== 'complete') continue;
    if (!b.encrypted) {
      summary.unencrypted++;
      continue;
    }
    summary.backups.push(await rekeyOne(store, b.prefix, b.location, opts));
  }
  if (summary.backups.length === 0) throw new AerobakError('storage', 'NO_ENCRYPTED_BACKUP', `${store.location} holds no complete encrypted backup`);
  return summary;
}
