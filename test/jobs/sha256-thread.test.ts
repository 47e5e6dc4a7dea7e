/**
 * The SHA-256 thread (src/jobs/sha256-thread.ts): digests equal node:crypto's for any
 * chunking and any interleaving of files; at most SLOTS slots are in flight (a writer
 * waits); an idle thread does not keep a process alive; when it is used; and with AEROBAK_SHA256_THREAD=1
 * the data files a backup writes carry the right SHA-256 in their manifest entries.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ParticleType, type RawRecord } from '../../src/aerospike/types.js';
import { DataFileSink, checkDataFile } from '../../src/jobs/data-files.js';
import { SLOTS, SLOT_BYTES, Sha256Thread, sha256ThreadWanted } from '../../src/jobs/sha256-thread.js';
import { createStore } from '../../src/storage/index.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('Sha256Thread', () => {
  const thread = new Sha256Thread();

  it('digests what node:crypto digests, for chunks of any size, files interleaved', async () => {
    const sizes = [0, 1, 1000, SLOT_BYTES - 1, SLOT_BYTES, SLOT_BYTES + 1, 3 * SLOT_BYTES + 17];
    const files = Array.from({ length: 5 }, (_, f) => sizes.map((n, i) => randomBytes((n + f * 7919 * i) % (4 * SLOT_BYTES))));
    const ids = files.map(() => thread.open());
    // One update at a time per file (as a stream gives them), the files concurrently.
    await Promise.all(
      files.map(async (chunks, f) => {
        for (const c of chunks) await thread.update(ids[f]!, c);
      }),
    );
    const digests = await Promise.all(ids.map((id) => thread.digest(id)));
    expect(digests).toEqual(files.map((chunks) => sha(Buffer.concat(chunks))));
    // An id given nothing is the empty hash.
    expect(await thread.digest(thread.open())).toBe(sha(Buffer.alloc(0)));
  });

  it('holds at most SLOTS slots in flight: a writer waits for one to come back', async () => {
    const id = thread.open();
    const chunks = Array.from({ length: SLOTS + 4 }, () => randomBytes(SLOT_BYTES));
    let copied = 0;
    // Each update is one slot; start them all without waiting.
    const updates = chunks.map((c) => thread.update(id, c).then(() => copied++));
    // Slots come back only with the worker's messages, which need turns of the event loop.
    for (let i = 0; i < 5; i++) await Promise.resolve();
    expect(copied).toBe(SLOTS);
    await Promise.all(updates);
    expect(copied).toBe(SLOTS + 4);
    // Waiters got slots in the order they asked, so the bytes were hashed in order.
    expect(await thread.digest(id)).toBe(sha(Buffer.concat(chunks)));
  });

  it('does not keep an idle process alive', () => {
    const code = `
      import { Sha256Thread } from './src/jobs/sha256-thread.ts';
      const t = new Sha256Thread();
      const id = t.open();
      await t.update(id, Buffer.from('abc'));
      console.log(await t.digest(id));
    `;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 });
    expect(r.error).toBeUndefined();
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(sha(Buffer.from('abc')));
  });
});

describe('sha256ThreadWanted', () => {
  it('follows AEROBAK_SHA256_THREAD, else uses the thread from 4 CPUs', () => {
    expect(sha256ThreadWanted({}, 2)).toBe(false);
    expect(sha256ThreadWanted({}, 4)).toBe(true);
    expect(sha256ThreadWanted({ AEROBAK_SHA256_THREAD: '1' }, 2)).toBe(true);
    expect(sha256ThreadWanted({ AEROBAK_SHA256_THREAD: '0' }, 64)).toBe(false);
    expect(sha256ThreadWanted({ AEROBAK_SHA256_THREAD: '' }, 8)).toBe(true);
  });
});

describe('data files with AEROBAK_SHA256_THREAD=1', () => {
  const saved = process.env.AEROBAK_SHA256_THREAD;
  process.env.AEROBAK_SHA256_THREAD = '1';
  afterAll(() => {
    if (saved === undefined) delete process.env.AEROBAK_SHA256_THREAD;
    else process.env.AEROBAK_SHA256_THREAD = saved;
  });

  it.each(['none', 'zstd'] as const)('records the SHA-256 of every stored byte (%s), and checkDataFile agrees', async (compress) => {
    expect(Sha256Thread.shared()).toBeInstanceOf(Sha256Thread);
    const store = createStore(`mem://sha256-thread-${compress}`);
    const records: RawRecord[] = Array.from({ length: 3000 }, (_, i) => ({
      namespace: 'test',
      set: 's',
      digest: randomBytes(20),
      generation: 1,
      voidTime: 0,
      bins: [{ name: 'b', type: ParticleType.BLOB, value: randomBytes(100 + (i % 300)) }],
    }));
    // Small files: several rollovers, each file digested on the thread.
    const sink = new DataFileSink({ store, prefix: 'bk', baseName: 'test_0', compress, maxFileBytes: 256 * 1024 });
    await pipeline(Readable.from(records), sink);
    const files = sink.files();
    expect(files.length).toBeGreaterThan(1);
    for (const entry of files) {
      const chunks: Buffer[] = [];
      for await (const c of await store.read(`bk/${entry.name}`)) chunks.push(c as Buffer);
      const bytes = Buffer.concat(chunks);
      expect(entry.size).toBe(bytes.length);
      expect(entry.sha256).toBe(sha(bytes));
      expect((await checkDataFile({ store, prefix: 'bk', entry, compress })).problems).toEqual([]);
    }
    expect(files.reduce((n, f) => n + f.records, 0)).toBe(records.length);
  });
});
