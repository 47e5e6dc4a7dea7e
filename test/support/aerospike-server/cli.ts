/**
 * Runs the test server in the foreground, for manual runs:
 *
 *   npx tsx test/support/aerospike-server/cli.ts --port 3000 --nodes 1 --namespaces test,bar
 *
 * Nodes listen on consecutive ports from --port (0 = free ports). Stops on SIGINT/SIGTERM.
 */
import { parseArgs } from 'node:util';
import { TestServer } from './cluster.js';

const USAGE = `usage: cli.ts [--port 3000] [--nodes 1] [--namespaces test,bar] [--host 127.0.0.1]
              [--record-size-limit 1048576] [--default-ttl 0] [--cluster-name name]`;

function intOption(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name}: expected a non-negative integer, got '${value}'\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

let values;
try {
  ({ values } = parseArgs({
    options: {
      port: { type: 'string' },
      nodes: { type: 'string' },
      namespaces: { type: 'string' },
      host: { type: 'string' },
      'record-size-limit': { type: 'string' },
      'default-ttl': { type: 'string' },
      'cluster-name': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (err) {
  console.error(`${(err as Error).message}\n${USAGE}`);
  process.exit(2);
}
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const port = intOption('port', values.port, 3000);
const nodes = intOption('nodes', values.nodes, 1);
if (nodes < 1) {
  console.error(`--nodes: at least 1\n${USAGE}`);
  process.exit(2);
}

try {
  const server = await TestServer.start({
    nodes,
    ports: Array.from({ length: nodes }, (_, i) => (port === 0 ? 0 : port + i)),
    namespaces: (values.namespaces ?? 'test,bar').split(',').filter((s) => s.length > 0),
    host: values.host ?? '127.0.0.1',
    recordSizeLimit: intOption('record-size-limit', values['record-size-limit'], 1024 * 1024),
    defaultTtl: intOption('default-ttl', values['default-ttl'], 0),
    clusterName: values['cluster-name'],
  });
  console.log(`aerospike test server listening: ${server.hosts} (namespaces ${server.namespaces.join(',')})`);
  const stop = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
} catch (err) {
  console.error(`cannot start: ${(err as Error).message}`);
  process.exit(1);
}
