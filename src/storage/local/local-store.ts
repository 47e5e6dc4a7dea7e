/**
 * A directory as an object store: the key `a/b/c` is the file `<root>/a/b/c`.
 *
 * A write goes to a temporary file in the object's own directory (named with
 * TEMP_FILE_MARKER, which keys may not use and listings skip), is fsynced,
 * renamed over the final name (atomic on POSIX), and the directory is fsynced
 * so the rename survives a crash. A failed or aborted write removes the
 * temporary file. (`flush` on file streams needs Node.js 20.10 or later.)
 * An exclusive create links its temporary file to the final name instead of
 * renaming it (see create()).
 */
import { randomBytes } from 'node:crypto';
import { constants, type Dirent } from 'node:fs';
import { access, link, lstat, mkdir, open, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deleteEach } from '../delete-many.js';
import { StorageError, checkAborted, messageOf } from '../errors.js';
import { TEMP_FILE_MARKER, checkKey, checkPrefix, checkRange } from '../keys.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource, StoreCapabilities } from '../types.js';
import { WriteSource, readCreateSource } from '../write-source.js';

/** Deletes in flight in a deleteMany(). */
const DELETE_CONCURRENCY = 8;

export class LocalStore implements ObjectStore {
  /** The root directory, absolute. */
  readonly location: string;
  readonly capabilities: StoreCapabilities = Object.freeze({ exclusiveCreate: true, batchDelete: true });

  constructor(directory: string) {
    this.location = resolve(directory);
  }

  /** For `write`, creates the root directory if needed; checks it is a directory we may read (and write). */
  async open(intent: OpenIntent): Promise<void> {
    const root = this.location;
    try {
      if (intent === 'write') await mkdir(root, { recursive: true });
      if (!(await stat(root)).isDirectory()) throw new StorageError('NO_BUCKET', `${root} is not a directory`);
      await access(root, intent === 'write' ? constants.R_OK | constants.W_OK : constants.R_OK);
    } catch (error) {
      if (error instanceof StorageError) throw error;
      if (errorCode(error) === 'ENOENT') throw new StorageError('NO_BUCKET', `directory ${root} does not exist`, { cause: error });
      throw localError(error, `cannot ${intent === 'write' ? 'write to' : 'read'} directory ${root}`);
    }
  }

  async write(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const target = this.#path(key);
    const directory = dirname(target);
    const temp = join(directory, TEMP_FILE_MARKER + randomBytes(8).toString('hex'));
    const body = new WriteSource(source, options.signal);
    try {
      await mkdir(directory, { recursive: true });
      const file = await open(temp, 'wx');
      // flush: fsync before the stream closes the file, which it does on success and failure alike.
      await pipeline(body, file.createWriteStream({ flush: true }));
      await rename(temp, target);
      await syncDirectory(directory);
      return body.bytes;
    } catch (error) {
      body.destroy();
      await rm(temp, { force: true });
      throw body.callerFailure ?? localError(error, `cannot write ${target}`);
    }
  }

  /**
   * The buffered source goes to a temporary file, fsynced, which is then
   * hard-linked to the final name: link() is atomic and fails with EEXIST
   * if the name exists, so of concurrent creates (of any process on the
   * machine) exactly one links. The temporary name is then removed and the
   * directory fsynced so the new name survives a crash. Needs a filesystem
   * with hard links (not FAT or exFAT, for one): elsewhere create() fails
   * with IO or ACCESS_DENIED, as link() does.
   */
  async create(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const target = this.#path(key);
    const body = await readCreateSource(source, options.signal, target);
    const directory = dirname(target);
    const temp = join(directory, TEMP_FILE_MARKER + randomBytes(8).toString('hex'));
    try {
      await mkdir(directory, { recursive: true });
      await writeFile(temp, body, { flag: 'wx', flush: true });
      await linkExclusive(temp, target);
      await unlink(temp);
      await syncDirectory(directory);
      return body.length;
    } catch (error) {
      await rm(temp, { force: true });
      throw error instanceof StorageError ? error : localError(error, `cannot create ${target}`);
    }
  }

  async read(key: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
    checkKey(key);
    checkRange(range);
    const path = this.#path(key);
    let file: FileHandle;
    try {
      file = await open(path, 'r');
    } catch (error) {
      throw isMissing(error)
        ? new StorageError('NOT_FOUND', `${path} does not exist`, { cause: error })
        : localError(error, `cannot read ${path}`);
    }
    try {
      if (!(await file.stat()).isFile()) throw new StorageError('NOT_FOUND', `${path} is not a file`);
    } catch (error) {
      await file.close();
      throw error instanceof StorageError ? error : localError(error, `cannot read ${path}`);
    }
    const end = range.length === undefined ? undefined : range.offset + range.length - 1;
    return file.createReadStream({ start: range.offset, end });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    const path = this.#path(key);
    try {
      const info = await stat(path);
      return info.isFile() ? { key, size: info.size } : null;
    } catch (error) {
      if (isMissing(error)) return null;
      throw localError(error, `cannot stat ${path}`);
    }
  }

  /**
   * Walks the directories the prefix can reach, each one's entries sorted by
   * name with directories as `name/`, which yields keys in ascending order
   * without holding more than one directory listing per level.
   */
  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    yield* this.#walk(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix, options.signal);
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    const path = this.#path(key);
    try {
      await unlink(path);
    } catch (error) {
      if (!isMissing(error)) throw localError(error, `cannot delete ${path}`);
    }
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    await deleteEach(keys, DELETE_CONCURRENCY, (key) => this.delete(key));
  }

  async removeUnfinished(prefix: string): Promise<number> {
    checkPrefix(prefix);
    return this.#removeTemp(prefix.slice(0, prefix.lastIndexOf('/') + 1), prefix);
  }

  /** Removes the temporary files under `directoryKey` ('' or ending in '/') whose key would start with `prefix`. */
  async #removeTemp(directoryKey: string, prefix: string): Promise<number> {
    const directory = join(this.location, directoryKey);
    let entries: Dirent[];
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return 0;
      throw localError(error, `cannot list ${directory}`);
    }
    let removed = 0;
    for (const entry of entries) {
      const key = directoryKey + entry.name;
      if (entry.isDirectory()) {
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) removed += await this.#removeTemp(`${key}/`, prefix);
      } else if (entry.name.startsWith(TEMP_FILE_MARKER) && directoryKey.startsWith(prefix.slice(0, prefix.lastIndexOf('/') + 1))) {
        await rm(join(directory, entry.name), { force: true });
        removed++;
      }
    }
    return removed;
  }

  /** `directoryKey` is '' or ends in '/'. */
  async *#walk(directoryKey: string, prefix: string, signal: AbortSignal | undefined): AsyncGenerator<ObjectInfo> {
    const directory = join(this.location, directoryKey);
    let entries: Dirent[];
    try {
      entries = await readdir(directory, { withFileTypes: true });
    } catch (error) {
      if (isMissing(error)) return;
      throw localError(error, `cannot list ${directory}`);
    }
    const named = entries
      .filter((entry) => !entry.name.startsWith(TEMP_FILE_MARKER) && (entry.isFile() || entry.isDirectory()))
      .map((entry) => ({ entry, key: directoryKey + entry.name + (entry.isDirectory() ? '/' : '') }))
      .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    for (const { entry, key } of named) {
      checkAborted(signal);
      if (entry.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(key)) yield* this.#walk(key, prefix, signal);
      } else if (key.startsWith(prefix)) {
        const info = await this.stat(key);
        if (info !== null) yield info; // null: deleted since the directory was read
      }
    }
  }

  #path(key: string): string {
    return join(this.location, ...key.split('/'));
  }
}

/**
 * Links `temp` to `target` unless `target` exists; an existing object
 * rejects with ALREADY_EXISTS. An EEXIST for a target that is `temp`'s own
 * inode is success: an NFS client that repeats a LINK whose answer it lost
 * gets EEXIST for the link it made. A directory under the name is no object
 * (stat() says null), so it fails as write() would, with the EEXIST.
 */
async function linkExclusive(temp: string, target: string): Promise<void> {
  try {
    await link(temp, target);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
    const [mine, existing] = await Promise.all([lstat(temp), lstat(target).catch(() => undefined)]);
    if (existing !== undefined && existing.ino === mine.ino && existing.dev === mine.dev) return;
    if (existing?.isDirectory()) throw error;
    throw new StorageError('ALREADY_EXISTS', `${target} already exists`, { cause: error });
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const handle = await open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

function isMissing(error: unknown): boolean {
  const code = errorCode(error);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function localError(error: unknown, what: string): StorageError {
  const code = errorCode(error);
  const denied = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
  return new StorageError(denied ? 'ACCESS_DENIED' : 'IO', `${what}: ${messageOf(error)}`, { cause: error });
}
