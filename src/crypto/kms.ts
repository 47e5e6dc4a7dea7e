/**
 * KMS keys as key-encryption keys: the key never leaves the KMS. Loaded only when a
 * command is given `--kms` (the SDK is not loaded otherwise).
 *
 *   --kms aws:<key ARN, key id or alias ARN>    @aws-sdk/client-kms: GenerateDataKey for a
 *       new backup (one call), Decrypt to open one (one call), Encrypt to wrap an existing
 *       data key for it (rekey). The encryption context {"aerobak": "data key v1"} binds
 *       the ciphertext to this use. Endpoint, region and credentials come from the
 *       environment as for S3 (AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL, AWS_REGION, ...).
 */
import { createHash } from 'node:crypto';
import { AerobakError, UsageError } from '../errors.js';
import { KEY_OBJECT_FORMAT, KEY_OBJECT_VERSION, WrongKeyError, type Kek, type KeyObject } from './keys.js';

const CONTEXT = { aerobak: 'data key v1' };

/** A KMS refused or could not be reached. */
export class KmsError extends AerobakError {
  constructor(key: string, action: string, cause: unknown) {
    super('failed', 'KMS_FAILED', `KMS ${action} with ${key} failed: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

function idOf(type: string, name: string): string {
  return `${type}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

function keyObject(type: 'aws-kms', id: string, kmsKey: string, wrapped: Uint8Array): KeyObject {
  return { format: KEY_OBJECT_FORMAT, version: KEY_OBJECT_VERSION, kek: { type, id, kmsKey }, wrapped: Buffer.from(wrapped).toString('base64'), createdAt: new Date().toISOString() };
}

/** Counts the calls made to a KMS, for the tests (one per backup). */
export const kmsCalls = { generateDataKey: 0, decrypt: 0, encrypt: 0 };

async function awsKek(keyId: string, env: NodeJS.ProcessEnv): Promise<Kek> {
  const { KMSClient, GenerateDataKeyCommand, DecryptCommand, EncryptCommand } = await import('@aws-sdk/client-kms');
  const endpoint = env.AWS_ENDPOINT_URL_KMS ?? env.AWS_ENDPOINT_URL;
  const client = new KMSClient({ ...(endpoint ? { endpoint } : {}), ...(env.AWS_REGION ? { region: env.AWS_REGION } : {}) });
  const id = idOf('aws-kms', keyId);
  const describe = `KMS key ${keyId}`;
  const call = async <T>(action: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw new KmsError(keyId, action, error);
    }
  };
  return {
    type: 'aws-kms',
    id,
    describe,
    async newDataKey() {
      kmsCalls.generateDataKey++;
      const out = await call('GenerateDataKey', () => client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: CONTEXT })));
      if (!out.Plaintext || !out.CiphertextBlob) throw new KmsError(keyId, 'GenerateDataKey', new Error('no key in the answer'));
      return { dataKey: Buffer.from(out.Plaintext), keyObject: keyObject('aws-kms', id, keyId, out.CiphertextBlob) };
    },
    async wrap(dataKey) {
      kmsCalls.encrypt++;
      const out = await call('Encrypt', () => client.send(new EncryptCommand({ KeyId: keyId, Plaintext: dataKey, EncryptionContext: CONTEXT })));
      if (!out.CiphertextBlob) throw new KmsError(keyId, 'Encrypt', new Error('no ciphertext in the answer'));
      return keyObject('aws-kms', id, keyId, out.CiphertextBlob);
    },
    async matches(obj) {
      return obj.kek.type === 'aws-kms' && obj.kek.id === id;
    },
    async unwrap(obj, location) {
      kmsCalls.decrypt++;
      try {
        const out = await client.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.from(obj.wrapped, 'base64'), EncryptionContext: CONTEXT }));
        if (!out.Plaintext || out.Plaintext.length !== 32) throw new Error('no 32-byte key in the answer');
        return Buffer.from(out.Plaintext);
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') throw new WrongKeyError(location, `${describe} does not decrypt its data key (${name})`);
        throw new KmsError(keyId, 'Decrypt', error);
      }
    },
  };
}

/** The KEK of `--kms SPEC`. */
export async function kmsKek(spec: string, env: NodeJS.ProcessEnv): Promise<Kek> {
  const colon = spec.indexOf(':');
  const provider = colon < 0 ? '' : spec.slice(0, colon);
  const name = spec.slice(colon + 1);
  if (provider === 'aws' && name !== '') return awsKek(name, env);
  if (provider === 'gcp') throw new UsageError('--kms gcp:... is not supported by this aerobak yet: use --kms aws:..., a key file or a passphrase');
  throw new UsageError(`--kms ${spec}: expected aws:<key ARN or alias> (or gcp:projects/.../cryptoKeys/...)`);
}
