/**
 * Case 8b: aerobak restore of the throttled backup (case 8a) into the target namespace,
 * mode replace, the backup read through a store throttled to p.throttleBytesPerSecond.
 * Shows that backpressure holds memory flat while the source is the bottleneck.
 */
import { runCase } from '../lib/case-runtime.js';
import { restoreCase } from '../lib/restore-case.js';

runCase(restoreCase);
