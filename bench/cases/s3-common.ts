/**
 * The S3 cases (docs/performance.md, "The cases"): the installed bin (`node dist/cli/main.js`)
 * as whole processes, backing up to and restoring from S3, for the memory goal "to S3 at
 * most the local peak plus the documented upload buffers" and "flat with a 5 MB/s
 * destination". The bench (bench/run.ts) starts the S3 server (MinIO, test/support/
 * s3-server.ts) and, for the throttled pair, a link in front of it throttled both ways
 * (bench/lib/throttled-link.ts), and passes their endpoints in p.s3.
 *
 *   s3-backup             backup (default compression) of namespace.set to s3://bucket/<dir>
 *   s3-restore            restore --mode replace of that backup into the target namespace
 *   s3-backup-throttled   the same backup through the throttled endpoint, on p.partitions
 *   s3-restore-throttled  the restore of that backup through the throttled endpoint
 *
 * Both at --parallel p.parallel (the product's default 4). Peak RSS and CPU come from
 * /usr/bin/time, as for the anchors (anchor-common.ts runProcess); the speed is of MinIO on
 * loopback sharing the cores with the server and the tool, so it is not a figure of S3.
 * `extra.uploadBuffersMB` is the documented bound of what the S3 uploads may hold
 * (groups x (queueSize + 2) x partSize, docs/storage.md).
 */
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { truncateSet, type CaseParams, type CaseResult, type S3Target } from '../lib/case-runtime.js';
import { AEROBAK_BIN, ensureBuilt, runProcess } from './anchor-common.js';
import { DEFAULT_PART_SIZE, DEFAULT_QUEUE_SIZE } from '../../src/storage/s3/config.js';

export type S3Kind = 'backup' | 'restore';

/** The bin's environment for this target: the AWS SDK's endpoint, region and credentials. */
function s3Env(t: S3Target): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL_S3: t.endpoint,
    AWS_REGION: t.region,
    AWS_ACCESS_KEY_ID: t.accessKeyId,
    AWS_SECRET_ACCESS_KEY: t.secretAccessKey,
  };
}

/** Bytes and objects under the backup's prefix. */
async function storedBytes(t: S3Target): Promise<{ bytes: number; objects: number }> {
  const client = new S3Client({ endpoint: t.endpoint, region: t.region, forcePathStyle: true, credentials: { accessKeyId: t.accessKeyId, secretAccessKey: t.secretAccessKey } });
  let bytes = 0;
  let objects = 0;
  try {
    let token: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: t.bucket, Prefix: `${t.prefix}/`, ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        bytes += o.Size ?? 0;
        objects++;
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  } finally {
    client.destroy();
  }
  return { bytes, objects };
}

/** The command line of one run (the bin, as a user's shell runs it). */
export function s3Command(kind: S3Kind, p: CaseParams, t: S3Target): string[] {
  const url = `s3://${t.bucket}/${t.prefix}`;
  if (kind === 'restore') return [AEROBAK_BIN, 'restore', '-h', p.hosts, '--from', url, '-n', `${p.namespace}:${p.targetNamespace}`, '--mode', 'replace', '-w', String(p.parallel)];
  const args = [AEROBAK_BIN, 'backup', '-h', p.hosts, '-n', p.namespace, '-s', p.set, '--to', url, '-w', String(p.parallel)];
  if (p.partitions) args.push('--partitions', `${p.partitions.first}-${p.partitions.last}`);
  return args;
}

export async function s3Case(kind: S3Kind, p: CaseParams): Promise<CaseResult> {
  const t = p.s3;
  if (!t) throw new Error(`s3 ${kind}: no S3 target (the bench starts one)`);
  ensureBuilt();
  if (kind === 'restore') await truncateSet(p.hosts, p.targetNamespace, p.set);
  const args = s3Command(kind, p, t);
  const run = await runProcess(process.execPath, args, { env: s3Env(t), timeoutMs: Math.max(600_000, p.records) });
  if (run.code !== 0) throw new Error(`node ${args.join(' ')} exited with ${run.code}:\n${run.output}`);
  const stored = await storedBytes(t);
  // The records: what the command says it backed up ("backup complete: N records ...") or
  // wrote ("written  N" in the restore's summary).
  const m = kind === 'restore' ? /^\s*written\s+([\d,]+)/m.exec(run.output) : /backup complete: ([\d,]+) records/.exec(run.output);
  if (!m) throw new Error(`node ${args.join(' ')}: no record count in its output:\n${run.output}`);
  const records = Number(m[1]!.replace(/,/g, ''));
  return {
    records,
    bytes: stored.bytes,
    bytesWhat: `stored bytes ${kind === 'restore' ? 'read' : 'written'} (S3), whole process`,
    seconds: run.seconds,
    peakRssMB: run.peakRssMB ?? 0,
    cpuSeconds: run.cpuSeconds ?? 0,
    rssProfileMB: [],
    extra: {
      objects: stored.objects,
      uploadBuffersMB: kind === 'backup' ? (p.parallel * (DEFAULT_QUEUE_SIZE + 2) * DEFAULT_PART_SIZE) / 2 ** 20 : 0,
      command: args.slice(1).join(' '),
    },
  };
}
