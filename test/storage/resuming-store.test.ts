import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { FaultyStore } from '../../src/storage/faulty.js';
import { MemoryStore } from '../../src/storage/memory/memory-store.js';
import { ResumingStore } from '../../src/storage/resuming-store.js';
import { backoffDelay, isConnectionError } from '../../src/storage/retry.js';
import type { ByteRange } from '../../src/storage/index.js';
import { randomBuffer, readAll } from './data.js';

const POLICY = { attempts: 3, baseDelayMs: 1, maxDelayMs: 10 };
const data = randomBuffer(1024 * 1024 + 7);
let bucket = 0;

async function storeWith(key: string): Promise<FaultyStore> {
  const faulty = new FaultyStore(new MemoryStore(`resume-${bucket++}`, ''));
  await faulty.write(key, [data]);
  return faulty;
}

describe('ResumingStore', () => {
  it('survives any number of failures as long as each attempt makes progress', async () => {
    const faulty = await storeWith('k');
    faulty.inject('read', { afterBytes: 50_000, times: 10 });
    expect((await readAll(await new ResumingStore(faulty, POLICY).read('k'))).equals(data)).toBe(true);
    expect(faulty.calls.read).toBe(11);
  });

  it('resumes a body that ends early without an error', async () => {
    /** Serves its first read cut short, as a server closing a connection cleanly would. */
    class Truncating extends MemoryStore {
      reads = 0;
      override async read(key: string, range?: ByteRange): Promise<Readable> {
        const stream = await super.read(key, range);
        if (this.reads++ > 0) return stream;
        return Readable.from((await readAll(stream)).subarray(0, 1000));
      }
    }
    const inner = new Truncating(`resume-${bucket++}`, '');
    await inner.write('k', [data]);
    expect((await readAll(await new ResumingStore(inner, POLICY).read('k'))).equals(data)).toBe(true);
    expect(inner.reads).toBe(2);
  });

  it('rejects a missing key before any stream exists', async () => {
    const store = new ResumingStore(new MemoryStore(`resume-${bucket++}`, ''), POLICY);
    await expect(store.read('absent')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('absent') });
  });

  it('stops resuming once the reader destroys the stream', async () => {
    const faulty = await storeWith('k');
    faulty.inject('read', { afterBytes: 64 * 1024, times: 5 });
    const stream = await new ResumingStore(faulty, { attempts: 5, baseDelayMs: 50, maxDelayMs: 50 }).read('k');
    stream.on('data', () => stream.destroy());
    await sleep(200);
    expect(stream.destroyed).toBe(true);
    expect(faulty.calls.read).toBe(1);
  });
});

describe('retry policy', () => {
  it('draws delays with full jitter under an exponentially growing, capped ceiling', () => {
    const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    for (let i = 0; i < 1000; i++) {
      expect(backoffDelay(policy, 1)).toBeLessThan(100);
      expect(backoffDelay(policy, 3)).toBeLessThan(400);
      expect(backoffDelay(policy, 20)).toBeLessThan(1000);
    }
    const delays = Array.from({ length: 1000 }, () => backoffDelay(policy, 4));
    expect(Math.min(...delays)).toBeLessThan(100);
    expect(Math.max(...delays)).toBeGreaterThan(700);
  });

  it('treats broken connections as worth resuming, through cause chains, and nothing else', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    expect(isConnectionError(reset)).toBe(true);
    expect(isConnectionError(new Error('wrapped', { cause: reset }))).toBe(true);
    expect(isConnectionError(Object.assign(new Error('closed'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))).toBe(true);
    expect(isConnectionError(new Error('checksum mismatch'))).toBe(false);
    expect(isConnectionError(Object.assign(new Error('denied'), { code: 'EACCES' }))).toBe(false);
    expect(isConnectionError('ECONNRESET')).toBe(false);
  });
});
