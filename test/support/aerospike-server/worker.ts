/**
 * The test server's worker thread: hosts a TestServer and answers the control calls of
 * the WorkerServer handle (handle.ts). Runs only inside a worker started by handle.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { computeDigest, keyFromValue } from '../../../src/aerospike/wire/digest.js';
import { ParticleType, type RawRecord } from '../../../src/aerospike/types.js';
import { TestServer } from './cluster.js';
import { rewrapRecord, toBuffer } from './transfer.js';
import type { GenerateSpec, RpcReply, RpcRequest, WorkerReady } from './handle.js';
import type { TestServerOptions } from './index.js';

const port = parentPort;
if (!port) throw new Error('worker.ts must run in a worker thread');

const server = await TestServer.start(workerData as TestServerOptions).catch((err: Error) => {
  port.postMessage({ ready: false, error: err.message } satisfies WorkerReady);
  return undefined;
});

if (server) {
  port.postMessage({
    ready: true,
    nodes: server.nodes.map((n) => ({ index: n.index, name: n.name, host: n.host, port: n.port })),
    namespaces: server.namespaces,
  } satisfies WorkerReady);
  port.on('message', (req: RpcRequest) => {
    void call(server, req).then(
      (value) => port.postMessage({ id: req.id, ok: true, value } satisfies RpcReply),
      (err: Error) => port.postMessage({ id: req.id, ok: false, error: err.message } satisfies RpcReply),
    );
  });
}

async function call(server: TestServer, { method, args }: RpcRequest): Promise<unknown> {
  const node = () => {
    const n = server.nodes[args[0] as number];
    if (!n) throw new RangeError(`no node ${String(args[0])}`);
    return n;
  };
  const security = () => {
    if (!server.security) throw new Error('the test server was started without security');
    return server.security;
  };
  switch (method) {
    case 'node.kill':
      return node().kill();
    case 'node.restart':
      return node().restart();
    case 'node.pause':
      return node().pause();
    case 'node.resume':
      return node().resume();
    case 'node.dropConnections':
      return node().dropConnections();
    case 'node.status': {
      const n = node();
      return {
        state: n.state,
        connections: n.connectionCount,
        partitionGeneration: n.partitionGeneration,
        peersGeneration: n.peersGeneration,
        partitions: n.ownedPartitions(),
        proxied: n.proxied,
        scannedRecords: n.scannedRecords,
        lastScan: n.lastScan,
      };
    }
    case 'owner':
      return server.owner(args[0] as number).index;
    case 'movePartitions':
      return server.movePartitions(args[0] as number[], args[1] as number);
    case 'setPartitionsAvailable':
      return server.setPartitionsAvailable(args[0] as number[], args[1] as boolean);
    case 'isAvailable':
      return server.isAvailable(args[0] as number);
    case 'failWrites': {
      const fault = args[0] as { code: number; count: number };
      return server.failWrites(fault.code, fault.count);
    }
    case 'clearWriteFaults':
      return server.clearWriteFaults();
    case 'injectedWriteFaults':
      return server.injectedWriteFaults;
    case 'clock.advance':
      return server.clock.advance(args[0] as number);
    case 'clock.nowMs':
      return server.clock.nowMs();
    case 'data.records':
      return server.data.records(args[0] as string, args[1] as string | undefined);
    case 'data.get':
      return server.data.get(args[0] as string, toBuffer(args[1] as Uint8Array));
    case 'data.put':
      for (const rec of args[0] as RawRecord[]) server.data.put(rewrapRecord(rec));
      return undefined;
    case 'data.remove':
      return server.data.remove(args[0] as string, toBuffer(args[1] as Uint8Array));
    case 'data.count':
      return server.data.count(args[0] as string, args[1] as string | undefined);
    case 'data.clear':
      return server.data.clear(args[0] as string | undefined);
    case 'security.expireSessions':
      return security().expireSessions();
    case 'security.stats':
      return { ...security().stats, refusals: [...security().stats.refusals] };
    case 'data.generate':
      return generate(server, args[0] as GenerateSpec);
    case 'stop':
      await server.stop();
      setImmediate(() => process.exit(0));
      return undefined;
    default:
      throw new Error(`unknown test server call ${method}`);
  }
}


/** Synthetic records: string keys `${keyPrefix}${i}` (stored), bins n = i and s = `valueBytes` bytes of text. */
function generate(server: TestServer, spec: GenerateSpec): void {
  const filler = Buffer.alloc(spec.valueBytes ?? 100, 'x');
  for (let i = 0; i < spec.count; i++) {
    const key = keyFromValue(`${spec.keyPrefix ?? 'k'}${i}`);
    const n = Buffer.allocUnsafe(8);
    n.writeBigInt64BE(BigInt(i), 0);
    server.data.put({
      namespace: spec.namespace,
      set: spec.set,
      digest: computeDigest(spec.set, key),
      userKey: key,
      generation: 1,
      voidTime: 0,
      bins: [
        { name: 'n', type: ParticleType.INTEGER, value: n },
        { name: 's', type: ParticleType.STRING, value: filler },
      ],
    });
  }
}
