/**
 * KMS keys as key-encryption keys: the key never leaves the KMS. Loaded only when a
 * command is given `--kms` (the SDK is not loaded otherwise).
 *
 *   --kms aws:<key ARN, key id, alias ARN or alias name>    @aws-sdk/client-kms:
 *       GenerateDataKey for a new backup (one call), Decrypt to open one (one call),
 *       Encrypt to wrap an existing data key for it (rekey). The encryption context
 *       {"aerobak": "data key v1"} binds the ciphertext to this use; Decrypt names the key
 *       (KeyId), so a key object wrapped under some other KMS key the restore host may
 *       use is refused by KMS rather than trusted.
 *
 * Endpoint, credentials and region come from the command's environment (`env`, which is
 * process.env for the CLI), as for S3: AWS_ENDPOINT_URL_KMS or AWS_ENDPOINT_URL,
 * AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN when set there (else the
 * SDK's credential chain: profile, SSO, instance or container role), and the region of
 * the key's ARN when it is an ARN (a KMS key lives in one region: the call must go there,
 * whatever AWS_REGION says), else AWS_REGION (else the profile's).
 *
 * A key object records the name given and the key ARN that KMS reported for it (an alias
 * resolves to a key). A KMS key is given a backup's key object if it is one of those two
 * names, as an ARN or not (`alias/x` or its alias ARN; a key id or its key ARN): a backup
 * made with `alias/x` also opens with the ARN of the key the alias named then, which is
 * what is left to give once the alias has been moved to another key. The other way round
 * (made with a key ARN, opened with an alias of it) would need a KMS call to resolve the
 * alias: it is WRONG_KEY (the backup's keys/*.json name the key they were made with).
 */
import { createHash } from 'node:crypto';
import { AerobakError, UsageError } from '../errors.js';
import { KEY_OBJECT_FORMAT, KEY_OBJECT_VERSION, WrongKeyError, type Kek, type KeyObject } from './keys.js';

const CONTEXT = { aerobak: 'data key v1' };

/** A KMS refused or could not be reached. */
export class KmsError extends AerobakError {
  constructor(key: string, action: string, cause: unknown) {
    super('failed', 'KMS_FAILED', `KMS ${action} with ${key} failed: ${describeError(cause)}`, { cause });
  }
}

/** "Name: message" of an SDK error (moto and some SDK paths leave the message a bare "UnknownError"). */
function describeError(error: unknown): string {
  const { name, message } = (error ?? {}) as { name?: string; message?: string };
  if (message === undefined || message === '') return name ?? String(error);
  return name && name !== 'Error' && !message.startsWith(name) ? `${name}: ${message}` : message;
}

/** The key object of a KMS KEK: the name given (`kmsKey`), and the key ARN KMS answered with. */
type KmsKeyObject = KeyObject & { kek: KeyObject['kek'] & { kmsKeyArn?: string } };

function idOf(type: string, name: string): string {
  return `${type}-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
}

function keyObject(type: 'aws-kms', id: string, kmsKey: string, kmsKeyArn: string | undefined, wrapped: Uint8Array): KmsKeyObject {
  return {
    format: KEY_OBJECT_FORMAT,
    version: KEY_OBJECT_VERSION,
    kek: { type, id, kmsKey, ...(kmsKeyArn !== undefined && kmsKeyArn !== kmsKey ? { kmsKeyArn } : {}) },
    wrapped: Buffer.from(wrapped).toString('base64'),
    createdAt: new Date().toISOString(),
  };
}

/** The region of a KMS key or alias ARN (arn:PARTITION:kms:REGION:ACCOUNT:key/... or :alias/...), else undefined. */
export function regionOfArn(name: string): string | undefined {
  return /^arn:[^:]+:kms:([a-z0-9-]+):[^:]*:(?:key|alias)\//.exec(name)?.[1];
}

/**
 * A KMS key's name without its ARN prefix: `alias/x` for an alias ARN or name, the key id
 * for a key ARN or id. Names that differ only in that prefix name the same key for
 * matches() (the region and account are the ARN's or the environment's: KMS checks).
 */
function resourceOf(name: string): string {
  const resource = /^arn:[^:]+:kms:[^:]*:[^:]*:(.+)$/.exec(name)?.[1] ?? name;
  return resource.startsWith('key/') ? resource.slice(4) : resource;
}

async function awsKek(keyId: string, env: NodeJS.ProcessEnv): Promise<Kek> {
  const { KMSClient, GenerateDataKeyCommand, DecryptCommand, EncryptCommand } = await import('@aws-sdk/client-kms');
  const endpoint = env.AWS_ENDPOINT_URL_KMS ?? env.AWS_ENDPOINT_URL;
  const region = regionOfArn(keyId) ?? env.AWS_REGION;
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  const client = new KMSClient({
    ...(endpoint ? { endpoint } : {}),
    ...(region ? { region } : {}),
    ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) } } : {}),
    // Without timeouts a stalled connection hangs the command; the SDK retries a timeout.
    requestHandler: { connectionTimeout: 10_000, socketTimeout: 60_000 },
  });
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
    // Undefined: a key object is found by matches(), which also knows the key by the ARN
    // recorded in it; new key objects are still named by `id` (keyObject()).
    id: undefined,
    describe,
    async newDataKey() {
      const out = await call('GenerateDataKey', () => client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: CONTEXT })));
      if (!out.Plaintext || out.Plaintext.length !== 32 || !out.CiphertextBlob) throw new KmsError(keyId, 'GenerateDataKey', new Error('no 32-byte key in the answer'));
      return { dataKey: Buffer.from(out.Plaintext), keyObject: keyObject('aws-kms', id, keyId, out.KeyId, out.CiphertextBlob) };
    },
    async wrap(dataKey) {
      const out = await call('Encrypt', () => client.send(new EncryptCommand({ KeyId: keyId, Plaintext: dataKey, EncryptionContext: CONTEXT })));
      if (!out.CiphertextBlob) throw new KmsError(keyId, 'Encrypt', new Error('no ciphertext in the answer'));
      return keyObject('aws-kms', id, keyId, out.KeyId, out.CiphertextBlob);
    },
    async matches(obj) {
      // Only which object to try: Decrypt names the key given, so KMS has the last word.
      const kek = (obj as KmsKeyObject).kek;
      if (kek.type !== 'aws-kms') return false;
      if (kek.id === id) return true;
      const given = resourceOf(keyId);
      return [kek.kmsKey, kek.kmsKeyArn].some((name) => name !== undefined && resourceOf(name) === given);
    },
    async unwrap(obj, location) {
      try {
        const out = await client.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: Buffer.from(obj.wrapped, 'base64'), EncryptionContext: CONTEXT }));
        if (!out.Plaintext || out.Plaintext.length !== 32) throw new Error('no 32-byte key in the answer');
        return Buffer.from(out.Plaintext);
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') {
          // IncorrectKeyException: the data key was wrapped under another KMS key than the one
          // `keyId` names now (an alias moved since): say which one it was.
          const arn = (obj as KmsKeyObject).kek.kmsKeyArn;
          const hint = name === 'IncorrectKeyException' && arn !== undefined && arn !== keyId ? `; it was wrapped under ${arn}: if ${keyId} is an alias that was moved to another key since, give --kms aws:${arn}` : '';
          throw new WrongKeyError(location, `${describe} does not decrypt its data key (${name})${hint}`);
        }
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
  if (provider === 'gcp' && name !== '') return (await import('./gcp-kms.js')).gcpKek(name, env);
  throw new UsageError(`--kms ${spec}: expected aws:<key ARN, key id or alias> (or gcp:projects/.../cryptoKeys/...)`);
}
