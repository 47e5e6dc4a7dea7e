/**
 * The Kubernetes manifests of sharded backups (deploy/kubernetes/): parsed as YAML and
 * checked for what a sharded run relies on (docs/distributed.md). Not checked against
 * the Kubernetes JSON schemas: no schema validator with vendored schemas is available to
 * the project's registries (see the closing notes of docs/distributed.md).
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface JobSpec {
  completionMode: string;
  completions: number;
  parallelism: number;
  backoffLimitPerIndex: number;
  podReplacementPolicy: string;
  template: { spec: { restartPolicy: string; containers: Array<{ args: string[]; env: Array<{ name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }> }> } };
}

const load = async (name: string) => parse(await readFile(new URL(`../../deploy/kubernetes/${name}`, import.meta.url), 'utf8')) as { kind: string; spec: JobSpec & { jobTemplate?: { spec: JobSpec } } };

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
