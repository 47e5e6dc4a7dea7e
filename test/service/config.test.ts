/**
 * The configuration of `aerobak serve`: the documented example works exactly as written;
 * every mistake is one error naming the file, line, column and key (unknown key, bad
 * cron, missing environment variable or credential, unknown cluster or repository, bad
 * listen address, ...); and `aerobak serve` refuses such a file with that one line and
 * exit code 2.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/service/config.js';
import { parseDuration } from '../../src/service/config-yaml.js';
import { TOKEN } from './support.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The example of docs/service.md, byte for byte. */
export const EXAMPLE = `http:
  listen: 127.0.0.1:9090
  token: \${AEROBAK_API_TOKEN}
clusters:
  main:
    hosts: 10.0.0.1:3000,10.0.0.2:3000
repositories:
  offsite:
    location: s3://acme-backups/aerospike
routines:
  users-nightly:
    cluster: main
    namespace: users
    sets: [profiles, sessions]
    repository: offsite
    full: "0 2 * * 0"            # cron; a leading seconds field is allowed ("*/6 * * * * *")
    incremental: "0 2 * * 1-6"
    retention: { keep-daily: 7, keep-weekly: 4 }
`;

const env = { AEROBAK_API_TOKEN: TOKEN };
const parse = (text: string, e: NodeJS.ProcessEnv = env) => parseConfig(text, '/etc/aerobak/aerobak.yaml', e);
/** The message of the ConfigError that parsing `text` throws. */
async function problem(text: string, e: NodeJS.ProcessEnv = env): Promise<string> {
  const error = await parse(text, e).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).kind).toBe('usage');
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  return message;
}

describe('the service configuration', () => {
  it('reads the documented example exactly as written', async () => {
    const docs = await readFile(new URL('../../docs/service.md', import.meta.url), 'utf8');
    expect(docs).toContain(`\`\`\`yaml\n${EXAMPLE}\`\`\``);
    const c = await parse(EXAMPLE);
    expect(c.http).toEqual({ host: '127.0.0.1', port: 9090, token: TOKEN });
    expect(c.clusters.get('main')!.options.hosts).toEqual([
      { host: '10.0.0.1', port: 3000 },
      { host: '10.0.0.2', port: 3000 },
    ]);
    expect(c.repositories.get('offsite')).toEqual({ name: 'offsite', location: 's3://acme-backups/aerospike' });
    expect(c.routines.get('users-nightly')).toMatchObject({
      cluster: 'main',
      namespace: 'users',
      sets: ['profiles', 'sessions'],
      repository: 'offsite',
      full: { cron: '0 2 * * 0', timeZone: 'UTC' },
      incremental: { cron: '0 2 * * 1-6', timeZone: 'UTC' },
      retention: { policy: { keepDaily: 7, keepWeekly: 4 } },
      trackDeletes: true,
      fullIfTruncated: true,
      onMissed: 'run-once',
      retry: { attempts: 2, delayMs: 60_000, maxDelayMs: 1_800_000 },
    });
    expect(c).toMatchObject({ maxConcurrentJobs: 2, shutdownTimeoutMs: 20_000, leaseTtlMs: 60_000, timeZone: 'UTC' });
  });

  it('reads the other keys: credentials from the environment, time zones, seconds fields, drills, notify', async () => {
    const c = await parse(
      `${EXAMPLE.replace('    hosts: 10.0.0.1:3000,10.0.0.2:3000\n', '    hosts: [10.0.0.1:3000, "10.0.0.2"]\n    user: backup\n    password-env: AS_PASSWORD\n')}
  sessions:
    cluster: main
    namespace: users
    repository: offsite
    full: "*/6 * * * * *"
    time-zone: Europe/Berlin
    verify: "30 6 * * *"
    drill: { schedule: "0 5 * * 6", namespace: scratch }
    parallel: 8
    records-per-second: 50000
    track-deletes: false
    retry: { attempts: 5, delay: 30s, max-delay: 1h }
    notify: { webhook: "https://hooks.slack.com/services/\${HOOK}" }
service: { max-concurrent-jobs: 3, time-zone: America/New_York, shutdown-timeout: 45s, lease-ttl: 2m, on-missed: skip }
`,
      { ...env, AS_PASSWORD: 's3cret', HOOK: 'T0/B0/xyz' },
    );
    expect(c.clusters.get('main')!.options).toMatchObject({ user: 'backup', password: 's3cret', hosts: [{ host: '10.0.0.1', port: 3000 }, { host: '10.0.0.2', port: 3000 }] });
    expect(c.routines.get('users-nightly')).toMatchObject({ full: { timeZone: 'America/New_York' }, onMissed: 'skip' });
    expect(c.routines.get('sessions')).toMatchObject({
      full: { cron: '*/6 * * * * *', timeZone: 'Europe/Berlin' },
      verify: { cron: '30 6 * * *' },
      drill: { namespace: 'scratch', cluster: 'main', schedule: { cron: '0 5 * * 6' } },
      parallel: 8,
      recordsPerSecond: 50000,
      trackDeletes: false,
      retry: { attempts: 5, delayMs: 30_000, maxDelayMs: 3_600_000 },
      notify: { webhook: 'https://hooks.slack.com/services/T0/B0/xyz', onSuccess: false },
    });
    expect(c).toMatchObject({ maxConcurrentJobs: 3, shutdownTimeoutMs: 45_000, leaseTtlMs: 120_000 });
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('10')).toBe(10_000);
    expect(parseDuration('1x')).toBeUndefined();
  });

  it('names the file, line, column and key of each mistake', async () => {
    const at = (find: string, replace: string) => EXAMPLE.replace(find, replace);
    const file = '/etc/aerobak/aerobak.yaml';
    expect(await problem(at('    full:', '    fulll:'))).toMatch(new RegExp(`^${file}:16:5: routines\\.users-nightly\\.fulll: unknown key; expected one of: cluster, namespace, `));
    expect(await problem(at('0 2 * * 0', '0 25 * * 0'))).toBe(`${file}:16:11: routines.users-nightly.full: "0 25 * * 0" is not a valid cron expression: Invalid value for hour: 25`);
    expect(await problem(at('0 2 * * 1-6', '0 2 * *'))).toMatch(new RegExp(`^${file}:17:18: routines\\.users-nightly\\.incremental: "0 2 \\* \\*" is not a cron expression: it has 4 field\\(s\\)`));
    expect(await problem(EXAMPLE, {})).toBe(`${file}:3:10: http.token: environment variable AEROBAK_API_TOKEN is not set`);
    expect(await problem(at('    cluster: main', '    cluster: mian'))).toBe(`${file}:12:14: routines.users-nightly.cluster: no cluster is named "mian"; the clusters are: main`);
    expect(await problem(at('    repository: offsite', '    repository: onsite'))).toBe(`${file}:15:17: routines.users-nightly.repository: no repository is named "onsite"; the repositories are: offsite`);
    expect(await problem(at('127.0.0.1:9090', '127.0.0.1:99999'))).toMatch(new RegExp(`^${file}:2:11: http\\.listen: "127\\.0\\.0\\.1:99999" is not a listen address`));
    expect(await problem(at('127.0.0.1:9090', 'backup-host:9090'))).toMatch(/:2:11: http\.listen: /);
    expect(await problem(at('    hosts: 10.0.0.1:3000,10.0.0.2:3000', '    hosts: 10.0.0.1:3000\n    user: backup'))).toMatch(/:7:11: clusters\.main\.user: user "backup" needs a password: add password-env/);
    expect(await problem(at('    hosts: 10.0.0.1:3000,10.0.0.2:3000', '    hosts: 10.0.0.1:3000\n    user: backup\n    password-env: NOPE'))).toBe(`${file}:8:19: clusters.main.password-env: environment variable NOPE is not set`);
    expect(await problem(at('clusters:', 'cluster:'))).toMatch(new RegExp(`^${file}:4:1: cluster: unknown key; the sections are: http, service, notify, clusters, repositories, routines`));
    expect(await problem(at('keep-daily: 7', 'keep-daly: 7'))).toMatch(/:18:18: routines\.users-nightly\.retention\.keep-daly: unknown key/);
    expect(await problem(at('    full: "0 2 * * 0"', '    time-zone: Mars/Olympus\n    full: "0 2 * * 0"'))).toMatch(/:16:16: routines\.users-nightly\.time-zone: "Mars\/Olympus" is not a time zone/);
    expect(await problem(at('  token: ${AEROBAK_API_TOKEN}', '  token: short'))).toMatch(/:3:10: http\.token: the token is too short/);
    expect(await problem(at('sets: [profiles, sessions]', 'sets: [profiles, sessions'))).toMatch(/^\/etc\/aerobak\/aerobak\.yaml:\d+:\d+: YAML syntax error/);
    expect(await problem(`${EXAMPLE}routines:\n  x: {}\n`)).toMatch(/:19:1: a key appears twice/);
    expect(await problem(at('    full: "0 2 * * 0"            # cron; a leading seconds field is allowed ("*/6 * * * * *")\n    incremental: "0 2 * * 1-6"\n', ''))).toMatch(/:12:5: routines\.users-nightly\.full: is required \(a routine needs a full or an incremental schedule/);
  });
});

describe('aerobak serve with a bad configuration', () => {
  let tmp: string;
  beforeAll(async () => {
    tmp = await mkdtemp(join(tmpdir(), 'aerobak-serve-config-'));
  });
  afterAll(async () => {
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const run = (args: string[], env: NodeJS.ProcessEnv) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env } });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('refuses to start with one line naming file, line and key, and exit code 2', async () => {
    const cases: [string, string, NodeJS.ProcessEnv, RegExp][] = [
      ['unknown-key.yaml', EXAMPLE.replace('    namespace: users', '    namespaces: users'), env, /^aerobak: error: (\S+)unknown-key\.yaml:13:5: routines\.users-nightly\.namespaces: unknown key; /],
      ['bad-cron.yaml', EXAMPLE.replace('0 2 * * 1-6', '0 2 * * MON-SUNDAY'), env, /^aerobak: error: (\S+)bad-cron\.yaml:17:18: routines\.users-nightly\.incremental: "0 2 \* \* MON-SUNDAY" is not a valid cron expression/],
      ['missing-env.yaml', EXAMPLE, {}, /^aerobak: error: (\S+)missing-env\.yaml:3:10: http\.token: environment variable AEROBAK_API_TOKEN is not set$/],
    ];
    const results = await Promise.all(
      cases.map(async ([name, text, e]) => {
        const path = join(tmp, name);
        await writeFile(path, text);
        return run(['serve', '--config', path], e);
      }),
    );
    results.forEach((res, i) => {
      const [, , , pattern] = cases[i]!;
      expect(res.code, res.stderr).toBe(2);
      expect(res.stdout).toBe('');
      const lines = res.stderr.trimEnd().split('\n');
      expect(lines, res.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(pattern);
    });
    const ok = join(tmp, 'ok.yaml');
    await writeFile(ok, EXAMPLE);
    const check = await run(['serve', '--config', ok, '--check'], env);
    expect(check).toMatchObject({ code: 0, stderr: '' });
    expect(check.stdout).toMatch(/^configuration OK: .*ok\.yaml: 1 routine\(s\) \(users-nightly\)/);
  });
});
