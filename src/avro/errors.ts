/**
 * Errors of the Avro layer. Both are AerobakErrors of kind 'failed': the data at hand
 * cannot be turned into records (or back), whatever the storage did.
 */
import { AerobakError } from '../errors.js';

/**
 * A value that cannot cross the record codec: a RawRecord that breaks the model (a
 * digest that is not 20 bytes, a negative generation) or an Avro value that no
 * RawRecord has (a particle type over 255, a GeoJSON with more than 65535 cells).
 */
export class RecordCodecError extends AerobakError {
  constructor(message: string) {
    super('failed', 'INVALID_RECORD', message);
  }
}

export type ContainerErrorCode =
  /** The bytes do not start with an Avro object container header. */
  | 'AVRO_NOT_CONTAINER'
  /** The header names a block codec other than 'null' (aerobak compresses whole files instead). */
  | 'AVRO_UNSUPPORTED_CODEC'
  /** The file's writer schema is not the schema expected (aerobak.v1.Record for data files). */
  | 'AVRO_SCHEMA_MISMATCH'
  /** The bytes end inside the header or a block. */
  | 'AVRO_TRUNCATED'
  /** A block is malformed: wrong sync marker, impossible size or count, bytes left over. */
  | 'AVRO_CORRUPT_BLOCK'
  /** A record inside a well-formed block cannot be decoded. */
  | 'AVRO_BAD_RECORD';

/** Where in a container stream decoding failed. */
export interface ContainerPosition {
  /** Byte offset, in the uncompressed container, of the header, block or record at fault. */
  offset: number;
  /** 0-based index of the block, when the failure is inside one. */
  block?: number;
  /** 0-based index of the record in the whole file, when the failure is a record. */
  record?: number;
}

function describePosition(p: ContainerPosition): string {
  const within = [p.block !== undefined ? `block ${p.block}` : '', p.record !== undefined ? `record ${p.record}` : '']
    .filter((s) => s !== '')
    .join(', ');
  return `byte ${p.offset}${within ? ` (${within})` : ''}`;
}

/** A container stream that cannot be decoded; the message and `position` say where. */
export class ContainerDecodeError extends AerobakError {
  constructor(
    code: ContainerErrorCode,
    readonly position: ContainerPosition,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super('failed', code, `${detail} at ${describePosition(position)}`, options);
  }

  declare readonly code: ContainerErrorCode;
}
