/**
 * The Kubernetes manifests (deploy/kubernetes/): every one validated against the
 * Kubernetes API's JSON schemas (kubernetes-models, a pinned dev dependency: its models
 * carry the schemas generated from the Kubernetes OpenAPI spec, checked with ajv), and the
 * sharded backup Jobs checked for what a sharded run relies on (docs/distributed.md).
 */
import { readdir, readFile } from 'node:fs/promises';
import { CronJob, Job } from 'kubernetes-models/batch/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { Deployment } from 'kubernetes-models/apps/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

interface JobSpec {
  completionMode: string;
  completions: number;
  parallelism: number;
  backoffLimitPerIndex: number;
  podReplacementPolicy: string;
  template: { spec: { restartPolicy: string; containers: Array<{ args: string[]; env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> }> } };
}

const load = async (name: string) => parse(await readFile(new URL(`../../deploy/kubernetes/${name}`, import.meta.url), 'utf8')) as { kind: string; spec: JobSpec & { jobTemplate?: { spec: JobSpec } } };

const MODELS: Record<string, new (data: never) => { validate(): void }> = { Job, CronJob, ConfigMap, Secret, Service, Deployment } as never;

describe('the Kubernetes manifests', () => {
  it('are valid against the Kubernetes schemas, every document of every file', async () => {
    const root = new URL('../../deploy/kubernetes/', import.meta.url);
    const files = (await readdir(root, { recursive: true })).filter((f) => String(f).endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(6);
    for (const file of files) {
      for (const doc of parseAllDocuments(await readFile(new URL(String(file), root), 'utf8'))) {
        const value = doc.toJS() as { kind: string } | null;
        if (value === null) continue;
        const Model = MODELS[value.kind];
        expect(Model, `${file}: kind ${value.kind}`).toBeDefined();
        expect(() => new Model!(value as never).validate(), `${file}: ${value.kind}`).not.toThrow();
      }
    }
    // The validator does refuse what is wrong.
    const job = (await load('backup-indexed-job.yaml')) as unknown as { spec: { completionMode: unknown } };
    job.spec.completionMode = 'Parallel-ish';
    expect(() => new Job(job as never).validate()).toThrow(/completionMode/);
  });
});

describe('the sharded backup Job manifests', () => {
  it.each(['backup-indexed-job.yaml', 'backup-cronjob.yaml'])('%s: an Indexed Job whose pods share one location and know their shard count', async (name) => {
    const doc = await load(name);
    const job = doc.kind === 'CronJob' ? doc.spec.jobTemplate!.spec : doc.spec;
    expect(job.completionMode).toBe('Indexed');
    expect(job.parallelism).toBe(job.completions);
    expect(job.backoffLimitPerIndex).toBeGreaterThan(0);
    expect(job.podReplacementPolicy).toBe('Failed');
    expect(job.template.spec.restartPolicy).toBe('Never');
    const [container] = job.template.spec.containers;
    expect(container!.args).toContain(`--shards=${job.completions}`);
    expect(container!.args.some((a) => /^--to=.*\$\(JOB_NAME\)$/.test(a))).toBe(true);
    expect(container!.env.find((e) => e.name === 'JOB_NAME')?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.labels['batch.kubernetes.io/job-name']");
  });
});
