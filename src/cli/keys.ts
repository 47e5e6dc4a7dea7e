/**
 * The key options of the commands that read or write encrypted backups: one key source
 * (`--key-file`, `--key-env`, `--passphrase-file`, `--kms`), turned into a Kek. Key
 * material is read here and never printed; errors name the file or variable, not the key.
 */
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';
import { parseKeyEnv, parseKeyFile, passphraseKek, rawKek, type Kek } from '../crypto/keys.js';
import { str, type OptionSpec, type ParsedValues } from './options.js';

/** The key sources, with `prefix` before each name (`new-` for rekey's new key). */
export function keySourceOptions(prefix = '', what = 'the backup\'s key'): OptionSpec[] {
  return [
    { name: `${prefix}key-file`, type: 'string', value: 'PATH', description: `${what}: a file of 32 bytes (raw, 64 hex digits, or base64)` },
    { name: `${prefix}key-env`, type: 'string', value: 'VAR', description: `${what}: an environment variable holding base64 of 32 bytes` },
    { name: `${prefix}passphrase-file`, type: 'string', value: 'PATH', description: `${what}: a passphrase (first line of the file), stretched with scrypt` },
    { name: `${prefix}kms`, type: 'string', value: 'aws:ARN|gcp:NAME', description: `${what}: a KMS key (AWS KMS key ARN or alias, or a Google Cloud KMS cryptoKey name)` },
  ];
}

async function readSecretFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new UsageError(`${what} ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
}

/** The KEK the options name, or undefined when none is given; UsageError for two at once or a bad key. */
export async function kekFrom(values: ParsedValues, env: NodeJS.ProcessEnv, prefix = ''): Promise<Kek | undefined> {
  const given = ['key-file', 'key-env', 'passphrase-file', 'kms'].filter((n) => values[`${prefix}${n}`] !== undefined);
  if (given.length > 1) throw new UsageError(`give one key source, not ${given.map((n) => `--${prefix}${n}`).join(' and ')}`);
  const keyFile = str(values, `${prefix}key-file`);
  if (keyFile !== undefined) return rawKek(parseKeyFile(await readSecretFile(keyFile, 'key file'), keyFile), `key file ${keyFile}`);
  const keyEnv = str(values, `${prefix}key-env`);
  if (keyEnv !== undefined) return rawKek(parseKeyEnv(env[keyEnv], keyEnv), `the key in $${keyEnv}`);
  const passFile = str(values, `${prefix}passphrase-file`);
  if (passFile !== undefined) {
    const text = (await readSecretFile(passFile, 'passphrase file')).toString('utf8');
    const line = text.split(/\r?\n/, 1)[0] ?? '';
    return passphraseKek(Buffer.from(line, 'utf8'), `the passphrase in ${passFile}`);
  }
  const kms = str(values, `${prefix}kms`);
  if (kms !== undefined) return (await import('../crypto/kms.js')).kmsKek(kms, env);
  return undefined;
}
