/**
 * The deployment files of `aerobak serve` (deploy/): the Kubernetes manifests parsed with
 * the `yaml` package and checked for what the service relies on (one replica, Recreate,
 * a termination grace longer than the SIGTERM bound, probes on /healthz, the Secret and
 * the ConfigMap wired in, a configuration the service accepts); the Dockerfile parsed
 * into its instructions (Node 24 slim, a non-root user, exec-form entrypoint, every COPY
 * source present); the systemd unit (SIGTERM, a stop timeout above the bound).
 *
 * No Docker engine is available to build the image, and no Dockerfile linter or
 * Kubernetes schema validator is among the project's dependencies: these checks are the
 * project's own (deploy/README.md).
 */
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { DEFAULT_SHUTDOWN_TIMEOUT_MS, SHUTDOWN_GRACE_MS, parseConfig } from '../../src/service/config.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string) => readFile(new URL(path, new URL('../../', import.meta.url)), 'utf8');

async function manifests(): Promise<Record<string, any>[]> {
  const dir = 'deploy/kubernetes/serve/';
  const out: Record<string, any>[] = [];
  for (const name of (await readdir(new URL(dir, new URL('../../', import.meta.url)))).filter((n) => n.endsWith('.yaml'))) {
    for (const doc of parseAllDocuments(await read(`${dir}${name}`))) {
      expect(doc.errors, name).toEqual([]);
      out.push(doc.toJS() as Record<string, any>);
    }
  }
  return out;
}

/** A Dockerfile's instructions: comments dropped, `\` continuations joined. */
export function dockerInstructions(text: string): { keyword: string; args: string }[] {
  const out: { keyword: string; args: string }[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    // Comment lines, also those inside a continued instruction, are not part of it.
    if (/^\s*#/.test(raw)) continue;
    const line = raw.replace(/\s+$/, '');
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    if (full === '') continue;
    const m = /^([A-Za-z]+)\s+(.*)$/s.exec(full);
    if (!m) throw new Error(`not a Dockerfile instruction: ${full}`);
    out.push({ keyword: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ').trim() });
  }
  if (pending !== '') throw new Error('the Dockerfile ends inside a continued line');
  return out;
}

const KEYWORDS = ['FROM', 'RUN', 'CMD', 'LABEL', 'EXPOSE', 'ENV', 'ADD', 'COPY', 'ENTRYPOINT', 'VOLUME', 'USER', 'WORKDIR', 'ARG', 'ONBUILD', 'STOPSIGNAL', 'HEALTHCHECK', 'SHELL'];

describe('the Kubernetes manifests of the service', () => {
  it('run one replica, replaced by Recreate, with a termination grace longer than the SIGTERM bound', async () => {
    const docs = await manifests();
    expect(docs.map((d) => d.kind).sort()).toEqual(['ConfigMap', 'Deployment', 'Secret', 'Service']);
    const byKind = (k: string) => docs.find((d) => d.kind === k)!;
    const deployment = byKind('Deployment');
    const configMap = byKind('ConfigMap');
    const secret = byKind('Secret');
    const service = byKind('Service');

    expect(deployment.apiVersion).toBe('apps/v1');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    const pod = deployment.spec.template.spec;
    const container = pod.containers[0];

    // The configuration in the ConfigMap is one the service accepts, with the Secret's variables.
    const config = await parseConfig(configMap.data['aerobak.yaml'], 'configmap:aerobak.yaml', secret.stringData);
    const boundSeconds = (config.shutdownTimeoutMs + SHUTDOWN_GRACE_MS) / 1000;
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThan(boundSeconds);
    expect(config.http).toMatchObject({ host: '0.0.0.0', port: 9090 });

    // Wiring: config mounted where the args read it, Secret as environment, probes, ports.
    const configVolume = pod.volumes.find((v: any) => v.configMap?.name === configMap.metadata.name);
    const mount = container.volumeMounts.find((m: any) => m.name === configVolume.name);
    expect(container.args.slice(0, 3)).toEqual(['serve', '--config', `${mount.mountPath}/aerobak.yaml`]);
    expect(mount.readOnly).toBe(true);
    expect(container.envFrom).toEqual([{ secretRef: { name: secret.metadata.name } }]);
    expect(container.ports).toEqual([{ name: 'http', containerPort: config.http.port }]);
    for (const probe of [container.readinessProbe, container.livenessProbe]) expect(probe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });

    expect(service.spec.selector).toEqual(deployment.spec.template.metadata.labels);
    expect(deployment.spec.selector.matchLabels).toEqual(deployment.spec.template.metadata.labels);
    expect(service.spec.ports).toEqual([{ name: 'http', port: config.http.port, targetPort: 'http' }]);
    expect(secret.type).toBe('Opaque');
  });
});

describe('the Dockerfile', () => {
  it('builds on Node 24 slim, runs as a non-root user, and copies only what exists', async () => {
    const instructions = dockerInstructions(await read('deploy/Dockerfile'));
    for (const i of instructions) expect(KEYWORDS, i.keyword).toContain(i.keyword);
    const froms = instructions.filter((i) => i.keyword === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(1);
    for (const f of froms) expect(f.args).toMatch(/^node:24[\w.-]*-slim(\s+AS\s+\w+)?$/i);
    const lastFrom = instructions.lastIndexOf(froms.at(-1)!);
    const final = instructions.slice(lastFrom);
    const user = final.filter((i) => i.keyword === 'USER').at(-1);
    expect(user?.args).toBeDefined();
    expect(user!.args).not.toMatch(/^(root|0)(:|$)/);
    expect(final.find((i) => i.keyword === 'ADD')).toBeUndefined();
    const entrypoint = JSON.parse(final.find((i) => i.keyword === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint).toEqual(['node', '/opt/aerobak/dist/cli/main.js']);
    const cmd = JSON.parse(final.find((i) => i.keyword === 'CMD')!.args) as string[];
    expect(cmd.slice(0, 2)).toEqual(['serve', '--config']);
    expect(final.find((i) => i.keyword === 'STOPSIGNAL')?.args).toBe('SIGTERM');
    expect(final.find((i) => i.keyword === 'EXPOSE')?.args).toBe('9090');
    const healthcheck = final.find((i) => i.keyword === 'HEALTHCHECK')!.args;
    expect(JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD ') + 4))).toEqual(expect.arrayContaining(['node']));
    // Every COPY from the build context names something in the repository.
    for (const copy of instructions.filter((i) => i.keyword === 'COPY' && !i.args.startsWith('--from'))) {
      const parts = copy.args.split(' ');
      for (const source of parts.slice(0, -1)) expect(existsSync(`${root}${source}`), `COPY ${source}`).toBe(true);
    }
  });
});

describe('the systemd unit', () => {
  it('stops with SIGTERM and waits longer than the service bound before killing', async () => {
    const sections = new Map<string, Map<string, string[]>>();
    let current: Map<string, string[]> | undefined;
    for (const line of (await read('deploy/aerobak.service')).split('\n')) {
      const t = line.trim();
      if (t === '' || t.startsWith('#')) continue;
      const section = /^\[(\w+)\]$/.exec(t);
      if (section) {
        current = new Map();
        sections.set(section[1]!, current);
        continue;
      }
      const kv = /^([A-Za-z]+)=(.*)$/.exec(t);
      if (!kv || !current) throw new Error(`not a unit file line: ${t}`);
      current.set(kv[1]!, [...(current.get(kv[1]!) ?? []), kv[2]!]);
    }
    expect([...sections.keys()]).toEqual(['Unit', 'Service', 'Install']);
    const service = sections.get('Service')!;
    expect(service.get('ExecStart')![0]).toMatch(/ serve --config \S+\.yaml$/);
    expect(service.get('KillSignal')).toEqual(['SIGTERM']);
    expect(Number(service.get('TimeoutStopSec')![0])).toBeGreaterThan((DEFAULT_SHUTDOWN_TIMEOUT_MS + SHUTDOWN_GRACE_MS) / 1000);
    expect(service.get('User')![0]).not.toBe('root');
    expect(service.get('RestartPreventExitStatus')).toEqual(['2']);
    expect(sections.get('Install')!.get('WantedBy')).toEqual(['multi-user.target']);
  });
});
