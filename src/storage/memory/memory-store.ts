/**
 * An in-memory store for tests: `mem://name/prefix`. Stores opened with the
 * same name share their objects for the life of the process, as buckets do,
 * so a test can back up through one store and restore through another.
 */
import { Readable } from 'node:stream';
import { StorageError, checkAborted } from '../errors.js';
import { checkKey, checkPrefix, checkRange, objectName } from '../keys.js';
import { deleteEach } from '../delete-many.js';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore, OpenIntent, WriteOptions, ByteSource, StoreCapabilities } from '../types.js';
import { WriteSource, readCreateSource } from '../write-source.js';

/** Reads are delivered in chunks of this size, as a file or a socket would. */
const READ_CHUNK_SIZE = 64 * 1024;

const buckets = new Map<string, Map<string, Buffer>>();

export class MemoryStore implements ObjectStore {
  readonly location: string;
  readonly capabilities: StoreCapabilities = Object.freeze({ exclusiveCreate: true, batchDelete: true });
  readonly #objects: Map<string, Buffer>;

  /** `root` is '' or a prefix ending in '/' (see keys.rootPrefix). */
  constructor(
    readonly bucket: string,
    private readonly root: string,
  ) {
    this.location = `mem://${bucket}/${root}`;
    let objects = buckets.get(bucket);
    if (objects === undefined) buckets.set(bucket, (objects = new Map()));
    this.#objects = objects;
  }

  async open(_intent: OpenIntent): Promise<void> {}

  async write(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const body = new WriteSource(source, options.signal);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of body) chunks.push(chunk as Buffer);
    } catch (error) {
      throw body.callerFailure ?? error;
    }
    this.#objects.set(this.root + key, Buffer.concat(chunks));
    return body.bytes;
  }

  /** The check and the store happen in one synchronous step, after the source has been read: atomic. */
  async create(key: string, source: ByteSource, options: WriteOptions = {}): Promise<number> {
    checkKey(key);
    const object = objectName(this.location, key);
    const data = await readCreateSource(source, options.signal, object);
    if (this.#objects.has(this.root + key)) throw new StorageError('ALREADY_EXISTS', `${object} already exists`);
    this.#objects.set(this.root + key, data);
    return data.length;
  }

  async read(key: string, range: ByteRange = { offset: 0 }): Promise<Readable> {
    checkKey(key);
    checkRange(range);
    const data = this.#objects.get(this.root + key);
    if (data === undefined) throw new StorageError('NOT_FOUND', `${objectName(this.location, key)} does not exist`);
    const end = range.length === undefined ? data.length : Math.min(data.length, range.offset + range.length);
    return Readable.from(chunked(data.subarray(Math.min(range.offset, end), end)), { objectMode: false });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    checkKey(key);
    const data = this.#objects.get(this.root + key);
    return data === undefined ? null : { key, size: data.length };
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    checkPrefix(prefix);
    const keys = [...this.#objects.keys()].filter((key) => key.startsWith(this.root + prefix)).sort();
    for (const key of keys) {
      checkAborted(options.signal);
      const data = this.#objects.get(key);
      if (data !== undefined) yield { key: key.slice(this.root.length), size: data.length };
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#objects.delete(this.root + key);
  }

  /** Memory writes leave nothing behind. */
  async removeUnfinished(_prefix: string): Promise<number> {
    return 0;
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    await deleteEach(keys, 1, async (key) => {
      this.#objects.delete(this.root + key);
    });
  }
}

function* chunked(data: Buffer): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += READ_CHUNK_SIZE) {
    yield data.subarray(offset, offset + READ_CHUNK_SIZE);
  }
}
