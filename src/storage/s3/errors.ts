/**
 * S3 errors as StorageErrors. The SDK names a service error by its S3 error
 * code (`err.name`: NoSuchBucket, AccessDenied, ...); a response without a
 * body (HEAD) only has its HTTP status (`NotFound`, `Forbidden`).
 */
import { StorageError, messageOf } from '../errors.js';

const CREDENTIAL_ERRORS = new Set([
  'CredentialsProviderError',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
]);

interface SdkError {
  name?: string;
  $metadata?: { httpStatusCode?: number };
}

/**
 * Maps an SDK error to a StorageError. `bucket` is the bucket involved,
 * `subject` what the operation was about (an object's or the store's name),
 * `action` what was being done ("write", "list", ...).
 */
export function s3Error(error: unknown, bucket: string, subject: string, action: string): StorageError {
  const { name = '', $metadata } = (error ?? {}) as SdkError;
  const status = $metadata?.httpStatusCode;
  const options = { cause: error };
  if (name === 'NoSuchBucket') return new StorageError('NO_BUCKET', `bucket ${bucket} does not exist`, options);
  if (name === 'NoSuchKey' || name === 'NotFound') return new StorageError('NOT_FOUND', `${subject} does not exist`, options);
  if (CREDENTIAL_ERRORS.has(name)) {
    return new StorageError('CREDENTIALS', `bad or missing AWS credentials for bucket ${bucket}: ${messageOf(error)}`, options);
  }
  if (name === 'AccessDenied' || name === 'Forbidden' || status === 403) {
    return new StorageError('ACCESS_DENIED', `access denied: cannot ${action} ${subject}`, options);
  }
  if (name === 'InvalidStorageClass') {
    return new StorageError('CONFIG', `bucket ${bucket} does not take the storage class given: cannot ${action} ${subject}: ${messageOf(error)}`, options);
  }
  // SSE-KMS: S3 names the KMS's error (KMS.NotFoundException, KMS.DisabledException, ...; MinIO: kms:KeyNotFound).
  if (/^kms[.:]/i.test(name)) {
    return new StorageError('CONFIG', `the KMS key for server-side encryption of bucket ${bucket} cannot be used (${name}): cannot ${action} ${subject}: ${messageOf(error)}`, options);
  }
  if (/region is missing/i.test(messageOf(error))) {
    return new StorageError('CONFIG', `no AWS region configured for bucket ${bucket} (set AWS_REGION)`, options);
  }
  return new StorageError('IO', `cannot ${action} ${subject}: ${messageOf(error)}`, options);
}
