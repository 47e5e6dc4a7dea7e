/**
 * A Google Cloud KMS key as key-encryption key (`--kms gcp:projects/P/locations/L/keyRings/R/cryptoKeys/K`),
 * with @google-cloud/kms, loaded only for `--kms gcp:`. Cloud KMS has no GenerateDataKey:
 * a new backup's data key is made locally and wrapped with one Encrypt call; opening a
 * backup is one Decrypt call. The additional authenticated data "aerobak data key v1"
 * binds the ciphertext to this use (as the encryption context does with AWS KMS).
 *
 * Credentials are Google's Application Default Credentials. `AEROBAK_GCP_KMS_ENDPOINT`
 * (host:port, plain HTTP, no credentials) points the client at a local endpoint that
 * speaks the Cloud KMS REST API; the tests use it with a stand-in (there is no official
 * Cloud KMS emulator), so what they check is this module's use of the API, not Google's
 * server (docs/security.md).
 */
import { createHash, randomBytes } from 'node:crypto';
import { AerobakError, UsageError } from '../errors.js';
import { KEY_OBJECT_FORMAT, KEY_OBJECT_VERSION, WrongKeyError, type Kek, type KeyObject } from './keys.js';

const AAD = Buffer.from('aerobak data key v1');
const NAME = /^projects\/[^/]+\/locations\/[^/]+\/keyRings\/[^/]+\/cryptoKeys\/[^/]+$/;

/** The two calls aerobak makes, as the client library offers them (a stand-in in unit tests). */
export interface GcpKmsClient {
  encrypt(req: { name: string; plaintext: Buffer; additionalAuthenticatedData: Buffer }): Promise<[{ ciphertext?: Uint8Array | string | null }, ...unknown[]]>;
  decrypt(req: { name: string; ciphertext: Buffer; additionalAuthenticatedData: Buffer }): Promise<[{ plaintext?: Uint8Array | string | null }, ...unknown[]]>;
}

export class GcpKmsError extends AerobakError {
  constructor(key: string, action: string, cause: unknown) {
    super('failed', 'KMS_FAILED', `Cloud KMS ${action} with ${key} failed: ${(cause as Error).message ?? String(cause)}`, { cause });
  }
}

const bytes = (v: Uint8Array | string | null | undefined): Buffer => (v === null || v === undefined ? Buffer.alloc(0) : typeof v === 'string' ? Buffer.from(v, 'base64') : Buffer.from(v));

async function defaultClient(env: NodeJS.ProcessEnv): Promise<GcpKmsClient> {
  const { KeyManagementServiceClient } = await import('@google-cloud/kms');
  const endpoint = env.AEROBAK_GCP_KMS_ENDPOINT;
  if (!endpoint) return new KeyManagementServiceClient() as unknown as GcpKmsClient;
  const colon = endpoint.lastIndexOf(':');
  return new KeyManagementServiceClient({
    fallback: true,
    protocol: 'http',
    apiEndpoint: colon < 0 ? endpoint : endpoint.slice(0, colon),
    port: colon < 0 ? 80 : Number(endpoint.slice(colon + 1)),
    // A local endpoint takes no credentials: requests go out as they are.
    authClient: {
      getRequestHeaders: async () => new Headers(),
      fetch: (url: string, init: { method: string; headers: Headers; body?: string | Buffer; signal?: AbortSignal }) =>
        fetch(url, {
          method: init.method,
          headers: init.headers,
          ...(init.body !== undefined ? { body: typeof init.body === 'string' ? init.body : new Uint8Array(init.body) } : {}),
          ...(init.signal ? { signal: init.signal } : {}),
        }),
    } as never,
  } as never) as unknown as GcpKmsClient;
}

export async function gcpKek(name: string, env: NodeJS.ProcessEnv, client?: GcpKmsClient): Promise<Kek> {
  if (!NAME.test(name)) throw new UsageError(`--kms gcp:${name}: expected gcp:projects/PROJECT/locations/LOCATION/keyRings/RING/cryptoKeys/KEY`);
  const kms = client ?? (await defaultClient(env));
  const id = `gcp-kms-${createHash('sha256').update(name).digest('hex').slice(0, 16)}`;
  const describe = `Cloud KMS key ${name}`;
  const wrap = async (dataKey: Buffer): Promise<KeyObject> => {
    let out;
    try {
      [out] = await kms.encrypt({ name, plaintext: dataKey, additionalAuthenticatedData: AAD });
    } catch (error) {
      throw new GcpKmsError(name, 'Encrypt', error);
    }
    const ciphertext = bytes(out.ciphertext);
    if (ciphertext.length === 0) throw new GcpKmsError(name, 'Encrypt', new Error('no ciphertext in the answer'));
    return { format: KEY_OBJECT_FORMAT, version: KEY_OBJECT_VERSION, kek: { type: 'gcp-kms', id, kmsKey: name }, wrapped: ciphertext.toString('base64'), createdAt: new Date().toISOString() };
  };
  return {
    type: 'gcp-kms',
    id,
    describe,
    async newDataKey() {
      const dataKey = randomBytes(32);
      return { dataKey, keyObject: await wrap(dataKey) };
    },
    wrap,
    async matches(obj) {
      return obj.kek.type === 'gcp-kms' && obj.kek.id === id;
    },
    async unwrap(obj, location) {
      let out;
      try {
        [out] = await kms.decrypt({ name, ciphertext: Buffer.from(obj.wrapped, 'base64'), additionalAuthenticatedData: AAD });
      } catch (error) {
        // Cloud KMS answers INVALID_ARGUMENT (3) to a ciphertext it cannot decrypt with this key.
        if ((error as { code?: number }).code === 3) throw new WrongKeyError(location, `${describe} does not decrypt its data key (${(error as Error).message})`);
        throw new GcpKmsError(name, 'Decrypt', error);
      }
      const plaintext = bytes(out.plaintext);
      if (plaintext.length !== 32) throw new WrongKeyError(location, `${describe} gave back ${plaintext.length} bytes, not a 32-byte data key`);
      return plaintext;
    },
  };
}
