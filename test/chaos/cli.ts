/**
 * `npm run chaos`: the seeded chaos run (run.ts) against its own environment
 * (env.ts), printing each cycle, then the fault matrix; writes the report as
 * JSON; exits 1 on any violation.
 *
 *   AEROBAK_CHAOS_RUNS   cycles (default 240)
 *   AEROBAK_CHAOS_SEED   seed of the whole run (default: from the clock, printed)
 *   AEROBAK_CHAOS_KINDS  only these fault kinds (comma-separated names, as printed)
 *   AEROBAK_CHAOS_OUT    the JSON report (default chaos-results/chaos-<seed>.json)
 *   AEROBAK_CHAOS_REPLAY "<cycle seed>:<kind>" runs that one cycle again (as a
 *                        report line prints it: the kind, then "seed N")
 *
 * A failing cycle prints its seed; AEROBAK_CHAOS_SEED with the run's seed
 * replays the whole run, cycle for cycle.
 */
import { startChaosEnv } from './env.js';
import { formatMatrix, runChaos, writeReport } from './run.js';

const intEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`chaos: ${name} must be a non-negative integer, got '${raw}'`);
    process.exit(2);
  }
  return n;
};

const runs = intEnv('AEROBAK_CHAOS_RUNS', 240);
const seed = intEnv('AEROBAK_CHAOS_SEED', Date.now() % 2 ** 31);
const kinds = process.env.AEROBAK_CHAOS_KINDS?.split(',').map((s) => s.trim()).filter(Boolean);
const replayText = process.env.AEROBAK_CHAOS_REPLAY;
const replayMatch = replayText ? /^(\d+):(.+)$/.exec(replayText) : undefined;
if (replayText && !replayMatch) {
  console.error(`chaos: AEROBAK_CHAOS_REPLAY must be "<cycle seed>:<fault kind>", got '${replayText}'`);
  process.exit(2);
}
const replay = replayMatch ? { seed: Number(replayMatch[1]), kind: replayMatch[2]! } : undefined;
const out = process.env.AEROBAK_CHAOS_OUT ?? `chaos-results/chaos-${seed}.json`;

console.log(`chaos: ${runs} cycles, seed ${seed} (replay: AEROBAK_CHAOS_SEED=${seed} AEROBAK_CHAOS_RUNS=${runs} npm run chaos)`);
const env = await startChaosEnv();
let failed = false;
try {
  const report = await runChaos(env, { seed, runs: replay ? 1 : runs, kinds, replay, log: (line) => console.log(line) });
  if (replay) for (const f of report.cycles[0]?.failures ?? []) console.log(`\n$ aerobak ${f.args.join(' ')}\nexit ${f.code}\n${f.stderr}`);
  console.log(`\n${formatMatrix(report)}\n`);
  console.log(`chaos: ${report.runs} cycles in ${(report.durationMs / 1000).toFixed(0)} s, seed ${seed}: ${report.violations} with violations; report in ${out}`);
  await writeReport(report, out);
  failed = report.violations > 0;
} finally {
  await env.stop();
}
process.exit(failed ? 1 : 0);
