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
 * With `tls`, `open()` dials with `tls.connect` instead of `net.connect` (the same flow
 * control: a TLS socket reads into the same buffers) and resolves once the handshake
 * has checked the server's certificate and TLS name (tls.ts); a TLS failure is a
 * ConnectionError of code TLS that says what failed. Authentication is the node's
 * business (auth.ts): it sends the admin messages (`admin()`) before handing the
 * connection out.
 */
import net from 'node:net';
import tls from 'node:tls';
import { ConnectionError } from './errors.js';
import { describeTlsError, tlsConnectOptions, tlsNameOf, type TlsConnect } from './tls.js';
import { decodeAdminMessage, type AdminMessage } from './wire/admin.js';
import { framePool } from './wire/frame-pool.js';
import { encodeInfoRequest, parseInfoReply } from './wire/info.js';
import { FrameParser, ProtoType, ProtocolError, type Frame } from './wire/proto.js';

export interface Endpoint {
  host: string;
  port: number;
  /** The name the node's TLS certificate must carry (HOST:TLSNAME:PORT, or announced by peers-tls-*). */
  tlsName?: string;
}

export interface ConnectOptions {
  connectTimeoutMs: number;
  /** Dial TLS with this shared context; the name checked is the endpoint's, else the context's default, else the host. */
  tls?: TlsConnect;
}

/** "host:port", "[::1]:port", or "host:tlsname:port" when the endpoint names a TLS name (asbackup's seed syntax). */
export function formatEndpoint(e: Endpoint): string {
  const host = e.host.includes(':') ? `[${e.host}]` : e.host;
  return e.tlsName !== undefined ? `${host}:${e.tlsName}:${e.port}` : `${host}:${e.port}`;
}

/** "host:port" (or "[::1]:port"), without a TLS name: how messages name a node's address. */
export function formatAddress(e: Endpoint): string {
  return formatEndpoint({ host: e.host, port: e.port });
}

interface Waiter {
  resolve(frame: Frame): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

/** Bytes a socket read may deliver outside a large frame's body. */
const READ_BYTES = 64 * 1024;

export class Connection {
  /** Large frames come in pooled buffers (frame-pool.ts): a frame's receiver may release it for reuse. */
  private readonly parser = new FrameParser(framePool);
  private readonly queue: Frame[] = [];
  private waiter: Waiter | undefined;
  private failure: Error | undefined;
  private readonly socket: net.Socket;
  /** Where reads land that are not the rest of a large frame's body (their bytes are copied out). */
  private readonly scratch = Buffer.allocUnsafe(READ_BYTES);

  /** The TLS name checked on this connection; undefined for clear-text connections. */
  private readonly tlsName: string | undefined;

  private constructor(
    readonly endpoint: Endpoint,
    tlsConnect: TlsConnect | undefined,
  ) {
    // The socket reads into buffers this connection hands out (readBuffer): the body of a
    // large frame is filled by the kernel in place, with no chunk allocated and joined.
    const common = {
      host: endpoint.host,
      port: endpoint.port,
      noDelay: true,
      keepAlive: true,
      onread: { buffer: () => this.readBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf) },
    };
    this.tlsName = tlsConnect ? tlsNameOf(endpoint, tlsConnect.name) : undefined;
    const socket = tlsConnect ? tls.connect({ ...common, ...tlsConnectOptions(tlsConnect, this.tlsName!) }) : net.connect(common);
    socket.on('error', (err) => this.fail(this.socketError('connection failed', err)));
    socket.on('close', () => this.fail(this.error('connection closed by the server')));
    this.socket = socket;
  }

  /**
   * Connects (and with TLS, completes the handshake) within `connectTimeoutMs`; rejects
   * with a ConnectionError naming host:port and, for TLS, what failed.
   */
  static open(endpoint: Endpoint, opts: ConnectOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const conn = new Connection(endpoint, opts.tls);
      const socket = conn.socket;
      const timer = setTimeout(() => {
        socket.destroy();
        const what = opts.tls ? 'no connection and TLS handshake' : 'no connection';
        reject(new ConnectionError(endpoint.host, endpoint.port, `${what} within ${opts.connectTimeoutMs} ms`, { code: 'TIMEOUT' }));
      }, opts.connectTimeoutMs);
      const onError = (err: Error): void => {
        clearTimeout(timer);
        reject(conn.socketError('cannot connect', err));
      };
      socket.once('error', onError);
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
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
    const reply = parseInfoReply(frame.body);
    frame.lease?.release();
    return reply;
  }

  /** Sends an admin (security) request and returns the reply; a reply of another proto type fails the connection. */
  async admin(request: Buffer, timeoutMs: number): Promise<AdminMessage> {
    this.write(request);
    const frame = await this.readFrame(timeoutMs);
    try {
      if (frame.type !== ProtoType.ADMIN) throw new ProtocolError(`expected an admin reply, got proto type ${frame.type}`);
      return decodeAdminMessage(frame.body);
    } catch (err) {
      this.fail(err as Error);
      throw err;
    }
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

  private error(message: string, cause?: unknown, code?: 'TIMEOUT' | 'TLS'): ConnectionError {
    return new ConnectionError(this.endpoint.host, this.endpoint.port, message, { cause, code });
  }

  /** A socket error, said as a TLS failure when it is one (certificate, name, handshake). */
  private socketError(what: string, err: Error): ConnectionError {
    const tlsText = this.tlsName !== undefined ? describeTlsError(err, this.tlsName) : undefined;
    return tlsText !== undefined ? this.error(tlsText, err, 'TLS') : this.error(`${what}: ${err.message}`, err);
  }
}
