/** Case 4: aerobak backup of namespace.set to a local directory, gzip at the default level (zlib's 6). */
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, 'gzip'));
