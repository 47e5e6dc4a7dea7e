/** aerobak backup of namespace.set to a local directory, zstd at the product's default level (1). */
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, 'zstd'));
