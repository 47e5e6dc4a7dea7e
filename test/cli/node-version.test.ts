/**
 * The runtime aerobak needs, and the one the project's own files bring.
 *
 * The project pins Node 24 LTS as a dev dependency (tools/node-runtime), which npm
 * scripts put first on PATH: on a machine whose system Node is older than 22.15 (the
 * project's own machines and CI run Node 20), the tests must still run on Node 24, and
 * the CLI started on the old system Node must refuse with one line.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { SUPPORTED_NODE, unsupportedNodeMessage } from '../../src/cli/node-version.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The first `node` on PATH outside any node_modules/.bin: the machine's own Node, or undefined. */
function systemNode(): { path: string; version: string } | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '' || dir.includes('node_modules')) continue;
    const path = join(dir, 'node');
    try {
      accessSync(path, constants.X_OK);
    } catch {
      continue;
    }
    const out = spawnSync(path, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    if (out.status === 0) return { path, version: out.stdout.trim() };
  }
  return undefined;
}

const system = systemNode();
const systemIsOld = system !== undefined && unsupportedNodeMessage(system.version) !== null;

describe('supported Node.js versions', () => {
  it('accepts 22.15 and later, refuses older releases with one line naming both versions', () => {
    for (const v of ['22.15.0', '22.20.1', '23.0.0', '24.22.3', '26.1.0']) expect(unsupportedNodeMessage(v)).toBeNull();
    for (const v of ['20.20.2', '22.14.9', '18.0.0', '16.20.2']) {
      const message = unsupportedNodeMessage(v)!;
      expect(message).toMatch(/^aerobak: error: aerobak needs Node\.js 22\.15 or newer/);
      expect(message).toContain(`this is Node.js ${v}`);
      expect(message).not.toContain('\n');
    }
  });

  it('package.json engines says the same range as the CLI check', () => {
    expect(pkg.engines.node).toBe(SUPPORTED_NODE);
  });

  it('the tests run on a supported Node.js', () => {
    expect(unsupportedNodeMessage(process.versions.node)).toBeNull();
  });

  it.runIf(systemIsOld)('on a machine whose system Node is older, the tests run on the pinned Node 24 LTS', () => {
    expect(process.versions.node).toMatch(/^24\./);
    expect(process.execPath).toContain('node_modules');
  });

  it.runIf(systemIsOld)('aerobak started on the old system Node refuses with one line and exit code 2', () => {
    const run = spawnSync(system!.path, ['--import', 'tsx', 'src/cli/main.ts', '--version'], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`aerobak: error: aerobak needs Node.js 22.15 or newer (22 LTS from 22.15, 24 LTS, or later); this is Node.js ${system!.version}\n`);
  });
});
