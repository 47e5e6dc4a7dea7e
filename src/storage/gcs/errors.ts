/**
 * Google Cloud Storage errors as StorageErrors. The client library's
 * ApiError carries the HTTP status as a numeric `code`; failures to obtain
 * credentials come from google-auth-library without one.
 */
import { StorageError, messageOf } from '../errors.js';

const CREDENTIAL_FAILURE = /could not load the default credentials|invalid_grant|invalid_client|unauthorized_client/i;

/**
 * Maps a client library error to a StorageError. `bucket` is the bucket
 * involved, `subject` what the operation was about (an object's or the
 * store's name), `action` what was being done ("write", "list", ...).
 */
export function gcsError(error: unknown, bucket: string, subject: string, action: string): StorageError {
  const status = (error as { code?: unknown } | undefined)?.code;
  const message = messageOf(error);
  const options = { cause: error };
  if (status === 404 && action === 'write') {
    // A resumable upload whose session the server no longer knows (it expired, or the
    // server dropped it after a broken chunk): the object was never written.
    return new StorageError('IO', `cannot write ${subject}: the server lost its resumable upload session (HTTP 404)`, options);
  }
  if (status === 404) {
    return /bucket/i.test(message) && !/object/i.test(message)
      ? new StorageError('NO_BUCKET', `bucket ${bucket} does not exist`, options)
      : new StorageError('NOT_FOUND', `${subject} does not exist`, options);
  }
  if (status === 401 || CREDENTIAL_FAILURE.test(message)) {
    return new StorageError('CREDENTIALS', `bad or missing Google Cloud credentials for bucket ${bucket}: ${message}`, options);
  }
  if (status === 403) return new StorageError('ACCESS_DENIED', `access denied: cannot ${action} ${subject}`, options);
  return new StorageError('IO', `cannot ${action} ${subject}: ${message}`, options);
}
