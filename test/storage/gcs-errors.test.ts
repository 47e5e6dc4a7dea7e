/**
 * GCS errors as StorageErrors. A 404 while writing is a resumable upload whose session
 * the server no longer knows: the chaos run (GCS uploads cut mid-chunk, AEROBAK_CHAOS_SEED=2)
 * saw it reported as "<object> does not exist", which reads as a missing source, not as a
 * failed write.
 */
import { describe, expect, it } from 'vitest';
import { gcsError } from '../../src/storage/gcs/errors.js';

const apiError = (code: number, message: string) => Object.assign(new Error(message), { code });

describe('gcsError', () => {
  it('says a write lost its upload session on a 404, as an I/O failure of the write', () => {
    const err = gcsError(apiError(404, 'Not Found'), 'b', 'gs://b/x/test_00_00000.avro', 'write');
    expect(err.code).toBe('IO');
    expect(err.message).toBe('cannot write gs://b/x/test_00_00000.avro: the server lost its resumable upload session (HTTP 404)');
  });

  it('keeps NOT_FOUND and NO_BUCKET for reads', () => {
    expect(gcsError(apiError(404, 'No such object: b/x'), 'b', 'gs://b/x', 'read').code).toBe('NOT_FOUND');
    expect(gcsError(apiError(404, 'The specified bucket does not exist.'), 'b', 'gs://b/x', 'read').code).toBe('NO_BUCKET');
  });
});
