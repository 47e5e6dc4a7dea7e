/**
 * Streaming authenticated encryption of one stored file: AES-256-GCM over fixed-size
 * segments, in the construction of Tink's AES-GCM-HKDF streaming AEAD and age's STREAM
 * (docs/security.md, "Encrypted files"):
 *
 *   header   "AEBK" | version 1 | segment size (u32 BE) | salt (32) | nonce prefix (7)   48 bytes
 *   segment  AES-256-GCM(file key, nonce, plaintext[i]) | tag (16)
 *   file key = HKDF-SHA256(data key, salt, "aerobak file v1" 0x00 <file name>)
 *   nonce    = nonce prefix (7) | segment index (u32 BE) | 1 for the last segment, else 0
 *   AAD      = the header, for every segment
 *
 * Every segment but the last holds exactly `segment size` plaintext bytes; the last holds
 * the rest (possibly none). So a flipped bit fails its segment's tag; reordered segments
 * fail (the index is in the nonce); a truncated file fails (its new last segment was not
 * sealed as last, or a segment is short); a file renamed, or copied from another backup,
 * fails its first segment (its key comes from the name and the backup's data key).
 * Plaintext leaves the decryptor only after its segment's tag checked.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { AerobakError } from '../errors.js';

export const MAGIC = Buffer.from('AEBK', 'latin1');
export const STREAM_VERSION = 1;
export const HEADER_BYTES = 4 + 1 + 4 + 32 + 7;
export const TAG_BYTES = 16;
/** Plaintext bytes per segment. */
export const SEGMENT_BYTES = 1024 * 1024;

/** A file that did not decrypt: altered, truncated, renamed, or under another key. */
export class DecryptError extends AerobakError {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super('failed', 'DECRYPT_FAILED', `${file}: ${message}`);
  }
}

/** The key of one file: the backup's data key, the file's salt, its name. */
export function fileKey(dataKey: Buffer, salt: Buffer, name: string): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey, salt, Buffer.concat([Buffer.from('aerobak file v1\0', 'latin1'), Buffer.from(name, 'utf8')]), 32));
}

function nonce(prefix: Buffer, index: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 7);
  n[11] = last ? 1 : 0;
  return n;
}

/** Bytes a file of `plain` plaintext bytes takes encrypted. */
export function encryptedSize(plain: number, segment = SEGMENT_BYTES): number {
  const segments = Math.max(1, Math.ceil(plain / segment));
  return HEADER_BYTES + plain + segments * TAG_BYTES;
}

/** Encrypts a byte stream for the file `name` (the name is part of its key). */
export class EncryptStream extends Transform {
  readonly #key: Buffer;
  readonly #header: Buffer;
  readonly #prefix: Buffer;
  readonly #segment: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #index = 0;
  /** Plaintext bytes taken so far (sealed or waiting for their segment). */
  bytesIn = 0;

  constructor(dataKey: Buffer, name: string, segment = SEGMENT_BYTES) {
    super();
    const salt = randomBytes(32);
    this.#prefix = randomBytes(7);
    this.#segment = segment;
    this.#key = fileKey(dataKey, salt, name);
    const header = Buffer.alloc(HEADER_BYTES);
    MAGIC.copy(header, 0);
    header[4] = STREAM_VERSION;
    header.writeUInt32BE(segment, 5);
    salt.copy(header, 9);
    this.#prefix.copy(header, 41);
    this.#header = header;
    this.push(header);
  }

  #seal(plain: Buffer, last: boolean): Buffer {
    if (this.#index > 0xffffffff) throw new RangeError('file too large for one encrypted stream');
    const cipher = createCipheriv('aes-256-gcm', this.#key, nonce(this.#prefix, this.#index++, last));
    cipher.setAAD(this.#header);
    const out = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return out;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytesIn += chunk.length;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    // A segment is sealed once more bytes follow it: the last one is sealed at the end, flagged.
    if (this.#pendingBytes > this.#segment) {
      let all = Buffer.concat(this.#pending);
      while (all.length > this.#segment) {
        this.push(this.#seal(all.subarray(0, this.#segment), false));
        all = all.subarray(this.#segment);
      }
      this.#pending = [all];
      this.#pendingBytes = all.length;
    }
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.push(this.#seal(Buffer.concat(this.#pending), true));
    this.#pending = [];
    callback();
  }
}

/** Decrypts what EncryptStream wrote for the file `name`; errors with DecryptError naming `where`. */
export class DecryptStream extends Transform {
  readonly #dataKey: Buffer;
  readonly #name: string;
  readonly #where: string;
  #header: Buffer | undefined;
  #key: Buffer | undefined;
  #prefix: Buffer | undefined;
  #segment = 0;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #index = 0;

  constructor(dataKey: Buffer, name: string, where: string) {
    super();
    this.#dataKey = dataKey;
    this.#name = name;
    this.#where = where;
  }

  #readHeader(all: Buffer): Buffer {
    const header = all.subarray(0, HEADER_BYTES);
    if (!header.subarray(0, 4).equals(MAGIC)) throw new DecryptError(this.#where, 'not an aerobak encrypted file (no AEBK header)');
    if (header[4] !== STREAM_VERSION) throw new DecryptError(this.#where, `encrypted with stream version ${header[4]}, which this aerobak cannot read`);
    this.#segment = header.readUInt32BE(5);
    if (this.#segment < 1024 || this.#segment > 64 * 1024 * 1024) throw new DecryptError(this.#where, `bad segment size ${this.#segment} in the header`);
    this.#header = Buffer.from(header);
    this.#key = fileKey(this.#dataKey, header.subarray(9, 41), this.#name);
    this.#prefix = Buffer.from(header.subarray(41, 48));
    return all.subarray(HEADER_BYTES);
  }

  #open(sealed: Buffer, last: boolean): Buffer {
    const at = this.#index;
    const decipher = createDecipheriv('aes-256-gcm', this.#key!, nonce(this.#prefix!, this.#index++, last));
    decipher.setAAD(this.#header!);
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      const what = last ? 'the last segment' : `segment ${at}`;
      throw new DecryptError(this.#where, `${what} does not authenticate (the file was altered, truncated, renamed or comes from another backup, or the key is wrong)`);
    }
    return plain;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#pending.push(chunk);
      this.#pendingBytes += chunk.length;
      if (!this.#header) {
        if (this.#pendingBytes < HEADER_BYTES) return callback();
        const rest = this.#readHeader(Buffer.concat(this.#pending));
        this.#pending = [rest];
        this.#pendingBytes = rest.length;
      }
      const sealed = this.#segment + TAG_BYTES;
      // A full segment is opened once more bytes follow it; what is left at the end is the last one.
      if (this.#pendingBytes > sealed) {
        let all = Buffer.concat(this.#pending);
        while (all.length > sealed) {
          this.push(this.#open(all.subarray(0, sealed), false));
          all = all.subarray(sealed);
        }
        this.#pending = [all];
        this.#pendingBytes = all.length;
      }
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      if (!this.#header) throw new DecryptError(this.#where, `${this.#pendingBytes} bytes: shorter than an encrypted file's header (truncated)`);
      const last = Buffer.concat(this.#pending);
      if (last.length < TAG_BYTES) throw new DecryptError(this.#where, 'the last segment is missing (the file is truncated)');
      this.push(this.#open(last, true));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }
}
