/**
 * WriteSource reading a Readable: chunk by chunk as they were pushed (no joining copy of
 * what is buffered), and ending, failing or closing early as the Readable does.
 */
import { randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { WriteSource } from '../../src/storage/write-source.js';

async function drain(body: WriteSource): Promise<Buffer[]> {
  const out: Buffer[] = [];
  await new Promise<void>((resolve, reject) => {
    body.on('data', (c: Buffer) => out.push(c));
    body.once('end', resolve);
    body.once('error', reject);
  });
  return out;
}

describe('WriteSource over a Readable', () => {
  it('passes on the very chunks pushed, even when several wait in the buffer', async () => {
    const chunks = Array.from({ length: 6 }, () => randomBytes(256 * 1024));
    const source = new PassThrough();
    // All written before anything reads: the Readable's buffer holds several chunks,
    // which its own read() would join into a new buffer.
    for (const c of chunks) source.write(c);
    source.end();
    const body = new WriteSource(source);
    const got = await drain(body);
    expect(got).toHaveLength(chunks.length);
    got.forEach((c, i) => expect(c.buffer).toBe(chunks[i]!.buffer));
    expect(body.bytes).toBe(6 * 256 * 1024);
  });

  it('takes from the source only while it is read (backpressure)', async () => {
    let pulled = 0;
    const source = new Readable({
      highWaterMark: 1024,
      read() {
        pulled++;
        this.push(Buffer.alloc(1024, pulled));
      },
    });
    const body = new WriteSource(source);
    body.read(0);
    await new Promise((r) => setTimeout(r, 50));
    // Not read: the two streams' buffers fill (64 KiB + 1 KiB), and then nothing is pulled.
    const filled = pulled;
    expect(filled).toBeLessThan(100);
    await new Promise((r) => setTimeout(r, 50));
    expect(pulled).toBe(filled);
    body.destroy();
    expect(source.destroyed).toBe(true);
  });

  it("fails with the source's error, said as the caller's failure", async () => {
    const source = new PassThrough();
    source.write(Buffer.from('abc'));
    const body = new WriteSource(source);
    const failure = new Error('disk on fire');
    setTimeout(() => source.destroy(failure), 10);
    await expect(drain(body)).rejects.toBe(failure);
    expect(body.callerFailure).toBe(failure);
  });

  it('fails when the source is destroyed before its end, not as a short complete object', async () => {
    const source = new PassThrough();
    source.write(Buffer.from('abc'));
    const body = new WriteSource(source);
    setTimeout(() => source.destroy(), 10);
    await expect(drain(body)).rejects.toThrow(/premature close/i);
  });
});
