/** bench:compression: aerobak restore of the backup-codec output given as input. */
import { runCase } from '../lib/case-runtime.js';
import { restoreCase } from '../lib/restore-case.js';

runCase(restoreCase);
