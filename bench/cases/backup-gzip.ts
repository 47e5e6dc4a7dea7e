/** Case 4: aerobak backup of namespace.set to a local directory, gzip at level 6 (zlib default). */
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, 'gzip'));
