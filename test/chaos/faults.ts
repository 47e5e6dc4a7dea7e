/**
 * The fault matrix of the chaos run: each kind says where it acts (which
 * command of the cycle, which stores), how the cycle is shaped for it (bigger
 * records for multipart uploads, a rate limit so that a kill lands mid-run),
 * and injects itself at a random point drawn from the cycle's seeded Rng.
 *
 * A fault runs while its command runs (`during`), and is removed when the
 * command ends (env.clearFaults: toxics, HTTP and write faults, paused and
 * killed nodes); a kind that must leave a fault in place past the command
 * (the filled disk) undoes it in `after`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { PARTITION_COUNT } from '../../src/aerospike/types.js';
import type { Rng } from './data.js';
import type { ChaosEnv, ProxiedCluster } from './env.js';
import { isObjectGet, isObjectPut, isPartUpload } from '../support/http-fault-proxy.js';
import type { ToxicSpec } from '../support/toxiproxy.js';

export type StoreKind = 'local' | 's3' | 'gcs' | 'small-disk';
export type Phase = 'backup' | 'read' | 'restore';

export interface CycleShape {
  /** Generated records (the golden ones come on top). */
  records: number;
  /** Bytes of incompressible blob in every record (0: small records). */
  blobBytes: number;
  /** Extra backup options (a rate limit, a file size, a compression). */
  backupArgs: string[];
}

export interface FaultContext {
  env: ChaosEnv;
  rng: Rng;
  store: StoreKind;
  /** Aborted when the command ends: pending timers stop there. */
  signal: AbortSignal;
}

export interface FaultKind {
  name: string;
  /** The command it disturbs: backup, the reads of verify and restore, or restore's writes. */
  phase: Phase;
  stores: readonly StoreKind[];
  /** Runs the backup as a child process, killed with SIGKILL (see `killAfterMs`). */
  kill?: (rng: Rng) => number;
  shape?: (rng: Rng) => Partial<CycleShape>;
  /** Called before the command starts (a fault that must be in place first). Returns what it did. */
  before?: (ctx: FaultContext) => Promise<string>;
  /** Called as the command starts; resolves when its injections are done (or the signal aborts). Returns what it did. */
  during?: (ctx: FaultContext) => Promise<string>;
  /** Undoes what env.clearFaults cannot (the disk filler); called before the cycle's recovery. */
  after?: (ctx: FaultContext) => Promise<void>;
}

const ABORTED = Symbol('aborted');

/** Waits `ms`; false when the command ended first. */
async function wait(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, ABORTED, { signal });
    return true;
  } catch {
    return false;
  }
}

/** A toxic on `proxies` for a random window, then removed: what the network does for a while. */
async function toxicWindow(ctx: FaultContext, proxies: { addToxic(s: ToxicSpec): Promise<string>; removeToxic(n: string): Promise<void>; name: string }[], spec: ToxicSpec, startMs: [number, number], lengthMs: [number, number]): Promise<string> {
  const delay = ctx.rng.int(...startMs);
  const length = ctx.rng.int(...lengthMs);
  if (!(await wait(delay, ctx.signal))) return `${spec.type} never armed (the command ended within ${delay} ms)`;
  const names = await Promise.all(proxies.map((p) => p.addToxic(spec)));
  await wait(length, ctx.signal);
  await Promise.all(proxies.map((p, i) => p.removeToxic(names[i]!).catch(() => undefined)));
  return `${spec.type} ${JSON.stringify(spec.attributes)} ${spec.stream ?? 'downstream'} on ${proxies.map((p) => p.name).join(',')} from ${delay} ms for ${length} ms`;
}

/** A cut of the connections: a close after some bytes (`limit_data`) or a TCP reset after a delay (`reset_peer`), even odds. */
function connectionCut(ctx: FaultContext, stream: 'upstream' | 'downstream', bytes: [number, number], maxResetMs: number): ToxicSpec {
  return ctx.rng.chance(0.5)
    ? { type: 'limit_data', stream, attributes: { bytes: ctx.rng.int(...bytes) } }
    : { type: 'reset_peer', stream, attributes: { timeout: ctx.rng.int(0, maxResetMs) } };
}

function someNode(ctx: FaultContext, cluster: ProxiedCluster): number {
  return ctx.rng.int(0, cluster.server.nodes.length - 1);
}

function storeProxy(ctx: FaultContext) {
  return ctx.store === 'gcs' ? ctx.env.gcs.proxy : ctx.env.s3.proxy;
}

const ANY_STORE: readonly StoreKind[] = ['local', 's3', 'gcs'];

export const FAULT_KINDS: readonly FaultKind[] = [
  {
    name: 'node killed mid-scan',
    phase: 'backup',
    stores: ANY_STORE,
    shape: () => ({ records: 3000 }),
    async during(ctx) {
      const node = someNode(ctx, ctx.env.source);
      const delay = ctx.rng.int(0, 300);
      const down = ctx.rng.chance(0.25) ? undefined : ctx.rng.int(100, 2000);
      if (!(await wait(delay, ctx.signal))) return 'the backup ended before the kill';
      await ctx.env.source.server.nodes[node]!.kill();
      if (down === undefined) return `node ${node} killed at ${delay} ms, down until the backup ended`;
      await wait(down, ctx.signal);
      await ctx.env.source.server.nodes[node]!.restart();
      return `node ${node} killed at ${delay} ms, restarted ${down} ms later`;
    },
  },
  {
    name: 'node paused mid-scan',
    phase: 'backup',
    stores: ANY_STORE,
    shape: () => ({ records: 3000 }),
    async during(ctx) {
      const node = someNode(ctx, ctx.env.source);
      const delay = ctx.rng.int(0, 300);
      const length = ctx.rng.int(200, 3000);
      if (!(await wait(delay, ctx.signal))) return 'the backup ended before the pause';
      await ctx.env.source.server.nodes[node]!.pause();
      await wait(length, ctx.signal);
      await ctx.env.source.server.nodes[node]!.resume();
      return `node ${node} paused at ${delay} ms for ${length} ms`;
    },
  },
  {
    name: 'partitions moved mid-scan',
    phase: 'backup',
    stores: ANY_STORE,
    shape: () => ({ records: 3000 }),
    async during(ctx) {
      const to = someNode(ctx, ctx.env.source);
      const share = ctx.rng.int(5, 40) / 100;
      const pids: number[] = [];
      for (let pid = 0; pid < PARTITION_COUNT; pid++) if (ctx.rng.chance(share)) pids.push(pid);
      const delay = ctx.rng.int(0, 300);
      if (!(await wait(delay, ctx.signal))) return 'the backup ended before the move';
      await ctx.env.source.server.movePartitions(pids, to);
      return `${pids.length} partitions moved to node ${to} at ${delay} ms`;
    },
  },
  {
    name: 'scan connection reset mid-frame',
    phase: 'backup',
    stores: ANY_STORE,
    shape: () => ({ records: 3000 }),
    during(ctx) {
      const node = someNode(ctx, ctx.env.source);
      const spec: ToxicSpec = connectionCut(ctx, 'downstream', [100, 200_000], 200);
      return toxicWindow(ctx, [ctx.env.source.proxies[node]!], spec, [0, 200], [50, 1000]);
    },
  },
  {
    name: 'scan peer stops answering',
    phase: 'backup',
    stores: ANY_STORE,
    shape: () => ({ records: 2000 }),
    during(ctx) {
      const node = someNode(ctx, ctx.env.source);
      return toxicWindow(ctx, [ctx.env.source.proxies[node]!], { type: 'timeout', attributes: { timeout: 0 } }, [0, 200], [200, 4000]);
    },
  },
  {
    name: 'slow network (latency, jitter, sliced packets)',
    phase: 'backup',
    stores: ANY_STORE,
    during(ctx) {
      const proxies = ctx.env.source.proxies;
      const spec: ToxicSpec = ctx.rng.chance(0.5)
        ? { type: 'latency', attributes: { latency: ctx.rng.int(5, 80), jitter: ctx.rng.int(0, 40) } }
        : { type: 'slicer', attributes: { average_size: ctx.rng.int(1, 2000), size_variation: ctx.rng.int(0, 500), delay: ctx.rng.int(0, 2000) } };
      return toxicWindow(ctx, proxies, spec, [0, 100], [500, 3000]);
    },
  },
  {
    name: 'slow consumer (store bandwidth cap)',
    phase: 'backup',
    stores: ['s3', 'gcs'],
    shape: () => ({ records: 1000, blobBytes: 1024 }),
    during(ctx) {
      return toxicWindow(ctx, [storeProxy(ctx)], { type: 'bandwidth', stream: 'upstream', attributes: { rate: ctx.rng.int(100, 1000) } }, [0, 50], [1000, 4000]);
    },
  },
  {
    name: 'S3 503 SlowDown / 500 InternalError on uploads',
    phase: 'backup',
    stores: ['s3'],
    shape: (rng) => (rng.chance(0.5) ? { records: 800, blobBytes: 8 * 1024, backupArgs: ['--parallel', '1', '--compress', 'none'] } : {}),
    async during(ctx) {
      const slowDown = ctx.rng.chance(0.5);
      const times = ctx.rng.int(1, 5);
      ctx.env.s3.http.inject({ match: (req) => isPartUpload(req) || isObjectPut(req), status: slowDown ? 503 : 500, code: slowDown ? 'SlowDown' : 'InternalError', times });
      return `${slowDown ? '503 SlowDown' : '500 InternalError'} on the next ${times} part or object uploads`;
    },
  },
  {
    name: 'S3 connection reset mid-part',
    phase: 'backup',
    stores: ['s3'],
    shape: () => ({ records: 800, blobBytes: 8 * 1024, backupArgs: ['--parallel', '1', '--compress', 'none'] }),
    during(ctx) {
      const spec: ToxicSpec = connectionCut(ctx, 'upstream', [10_000, 3_000_000], 500);
      return toxicWindow(ctx, [ctx.env.s3.proxy], spec, [0, 300], [100, 1500]);
    },
  },
  {
    name: 'GCS resumable upload cut mid-chunk',
    phase: 'backup',
    stores: ['gcs'],
    shape: () => ({ records: 600, blobBytes: 4 * 1024, backupArgs: ['--parallel', '2', '--compress', 'none'] }),
    during(ctx) {
      const spec: ToxicSpec = connectionCut(ctx, 'upstream', [10_000, 2_000_000], 300);
      return toxicWindow(ctx, [ctx.env.gcs.proxy], spec, [0, 300], [100, 1500]);
    },
  },
  {
    name: 'S3 500 / 503 / cut body on GETs',
    phase: 'read',
    stores: ['s3'],
    async during(ctx) {
      const times = ctx.rng.int(1, 4);
      const what = ctx.rng.int(0, 2);
      if (what === 2) ctx.env.s3.http.inject({ match: isObjectGet, cutAfterBytes: ctx.rng.int(0, 20_000), times });
      else ctx.env.s3.http.inject({ match: isObjectGet, status: what === 0 ? 500 : 503, code: what === 0 ? 'InternalError' : 'SlowDown', times });
      return `${['500 InternalError', '503 SlowDown', 'a body cut'][what]} on the next ${times} GETs`;
    },
  },
  {
    name: 'batch write connection reset',
    phase: 'restore',
    stores: ANY_STORE,
    shape: () => ({ records: 3000 }),
    during(ctx) {
      const node = someNode(ctx, ctx.env.target);
      const spec: ToxicSpec = connectionCut(ctx, 'upstream', [100, 100_000], 200);
      return toxicWindow(ctx, [ctx.env.target.proxies[node]!], spec, [0, 150], [50, 800]);
    },
  },
  {
    name: 'server error replies on writes (8, 9, 14, 18, 22)',
    phase: 'restore',
    stores: ANY_STORE,
    async during(ctx) {
      const code = ctx.rng.pick([8, 9, 14, 18, 22]);
      const count = ctx.rng.int(1, 30);
      await ctx.env.target.server.failWrites({ code, count });
      return `result code ${code} on the next ${count} writes`;
    },
  },
  {
    name: 'target node killed mid-restore',
    phase: 'restore',
    stores: ANY_STORE,
    shape: () => ({ records: 3000 }),
    async during(ctx) {
      const node = someNode(ctx, ctx.env.target);
      const delay = ctx.rng.int(0, 200);
      const down = ctx.rng.int(100, 1500);
      if (!(await wait(delay, ctx.signal))) return 'the restore ended before the kill';
      await ctx.env.target.server.nodes[node]!.kill();
      await wait(down, ctx.signal);
      await ctx.env.target.server.nodes[node]!.restart();
      return `target node ${node} killed at ${delay} ms for ${down} ms`;
    },
  },
  {
    name: 'local disk full (ENOSPC)',
    phase: 'backup',
    stores: ['small-disk'],
    shape: () => ({ records: 2500, backupArgs: ['--compress', 'none', '--file-size', '1MiB'] }),
    async before(ctx) {
      // Leave a random few KiB..MiB free: the backup runs into the end of the disk somewhere.
      const free = ctx.rng.int(4 * 1024, 600 * 1024);
      const filler = join(ctx.env.smallDisk!, 'filler');
      const fh = await open(filler, 'w');
      try {
        await fh.write(Buffer.alloc(Math.max(0, ctx.env.tmpfsBytes - free - 64 * 1024)));
      } catch {
        // full already: fine
      } finally {
        await fh.close();
      }
      return `disk of ${ctx.env.tmpfsBytes} bytes filled to leave about ${free} bytes`;
    },
    async after(ctx) {
      await rm(join(ctx.env.smallDisk!, 'filler'), { force: true });
    },
  },
  {
    name: 'process SIGKILLed mid-backup, then resumed',
    phase: 'backup',
    stores: ANY_STORE,
    kill: (rng) => rng.int(0, 1200),
    shape: () => ({ records: 3000, backupArgs: ['--records-per-second', '1500', '--file-size', '1MiB', '--compress', 'none'] }),
  },
];
