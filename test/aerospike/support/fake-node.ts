/**
 * A scriptable Aerospike node for unit tests of the data plane: it speaks the framing,
 * answers the cluster info commands, and hands every type-3 request to the test.
 *
 * `serveScan` (below) answers partition scans from an in-memory record list the way the
 * real server does (per partition in descending digest order, resuming strictly below a
 * field-12 digest, several records per frame, LAST alone in its own frame), so retry and
 * backpressure tests have exact control over what is sent.
 */
import net from 'node:net';
import { PARTITION_COUNT, type RawRecord } from '../../../src/aerospike/types.js';
import { partitionId } from '../../../src/aerospike/wire/digest.js';
import { encodeInfoReply, parseInfoRequest } from '../../../src/aerospike/wire/info.js';
import {
  FieldType,
  Info1,
  Info3,
  OpType,
  encodeMessagesFrame,
  field,
  findField,
  readMessage,
  type Message,
  type MessageInit,
} from '../../../src/aerospike/wire/message.js';
import { FrameParser, ProtoType } from '../../../src/aerospike/wire/proto.js';

export interface FakeNodeOptions {
  name: string;
  /** Namespaces this node masters partitions of, and which partitions. */
  namespaces?: string[];
  owns?: (partitionId: number) => boolean;
  /** peers-clear-std value; default no peers. */
  peers?: () => string;
  partitionGeneration?: () => number;
  /** Answers a type-3 request; `send` writes frames to this connection. */
  onMessage?: (request: Message, send: (frame: Buffer) => boolean, socket: net.Socket) => void;
}

export interface FakeNode {
  readonly host: string;
  readonly port: number;
  readonly address: string;
  readonly requests: Message[];
  readonly infoRequests: string[][];
  connectionsOpened: number;
  close(): Promise<void>;
}

export function replicasBitmap(owns: (p: number) => boolean): string {
  const bitmap = Buffer.alloc(PARTITION_COUNT / 8);
  for (let p = 0; p < PARTITION_COUNT; p++) if (owns(p)) bitmap[p >> 3]! |= 0x80 >> (p & 7);
  return bitmap.toString('base64');
}

export async function startFakeNode(opts: FakeNodeOptions): Promise<FakeNode> {
  const sockets = new Set<net.Socket>();
  const requests: Message[] = [];
  const infoRequests: string[][] = [];
  const owns = opts.owns ?? (() => true);
  const info = (cmd: string): string => {
    switch (cmd) {
      case 'node':
        return opts.name;
      case 'build':
        return '8.1.2.0';
      case 'peers-generation':
        return (opts.peers?.() ?? '0').split(',')[0]!;
      case 'partition-generation':
        return String(opts.partitionGeneration?.() ?? 1);
      case 'peers-clear-std':
        return opts.peers?.() ?? '0,3000,[]';
      case 'replicas':
        return (opts.namespaces ?? ['test']).map((ns) => `${ns}:0,1,${replicasBitmap(owns)}`).join(';');
      default:
        return `ERROR:4:unrecognized command`;
    }
  };
  const server = net.createServer((socket) => {
    node.connectionsOpened++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const parser = new FrameParser();
    socket.on('data', (chunk: Buffer) => {
      for (const frame of parser.push(chunk)) {
        if (frame.type === ProtoType.INFO) {
          const cmds = parseInfoRequest(frame.body);
          infoRequests.push(cmds);
          socket.write(encodeInfoReply(cmds.map((c) => [c, info(c)] as const)));
        } else {
          const { message } = readMessage(frame.body, 0);
          requests.push(message);
          opts.onMessage?.(message, (f) => socket.write(f), socket);
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const node: FakeNode = {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    requests,
    infoRequests,
    connectionsOpened: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return node;
}

/** The record message the server sends for `r` in a scan (field order as captured: ns, digest, set, key). */
export function recordMessage(r: RawRecord, noBins = false): MessageInit {
  const fields = [field(FieldType.NAMESPACE, r.namespace), field(FieldType.DIGEST, r.digest), field(FieldType.SET, r.set)];
  if (r.userKey) fields.push(field(FieldType.KEY, Buffer.concat([Buffer.from([r.userKey.type]), r.userKey.bytes])));
  return {
    info1: noBins ? Info1.GET_NOBINDATA : 0,
    generation: r.generation,
    recordTtl: r.voidTime,
    fields,
    ops: noBins ? [] : r.bins.map((b) => ({ op: OpType.READ, particleType: b.type, name: b.name, value: b.value })),
  };
}

export const LAST_FRAME = encodeMessagesFrame([{ info3: Info3.LAST }]);

/** The partitions (field 11) and resume digests (field 12) of a scan request. */
export function scanTargets(request: Message): { partitions: number[]; resume: Map<number, Buffer> } {
  const partitions: number[] = [];
  const pids = findField(request, FieldType.PID_ARRAY);
  if (pids) for (let i = 0; i < pids.length; i += 2) partitions.push(pids.readUInt16LE(i));
  const resume = new Map<number, Buffer>();
  const digests = findField(request, FieldType.DIGEST_ARRAY);
  if (digests) for (let i = 0; i < digests.length; i += 20) resume.set(partitionId(digests.subarray(i, i + 20)), digests.subarray(i, i + 20));
  return { partitions, resume };
}

/**
 * The reply frames of a scan over `records`: the requested partitions in request order,
 * each in descending digest order (below its resume digest), `perFrame` records a frame.
 */
export function scanReplyFrames(request: Message, records: readonly RawRecord[], perFrame = 50): Buffer[] {
  const { partitions, resume } = scanTargets(request);
  const set = findField(request, FieldType.SET)?.toString();
  const noBins = (request.info1 & Info1.GET_NOBINDATA) !== 0;
  const byPartition = new Map<number, RawRecord[]>();
  for (const r of records) {
    if (set !== undefined && r.set !== set) continue;
    const p = partitionId(r.digest);
    if (!byPartition.has(p)) byPartition.set(p, []);
    byPartition.get(p)!.push(r);
  }
  const out: MessageInit[] = [];
  for (const p of [...partitions, ...resume.keys()]) {
    const below = resume.get(p);
    const rs = (byPartition.get(p) ?? []).filter((r) => !below || Buffer.compare(r.digest, below) < 0);
    rs.sort((a, b) => Buffer.compare(b.digest, a.digest));
    out.push(...rs.map((r) => recordMessage(r, noBins)));
  }
  const frames: Buffer[] = [];
  for (let i = 0; i < out.length; i += perFrame) frames.push(encodeMessagesFrame(out.slice(i, i + perFrame)));
  frames.push(LAST_FRAME);
  return frames;
}

export interface BatchRowRequest {
  index: number;
  digest: Buffer;
  info2: number;
  info3: number;
  generation: number;
  ttl: number;
  namespace: string;
  set: string;
  key?: Buffer;
  bins: Array<{ name: string; type: number; value: Buffer }>;
}

/** The rows of a batch write request (field 41, rows of type 0x0e as aerobak sends them). */
export function batchRows(request: Message): BatchRowRequest[] {
  const data = findField(request, FieldType.BATCH_INDEX)!;
  const count = data.readUInt32BE(0);
  let at = 5;
  const rows: BatchRowRequest[] = [];
  for (let i = 0; i < count; i++) {
    const index = data.readUInt32BE(at);
    const digest = data.subarray(at + 4, at + 24);
    if (data[at + 24] !== 0x0e) throw new Error(`row type ${data[at + 24]} not expected`);
    const info2 = data[at + 26]!;
    const info3 = data[at + 27]!;
    const generation = data.readUInt16BE(at + 28);
    const ttl = data.readUInt32BE(at + 30);
    const nFields = data.readUInt16BE(at + 34);
    const nOps = data.readUInt16BE(at + 36);
    at += 38;
    const fields = new Map<number, Buffer>();
    for (let f = 0; f < nFields; f++) {
      const size = data.readUInt32BE(at);
      fields.set(data[at + 4]!, data.subarray(at + 5, at + 4 + size));
      at += 4 + size;
    }
    const bins = [];
    for (let o = 0; o < nOps; o++) {
      const size = data.readUInt32BE(at);
      const nameLen = data[at + 7]!;
      bins.push({ name: data.toString('utf8', at + 8, at + 8 + nameLen), type: data[at + 5]!, value: data.subarray(at + 8 + nameLen, at + 4 + size) });
      at += 4 + size;
    }
    rows.push({
      index,
      digest,
      info2,
      info3,
      generation,
      ttl,
      namespace: fields.get(FieldType.NAMESPACE)!.toString(),
      set: fields.get(FieldType.SET)!.toString(),
      key: fields.get(FieldType.KEY),
      bins,
    });
  }
  return rows;
}

/** A batch reply: one message per row (result code, index in the transaction-ttl slot), then LAST. */
export function batchReply(results: Array<{ index: number; resultCode: number; generation?: number }>): Buffer[] {
  const rows = results.map((r) => ({ resultCode: r.resultCode, generation: r.generation ?? 1, transactionTtl: r.index }));
  return [encodeMessagesFrame(rows), LAST_FRAME];
}
