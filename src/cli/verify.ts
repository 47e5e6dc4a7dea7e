/** `aerobak verify`: checks every byte of a backup against its manifest, without a cluster. */
import { ExitCode, UsageError } from '../errors.js';
import { openStore } from '../storage/index.js';
import { verifyBackup, type VerifyReport } from '../jobs/verify.js';
import { exitCodes, type CliCommand } from './command.js';
import { kekFrom, keySourceOptions } from './keys.js';
import { bool, outputOptions, parseCommandLine, renderHelp } from './options.js';
import { ProgressOutput, formatBytes, formatCount, jsonLine, type Io } from './output.js';

const keyOptions = keySourceOptions('', 'the key of an encrypted backup (without it only sizes and SHA-256s of the stored bytes are checked)');
const specs = [...keyOptions, ...outputOptions];

export function printVerifyReport(io: Io, r: VerifyReport): void {
  if (r.ok && r.contentUnchecked) {
    io.stdout.write(
      `backup stored bytes OK: ${r.location}${r.links > 1 ? ` (a chain of ${r.links} backups)` : ''}: ${r.filesChecked} data file(s), ${formatBytes(r.bytes)}: sizes and SHA-256s match the manifest\n` +
        'the backup is encrypted and no key was given: its content (records, counts, authentication) was NOT checked; give its key to check it\n',
    );
    return;
  }
  if (r.ok) {
    io.stdout.write(
      `backup OK: ${r.location}${r.links > 1 ? ` (a chain of ${r.links} backups)` : ''}: ${r.filesChecked} data file(s), ${formatCount(r.records)} records, ${formatBytes(r.bytes)} verified` +
        `${r.manifest?.metadata ? `, ${r.manifest.metadata.indexes} index(es) and ${r.manifest.metadata.udfs} UDF module(s)` : ''}\n`,
    );
    return;
  }
  const lines = [`backup FAILED verification: ${r.location}: ${r.problems.length} problem(s)`];
  for (const p of r.problems) lines.push(`  ${p.link ? `${p.link}: ` : ''}${p.file}: ${p.message} [${p.code}]`);
  if (r.manifest) lines.push(`  (${r.filesChecked} of ${r.manifest.files.length} data file(s) read, ${formatCount(r.records)} records decoded)`);
  io.stdout.write(lines.join('\n') + '\n');
}

export const verifyCommand: CliCommand = {
  name: 'verify',
  summary: 'check a backup: every file, size, SHA-256 and record count (no cluster needed)',
  help: {
    usage: 'aerobak verify LOCATION [--json]',
    summary: 'Reads the manifest and every data file of the backup at LOCATION to the end and reports each problem with the file it is in.',
    details: ['Exit code 0 means the backup is complete and every file is exactly as the manifest lists it.'],
    sections: [
      { title: 'Encrypted backups', options: keyOptions },
      { title: 'Output', options: outputOptions },
    ],
    examples: ['aerobak verify ./aerobak-backups/test-20260124T101500Z', 'aerobak verify s3://backups/aerospike/users-daily --json'],
    exitCodes: exitCodes('verification failed: no manifest, a file missing, truncated, corrupt or with the wrong record count', { cluster: false }),
  },
  async run(argv, { io, signal }) {
    const { values, positionals } = parseCommandLine('verify', argv, specs, io.env, 1);
    if (values.help) {
      io.stdout.write(renderHelp(verifyCommand.help));
      return ExitCode.OK;
    }
    const location = positionals[0];
    if (location === undefined) throw new UsageError('verify needs the LOCATION of a backup (see aerobak verify --help)');
    const json = bool(values, 'json');
    const output = new ProgressOutput(io, json);
    const store = await openStore(location, 'read');
    const key = await kekFrom(values, io.env);
    const report = await verifyBackup({
      store,
      ...(key ? { key } : {}),
      prefix: '',
      location,
      signal,
      onProgress: (p) => {
        if (json) jsonLine(io.stdout, 'progress', { phase: 'verify', ...p });
        else output.show(`verify: ${p.filesDone}/${p.filesTotal} files, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytesTotal)}, ${formatCount(p.records)} records`);
      },
    }).finally(() => output.clear());
    if (json) {
      const { manifest, ...rest } = report;
      jsonLine(io.stdout, 'summary', { ...rest, ...(manifest ? { namespace: manifest.namespace, expectedRecords: manifest.records } : {}) });
    } else {
      printVerifyReport(io, report);
    }
    return report.ok ? ExitCode.OK : ExitCode.FAILED;
  },
};
