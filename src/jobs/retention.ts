/**
 * Retention policies as restic applies them (docs/retention.md): each rule picks restore
 * points, and a point kept by any rule is kept.
 *
 *   keep-last N      the N newest points
 *   keep-hourly N    for the N newest hours that have points, the newest point of each hour
 *   keep-daily N     the same per day; keep-weekly per ISO week; keep-monthly per month
 *   keep-within D    every point newer than the newest point minus D (calendar arithmetic)
 *
 * Buckets are in UTC. A restore point is a complete backup, dated when it finished (the
 * point in time restoring it gives). Which backups a kept point needs (its chain) is the
 * caller's business (prune.ts).
 */
import { UsageError } from '../errors.js';

export interface RetentionPolicy {
  keepLast?: number;
  keepHourly?: number;
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  /** A duration such as "7d", "2w", "1m15d", "36h" (y years, m months, w weeks, d days, h hours). */
  keepWithin?: string;
}

export interface RestorePoint {
  id: string;
  at: Date;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** ISO 8601 week of a UTC date: "2026-W48". */
export function isoWeek(d: Date): string {
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const day = t.getUTCDay() || 7;
  t.setUTCDate(t.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(t.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((t.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${t.getUTCFullYear()}-W${pad(week)}`;
}

const BUCKETS: ReadonlyArray<{ rule: 'keepHourly' | 'keepDaily' | 'keepWeekly' | 'keepMonthly'; name: string; key: (d: Date) => string }> = [
  { rule: 'keepHourly', name: 'hourly', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}` },
  { rule: 'keepDaily', name: 'daily', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` },
  { rule: 'keepWeekly', name: 'weekly', key: isoWeek },
  { rule: 'keepMonthly', name: 'monthly', key: (d) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}` },
];

/** `at` minus a duration like "1y2m3w4d5h"; throws UsageError for anything else. */
export function subtractDuration(at: Date, duration: string): Date {
  const m = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(duration.trim());
  if (!m || duration.trim() === '') throw new UsageError(`--keep-within ${duration}: expected a duration such as 7d, 2w, 1m15d or 36h (y, m = months, w, d, h)`);
  const [y, mo, w, d, h] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number];
  const out = new Date(at.getTime());
  out.setUTCFullYear(out.getUTCFullYear() - y, out.getUTCMonth() - mo, out.getUTCDate() - 7 * w - d);
  out.setUTCHours(out.getUTCHours() - h);
  return out;
}

/** Whether the policy keeps anything at all (an empty policy would delete everything: refused). */
export function policyIsEmpty(p: RetentionPolicy): boolean {
  return !p.keepLast && !p.keepHourly && !p.keepDaily && !p.keepWeekly && !p.keepMonthly && p.keepWithin === undefined;
}

/** The points the policy keeps, each with the rules that keep it ("last 1/3", "daily 2026-12-01", ...). */
export function applyPolicy(points: readonly RestorePoint[], policy: RetentionPolicy): Map<string, string[]> {
  const kept = new Map<string, string[]>();
  const keep = (id: string, why: string) => kept.set(id, [...(kept.get(id) ?? []), why]);
  const newestFirst = [...points].sort((a, b) => b.at.getTime() - a.at.getTime() || b.id.localeCompare(a.id));
  newestFirst.slice(0, policy.keepLast ?? 0).forEach((p, i) => keep(p.id, `last ${i + 1}/${policy.keepLast}`));
  for (const bucket of BUCKETS) {
    const n = policy[bucket.rule] ?? 0;
    let count = 0;
    let previous: string | undefined;
    for (const p of newestFirst) {
      if (count >= n) break;
      const key = bucket.key(p.at);
      if (key === previous) continue;
      previous = key;
      count++;
      keep(p.id, `${bucket.name} ${key}`);
    }
  }
  if (policy.keepWithin !== undefined && newestFirst.length > 0) {
    const since = subtractDuration(newestFirst[0]!.at, policy.keepWithin);
    for (const p of newestFirst) if (p.at.getTime() >= since.getTime()) keep(p.id, `within ${policy.keepWithin}`);
  }
  return kept;
}
