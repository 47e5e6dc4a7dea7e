/**
 * The chaos run: many seeded backup → verify → restore cycles, each with one
 * fault from the matrix (faults.ts) injected at a random point, each judged
 * by an oracle.
 *
 * The oracle of a cycle:
 *   - a command that exits 0 must have done its whole job: the backup's
 *     verify passes and counts exactly the source records; the restored set
 *     equals the source record for record (digest, set, user key, every bin's
 *     particle type and bytes, void time);
 *   - a command that fails must exit non-zero with a named error (one
 *     "aerobak: error:" line, no stack trace) and, for a backup, leave nothing
 *     that looks complete (verify must refuse it);
 *   - then the faults are removed and the cycle recovers as an operator would
 *     (`backup --resume`, `restore --resume`), and the recovered result is
 *     judged by the first rule. A recovery that fails is a violation too.
 * Violations: silent loss, duplicate, changed record, hang (a command past
 * its bound), crash (an exception out of the command, a stack trace, a
 * child killed by a signal we did not send), unnamed error, an incomplete
 * backup that verifies, a recovery that fails.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BatchWriter } from '../../src/aerospike/batch-writer.js';
import { Cluster } from '../../src/aerospike/cluster.js';
import type { RawRecord } from '../../src/aerospike/types.js';
import { runChild, runInProcess, summaryOf, errorOf, type CommandRun } from './commands.js';
import { cycleRecords, shapeOf, Rng } from './data.js';
import { BUCKET, type ChaosEnv } from './env.js';
import { FAULT_KINDS, type FaultKind, type StoreKind, type FaultContext } from './faults.js';

export type Outcome = 'ok' | 'recovered';
export type Violation =
  | 'silent-loss'
  | 'duplicate'
  | 'changed-record'
  | 'hang'
  | 'crash'
  | 'unnamed-error'
  | 'incomplete-backup-verifies'
  | 'recovery-failed';

export const VIOLATIONS: readonly Violation[] = ['silent-loss', 'duplicate', 'changed-record', 'hang', 'crash', 'unnamed-error', 'incomplete-backup-verifies', 'recovery-failed'];

export interface CycleResult {
  cycle: number;
  seed: number;
  kind: string;
  store: StoreKind;
  records: number;
  fault: string;
  outcome: Outcome | 'violation';
  violations: { violation: Violation; detail: string }[];
  /** The named errors the commands failed with (the first line of each). */
  errors: string[];
  /** Each failed command: its arguments, exit code and the end of its stderr (for replays). */
  failures: { args: string[]; code: number | null; stderr: string }[];
  ms: number;
}

export interface ChaosOptions {
  seed: number;
  runs: number;
  /** Stop starting cycles after this long (ms); default no limit. */
  budgetMs?: number;
  /** Bound on one command (ms): past it the cycle is a hang. */
  commandBoundMs?: number;
  /** Only these kinds (names); default all. */
  kinds?: readonly string[];
  /** Run just this one cycle: a kind and the cycle seed a report printed for it. */
  replay?: { kind: string; seed: number };
  log?: (line: string) => void;
}

export interface ChaosReport {
  seed: number;
  runs: number;
  durationMs: number;
  kinds: string[];
  /** kind → outcome or violation → count */
  matrix: Record<string, Record<string, number>>;
  violations: number;
  cycles: CycleResult[];
  notRun: { kind: string; reason: string }[];
}

const NS = 'test';

export async function runChaos(env: ChaosEnv, opts: ChaosOptions): Promise<ChaosReport> {
  const started = performance.now();
  const log = opts.log ?? (() => {});
  const bound = opts.commandBoundMs ?? 120_000;
  const notRun: { kind: string; reason: string }[] = [];
  const kinds = FAULT_KINDS.filter((k) => !opts.kinds || opts.kinds.includes(k.name)).filter((k) => {
    if (k.stores.every((s) => s === 'small-disk') && !env.smallDisk) {
      notRun.push({ kind: k.name, reason: 'no small disk: mounting a tmpfs needs root' });
      return false;
    }
    return true;
  });
  if (kinds.length === 0) throw new Error('chaos: no fault kind to run');
  const keyFile = join(env.localDir, '..', 'chaos.key');
  await writeFile(keyFile, Buffer.alloc(32, 7).toString('hex'));

  // Crashes outside any awaited call (a stray rejection in a stream) belong to the cycle running.
  let stray: string[] = [];
  const onStray = (err: unknown) => stray.push(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.on('uncaughtException', onStray);
  process.on('unhandledRejection', onStray);

  const cycles: CycleResult[] = [];
  const master = new Rng(opts.seed);
  // Every kind in turn, in an order shuffled per round: each kind gets its share.
  let order: FaultKind[] = [];
  try {
    for (let i = 0; i < opts.runs; i++) {
      if (opts.budgetMs !== undefined && performance.now() - started > opts.budgetMs) break;
      if (order.length === 0) order = shuffle(master, [...kinds]);
      let kind = order.shift()!;
      let seed = (master.next() * 2 ** 32) >>> 0;
      if (opts.replay) {
        const wanted = opts.replay.kind;
        kind = kinds.find((k) => k.name === wanted) ?? failWith(`chaos: no fault kind named '${wanted}'`);
        seed = opts.replay.seed;
      }
      stray = [];
      const result = await runCycle(env, { cycle: i, seed, kind, bound, keyFile });
      for (const s of stray) result.violations.push({ violation: 'crash', detail: `uncaught: ${s.split('\n')[0]}` });
      if (result.violations.length > 0) result.outcome = 'violation';
      cycles.push(result);
      log(`${String(i).padStart(4)} ${result.outcome.padEnd(12)} ${kind.name} [${result.store}, ${result.records} records, seed ${seed}] ${result.fault}${result.errors.length ? ` | ${result.errors.join(' | ')}` : ''}${result.violations.map((v) => `\n       VIOLATION ${v.violation}: ${v.detail}`).join('')}`);
    }
  } finally {
    process.off('uncaughtException', onStray);
    process.off('unhandledRejection', onStray);
  }

  const matrix: Record<string, Record<string, number>> = {};
  for (const k of kinds) matrix[k.name] = {};
  for (const c of cycles) {
    const row = matrix[c.kind]!;
    if (c.violations.length === 0) row[c.outcome] = (row[c.outcome] ?? 0) + 1;
    for (const v of new Set(c.violations.map((x) => x.violation))) row[v] = (row[v] ?? 0) + 1;
  }
  return {
    seed: opts.seed,
    runs: cycles.length,
    durationMs: Math.round(performance.now() - started),
    kinds: kinds.map((k) => k.name),
    matrix,
    violations: cycles.filter((c) => c.violations.length > 0).length,
    cycles,
    notRun,
  };
}

function failWith(message: string): never {
  throw new Error(message);
}

function shuffle<T>(rng: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

interface CycleInput {
  cycle: number;
  seed: number;
  kind: FaultKind;
  bound: number;
  keyFile: string;
}

async function runCycle(env: ChaosEnv, input: CycleInput): Promise<CycleResult> {
  const { cycle, seed, kind, bound, keyFile } = input;
  const t0 = performance.now();
  const rng = new Rng(seed);
  const store = rng.pick(kind.stores);
  const shape = { records: rng.int(100, 1500), blobBytes: 0, backupArgs: [] as string[], ...kind.shape?.(rng) };
  const set = `chaos${cycle}`;
  const result: CycleResult = { cycle, seed, kind: kind.name, store, records: 0, fault: '', outcome: 'ok', violations: [], errors: [], failures: [], ms: 0 };
  const violate = (violation: Violation, detail: string) => result.violations.push({ violation, detail });
  let recovered = false;

  await env.source.server.data.clear(NS);
  await env.target.server.data.clear(NS);
  // Written as a client writes (the server puts lists, maps and GeoJSON in its own
  // form), then read back: what the server holds is what a backup must capture.
  await writeRecords(env.source.hosts, cycleRecords(rng, NS, set, shape.records, shape.blobBytes));
  const source = await env.source.server.data.records(NS, set);
  result.records = source.length;

  let location = locationOf(env, store, `c${cycle}-${seed}`);
  const encrypt = rng.chance(0.2);
  const keyArgs = encrypt ? ['--key-file', keyFile] : [];
  const compress = shape.backupArgs.includes('--compress') ? [] : ['--compress', rng.pick(['zstd', 'gzip', 'none'])];
  const parallel = shape.backupArgs.includes('--parallel') ? [] : ['--parallel', String(rng.pick([1, 2, 4, 8]))];
  const args = { backup: [] as string[], restore: [] as string[], verify: [] as string[] };
  args.backup = ['backup', '-h', env.source.hosts, '-n', NS, '-s', set, '--to', location, '--json', ...compress, ...parallel, ...shape.backupArgs, ...(encrypt ? ['--encrypt', ...keyArgs] : [])];
  args.restore = ['restore', '--from', location, '-h', env.target.hosts, '--json', '--parallel', String(rng.pick([1, 2, 4])), '--batch-size', String(rng.pick([16, 128, 500])), ...keyArgs];
  args.verify = ['verify', location, '--json', ...keyArgs];
  const faults: string[] = [];

  /** Runs a command with the kind's fault when it acts in `phase`. */
  const withFault = async (phase: FaultKind['phase'], run: () => Promise<CommandRun>): Promise<CommandRun> => {
    if (kind.phase !== phase) return run();
    const controller = new AbortController();
    const ctx: FaultContext = { env, rng, store, signal: controller.signal };
    if (kind.before) faults.push(await kind.before(ctx));
    const during = kind.during?.(ctx);
    const r = await run();
    controller.abort();
    if (during) faults.push(await during.catch((e: Error) => `fault injection failed: ${e.message}`));
    await env.clearFaults();
    return r;
  };

  /** Judges a finished command: true when it succeeded. */
  const judge = (r: CommandRun, what: string, expectKill = false): boolean => {
    if (r.code !== 0) result.failures.push({ args: r.args, code: r.code, stderr: r.stderr.slice(-4000) });
    if (r.hung) {
      violate('hang', `${what} ran past ${bound} ms`);
      return false;
    }
    if (r.crashed) {
      violate('crash', `${what}: ${r.crashed.split('\n')[0]}`);
      return false;
    }
    if (r.signal && !(expectKill && r.signal === 'SIGKILL')) {
      violate('crash', `${what} died of ${r.signal}`);
      return false;
    }
    if (r.code === 0) return true;
    if (expectKill && r.signal === 'SIGKILL') {
      result.errors.push(`${what}: SIGKILLed after ${Math.round(r.ms)} ms`);
      return false;
    }
    const error = errorOf(r);
    if (!error || !error.named) violate('unnamed-error', `${what} exited ${r.code}: ${error?.line ?? (r.stderr.trim().split('\n').pop() || '(no error line)')}`);
    else result.errors.push(`${what}: ${error.line.replace('aerobak: error: ', '')}`);
    return false;
  };

  try {
    // ---- backup
    const backup = await withFault('backup', () =>
      kind.kill ? runChild(args.backup, bound, { killAfterMs: kind.kill(rng) }) : runInProcess(args.backup, bound),
    );
    let backedUp = judge(backup, 'backup', kind.kill !== undefined);
    if (kind.after) await kind.after({ env, rng, store, signal: AbortSignal.abort() });
    if (!backedUp) {
      if (result.violations.length) return result;
      // What an interrupted backup leaves must not pass for a complete one.
      const v = await runInProcess(args.verify, bound);
      if (v.code === 0) violate('incomplete-backup-verifies', `verify passed a backup whose run failed: ${JSON.stringify(summaryOf(v))}`);
      let resume = await runInProcess(['backup', '--resume', location, '--json', ...(encrypt ? keyArgs : [])], bound);
      if (resume.code !== 0 && /has no backup-state\.json/.test(resume.stderr)) {
        // It failed before its first save: nothing to resume, and the error says to back up
        // again, which is what an operator does.
        result.errors.push('backup --resume: nothing to resume (the backup failed before its first save)');
        const fresh = locationOf(env, store, `c${cycle}-${seed}-again`);
        args.backup = args.backup.map((a) => (a === location ? fresh : a));
        args.restore = args.restore.map((a) => (a === location ? fresh : a));
        args.verify = args.verify.map((a) => (a === location ? fresh : a));
        await cleanUp(env, store, location);
        location = fresh;
        resume = await runInProcess(args.backup, bound);
      }
      if (!judge(resume, 'backup --resume')) {
        if (!result.violations.length) violate('recovery-failed', `backup --resume after the fault failed: ${result.errors.at(-1)}`);
        return result;
      }
      recovered = true;
      backedUp = true;
    }

    // ---- verify (the reads of verify and restore take the read faults)
    let verify = await withFault('read', () => runInProcess(args.verify, bound));
    if (!judge(verify, 'verify')) {
      if (result.violations.length) return result;
      if (kind.phase !== 'read') {
        violate('recovery-failed', `verify of a completed backup failed with no fault on it: ${result.errors.at(-1)}`);
        return result;
      }
      verify = await runInProcess(args.verify, bound);
      if (!judge(verify, 'verify again')) {
        if (!result.violations.length) violate('recovery-failed', `verify failed again without the fault: ${result.errors.at(-1)}`);
        return result;
      }
      recovered = true;
    }
    const verified = Number(summaryOf(verify)?.records);
    if (verified < source.length) violate('silent-loss', `verify counts ${verified} records in the backup, the source has ${source.length}`);
    if (verified > source.length) violate('duplicate', `verify counts ${verified} records in the backup, the source has ${source.length}`);

    // ---- restore
    const restorePhase = kind.phase === 'read' ? 'read' : 'restore';
    const restore = await withFault(restorePhase, () => runInProcess(args.restore, bound));
    if (!judge(restore, 'restore')) {
      if (result.violations.length) return result;
      const again = await runInProcess([...args.restore, '--resume'], bound);
      if (!judge(again, 'restore --resume')) {
        if (!result.violations.length) violate('recovery-failed', `restore --resume after the fault failed: ${result.errors.at(-1)}`);
        return result;
      }
      recovered = true;
    }
    await compare(env, set, source, violate);
    result.outcome = recovered ? 'recovered' : 'ok';
    return result;
  } finally {
    result.fault = faults.join('; ') || (kind.kill ? 'SIGKILL' : 'none');
    result.ms = Math.round(performance.now() - t0);
    await env.clearFaults();
    await cleanUp(env, store, location);
  }
}

/** Writes records byte for byte (replace), failing on any the server refuses. */
async function writeRecords(hosts: string, records: RawRecord[]): Promise<void> {
  const cluster = await Cluster.connect({ hosts });
  try {
    const refused: string[] = [];
    await pipeline(Readable.from(records), new BatchWriter(cluster, { policy: 'replace', onResult: (r) => r.outcome === 'failed' && refused.push(`${r.resultCode}`) }));
    if (refused.length) throw new Error(`chaos: the source refused ${refused.length} records (codes ${[...new Set(refused)].join(', ')})`);
  } finally {
    await cluster.close();
  }
}

/** The restored set against the source, record for record. */
async function compare(env: ChaosEnv, set: string, source: RawRecord[], violate: (v: Violation, d: string) => void): Promise<void> {
  const restored = new Map((await env.target.server.data.records(NS, set)).map((r) => [r.digest.toString('hex'), r]));
  const missing: string[] = [];
  const changed: string[] = [];
  for (const s of source) {
    const digest = s.digest.toString('hex');
    const r = restored.get(digest);
    restored.delete(digest);
    if (!r) missing.push(digest);
    // A restored TTL is relative to the server's clock when the write lands: one that
    // straddles a second boundary expires a second later (as on a real server).
    else if (shapeOf(r) !== shapeOf(s) || !(r.voidTime === s.voidTime || (s.voidTime !== 0 && r.voidTime === s.voidTime + 1))) changed.push(`${digest}: ${shapeOf(s).slice(0, 80)} → ${shapeOf(r).slice(0, 80)} (void time ${s.voidTime} → ${r.voidTime})`);
  }
  if (missing.length) violate('silent-loss', `${missing.length} of ${source.length} records missing after a restore that succeeded (first ${missing[0]})`);
  if (changed.length) violate('changed-record', `${changed.length} records differ (first ${changed[0]})`);
  if (restored.size) violate('duplicate', `${restored.size} records in the target that are not in the source`);
}

function locationOf(env: ChaosEnv, store: StoreKind, name: string): string {
  switch (store) {
    case 'local':
      return join(env.localDir, name);
    case 'small-disk':
      return join(env.smallDisk!, name);
    case 's3':
      return `s3://${BUCKET}/${name}`;
    case 'gcs':
      return `gs://${BUCKET}/${name}`;
  }
}

async function cleanUp(env: ChaosEnv, store: StoreKind, location: string): Promise<void> {
  if (store === 'local' || store === 'small-disk') await rm(location, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  // Object store backups stay (the buckets die with the run); local disks are small.
}

/** The matrix as a text table: one row per kind, one column per outcome and violation seen. */
export function formatMatrix(report: ChaosReport): string {
  const cols = ['ok', 'recovered', ...VIOLATIONS];
  const seen = cols.filter((c) => c === 'ok' || c === 'recovered' || Object.values(report.matrix).some((row) => row[c]));
  const width = Math.max(...Object.keys(report.matrix).map((k) => k.length), 10);
  const header = `${'fault kind'.padEnd(width)}  cycles  ${seen.map((c) => c.padStart(Math.max(c.length, 5))).join('  ')}`;
  const lines = [header, '-'.repeat(header.length)];
  const total: Record<string, number> = {};
  let all = 0;
  for (const [kind, row] of Object.entries(report.matrix)) {
    const n = report.cycles.filter((c) => c.kind === kind).length;
    all += n;
    for (const c of seen) total[c] = (total[c] ?? 0) + (row[c] ?? 0);
    lines.push(`${kind.padEnd(width)}  ${String(n).padStart(6)}  ${seen.map((c) => String(row[c] ?? 0).padStart(Math.max(c.length, 5))).join('  ')}`);
  }
  lines.push('-'.repeat(header.length));
  lines.push(`${'all'.padEnd(width)}  ${String(all).padStart(6)}  ${seen.map((c) => String(total[c] ?? 0).padStart(Math.max(c.length, 5))).join('  ')}`);
  for (const n of report.notRun) lines.push(`not run: ${n.kind} (${n.reason})`);
  return lines.join('\n');
}

export async function writeReport(report: ChaosReport, file: string): Promise<void> {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, JSON.stringify(report, null, 2) + '\n');
}
