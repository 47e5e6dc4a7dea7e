/**
 * The fuzzing harness shared by test/fuzz/*.test.ts (docs/reliability.md, "Fuzzing").
 *
 * Every parser of untrusted bytes is fed valid inputs made by the project's own writers,
 * mutants of them (bit flips, byte overwrites, truncations, insertions, deletions,
 * duplicated ranges, length fields set huge) and fully random bytes, by seeded fast-check
 * properties. A property holds when every input either parses to what it says or fails
 * with the parser's own named error, in bounded time and memory:
 *
 * - `guard` / `guardAsync` run one input: an error of any class not listed fails the
 *   property; so does an input that takes more than INPUT_TIME_BOUND_MS, or that grows
 *   the V8 heap plus external memory (ArrayBuffers) by more than the bound given.
 * - A watchdog thread (a worker that shares the start time of the input being run) kills
 *   the process after HANG_KILL_MS on one input: a synchronous loop that never ends cannot
 *   be interrupted otherwise. It prints the parser, the seed and the input first.
 *
 * Modes: AEROBAK_FUZZ_RUNS inputs per parser (split over its properties by their
 * shares; SHORT_RUNS when unset, the normal test suite); AEROBAK_FUZZ_SEED the base
 * seed (each property's seed is derived from it and the property's name, and printed on
 * failure with the command that replays it). `afterAll(printCounts)` logs the inputs
 * tried per parser.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { it } from 'vitest';

// ---------------------------------------------------------------------------
// Modes and seeds

const envInt = (name: string): number | undefined => {
  const v = process.env[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${v} is not an integer`);
  return n;
};

/** Inputs per parser when AEROBAK_FUZZ_RUNS is not set: the short mode of the normal test suite. */
export const SHORT_RUNS = 2000;
/** True under `npm run fuzz` (AEROBAK_FUZZ_RUNS set). */
export const LONG_MODE = envInt('AEROBAK_FUZZ_RUNS') !== undefined;
/** Inputs per parser. */
export const RUNS = Math.max(1, envInt('AEROBAK_FUZZ_RUNS') ?? SHORT_RUNS);
/** The base seed; every property derives its own from it. */
export const SEED = envInt('AEROBAK_FUZZ_SEED') ?? 20_250_601;

/** A parser's input taking longer than this fails its property (generous: a busy 2-core machine, GC pauses). */
export const INPUT_TIME_BOUND_MS = 2000;
/** A single input running this long is a hang: the watchdog kills the process. */
export const HANG_KILL_MS = 30_000;
/** Default bound of what one input may grow the V8 heap plus external memory by. */
export const DEFAULT_MEMORY_BOUND = 64 * 1024 * 1024;

/** Test timeout of one property. */
export const PROPERTY_TIMEOUT_MS = LONG_MODE ? 6 * 3600_000 : 120_000;

/** FNV-1a of `s`, mixed with the base seed: a property's seed. */
export function seedOf(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ SEED) | 0;
}

// ---------------------------------------------------------------------------
// Counts

interface Count {
  inputs: number;
  properties: number;
  ms: number;
}

const counts = new Map<string, Count>();

function count(parser: string): Count {
  let c = counts.get(parser);
  if (!c) counts.set(parser, (c = { inputs: 0, properties: 0, ms: 0 }));
  return c;
}

/** Logs the inputs tried per parser (for afterAll); the table `npm run fuzz` prints. */
export function printCounts(file: string): void {
  const rows = [...counts.entries()].map(([parser, c]) => ({ parser, inputs: c.inputs, properties: c.properties, seconds: (c.ms / 1000).toFixed(1) }));
  if (rows.length === 0) return;
  const w = Math.max(...rows.map((r) => r.parser.length), 6);
  const lines = [
    `fuzz ${file}: AEROBAK_FUZZ_SEED=${SEED}, AEROBAK_FUZZ_RUNS=${RUNS}${LONG_MODE ? '' : ' (short mode)'}`,
    `  ${'parser'.padEnd(w)}  ${'inputs'.padStart(9)}  props  seconds`,
    ...rows.map((r) => `  ${r.parser.padEnd(w)}  ${String(r.inputs).padStart(9)}  ${String(r.properties).padStart(5)}  ${r.seconds.padStart(7)}`),
  ];
  console.log(lines.join('\n'));
}

// ---------------------------------------------------------------------------
// The watchdog

/** [0] start (ms since epoch) of the input being run, 0 when none; [1] its length in bytes. */
const state = new Float64Array(new SharedArrayBuffer(16));
/** The label (parser, property, seed) and the first bytes of the input being run. */
const LABEL_BYTES = 512;
const INPUT_BYTES = 4096;
const label = new Uint8Array(new SharedArrayBuffer(LABEL_BYTES));
const inputBytes = new Uint8Array(new SharedArrayBuffer(INPUT_BYTES));
let watchdog: Worker | undefined;

const WATCHDOG = `
const { workerData } = require('node:worker_threads');
const { writeSync, writeFileSync } = require('node:fs');
const { state, label, input, hangMs, report } = workerData;
setInterval(() => {
  const start = state[0];
  if (start === 0 || Date.now() - start < hangMs) return;
  const n = Math.min(state[1], input.length);
  const text = Buffer.from(label).toString('utf8').replace(/\\0+$/, '');
  const msg = 'fuzz watchdog: one input ran for more than ' + hangMs + ' ms (a hang) in ' + text +
    '\\ninput (' + state[1] + ' bytes, first ' + n + ' in hex): ' + Buffer.from(input.subarray(0, n)).toString('hex') + '\\n';
  try { writeFileSync(report, msg); } catch {}
  writeSync(2, msg + 'report: ' + report + '\\n');
  process.kill(process.pid, 'SIGKILL');
}, 200);
`;

function startWatchdog(): void {
  if (watchdog) return;
  const report = join(tmpdir(), `aerobak-fuzz-hang-${process.pid}.txt`);
  watchdog = new Worker(WATCHDOG, { eval: true, workerData: { state, label, input: inputBytes, hangMs: HANG_KILL_MS, report } });
  watchdog.unref();
}

let currentLabel = '';

function setLabel(text: string): void {
  if (text === currentLabel) return;
  currentLabel = text;
  label.fill(0);
  label.set(Buffer.from(text, 'utf8').subarray(0, LABEL_BYTES));
}

function begin(input: Uint8Array | undefined): void {
  const n = input ? Math.min(input.length, INPUT_BYTES) : 0;
  if (input) inputBytes.set(input.subarray(0, n));
  state[1] = input ? input.length : 0;
  state[0] = Date.now();
}

function done(): void {
  state[0] = 0;
}

// ---------------------------------------------------------------------------
// Running one input

type ErrorClass = abstract new (...args: never[]) => Error;

export interface Bounds {
  /** Bytes the input may grow the V8 heap plus external memory by (DEFAULT_MEMORY_BOUND). */
  memory?: number;
  /** Milliseconds (INPUT_TIME_BOUND_MS). */
  ms?: number;
}

function memoryNow(): number {
  const h = v8.getHeapStatistics();
  return h.used_heap_size + h.external_memory;
}

const hex = (b: Uint8Array | undefined, max = 256): string =>
  b === undefined ? '(no bytes)' : `${b.length} bytes: ${Buffer.from(b.subarray(0, max)).toString('hex')}${b.length > max ? '…' : ''}`;

/** The failure of one input, with its bytes (the counterexample fast-check prints is the mutation, not the bytes). */
export class FuzzFailure extends Error {
  constructor(message: string, input: Uint8Array | undefined, cause?: unknown) {
    super(`${message}\n  input ${hex(input)}`, cause === undefined ? undefined : { cause });
    this.name = 'FuzzFailure';
  }
}

function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}${(e as { code?: unknown }).code !== undefined ? ` (${String((e as { code?: unknown }).code)})` : ''}: ${e.message.slice(0, 300)}`;
  return `non-Error ${String(e)}`;
}

function checkError(e: unknown, allowed: readonly ErrorClass[], input: Uint8Array | undefined): void {
  if (e instanceof FuzzFailure) throw e;
  if (allowed.some((c) => e instanceof c)) return;
  throw new FuzzFailure(`threw ${describeError(e)}; allowed: ${allowed.map((c) => c.name).join(', ')}`, input, e);
}

function checkBounds(t0: number, m0: number, bounds: Bounds, input: Uint8Array | undefined): void {
  const ms = performance.now() - t0;
  const limit = bounds.ms ?? INPUT_TIME_BOUND_MS;
  if (ms > limit) throw new FuzzFailure(`took ${ms.toFixed(0)} ms (bound ${limit} ms)`, input);
  const grown = memoryNow() - m0;
  const memory = bounds.memory ?? DEFAULT_MEMORY_BOUND;
  if (grown > memory) throw new FuzzFailure(`grew the heap and external memory by ${(grown / 1048576).toFixed(1)} MiB (bound ${(memory / 1048576).toFixed(1)} MiB)`, input);
}

/**
 * Runs `parse` on one input: returns its value, or `undefined` when it threw one of
 * `allowed`; throws FuzzFailure for any other error, or when it passed the time or memory bound.
 */
export function guard<T>(input: Uint8Array | undefined, allowed: readonly ErrorClass[], parse: () => T, bounds: Bounds = {}): { ok: true; value: T } | { ok: false; error: Error } {
  begin(input);
  const m0 = memoryNow();
  const t0 = performance.now();
  let result: { ok: true; value: T } | { ok: false; error: Error };
  try {
    result = { ok: true, value: parse() };
  } catch (e) {
    checkError(e, allowed, input);
    result = { ok: false, error: e as Error };
  } finally {
    done();
  }
  checkBounds(t0, m0, bounds, input);
  return result;
}

/** guard for an asynchronous parser; an input that does not settle within the time bound fails too. */
export async function guardAsync<T>(
  input: Uint8Array | undefined,
  allowed: readonly ErrorClass[],
  parse: () => Promise<T>,
  bounds: Bounds = {},
): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  begin(input);
  const m0 = memoryNow();
  const t0 = performance.now();
  const limit = bounds.ms ?? INPUT_TIME_BOUND_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new FuzzFailure(`did not settle within ${limit} ms`, input)), limit);
  });
  let result: { ok: true; value: T } | { ok: false; error: Error };
  try {
    result = { ok: true, value: await Promise.race([parse(), timeout]) };
  } catch (e) {
    checkError(e, allowed, input);
    result = { ok: false, error: e as Error };
  } finally {
    clearTimeout(timer);
    done();
  }
  checkBounds(t0, m0, bounds, input);
  return result;
}

// ---------------------------------------------------------------------------
// Properties

export interface FuzzOptions {
  /** Share of the parser's RUNS this property takes (default 1). */
  share?: number;
  /**
   * In the short mode only, the runs are divided by this (default 1): for parsers whose
   * every input is a stream pipeline (or three), so that the normal test suite stays fast.
   */
  cost?: number;
  /** Smallest number of runs (default 1). */
  min?: number;
}

/**
 * A vitest test running one fast-check property with share × RUNS inputs, seeded from
 * SEED and its name. A failure names the seed and how to replay it.
 */
export function fuzzIt<T>(parser: string, property: string, arb: fc.Arbitrary<T>, check: (input: T) => void | Promise<void>, opts: FuzzOptions = {}): void {
  const numRuns = Math.max(opts.min ?? 1, Math.round((RUNS * (opts.share ?? 1)) / (LONG_MODE ? 1 : (opts.cost ?? 1))));
  const name = `${parser}: ${property}`;
  it(`${property} (${numRuns} inputs)`, async () => {
    startWatchdog();
    const seed = seedOf(name);
    setLabel(`${name} [AEROBAK_FUZZ_SEED=${SEED}, property seed ${seed}]`);
    const c = count(parser);
    c.properties++;
    const t0 = performance.now();
    const run = (input: T) => {
      c.inputs++;
      return check(input);
    };
    try {
      // Every property runs async and gives the event loop a turn every 50 ms: the inputs of a
      // property (and the memory store's promises) would otherwise hold it for minutes, and
      // the test runner's messages to its worker time out.
      let turn = performance.now();
      await fc.assert(
        fc.asyncProperty(arb, async (input) => {
          await run(input);
          if (performance.now() - turn > 50) {
            await new Promise((resolve) => setImmediate(resolve));
            turn = performance.now();
          }
        }),
        { numRuns, seed },
      );
    } catch (error) {
      // -t takes a regular expression: the name's own characters escaped.
      const pattern = property.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      const replay = `AEROBAK_FUZZ_SEED=${SEED} AEROBAK_FUZZ_RUNS=${RUNS} npx vitest run test/fuzz -t '${pattern}'`;
      throw new Error(`fuzz property "${name}" failed (property seed ${seed}); replay: ${replay}\n${(error as Error).message}`, { cause: error });
    } finally {
      c.ms += performance.now() - t0;
    }
  }, PROPERTY_TIMEOUT_MS);
}

// ---------------------------------------------------------------------------
// Inputs: mutations of valid ones, and random bytes

/** A valid input and where its length fields are (byte offsets), for targeted mutations. */
export interface Sample {
  bytes: Buffer;
  /** Offsets of Avro varints (zig-zag longs: counts, sizes, lengths). */
  varints?: number[];
  /** Offsets of big-endian u32 fields (sizes). */
  u32s?: number[];
  /** Offsets of big-endian u16 fields (counts). */
  u16s?: number[];
  /** Offsets of single length bytes. */
  u8s?: number[];
}

export type Mutation =
  | { k: 'flip'; at: number; bit: number }
  | { k: 'set'; at: number; byte: number }
  | { k: 'overwrite'; at: number; bytes: Uint8Array }
  | { k: 'truncate'; at: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; n: number }
  | { k: 'duplicate'; at: number; n: number }
  | { k: 'tail'; at: number; bytes: Uint8Array }
  | { k: 'varint'; at: number; value: bigint; targeted: boolean }
  | { k: 'u32'; at: number; value: number; targeted: boolean }
  | { k: 'u16'; at: number; value: number; targeted: boolean }
  | { k: 'u8'; at: number; value: number };

/** Values a length or count field is set to: huge, negative (as a varint), off by one of the common limits. */
export const HUGE_LONGS: readonly bigint[] = [
  -1n,
  -2n,
  -(2n ** 31n),
  -(2n ** 63n),
  2n ** 7n,
  2n ** 16n,
  2n ** 24n,
  2n ** 28n - 1n,
  2n ** 31n - 1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 40n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 62n,
  2n ** 63n - 1n,
  256n * 1024n * 1024n,
  256n * 1024n * 1024n + 1n,
  1024n * 1024n,
];
export const HUGE_U32S: readonly number[] = [0xffff_ffff, 0x7fff_ffff, 0x8000_0000, 0x0100_0000, 0x0800_0001, 0x10000, 0xffff, 0, 1, 2, 3, 4, 5, 8, 21, 22, 23];
export const HUGE_U16S: readonly number[] = [0xffff, 0x7fff, 0x8000, 0x100, 0, 1, 2, 255];

/** An Avro long (zig-zag varint) of any 64-bit value. */
export function avroLong(v: bigint): Buffer {
  let z = BigInt.asUintN(64, (v << 1n) ^ (v >> 63n));
  const out: number[] = [];
  while (z >= 0x80n) {
    out.push(Number(z & 0x7fn) | 0x80);
    z >>= 7n;
  }
  out.push(Number(z));
  return Buffer.from(out);
}

const fraction = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const smallBytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max });
const interesting = fc.constantFrom(0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('flip' as const), at: fraction, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('set' as const), at: fraction, byte: fc.oneof(interesting, fc.integer({ min: 0, max: 255 })) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('overwrite' as const), at: fraction, bytes: smallBytes(1, 8) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('truncate' as const), at: fraction }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('insert' as const), at: fraction, bytes: smallBytes(1, 16) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('delete' as const), at: fraction, n: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('duplicate' as const), at: fraction, n: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tail' as const), at: fraction, bytes: smallBytes(0, 64) }) },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('varint' as const), at: fraction, value: fc.oneof(fc.constantFrom(...HUGE_LONGS), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })), targeted: fc.boolean() }),
  },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('u32' as const), at: fraction, value: fc.oneof(fc.constantFrom(...HUGE_U32S), fc.nat({ max: 0xffff_ffff })), targeted: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('u16' as const), at: fraction, value: fc.oneof(fc.constantFrom(...HUGE_U16S), fc.nat({ max: 0xffff })), targeted: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('u8' as const), at: fraction, value: fc.oneof(interesting, fc.nat({ max: 255 })) }) },
);

/** The length of the varint at `at` (continuation bits), at most 10 and within the buffer. */
function varintLength(b: Buffer, at: number): number {
  let n = 0;
  while (at + n < b.length && n < 10) {
    if ((b[at + n]! & 0x80) === 0) return n + 1;
    n++;
  }
  return Math.max(1, n);
}

/** Where a (targeted) mutation applies: one of the sample's fields of its kind, else anywhere. */
function position(len: number, at: number, fields: number[] | undefined, targeted: boolean): number {
  if (targeted && fields && fields.length > 0) return fields[Math.floor(at * fields.length)]!;
  return Math.floor(at * len);
}

/**
 * `sample` with the mutations applied in order. Field offsets are those of the valid
 * input: the first mutations hit them, later ones may miss after a length change.
 */
export function applyMutations(sample: Sample, mutations: readonly Mutation[]): Buffer {
  let b = Buffer.from(sample.bytes);
  for (const m of mutations) {
    const len = b.length;
    const at = Math.floor(m.at * len);
    switch (m.k) {
      case 'flip':
        if (len > 0) b[at] = b[at]! ^ (1 << m.bit);
        break;
      case 'set':
        if (len > 0) b[at] = m.byte;
        break;
      case 'overwrite':
        if (len > 0) b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(Math.min(len, at + m.bytes.length))]);
        break;
      case 'truncate':
        b = b.subarray(0, at);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(len, at + m.n))]);
        break;
      case 'duplicate':
        b = Buffer.concat([b.subarray(0, at + Math.min(m.n, len - at)), b.subarray(at)]);
        break;
      case 'tail':
        b = Buffer.concat([b.subarray(0, at), Buffer.from(m.bytes)]);
        break;
      case 'varint': {
        const p = Math.min(position(len, m.at, sample.varints, m.targeted), len);
        const n = p < len ? varintLength(b, p) : 0;
        b = Buffer.concat([b.subarray(0, p), avroLong(m.value), b.subarray(p + n)]);
        break;
      }
      case 'u32': {
        const p = position(len, m.at, sample.u32s, m.targeted);
        if (p + 4 <= len) b.writeUInt32BE(m.value >>> 0, p);
        break;
      }
      case 'u16': {
        const p = position(len, m.at, sample.u16s, m.targeted);
        if (p + 2 <= len) b.writeUInt16BE(m.value & 0xffff, p);
        break;
      }
      case 'u8': {
        const p = position(len, m.at, sample.u8s, sample.u8s !== undefined);
        if (p < len) b[p] = m.value;
        break;
      }
    }
    b = Buffer.from(b);
  }
  return b;
}

/** Mutants of the samples `base` gives: one to `max` mutations each. */
export function mutants(base: fc.Arbitrary<Sample>, max = 4): fc.Arbitrary<Buffer> {
  return fc.tuple(base, fc.array(mutationArb, { minLength: 1, maxLength: max })).map(([s, ms]) => applyMutations(s, ms));
}

/** Fully random bytes (mostly short; sometimes up to `max`). */
export function randomBytes(max = 4096): fc.Arbitrary<Buffer> {
  return fc
    .oneof({ weight: 4, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 2, arbitrary: fc.uint8Array({ maxLength: 512 }) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: max }) })
    .map((b) => Buffer.from(b));
}

/** `prefix` followed by random bytes: past the magic and the first checks. */
export function randomAfter(prefix: fc.Arbitrary<Buffer>, max = 512): fc.Arbitrary<Buffer> {
  return fc.tuple(prefix, fc.uint8Array({ maxLength: max })).map(([p, r]) => Buffer.concat([p, Buffer.from(r)]));
}

/** Cut points for feeding `n` bytes to a stream in chunks (sorted, within 0..n). */
export const chunkingArb = fc.array(fraction, { maxLength: 8 });

/** `bytes` in chunks at the cut points. */
export function chunksOf(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const at = [...new Set(cuts.map((c) => Math.floor(c * bytes.length)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let from = 0;
  for (const p of at) {
    if (p > from) out.push(bytes.subarray(from, p));
    from = Math.max(from, p);
  }
  if (from < bytes.length || out.length === 0) out.push(bytes.subarray(from));
  return out;
}
