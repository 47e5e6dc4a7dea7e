/**
 * A minimal raw-protocol client for tests: sends frames built with the project's codec
 * and returns the decoded replies, so tests can check what a server (this one or a real
 * one) puts on the wire, byte for byte, where the official client would hide it.
 */
import { connect, type Socket } from 'node:net';
import { encodeInfoRequest, parseInfoReply } from '../../../src/aerospike/wire/info.js';
import { FieldType, Info1, Info3, encodeMessageFrame, field, readMessages, u64Field, type Field, type Message, type Op } from '../../../src/aerospike/wire/message.js';
import { FrameParser, ProtoType, type Frame } from '../../../src/aerospike/wire/proto.js';

export class WireClient {
  private readonly parser = new FrameParser();
  private readonly frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private error: Error | undefined;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        this.frames.push(...this.parser.push(chunk));
      } catch (err) {
        this.error = err as Error;
      }
      this.wake();
    });
    socket.on('close', () => {
      this.error ??= new Error('connection closed by the server');
      this.wake();
    });
    socket.on('error', (err) => {
      this.error = err;
      this.wake();
    });
  }

  static connect(host: string, port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new WireClient(socket));
      });
      socket.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** The next whole frame from the server. */
  async nextFrame(timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.error) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting for a frame');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return this.frames.shift()!;
  }

  send(frame: Buffer): void {
    this.socket.write(frame);
  }

  async info(commands: string[]): Promise<Map<string, string>> {
    this.send(encodeInfoRequest(commands));
    const frame = await this.nextFrame();
    if (frame.type !== ProtoType.INFO) throw new Error(`expected an info frame, got type ${frame.type}`);
    return parseInfoReply(frame.body);
  }

  /** Sends one message frame; returns the messages of the one reply frame. */
  async call(frame: Buffer): Promise<Message[]> {
    this.send(frame);
    const reply = await this.nextFrame();
    return [...readMessages(reply.body)];
  }

  /**
   * Sends one multi-reply request (scan, batch) and collects reply frames until a message
   * with info3 LAST or a request error (a message with a non-zero result code that is
   * neither LAST nor partition-done).
   */
  async stream(frame: Buffer): Promise<{ frames: Message[][]; messages: Message[] }> {
    this.send(frame);
    const frames: Message[][] = [];
    for (;;) {
      const f = await this.nextFrame();
      const msgs = [...readMessages(f.body)];
      frames.push(msgs);
      const end = msgs.some((m) => m.info3 & Info3.LAST || (m.resultCode !== 0 && !(m.info3 & Info3.PARTITION_DONE) && msgs.length === 1));
      if (end) return { frames, messages: frames.flat() };
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface ScanRequest {
  namespace: string;
  set?: string;
  /** Default: all 4096. */
  partitions?: number[];
  /** Resume digests (field 12). */
  digests?: Buffer[];
  maxRecords?: number;
  noBins?: boolean;
  binNames?: string[];
  filter?: Buffer;
  recordsPerSecond?: number;
  extraFields?: Field[];
}

/** A scan request frame as the C client builds it (info1 READ, info3 PARTITION_DONE). */
export function scanFrame(req: ScanRequest): Buffer {
  const fields: Field[] = [field(FieldType.NAMESPACE, req.namespace)];
  if (req.set !== undefined) fields.push(field(FieldType.SET, req.set));
  if (req.recordsPerSecond !== undefined) {
    const rps = Buffer.alloc(4);
    rps.writeUInt32BE(req.recordsPerSecond);
    fields.push(field(FieldType.RECORDS_PER_SECOND, rps));
  }
  const timeout = Buffer.alloc(4);
  timeout.writeUInt32BE(30_000);
  fields.push(field(FieldType.SOCKET_TIMEOUT, timeout));
  fields.push(u64Field(FieldType.TASK_ID, BigInt(Math.floor(Math.random() * 2 ** 48))));
  const pids = req.partitions ?? (req.digests ? [] : Array.from({ length: 4096 }, (_, i) => i));
  if (pids.length > 0) {
    const data = Buffer.alloc(pids.length * 2);
    pids.forEach((p, i) => data.writeUInt16LE(p, i * 2));
    fields.push(field(FieldType.PID_ARRAY, data));
  }
  if (req.digests && req.digests.length > 0) fields.push(field(FieldType.DIGEST_ARRAY, Buffer.concat(req.digests)));
  if (req.maxRecords !== undefined) fields.push(u64Field(FieldType.MAX_RECORDS, BigInt(req.maxRecords)));
  if (req.filter) fields.push(field(FieldType.FILTER_EXP, req.filter));
  fields.push(...(req.extraFields ?? []));
  const ops: Op[] = (req.binNames ?? []).map((name) => ({ op: 1, particleType: 0, name, value: Buffer.alloc(0) }));
  return encodeMessageFrame({
    info1: Info1.READ | (req.noBins ? Info1.GET_NOBINDATA : 0),
    info3: Info3.PARTITION_DONE,
    recordTtl: 0xffffffff,
    fields,
    ops,
  });
}

/** The record messages of a scan reply (partition-done and LAST messages left out). */
export function recordMessages(messages: Message[]): Message[] {
  return messages.filter((m) => !(m.info3 & (Info3.LAST | Info3.PARTITION_DONE)));
}

/**
 * Scans a whole cluster at the wire level: every node is asked for every requested
 * partition and answers its own, with partition-done 11 for the others.
 */
export async function scanCluster(seeds: { host: string; port: number }[], req: ScanRequest): Promise<Message[]> {
  const out: Message[] = [];
  for (const seed of seeds) {
    const client = await WireClient.connect(seed.host, seed.port);
    try {
      out.push(...recordMessages((await client.stream(scanFrame(req))).messages));
    } finally {
      client.close();
    }
  }
  return out;
}
