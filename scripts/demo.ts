/**
 * `npm run demo`: the whole aerobak cycle on a laptop, no Aerospike server needed.
 *
 * Starts the project's Aerospike-protocol test server (two nodes, namespaces test and
 * bar, in memory), loads sample data with the official client, then runs the real
 * commands, exactly as `aerobak ...` would: backup, verify, list, restore into another
 * namespace, and reads a restored record back. The backup is kept in
 * ./aerobak-backups/demo-<UTC time>/ and its location printed at the end (pass --clean
 * to remove it instead). The UDF file written for the demo goes to a temporary directory.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Aerospike from 'aerospike';
import { runCli } from '../src/cli/app.js';
import { InterruptedError } from '../src/errors.js';
import { startTestServer } from '../test/support/aerospike-server/index.js';

const clean = process.argv.includes('--clean');
const controller = new AbortController();
process.once('SIGINT', () => controller.abort(new InterruptedError('interrupted by SIGINT')));

const say = (text: string) => process.stdout.write(`\n\x1b[1m${text}\x1b[0m\n`);

async function aerobak(args: string[]): Promise<void> {
  process.stdout.write(`\n$ aerobak ${args.join(' ')}\n`);
  const code = await runCli(args, { io: { stdout: process.stdout, stderr: process.stderr, env: process.env }, signal: controller.signal });
  if (code !== 0) throw new Error(`aerobak ${args[0]} exited with code ${code}`);
}

say('Starting the test server (2 nodes, namespaces test and bar, in memory)...');
const server = await startTestServer({ nodes: 2 });
const client = await Aerospike.connect({ hosts: server.hosts, log: { level: Aerospike.log.OFF } });
const dir = await mkdtemp(join(tmpdir(), 'aerobak-demo-'));
try {
  say(`Loading sample data into namespace test at ${server.hosts}: 2,000 users, 500 orders, an index, a UDF...`);
  const send = { key: Aerospike.policy.key.SEND };
  const cities = ['Paris', 'Lagos', 'Lima', 'Osaka', 'Perth'];
  for (let i = 0; i < 2000; i++) {
    await client.put(
      new Aerospike.Key('test', 'users', `user-${i}`),
      { name: `User ${i}`, age: 18 + (i % 60), city: cities[i % cities.length]!, tags: ['demo', i % 2 ? 'odd' : 'even'], prefs: { lang: 'en', n: i } },
      i % 10 === 0 ? { ttl: 86_400 } : {},
      send,
    );
  }
  for (let i = 0; i < 500; i++) {
    await client.put(new Aerospike.Key('test', 'orders', i), { user: `user-${i % 2000}`, total: 9.99 + i, paid: i % 3 !== 0 }, {}, send);
  }
  await (await client.createIndex({ ns: 'test', set: 'users', bin: 'age', index: 'users_age', datatype: Aerospike.indexDataType.NUMERIC })).wait(20);
  const udf = join(dir, 'greet.lua');
  await writeFile(udf, 'function greet(rec)\n  return "hello " .. rec["name"]\nend\n');
  await (await client.udfRegister(udf)).wait(20);

  const hosts = ['-h', server.hosts];
  const repo = resolve('aerobak-backups');
  await mkdir(repo, { recursive: true });
  const backup = join(repo, `demo-${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}`);
  say('1. Back up namespace test (both sets, the index, the UDF) to a local directory:');
  await aerobak(['backup', ...hosts, '-n', 'test', '--to', backup]);

  say('2. Verify every file of the backup against its manifest (no cluster needed):');
  await aerobak(['verify', backup]);

  say('3. List the backups in ./aerobak-backups:');
  await aerobak(['list', repo]);

  say('4. Restore it into namespace bar:');
  await aerobak(['restore', ...hosts, '--from', backup, '-n', 'test:bar']);

  say('5. Read a restored record back from bar with the official client:');
  const r = await client.get(new Aerospike.Key('bar', 'users', 'user-42'));
  process.stdout.write(`bar/users/user-42: ${JSON.stringify(r.bins)} (generation ${r.gen}, ttl ${r.ttl})\n`);

  say('Done. Against a real cluster: aerobak backup -h HOST:3000 -n NAMESPACE (see aerobak --help and docs/cli.md).');
  if (clean) await rm(backup, { recursive: true, force: true });
  else process.stdout.write(`The backup is in ${backup}\n`);
} finally {
  await client.close();
  await server.stop();
  await rm(dir, { recursive: true, force: true });
}
