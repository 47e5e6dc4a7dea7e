/** Case 6: aerobak restore of the gzip backup (case 4) into the target namespace, mode replace. */
import { runCase } from '../lib/case-runtime.js';
import { restoreCase } from '../lib/restore-case.js';

runCase(restoreCase);
