/**
 * The options of the commands that write to S3 about how the objects are stored there:
 * server-side encryption (`--s3-sse aws:kms[:KEY_ID]|AES256`) and storage class
 * (`--s3-storage-class CLASS`), for every object the command writes (data files, the
 * manifest, key objects, state). They combine with aerobak's own encryption (`--encrypt`),
 * which S3 never sees the keys of: bucket-side encryption adds the provider's controls
 * (key policies, CloudTrail), not confidentiality from the provider.
 *
 * Parsed and checked here (UsageError, exit 2), turned into StoreOptions for openStore;
 * the S3 store checks them again (s3/config.ts) for callers of the job API.
 */
import { UsageError } from '../errors.js';
import { limitBandwidth, type BandwidthSides } from '../storage/bandwidth.js';
import { openStore, type StoreOptions } from '../storage/index.js';
import { sseKmsKeyIdProblem, storageClassProblem, type S3Options } from '../storage/s3/config.js';
import type { StoreOpener } from '../storage/types.js';
import { str, type OptionSpec, type ParsedValues } from './options.js';

export const s3OptionSpecs: readonly OptionSpec[] = [
  {
    name: 's3-sse',
    type: 'string',
    value: 'aws:kms[:KEY_ID]|AES256',
    description: 'S3 server-side encryption of every object written: SSE-KMS under KEY_ID (key id, ARN or alias; default: the bucket\'s or aws/s3), or SSE-S3',
  },
  {
    name: 's3-storage-class',
    type: 'string',
    value: 'CLASS',
    description: 'S3 storage class of every object written: STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER_IR, ... (not GLACIER or DEEP_ARCHIVE: unreadable without a restore)',
  },
];

/** `--s3-sse VALUE` as S3 options. */
export function parseS3Sse(value: string): Pick<S3Options, 'serverSideEncryption' | 'sseKmsKeyId'> {
  if (value.toUpperCase() === 'AES256') return { serverSideEncryption: 'AES256' };
  if (value === 'aws:kms') return { serverSideEncryption: 'aws:kms' };
  if (value.startsWith('aws:kms:')) {
    const keyId = value.slice('aws:kms:'.length);
    const problem = keyId === '' ? 'the key id after aws:kms: is empty' : sseKmsKeyIdProblem(keyId);
    if (problem !== undefined) throw new UsageError(`--s3-sse ${value}: ${problem}`);
    return { serverSideEncryption: 'aws:kms', sseKmsKeyId: keyId };
  }
  throw new UsageError(`--s3-sse ${value}: expected aws:kms, aws:kms:KEY_ID (a KMS key id, ARN or alias) or AES256`);
}

/** `--s3-storage-class VALUE`, checked. */
export function parseS3StorageClass(value: string): string {
  const storageClass = value.toUpperCase();
  const problem = storageClassProblem(storageClass);
  if (problem !== undefined) throw new UsageError(`--s3-storage-class ${value}: ${problem}`);
  return storageClass;
}

/**
 * The store options the values ask for, or undefined when none is given. `destination` is
 * where the command writes (undefined: the default local directory); the options apply to
 * s3:// only, and are refused for any other destination rather than ignored.
 */
export function s3StoreOptions(values: ParsedValues, destination: string | undefined): StoreOptions | undefined {
  const sse = str(values, 's3-sse');
  const storageClass = str(values, 's3-storage-class');
  if (sse === undefined && storageClass === undefined) return undefined;
  if (destination === undefined || !/^s3:\/\//i.test(destination)) {
    const given = [sse !== undefined ? '--s3-sse' : undefined, storageClass !== undefined ? '--s3-storage-class' : undefined].filter((n) => n !== undefined);
    throw new UsageError(`${given.join(' and ')} ${given.length > 1 ? 'apply' : 'applies'} to an s3:// destination, not ${destination ?? 'the default local directory'}`);
  }
  return { s3: { ...(sse !== undefined ? parseS3Sse(sse) : {}), ...(storageClass !== undefined ? { storageClass: parseS3StorageClass(storageClass) } : {}) } };
}

/**
 * The job's `deps.openStore` for these store options: {} (the default opener) when there
 * are none. With `bandwidth` (bytes per second, `--bandwidth`), every store the job opens
 * shares one limit on the bytes it writes (and, with `sides.read`, reads): see
 * storage/bandwidth.ts.
 */
export function storeDeps(options: StoreOptions | undefined, bandwidth?: { bytesPerSecond: number; sides?: BandwidthSides }): { openStore?: StoreOpener } {
  const open: StoreOpener | undefined = options === undefined ? undefined : (location, intent) => openStore(location, intent, options);
  if (bandwidth === undefined) return open === undefined ? {} : { openStore: open };
  return { openStore: limitBandwidth(open ?? ((location, intent) => openStore(location, intent)), bandwidth.bytesPerSecond, bandwidth.sides) };
}
