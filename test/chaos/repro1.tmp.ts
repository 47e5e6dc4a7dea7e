import { startChaosEnv, BUCKET } from './env.js';
import { runInProcess } from './commands.js';
import { cycleRecords, Rng } from './data.js';
import { setTimeout as sleep } from 'node:timers/promises';
const env = await startChaosEnv();
await env.source.server.data.put(cycleRecords(new Rng(1), 'test', 'cs', 2000));
for (const delay of [0, 50, 100, 150, 200]) {
  const p = runInProcess(['backup', '-h', env.source.hosts, '-n', 'test', '-s', 'cs', '--to', `s3://${BUCKET}/r${delay}`, '--json', '--debug'], 60000);
  await sleep(delay);
  const name = await env.source.proxies[1]!.addToxic({ type: 'timeout', attributes: { timeout: 0 } });
  await sleep(1000);
  await env.source.proxies[1]!.removeToxic(name);
  const r = await p;
  console.log(delay, r.code, Math.round(r.ms), r.stderr.slice(0, 2500));
}
await env.stop();
