/** Case 3: aerobak backup of namespace.set to a local directory, `--compress none`. */
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, 'none'));
