/**
 * --kms gcp: through @google-cloud/kms's REST transport against a stand-in that speaks
 * the Cloud KMS REST API (encrypt, decrypt: JSON, base64 bytes, AAD), as there is no
 * official Cloud KMS emulator. It checks aerobak's use of the API (one Encrypt per backup
 * key, one Decrypt to open it, the AAD, a wrong key refused), not Google's server.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kmsKek } from '../../src/crypto/kms.js';

const calls: Array<{ method: string; name: string; aad: string }> = [];
let server: Server;
let env: NodeJS.ProcessEnv;

/** Each key name its own AES key; a ciphertext is nonce | ciphertext | tag, the AAD authenticated. */
const keyOf = (name: string) => createHash('sha256').update(`stand-in ${name}`).digest();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const m = /^\/v1\/(projects\/[^:]+):(encrypt|decrypt)$/.exec(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname));
      const reply = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (!m || req.method !== 'POST') return reply(404, { error: { code: 404, status: 'NOT_FOUND', message: `no route ${req.url}` } });
      const [, name, method] = m as unknown as [string, string, 'encrypt' | 'decrypt'];
      const json = JSON.parse(body) as { plaintext?: string; ciphertext?: string; additionalAuthenticatedData?: string };
      const aad = Buffer.from(json.additionalAuthenticatedData ?? '', 'base64');
      calls.push({ method, name, aad: aad.toString() });
      if (method === 'encrypt') {
        const nonce = randomBytes(12);
        const c = createCipheriv('aes-256-gcm', keyOf(name), nonce).setAAD(aad);
        const out = Buffer.concat([nonce, c.update(Buffer.from(json.plaintext!, 'base64')), c.final()]);
        return reply(200, { name, ciphertext: Buffer.concat([out, c.getAuthTag()]).toString('base64') });
      }
      const blob = Buffer.from(json.ciphertext!, 'base64');
      try {
        const d = createDecipheriv('aes-256-gcm', keyOf(name), blob.subarray(0, 12)).setAAD(aad);
        d.setAuthTag(blob.subarray(blob.length - 16));
        return reply(200, { plaintext: Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]).toString('base64') });
      } catch {
        return reply(400, { error: { code: 400, status: 'INVALID_ARGUMENT', message: 'Decryption failed: the ciphertext is invalid.' } });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  env = { AEROBAK_GCP_KMS_ENDPOINT: `127.0.0.1:${(server.address() as AddressInfo).port}` };
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

const NAME = 'projects/p/locations/global/keyRings/aerobak/cryptoKeys/backups';

describe('Cloud KMS key-encryption keys', () => {
  it('makes a data key locally and wraps it with one Encrypt; one Decrypt gives it back', async () => {
    calls.length = 0;
    const kek = await kmsKek(`gcp:${NAME}`, env);
    const { dataKey, keyObject } = await kek.newDataKey();
    expect(calls).toEqual([{ method: 'encrypt', name: NAME, aad: 'aerobak data key v1' }]);
    expect(keyObject.kek).toMatchObject({ type: 'gcp-kms', kmsKey: NAME });
    expect(JSON.stringify(keyObject)).not.toContain(dataKey.toString('base64'));
    expect(await kek.matches(keyObject)).toBe(true);
    expect((await kek.unwrap(keyObject, 'loc')).equals(dataKey)).toBe(true);
    expect(calls.map((c) => c.method)).toEqual(['encrypt', 'decrypt']);
  });

  it('another key is not matched, and cannot decrypt: WRONG_KEY', async () => {
    const kek = await kmsKek(`gcp:${NAME}`, env);
    const { keyObject } = await kek.newDataKey();
    const other = await kmsKek(`gcp:${NAME.replace('backups', 'other')}`, env);
    expect(await other.matches(keyObject)).toBe(false);
    await expect(other.unwrap(keyObject, 'the backup at x')).rejects.toMatchObject({ code: 'WRONG_KEY' });
  });

  it('refuses a malformed key name before any call', async () => {
    await expect(kmsKek('gcp:projects/p/keyRings/r', env)).rejects.toMatchObject({ kind: 'usage' });
  });
});
