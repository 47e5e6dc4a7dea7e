/** aerobak restore of the zstd backup (backup-zstd) into the target namespace, mode replace. */
import { runCase } from '../lib/case-runtime.js';
import { restoreCase } from '../lib/restore-case.js';

runCase(restoreCase);
