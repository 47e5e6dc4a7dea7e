/**
 * The body of POST /v1/restores, checked and turned into RestoreOptions:
 *
 *   { "routine": "users-nightly",            (or "repository": "offsite")
 *     "backup": "users-20261201T020000Z",     one of: backup (a prefix in the repository),
 *     "location": "s3://.../users-2026...",           location (inside a configured repository),
 *     "at": "2026-11-30T02:00:00Z",                   at (point in time: newest chain point before it)
 *     "namespace": "users_dr",                the target namespace (required)
 *     "sourceNamespace": "users",             default: the routine's namespace
 *     "cluster": "dr",                        default: the routine's cluster, or the only one
 *     "sets": ["profiles"], "mode": "generation-greater", "applyDeletes": false }
 *
 * Restores read only from configured repositories (a location elsewhere is refused), and
 * write only to configured clusters: the API cannot be pointed at arbitrary storage or hosts.
 */
import type { WritePolicy } from '../aerospike/batch-writer.js';
import { joinLocation } from '../catalog/repository.js';
import type { RestoreOptions } from '../jobs/restore.js';
import type { ServiceConfig } from './config.js';

export class RestoreRequestError extends Error {}

const MODES: readonly WritePolicy[] = ['generation-greater', 'create-only', 'replace', 'ignore-generation'];
const KEYS = ['routine', 'repository', 'backup', 'location', 'at', 'namespace', 'sourceNamespace', 'cluster', 'sets', 'mode', 'applyDeletes'];
const NAME = /^[A-Za-z0-9_.-]{1,63}$/;

function text(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.trim() === '') throw new RestoreRequestError(`"${key}" must be a non-empty string`);
  return v.trim();
}

export interface RestoreRequest {
  repository: string;
  routine?: string;
  options: RestoreOptions;
}

export function restoreRequest(config: ServiceConfig, body: Record<string, unknown>): RestoreRequest {
  const unknown = Object.keys(body).find((k) => !KEYS.includes(k));
  if (unknown !== undefined) throw new RestoreRequestError(`unknown field "${unknown}"; the fields are: ${KEYS.join(', ')}`);
  const routineName = text(body, 'routine');
  const routine = routineName === undefined ? undefined : config.routines.get(routineName);
  if (routineName !== undefined && !routine) throw new RestoreRequestError(`no routine is named "${routineName}"`);
  const repoName = text(body, 'repository') ?? routine?.repository;
  if (repoName === undefined) throw new RestoreRequestError('give "routine" or "repository"');
  const repo = config.repositories.get(repoName);
  if (!repo) throw new RestoreRequestError(`no repository is named "${repoName}"`);

  const backup = text(body, 'backup');
  const location = text(body, 'location');
  const atText = text(body, 'at');
  const given = [backup, location, atText].filter((v) => v !== undefined).length;
  if (given !== 1) throw new RestoreRequestError('give exactly one of "backup" (a backup in the repository), "location" or "at" (a point in time)');
  let from: string;
  let at: Date | undefined;
  if (backup !== undefined) {
    if (backup.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new RestoreRequestError(`"backup" ${JSON.stringify(backup)} is not a backup's path in the repository`);
    from = joinLocation(repo.location, backup);
  } else if (location !== undefined) {
    const root = repo.location.replace(/\/+$/, '');
    if (!location.startsWith(`${root}/`) || location.split('/').includes('..')) throw new RestoreRequestError(`"location" must be a backup inside repository ${repo.name} (${root}/...)`);
    from = location;
  } else {
    at = new Date(atText!);
    if (!/^\d{4}-\d{2}-\d{2}T/.test(atText!) || Number.isNaN(at.getTime())) throw new RestoreRequestError(`"at" ${JSON.stringify(atText)} is not an ISO 8601 time (for example 2026-11-30T02:00:00Z)`);
    from = repo.location;
  }

  const target = text(body, 'namespace');
  if (target === undefined || !NAME.test(target)) throw new RestoreRequestError('"namespace" (the namespace to restore into) is required');
  const source = text(body, 'sourceNamespace') ?? routine?.namespace;
  const clusterName = text(body, 'cluster') ?? routine?.cluster ?? (config.clusters.size === 1 ? [...config.clusters.keys()][0] : undefined);
  if (clusterName === undefined) throw new RestoreRequestError(`give "cluster": one of ${[...config.clusters.keys()].join(', ')}`);
  const cluster = config.clusters.get(clusterName);
  if (!cluster) throw new RestoreRequestError(`no cluster is named "${clusterName}"`);

  if (source === undefined || !NAME.test(source)) throw new RestoreRequestError('give "sourceNamespace" (the namespace the backup holds), or "routine"');
  const options: RestoreOptions = { cluster: cluster.options, from, namespaceMap: new Map([[source, target]]) };
  if (at) options.at = at;
  const sets = body.sets;
  if (sets !== undefined) {
    if (!Array.isArray(sets) || sets.some((s) => typeof s !== 'string' || s === '')) throw new RestoreRequestError('"sets" must be a list of set names');
    if (sets.length > 0) options.sets = sets as string[];
  }
  const mode = text(body, 'mode');
  if (mode !== undefined) {
    if (!(MODES as readonly string[]).includes(mode)) throw new RestoreRequestError(`"mode" must be one of ${MODES.join(', ')}`);
    options.mode = mode as WritePolicy;
  }
  if (body.applyDeletes !== undefined) {
    if (typeof body.applyDeletes !== 'boolean') throw new RestoreRequestError('"applyDeletes" must be true or false');
    if (body.applyDeletes) options.applyDeletes = true;
  }
  if (repo.key) options.key = repo.key;
  return { repository: repo.name, ...(routine ? { routine: routine.name } : {}), options };
}
