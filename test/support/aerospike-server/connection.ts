/**
 * One client connection: cuts the byte stream into proto frames and answers them one at
 * a time, in order, like the real server (which reads a connection's next request only
 * after it has answered the current one).
 *
 * Protocol errors follow the server's service.c: a bad proto version, an unknown proto
 * type or an oversized body closes the connection; a malformed AS_MSG is answered with
 * result code 4. Admin/security frames (type 2) get the community edition's reply,
 * "security not supported" (51), unless the server has `security` (security.ts): then
 * they log the connection in, and until then info commands answer "ERROR:80:not
 * authenticated" and transactions result 80 (transaction.ts).
 *
 * Backpressure both ways: reading stops while requests are queued, and replies are
 * written with write() + 'drain', so a slow reader makes long scans wait.
 *
 * Compressed requests (type 4) are accepted; replies are never compressed, even when a
 * request sets info1 COMPRESS_RESPONSE (clients accept plain replies either way).
 */
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { FrameParser, ProtoType, encodeFrame, type Frame } from '../../../src/aerospike/wire/proto.js';
import { handleInfo } from './info.js';
import type { Principal, SecuredConnection } from './security.js';
import { handleMessage } from './transaction.js';
import type { FrameSink } from './reply.js';
import type { TestNode } from './node.js';

/** Frames read ahead of the one being answered before the socket stops being read. */
const MAX_QUEUED_FRAMES = 4;

export class Connection implements FrameSink, SecuredConnection {
  private readonly parser = new FrameParser();
  private readonly queue: Frame[] = [];
  private busy = false;
  private readingPaused = false;
  /** Set by `user-agent-set`, decoded; kept for inspection by tests. */
  userAgent: string | undefined;
  /** Who logged in on this connection (LOGIN or AUTHENTICATE), with security on. */
  principal: Principal | undefined;

  constructor(
    private readonly socket: Socket,
    readonly node: TestNode,
    readonly tlsSocket: TLSSocket | undefined,
  ) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    // Peer resets are normal (clients drop pooled connections); nothing to report.
    socket.on('error', () => socket.destroy());
  }

  get closed(): boolean {
    return this.socket.destroyed;
  }

  destroy(): void {
    this.socket.destroy();
  }

  pauseReading(): void {
    this.readingPaused = true;
    this.socket.pause();
  }

  resumeReading(): void {
    this.readingPaused = false;
    if (this.queue.length < MAX_QUEUED_FRAMES) this.socket.resume();
    void this.pump();
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.parser.push(chunk);
    } catch {
      // Bad version, oversized body or a corrupt compressed frame: the server hangs up.
      this.destroy();
      return;
    }
    this.queue.push(...frames);
    if (this.queue.length >= MAX_QUEUED_FRAMES) this.socket.pause();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && !this.closed) {
        if (!(await this.node.gate())) return;
        const frame = this.queue.shift()!;
        if (!this.readingPaused && this.queue.length < MAX_QUEUED_FRAMES) this.socket.resume();
        await this.answer(frame);
      }
    } catch (err) {
      // A bug in the server, not a client error: make it visible, drop the connection.
      console.error('aerospike test server: request failed', err);
      this.destroy();
    } finally {
      this.busy = false;
    }
  }

  private async answer(frame: Frame): Promise<void> {
    switch (frame.type) {
      case ProtoType.INFO:
        await this.write(handleInfo(this, frame.body));
        return;
      case ProtoType.MESSAGE:
        await handleMessage(this, frame.body);
        return;
      case ProtoType.ADMIN: {
        const security = this.node.server.security;
        await this.write(security ? security.handleAdmin(this, frame.body) : securityNotSupported());
        return;
      }
      default:
        this.destroy();
    }
  }

  /** Writes one frame; waits for 'drain' when the socket buffer is full. False when the peer is gone. */
  write(frame: Buffer): Promise<boolean> {
    if (this.closed) return Promise.resolve(false);
    if (this.socket.write(frame)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (ok: boolean): void => {
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
        resolve(ok);
      };
      const onDrain = (): void => done(true);
      const onClose = (): void => done(false);
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }
}

/** The community edition's answer to any security request: as_sec_msg with result 51. */
function securityNotSupported(): Buffer {
  const body = Buffer.alloc(16);
  body[1] = 51; // AS_SEC_ERR_NOT_SUPPORTED
  return encodeFrame(ProtoType.ADMIN, body);
}
