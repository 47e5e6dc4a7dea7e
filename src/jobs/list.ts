/**
 * The backups under a location: every prefix that holds a manifest (complete), or data
 * files without one (incomplete: interrupted or still running). The location itself may
 * be a backup. One listing of the location finds them all; each complete backup's
 * manifest is then read for its counts.
 */
import { openStore } from '../storage/index.js';
import type { StoreOpener } from '../storage/types.js';
import { parseDataFileName } from './backup.js';
import { MANIFEST_FILE, METADATA_FILE, backupLocation, readManifest, type BackupKind } from './manifest.js';

interface Common {
  /** The backup's prefix under the listed location ('' for the location itself). */
  prefix: string;
  location: string;
  /** Stored bytes of all its objects. */
  bytes: number;
}

export type BackupListing =
  | (Common & {
      status: 'complete';
      namespace: string;
      records: number;
      files: number;
      /** When the scan started (ISO 8601). */
      startedAt: string;
      /** When the manifest was written (ISO 8601). */
      createdAt: string;
      /** When the last data file was stored (ISO 8601): the point in time a restore of it gives. */
      finishedAt: string;
      sets: string[];
      kind: BackupKind;
      /** For an incremental: its parent's path in the repository, or its location. */
      parent?: string;
      /** For an incremental: it holds the records updated since this instant (ISO 8601). */
      since?: string;
      /** It stored the digests of every live record (--track-deletes). */
      tracksDeletes: boolean;
      /** Its files are encrypted (reading them needs the key; the listing does not). */
      encrypted: boolean;
      /**
       * The prefix of the full backup its chain starts from, when the whole chain is in
       * this listing; undefined when a parent is missing here (or outside it).
       */
      chain?: string;
    })
  | (Common & { status: 'incomplete'; files: number; namespace?: string })
  | (Common & { status: 'unreadable'; reason: string });

function split(key: string): { dir: string; name: string } {
  const slash = key.lastIndexOf('/');
  return slash < 0 ? { dir: '', name: key } : { dir: key.slice(0, slash), name: key.slice(slash + 1) };
}

const SHARD_DIR = /^(?:(.*)\/)?shards\/\d+(?:\/[^/]+)?$/;

/**
 * The backup a folder belongs to: itself, or for the shards of a sharded run
 * (`<backup>/shards/<i>/<attempt>`) and key objects (`<backup>/keys`), the backup above.
 */
export function owningBackup(dir: string): string {
  const shard = SHARD_DIR.exec(dir);
  if (shard) return shard[1] ?? '';
  if (dir === 'keys') return '';
  return dir.endsWith('/keys') ? dir.slice(0, -'/keys'.length) : dir;
}

export async function listBackups(
  location: string,
  deps: { signal?: AbortSignal; openStore?: StoreOpener } = {},
): Promise<BackupListing[]> {
  const store = await (deps.openStore ?? openStore)(location, 'read');
  const dirs = new Map<string, { manifest: boolean; dataFiles: number; bytes: number; namespace?: string }>();
  for await (const o of store.list('', { signal: deps.signal })) {
    const { dir: folder, name } = split(o.key);
    const dir = owningBackup(folder);
    const data = parseDataFileName(name);
    if (name !== MANIFEST_FILE && name !== METADATA_FILE && !data && !name.endsWith('.digests')) continue;
    const d = dirs.get(dir) ?? { manifest: false, dataFiles: 0, bytes: 0 };
    d.bytes += o.size;
    if (name === MANIFEST_FILE && dir === folder) d.manifest = true;
    if (data) {
      d.dataFiles++;
      d.namespace = data.namespace;
    }
    dirs.set(dir, d);
  }
  const out: BackupListing[] = [];
  for (const [prefix, d] of dirs) {
    const where = backupLocation(store, prefix);
    if (!d.manifest) {
      out.push({ prefix, location: where, bytes: d.bytes, status: 'incomplete', files: d.dataFiles, ...(d.namespace ? { namespace: d.namespace } : {}) });
      continue;
    }
    try {
      const m = await readManifest(store, prefix);
      out.push({
        prefix,
        location: where,
        bytes: d.bytes,
        status: 'complete',
        namespace: m.namespace,
        records: m.records,
        files: m.files.length,
        startedAt: m.startedAt,
        createdAt: m.createdAt,
        finishedAt: m.finishedAt,
        sets: m.filters.sets ?? [],
        kind: m.kind ?? 'full',
        ...(m.parent ? { parent: m.parent.path ?? m.parent.location } : {}),
        ...(m.since ? { since: m.since } : {}),
        tracksDeletes: m.liveDigests !== undefined,
        encrypted: m.encryption !== undefined,
      });
    } catch (err) {
      out.push({ prefix, location: where, bytes: d.bytes, status: 'unreadable', reason: (err as Error).message });
    }
  }
  linkChains(out);
  // By name, as `ls` shows them: default names (<namespace>-<UTC time>) sort by namespace, then time.
  return out.sort((a, b) => a.prefix.localeCompare(b.prefix));
}

/** Sets `chain` on every complete backup whose parents are all in the listing: the prefix of its full. */
function linkChains(backups: BackupListing[]): void {
  const byPrefix = new Map(backups.map((b) => [b.prefix, b]));
  const rootOf = (b: BackupListing, depth: number): string | undefined => {
    if (b.status !== 'complete' || depth > backups.length) return undefined;
    if (b.kind === 'full') return b.prefix;
    const parent = b.parent === undefined ? undefined : byPrefix.get(b.parent);
    return parent ? rootOf(parent, depth + 1) : undefined;
  };
  for (const b of backups) {
    if (b.status !== 'complete') continue;
    const root = rootOf(b, 0);
    if (root !== undefined) b.chain = root;
  }
}
