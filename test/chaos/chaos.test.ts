/**
 * The short, fixed-seed chaos run of `npm test`: one cycle of every fault kind
 * (faults.ts) through the real proxies and stores, judged by the oracle of
 * run.ts. `npm run chaos` is the long run (docs/reliability.md).
 *
 * The chaos run needs the test server's node controls (kill, pause, move
 * partitions, write faults, announced proxy addresses), so it runs against
 * its own test clusters even when AEROSPIKE_HOSTS names a real one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SERVER_START_TIMEOUT_MS } from '../support/server-process.js';
import { startChaosEnv, type ChaosEnv } from './env.js';
import { FAULT_KINDS } from './faults.js';
import { formatMatrix, runChaos, type ChaosReport } from './run.js';

const SEED = 20261202;

let env: ChaosEnv;

beforeAll(async () => {
  env = await startChaosEnv();
}, SERVER_START_TIMEOUT_MS);

afterAll(async () => {
  await env?.stop();
});

describe('chaos (fixed seed, one cycle per fault kind)', () => {
  let report: ChaosReport;

  beforeAll(async () => {
    report = await runChaos(env, { seed: SEED, runs: FAULT_KINDS.length, commandBoundMs: 90_000 });
    console.info(formatMatrix(report));
  }, 15 * 60_000);

  it('ran every fault kind that this machine can inject', () => {
    const ran = new Set(report.cycles.map((c) => c.kind));
    const notRun = new Set(report.notRun.map((n) => n.kind));
    for (const kind of FAULT_KINDS) expect(ran.has(kind.name) || notRun.has(kind.name), kind.name).toBe(true);
    // Only the disk-full kind may be left out (it needs a tmpfs mount, i.e. root).
    expect([...notRun]).toEqual(env.smallDisk ? [] : ['local disk full (ENOSPC)']);
  });

  it('ends every cycle with the data intact or a named error, then recovers it: no violation', () => {
    const bad = report.cycles.filter((c) => c.violations.length > 0).map((c) => `${c.kind} (seed ${c.seed}): ${c.violations.map((v) => `${v.violation}: ${v.detail}`).join('; ')}`);
    expect(bad).toEqual([]);
  });

  it('really injected faults: some cycles failed with a named error and recovered', () => {
    // The faults bite: a run where every command sailed through would mean they never landed.
    expect(report.cycles.filter((c) => c.outcome === 'recovered').length).toBeGreaterThan(0);
    const landed = report.cycles.filter((c) => !/never armed|ended before/.test(c.fault));
    expect(landed.length).toBeGreaterThanOrEqual(Math.ceil((report.cycles.length * 3) / 4));
  });
});
