/** `aerobak prune`: applies a retention policy to a repository (docs/retention.md). */
import { ExitCode, UsageError } from '../errors.js';
import { DEFAULT_PRUNE_GRACE_MS, runPrune, type PruneReport } from '../jobs/prune.js';
import { subtractDuration, type RetentionPolicy } from '../jobs/retention.js';
import { exitCodes, type CliCommand } from './command.js';
import { bool, integer, outputOptions, parseCommandLine, renderHelp, str, type OptionSpec, type ParsedValues } from './options.js';
import { jsonLine, type Io } from './output.js';

const policyOptions: readonly OptionSpec[] = [
  { name: 'keep-last', type: 'string', value: 'N', description: 'keep the N newest backups (restore points)' },
  { name: 'keep-hourly', type: 'string', value: 'N', description: 'keep the newest backup of each of the N newest hours that have one (UTC)' },
  { name: 'keep-daily', type: 'string', value: 'N', description: 'the same per day' },
  { name: 'keep-weekly', type: 'string', value: 'N', description: 'the same per ISO week' },
  { name: 'keep-monthly', type: 'string', value: 'N', description: 'the same per month' },
  { name: 'keep-within', type: 'string', value: 'DURATION', description: 'keep every backup newer than the newest minus DURATION (7d, 2w, 1m15d, 36h)' },
];
const pruneOptions: readonly OptionSpec[] = [
  { name: 'namespace', short: 'n', type: 'string', value: 'NS', description: 'only the backups of namespace NS (each namespace is its own series otherwise)' },
  { name: 'dry-run', type: 'boolean', description: 'print what would be kept and deleted, delete nothing' },
  { name: 'grace', type: 'string', value: 'DURATION', defaultText: '24h', description: 'incomplete backups active more recently than this may still be running: kept' },
];
const specs = [...policyOptions, ...pruneOptions, ...outputOptions];

export function policyFrom(values: ParsedValues): RetentionPolicy {
  const policy: RetentionPolicy = {};
  const n = (name: string) => integer(values, name, { min: 1 });
  const set = <K extends keyof RetentionPolicy>(k: K, v: RetentionPolicy[K] | undefined) => {
    if (v !== undefined) policy[k] = v;
  };
  set('keepLast', n('keep-last'));
  set('keepHourly', n('keep-hourly'));
  set('keepDaily', n('keep-daily'));
  set('keepWeekly', n('keep-weekly'));
  set('keepMonthly', n('keep-monthly'));
  const within = str(values, 'keep-within');
  if (within !== undefined) {
    subtractDuration(new Date(), within);
    policy.keepWithin = within;
  }
  return policy;
}

function graceMs(values: ParsedValues): number {
  const grace = str(values, 'grace');
  if (grace === undefined) return DEFAULT_PRUNE_GRACE_MS;
  const now = new Date();
  return now.getTime() - subtractDuration(now, grace).getTime();
}

export function printPruneReport(io: Io, r: PruneReport): void {
  const lines: string[] = [];
  for (const k of r.kept) lines.push(`keep    ${k.location}  (${k.reasons.join(', ')})`);
  for (const l of r.locked) lines.push(`locked  ${l.location}  (${l.reason}: left alone)`);
  for (const d of r.deleted) lines.push(`${r.dryRun ? 'would delete' : 'deleted'} ${d}`);
  for (const i of r.incompleteRemoved) lines.push(`${r.dryRun ? 'would remove' : 'removed'} incomplete ${i}`);
  for (const i of r.incompleteKept) lines.push(`keep    ${i.location}  (${i.reason})`);
  lines.push(
    `${r.dryRun ? 'dry run: ' : ''}${r.kept.length} kept, ${r.deleted.length} ${r.dryRun ? 'to delete' : 'deleted'}, ${r.locked.length} locked, ` +
      `${r.incompleteRemoved.length} incomplete ${r.dryRun ? 'to remove' : 'removed'}, ${r.incompleteKept.length} incomplete kept`,
  );
  io.stdout.write(`${lines.join('\n')}\n`);
}

export const pruneCommand: CliCommand = {
  name: 'prune',
  summary: 'delete the backups of a repository that a retention policy does not keep',
  help: {
    usage: 'aerobak prune REPO --keep-last N --keep-daily N ... [--namespace NS] [--dry-run]',
    summary: 'Applies a retention policy to the backups of the repository at REPO, as restic does: a backup kept by any rule is kept.',
    details: [
      'Rules count restore points; a kept incremental keeps its whole chain up to the full, so nothing a kept backup needs is deleted. ' +
        'Incomplete backups are removed once they cannot be running (inactive longer than --grace); backups under S3 Object Lock or a GCS retention ' +
        'policy are reported and left alone. Each backup\'s manifest is deleted first, so an interrupted prune never leaves one that looks complete.',
    ],
    sections: [
      { title: 'Policy', options: policyOptions },
      { title: 'Prune', options: pruneOptions },
      { title: 'Output', options: outputOptions },
    ],
    examples: [
      'aerobak prune s3://backups/aerospike --keep-daily 7 --keep-weekly 4 --keep-monthly 12 --dry-run',
      'aerobak prune ./aerobak-backups --keep-last 3 --namespace test',
    ],
    exitCodes: exitCodes('prune failed part way (what was deleted is listed; run it again)', { cluster: false }),
  },
  async run(argv, { io, signal }) {
    const { values, positionals } = parseCommandLine('prune', argv, specs, io.env, 1);
    if (values.help) {
      io.stdout.write(renderHelp(pruneCommand.help));
      return ExitCode.OK;
    }
    const repo = positionals[0];
    if (repo === undefined) throw new UsageError('prune needs the REPO location (see aerobak prune --help)');
    const namespace = str(values, 'namespace');
    const report = await runPrune(
      { repo, policy: policyFrom(values), graceMs: graceMs(values), dryRun: bool(values, 'dry-run'), ...(namespace !== undefined ? { namespace } : {}) },
      { signal },
    );
    if (bool(values, 'json')) jsonLine(io.stdout, 'summary', report);
    else printPruneReport(io, report);
    return ExitCode.OK;
  },
};
