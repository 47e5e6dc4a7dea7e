/**
 * The test server as tests use it: a TestServer running in a worker thread of the test
 * process, driven through asynchronous control calls.
 *
 * Why a thread: the official client's Aerospike.connect() runs the C client's first
 * cluster tend synchronously on the JavaScript thread, so a server sharing that thread
 * could never answer it. Everything else the client does is asynchronous, and aerobak's
 * own wire code is too, but one code path for all tests is simpler than two.
 */
import { Worker } from 'node:worker_threads';
import type { RawRecord } from '../../../src/aerospike/types.js';
import { rewrapRecord } from './transfer.js';
import type { DataAccess, NodeStatus, TestNodeHandle, TestServerHandle, TestServerOptions, WriteFault } from './index.js';
import type { SecurityStats } from './security.js';

export interface RpcRequest {
  id: number;
  method: string;
  args: unknown[];
}

export type RpcReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export type WorkerReady =
  | { ready: true; nodes: Array<{ index: number; name: string; host: string; port: number }>; namespaces: string[] }
  | { ready: false; error: string };

/** Synthetic records for load tests (see DataAccess.generate). */
export interface GenerateSpec {
  namespace: string;
  set: string;
  count: number;
  keyPrefix?: string;
  valueBytes?: number;
}

export class WorkerServer implements TestServerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private stopped = false;
  private stopping = false;
  readonly nodes: readonly TestNodeHandle[];
  readonly namespaces: string[];

  private constructor(
    private readonly worker: Worker,
    ready: Extract<WorkerReady, { ready: true }>,
  ) {
    this.namespaces = ready.namespaces;
    this.nodes = ready.nodes.map((n) => new WorkerNode(this, n.index, n.name, n.host, n.port));
    // An idle server never keeps the process alive (a test that forgets stop() still
    // exits); a call in flight does.
    worker.unref();
    worker.on('message', (reply: RpcReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0 && !this.stopping) worker.unref();
      if (reply.ok) p.resolve(reply.value);
      else p.reject(new Error(`test server: ${reply.error}`));
    });
    // A crash of the server thread is a bug in the server: fail the calls waiting on it.
    worker.on('error', (err) => {
      for (const p of this.pending.values()) p.reject(new Error(`test server crashed: ${err.message}`, { cause: err }));
      this.pending.clear();
    });
    worker.on('exit', () => {
      for (const p of this.pending.values()) p.reject(new Error('test server: worker exited'));
      this.pending.clear();
      this.stopped = true;
    });
  }

  static async start(opts: TestServerOptions = {}): Promise<WorkerServer> {
    const worker = new Worker(new URL('./worker-bootstrap.mjs', import.meta.url), { workerData: opts, execArgv: [] });
    const ready = await new Promise<WorkerReady>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`test server worker exited with code ${code} before starting`)));
    });
    if (!ready.ready) {
      await worker.terminate();
      throw new Error(`test server failed to start: ${ready.error}`);
    }
    return new WorkerServer(worker, ready);
  }

  call<T>(method: string, ...args: unknown[]): Promise<T> {
    if (this.stopped) return Promise.reject(new Error('test server: stopped'));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      if (this.pending.size === 0) this.worker.ref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, method, args } satisfies RpcRequest);
    });
  }

  get hosts(): string {
    return this.nodes.map((n) => n.address).join(',');
  }

  get seeds(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: n.host, port: n.port }));
  }

  readonly clock = {
    advance: (ms: number): Promise<void> => this.call('clock.advance', ms),
    nowMs: (): Promise<number> => this.call('clock.nowMs'),
  };

  readonly data: DataAccess = {
    records: async (namespace, set) => (await this.call<RawRecord[]>('data.records', namespace, set)).map(rewrapRecord),
    get: async (namespace, digest) => {
      const rec = await this.call<RawRecord | undefined>('data.get', namespace, digest);
      return rec && rewrapRecord(rec);
    },
    put: (records) => this.call('data.put', Array.isArray(records) ? records : [records]),
    remove: (namespace, digest) => this.call('data.remove', namespace, digest),
    count: (namespace, set) => this.call('data.count', namespace, set),
    clear: (namespace) => this.call('data.clear', namespace),
    generate: (spec) => this.call('data.generate', spec),
  };

  readonly security = {
    expireSessions: (): Promise<void> => this.call('security.expireSessions'),
    stats: (): Promise<SecurityStats> => this.call('security.stats'),
  };

  owner(pid: number): Promise<number> {
    return this.call('owner', pid);
  }

  movePartitions(pids: Iterable<number>, to: number): Promise<void> {
    return this.call('movePartitions', [...pids], to);
  }

  setPartitionsAvailable(pids: Iterable<number>, available: boolean): Promise<void> {
    return this.call('setPartitionsAvailable', [...pids], available);
  }

  isAvailable(pid: number): Promise<boolean> {
    return this.call('isAvailable', pid);
  }

  failWrites(fault: WriteFault): Promise<void> {
    return this.call('failWrites', fault);
  }

  clearWriteFaults(): Promise<void> {
    return this.call('clearWriteFaults');
  }

  injectedWriteFaults(): Promise<number> {
    return this.call('injectedWriteFaults');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopping = true;
    this.worker.ref();
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.call('stop').catch(() => undefined);
    await exited;
  }
}

class WorkerNode implements TestNodeHandle {
  constructor(
    private readonly server: WorkerServer,
    readonly index: number,
    readonly name: string,
    readonly host: string,
    readonly port: number,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  kill(): Promise<void> {
    return this.server.call('node.kill', this.index);
  }

  restart(): Promise<void> {
    return this.server.call('node.restart', this.index);
  }

  pause(): Promise<void> {
    return this.server.call('node.pause', this.index);
  }

  resume(): Promise<void> {
    return this.server.call('node.resume', this.index);
  }

  dropConnections(): Promise<void> {
    return this.server.call('node.dropConnections', this.index);
  }

  status(): Promise<NodeStatus> {
    return this.server.call<NodeStatus>('node.status', this.index);
  }
}


