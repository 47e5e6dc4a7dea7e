import { describe, expect, it } from 'vitest';
import { connectionOptions, date, hosts, list, parseCommandLine, renderHelp, size } from '../../src/cli/options.js';
import { UsageError } from '../../src/errors.js';

const specs = [...connectionOptions, { name: 'set', short: 's', type: 'string' as const, multiple: true, description: 'sets' }];

describe('parseCommandLine', () => {
  it('fills absent options from the environment, the command line winning', () => {
    const env = { AEROSPIKE_HOSTS: 'db1:3100' };
    expect(parseCommandLine('backup', [], specs, env, 0).values.hosts).toBe('db1:3100');
    expect(parseCommandLine('backup', ['-h', 'db2'], specs, env, 0).values.hosts).toBe('db2');
  });

  it('turns parse failures into usage errors that point at the help', () => {
    expect(() => parseCommandLine('backup', ['--nope'], specs, {}, 0)).toThrow(UsageError);
    expect(() => parseCommandLine('backup', ['--nope'], specs, {}, 0)).toThrow(/--nope.*see aerobak backup --help/);
    expect(() => parseCommandLine('backup', ['extra'], specs, {}, 0)).toThrow(/unexpected argument "extra"/);
    expect(() => parseCommandLine('backup', ['-h'], specs, {}, 0)).toThrow(/argument missing/);
  });

  it('collects repeatable comma lists', () => {
    const { values } = parseCommandLine('backup', ['-s', 'a,b', '--set', 'c'], specs, {}, 0);
    expect(list(values, 'set')).toEqual(['a', 'b', 'c']);
  });
});

describe('value parsers', () => {
  it('parses hosts with default and explicit ports, IPv6 in brackets', () => {
    expect(hosts({ hosts: 'a,b:3100,[::1]:4000', port: '3001' })).toEqual([
      { host: 'a', port: 3001 },
      { host: 'b', port: 3100 },
      { host: '::1', port: 4000 },
    ]);
    expect(() => hosts({ hosts: 'a:99999' })).toThrow(/not HOST or HOST:PORT/);
  });

  it('parses sizes with binary and decimal units', () => {
    expect(size({ s: '64MiB' }, 's')).toBe(64 * 1024 * 1024);
    expect(size({ s: '1G' }, 's')).toBe(1024 ** 3);
    expect(size({ s: '500mb' }, 's')).toBe(500_000_000);
    expect(() => size({ s: '12 parsecs' }, 's')).toThrow(/not a size/);
    expect(() => size({ s: '100' }, 's')).toThrow(/with a unit/);
  });

  it('parses ISO 8601 and the asbackup date forms (local time)', () => {
    expect(date({ d: '2026-01-24T10:00:00Z' }, 'd')?.toISOString()).toBe('2026-01-24T10:00:00.000Z');
    expect(date({ d: '2026-01-24_10:30:00' }, 'd')?.getTime()).toBe(new Date(2026, 0, 24, 10, 30, 0).getTime());
    expect(date({ d: '2026-01-24' }, 'd')?.getTime()).toBe(new Date(2026, 0, 24).getTime());
    const now = new Date(2026, 4, 2, 12);
    expect(date({ d: '08:15:00' }, 'd', now)?.getTime()).toBe(new Date(2026, 4, 2, 8, 15).getTime());
    expect(() => date({ d: 'yesterday' }, 'd')).toThrow(/not a date/);
  });
});

describe('renderHelp', () => {
  it('lists options with env and default, examples and exit codes', () => {
    const text = renderHelp({
      usage: 'aerobak x',
      summary: 'Does x.',
      sections: [{ title: 'Connection', options: connectionOptions }],
      examples: ['aerobak x -h db1'],
      exitCodes: [[0, 'ok']],
    });
    expect(text).toContain('-h, --hosts HOST[:PORT][,...]');
    expect(text.replace(/\s+/g, ' ')).toContain('[env AEROSPIKE_HOSTS; default 127.0.0.1:3000]');
    expect(text).toMatch(/Exit codes:\n\s+0  ok/);
    for (const line of text.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
  });
});
