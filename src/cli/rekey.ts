/** `aerobak rekey`: wraps encrypted backups' data keys for a new key (key rotation). */
import { ExitCode, UsageError } from '../errors.js';
import { runRekey } from '../jobs/rekey.js';
import { exitCodes, type CliCommand } from './command.js';
import { kekFrom, keySourceOptions } from './keys.js';
import { bool, outputOptions, parseCommandLine, renderHelp, type OptionSpec } from './options.js';
import { jsonLine } from './output.js';

const oldKey = keySourceOptions('', 'the current key');
const newKey = keySourceOptions('new-', 'the new key');
const rekeyOptions: readonly OptionSpec[] = [{ name: 'remove-old', type: 'boolean', description: 'remove the current key\'s key object once the new one is stored and opens the backup' }];
const specs = [...oldKey, ...newKey, ...rekeyOptions, ...outputOptions];

export const rekeyCommand: CliCommand = {
  name: 'rekey',
  summary: 'rotate the key of encrypted backups (the data files are not touched)',
  help: {
    usage: 'aerobak rekey LOCATION (--key-file|--key-env|--passphrase-file|--kms ...) (--new-key-file|--new-key-env|--new-passphrase-file|--new-kms ...) [--remove-old]',
    summary: 'Wraps the data key of the encrypted backup at LOCATION (or of every encrypted backup in the repository at LOCATION) for a new key, as a new key object beside the old one.',
    details: [
      'The data files and the manifest are not rewritten (an incremental names its parent by its manifest\'s SHA-256). Until --remove-old, both keys open the backup; ' +
        'after it, only the new one does. Rekey refuses a backup whose manifest does not authenticate with the current key.',
    ],
    sections: [
      { title: 'Current key', options: oldKey },
      { title: 'New key', options: newKey },
      { title: 'Rekey', options: rekeyOptions },
      { title: 'Output', options: outputOptions },
    ],
    examples: [
      'aerobak rekey s3://backups/aerospike --key-file old.key --new-kms aws:alias/aerobak-2027 --remove-old',
      'aerobak rekey ./users-20261201T020000Z --passphrase-file old.pass --new-key-file new.key',
    ],
    exitCodes: exitCodes('rekey failed: the current key does not open a backup, or its manifest does not authenticate', { cluster: false }),
  },
  async run(argv, { io }) {
    const { values, positionals } = parseCommandLine('rekey', argv, specs, io.env, 1);
    if (values.help) {
      io.stdout.write(renderHelp(rekeyCommand.help));
      return ExitCode.OK;
    }
    const location = positionals[0];
    if (location === undefined) throw new UsageError('rekey needs the LOCATION of a backup or repository (see aerobak rekey --help)');
    const key = await kekFrom(values, io.env);
    const fresh = await kekFrom(values, io.env, 'new-');
    if (!key) throw new UsageError('rekey needs the current key: --key-file, --key-env, --passphrase-file or --kms');
    if (!fresh) throw new UsageError('rekey needs the new key: --new-key-file, --new-key-env, --new-passphrase-file or --new-kms');
    const summary = await runRekey({ location, key, newKey: fresh, removeOld: bool(values, 'remove-old') });
    if (bool(values, 'json')) jsonLine(io.stdout, 'summary', summary);
    else {
      const lines = summary.backups.map((b) => `rekeyed ${b.location}: added ${b.added}${b.removed ? `, removed ${b.removed}` : ''}`);
      if (summary.unencrypted > 0) lines.push(`${summary.unencrypted} unencrypted backup(s) left alone`);
      io.stdout.write(`${lines.join('\n')}\n`);
    }
    return ExitCode.OK;
  },
};
