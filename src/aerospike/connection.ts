/**
 * One TCP connection to one node, cut into proto frames, with flow control.
 *
 * Contract:
 * - Frames are delivered in order by `readFrame()`. While a complete frame waits in the
 *   queue and nobody has asked for it, the socket is paused: the kernel buffers fill
 *   and TCP makes the server wait. Reading the last queued frame resumes the socket, so
 *   the next frame is fetched while the caller works on the current one.
 *   Memory held here is therefore bounded by one frame being assembled plus what one
 *   socket read delivered after the queue became non-empty (≤ the socket's read size,
 *   64 KiB, or the rest of the frame being assembled in place), whatever the server
 *   sends.
 * - The read timeout runs only while a `readFrame()` call is waiting; a caller that stops
 *   reading (backpressure) never times out here.
 * - Any socket error, close, timeout or protocol error makes the connection unusable:
 *   the pending and all later `readFrame()` calls reject with that error, and the socket
 *   is destroyed. A connection that failed is never returned to a pool.
 *
 * TLS and authentication fit in `open()`: TLS replaces `net.connect` with `tls.connect`
 * (servername = the node's TLS name), and login sends the admin message (proto type 2)
 * right after connecting, before the connection is handed out.
 */
import net from 'node:net';
import { ConnectionError } from './errors.js';
import { encodeInfoRequest, parseInfoReply } from './wire/info.js';
import { FrameParser, ProtoType, ProtocolError, type Frame } from './wire/proto.js';

export interface Endpoint {
  host: string;
  port: number;
}

export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

interface Waiter {
  resolve(frame: Frame): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** Bytes a socket read may deliver outside a large frame's body. */
const READ_BYTES = 64 * 1024;

export class Connection {
  private readonly parser = new FrameParser();
  private readonly queue: Frame[] = [];
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  private readonly socket: net.Socket;
  /** Where reads land that are not the rest of a large frame's body (their bytes are copied out). */
  private readonly scratch = Buffer.allocUnsafe(READ_BYTES);

  private constructor(readonly endpoint: Endpoint) {
    // The socket reads into buffers this connection hands out (readBuffer): the body of a
    // large frame is filled by the kernel in place, with no chunk allocated and joined.
    const socket = net.connect({
      host: endpoint.host,
      port: endpoint.port,
      noDelay: true,
      keepAlive: true,
      onread: { buffer: () => this.readBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    });
    socket.on('error', (err) => this.fail(this.error(`connection failed: ${err.message}`, err)));
    socket.on('close', () => this.fail(this.error('connection closed by the server')));
    this.socket = socket;
  }

  /** Connects within `connectTimeoutMs`; rejects with a ConnectionError naming host:port. */
  static open(endpoint: Endpoint, opts: { connectTimeoutMs: number }): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const conn = new Connection(endpoint);
      const socket = conn.socket;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new ConnectionError(endpoint.host, endpoint.port, `no connection within ${opts.connectTimeoutMs} ms`, { code: 'TIMEOUT' }));
      }, opts.connectTimeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(new ConnectionError(endpoint.host, endpoint.port, `cannot connect: ${err.message}`, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(conn);
      });
    });
  }

  /** False once the connection failed or was closed. */
  get isOpen(): boolean {
    return this.failure === undefined;
  }

  /** True when nothing unread is buffered: the only state in which it may be reused. */
  get isIdle(): boolean {
    return this.isOpen && this.queue.length === 0 && this.parser.bufferedBytes === 0 && this.waiter === undefined;
  }

  /** Bytes received and not yet taken by `readFrame()` (queued frames and a partial frame). */
  get bufferedBytes(): number {
    let n = this.parser.bufferedBytes;
    for (const f of this.queue) n += f.body.length;
    return n;
  }

  /** True while the socket is not being read (a frame waits for the caller). */
  get isPaused(): boolean {
    return this.socket.isPaused();
  }

  write(data: Buffer): void {
    if (this.failure) throw this.failure;
    this.socket.write(data);
  }

  /** The next frame; rejects with a ConnectionError after `timeoutMs` of waiting (0 = no limit). */
  readFrame(timeoutMs: number): Promise<Frame> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.waiter) return Promise.reject(new Error('readFrame called while another read is pending'));
    const frame = this.queue.shift();
    if (frame) {
      if (this.queue.length === 0) this.socket.resume();
      return Promise.resolve(frame);
    }
    return new Promise((resolve, reject) => {
      const timer =
        timeoutMs > 0
          ? setTimeout(() => this.fail(this.error(`no reply within ${timeoutMs} ms`, undefined, 'TIMEOUT')), timeoutMs)
          : undefined;
      this.waiter = { resolve, reject, timer };
      this.socket.resume();
    });
  }

  /** Sends info commands and returns command → value. */
  async info(commands: readonly string[], timeoutMs: number): Promise<Map<string, string>> {
    this.write(encodeInfoRequest(commands));
    const frame = await this.readFrame(timeoutMs);
    if (frame.type !== ProtoType.INFO) {
      const err = new ProtocolError(`expected an info reply, got proto type ${frame.type}`);
      this.fail(err);
      throw err;
    }
    return parseInfoReply(frame.body);
  }

  /** Keeps (true) or stops (false) the connection from holding the process open. */
  setRef(ref: boolean): void {
    if (ref) this.socket.ref();
    else this.socket.unref();
  }

  close(): void {
    this.fail(this.error('connection closed'));
  }

  /** The buffer the next socket read fills: the rest of a large frame's body, or the scratch buffer. */
  private readBuffer(): Buffer {
    return this.parser.readTarget() ?? this.scratch;
  }

  /** `n` bytes were read into `buf` (the last readBuffer()); false pauses the socket. */
  private onRead(n: number, buf: Uint8Array): boolean {
    let frames: Frame[];
    try {
      frames = buf === this.scratch ? this.parser.push(Buffer.from(this.scratch.subarray(0, n))) : this.parser.filled(n);
    } catch (err) {
      this.fail(err as Error);
      return false;
    }
    for (const frame of frames) {
      const w = this.waiter;
      if (w) {
        this.waiter = undefined;
        if (w.timer) clearTimeout(w.timer);
        w.resolve(frame);
      } else {
        this.queue.push(frame);
      }
    }
    if (this.queue.length === 0) return true;
    this.socket.pause();
    return false;
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    this.queue.length = 0;
    this.socket.destroy();
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      if (w.timer) clearTimeout(w.timer);
      w.reject(err);
    }
  }

  private error(message: string, cause?: unknown, code?: 'TIMEOUT'): ConnectionError {
    return new ConnectionError(this.endpoint.host, this.endpoint.port, message, { cause, code });
  }
}
