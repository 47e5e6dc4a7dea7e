/**
 * `aerobak serve --config aerobak.yaml`: the long-running backup service (docs/service.md).
 * Reads and checks the configuration (any problem: one line naming file, line and key,
 * exit code 2), starts the service, and runs until SIGTERM or SIGINT (main.ts aborts the
 * context's signal). Then it stops taking work, interrupts running jobs (their backups
 * stay resumable and are resumed at the next start) and exits 0, within
 * shutdown-timeout + 5 s (default 25 s) in every case: past that bound it exits 1 at
 * once. A second signal exits at once (main.ts).
 */
import { ExitCode, UsageError } from '../errors.js';
import type { CliCommand } from './command.js';
import { bool, oneOf, parseCommandLine, renderHelp, str, type OptionSpec } from './options.js';

const serveOptions: readonly OptionSpec[] = [
  { name: 'config', short: 'c', type: 'string', value: 'FILE', env: 'AEROBAK_CONFIG', description: 'the service configuration (YAML; docs/service.md)' },
  { name: 'check', type: 'boolean', description: 'check the configuration (and the environment variables and files it names), print a summary and exit' },
  { name: 'log-format', type: 'string', value: 'text|json', defaultText: 'text', description: 'log lines on stderr: text, or JSON lines for a log shipper' },
  { name: 'debug', type: 'boolean', description: 'log debug lines too, and print stack traces of unexpected errors' },
  { name: 'help', type: 'boolean', description: 'show this help' },
];

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the backup service: schedules, retention, REST API, Prometheus metrics',
  help: {
    usage: 'aerobak serve --config FILE [--check] [--log-format text|json]',
    summary: 'Runs the routines of the configuration on their schedules (full, incremental, verify, restore drill), applies their retention, and serves the REST API and /metrics.',
    details: [
      'Exactly one service schedules the routines of a repository: the holder of its lease object (aerobak-lease.json in the repository). A second service on the same repository waits as a standby and takes over when the lease expires.',
      'SIGTERM stops taking work and interrupts running jobs; their backups are resumed at the next start. The service exits within shutdown-timeout + 5 s (default 25 s).',
    ],
    sections: [{ title: 'Options', options: serveOptions }],
    examples: ['aerobak serve --config /etc/aerobak/aerobak.yaml', 'aerobak serve --config aerobak.yaml --check', 'AEROBAK_API_TOKEN=$(cat /run/secrets/token) aerobak serve -c aerobak.yaml --log-format json'],
    exitCodes: [
      [ExitCode.OK, 'stopped cleanly after SIGTERM or SIGINT (or --check passed)'],
      [ExitCode.FAILED, 'jobs outlived the shutdown timeout (the service exited anyway; their backups are resumable)'],
      [ExitCode.USAGE, 'bad configuration (one line naming file, line and key), bad option, or the listen address cannot be used'],
      [ExitCode.STORAGE, 'a repository cannot be opened: bucket missing, credentials refused, no exclusive create'],
      [ExitCode.INTERRUPTED, 'a second SIGTERM or SIGINT: exited at once'],
    ],
  },
  async run(argv, { io, signal }) {
    const { values } = parseCommandLine('serve', argv, serveOptions, io.env, 0);
    if (values.help) {
      io.stdout.write(renderHelp(serveCommand.help));
      return ExitCode.OK;
    }
    const path = str(values, 'config');
    if (path === undefined) throw new UsageError('serve needs --config FILE (or AEROBAK_CONFIG; see aerobak serve --help)');
    // Loaded here, not at the top: the other commands (and --help) do not pay for the service's modules.
    const [{ SHUTDOWN_GRACE_MS, loadConfig }, { createLogger }, { Service }] = await Promise.all([
      import('../service/config.js'),
      import('../service/log.js'),
      import('../service/service.js'),
    ]);
    const config = await loadConfig(path, io.env);
    if (bool(values, 'check')) {
      io.stdout.write(
        `configuration OK: ${config.file}: ${config.routines.size} routine(s) (${[...config.routines.keys()].join(', ')}), ` +
          `${config.clusters.size} cluster(s), ${config.repositories.size} repository(ies); API on ${config.http.host}:${config.http.port}\n`,
      );
      return ExitCode.OK;
    }
    const log = createLogger(io.stderr, oneOf(values, 'log-format', ['text', 'json'] as const) ?? 'text', () => new Date(), bool(values, 'debug'));
    if (signal.aborted) return ExitCode.OK;
    const service = await Service.start(config, { log });
    const { host, port } = service.address();
    log('info', `aerobak serve: API on http://${host.includes(':') ? `[${host}]` : host}:${port}, ${config.routines.size} routine(s), owner ${service.owner}`);
    await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    const bound = config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS;
    const hard = setTimeout(() => {
      log('error', `shutdown took longer than ${bound / 1000} s: exiting now`);
      process.exit(ExitCode.FAILED);
    }, bound);
    hard.unref();
    const reason = signal.reason instanceof Error ? signal.reason.message : 'interrupted';
    const { clean } = await service.stop(reason);
    clearTimeout(hard);
    // Anything still holding the event loop (a socket some library keeps) does not delay the exit.
    setTimeout(() => process.exit(clean ? ExitCode.OK : ExitCode.FAILED), 1000).unref();
    return clean ? ExitCode.OK : ExitCode.FAILED;
  },
};
