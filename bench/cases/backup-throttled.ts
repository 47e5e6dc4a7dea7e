/**
 * Case 8a: aerobak backup (gzip) to a local directory behind a store throttled to
 * p.throttleBytesPerSecond (shared by all uploads), capped to p.partitions so the run
 * takes about AEROBAK_BENCH_THROTTLE_SECONDS. Shows that backpressure holds memory flat
 * while the store is the bottleneck: see rssProfileMB.
 */
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, 'gzip'));
