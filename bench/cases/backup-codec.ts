/** bench:compression: aerobak backup with the compression and level given in the parameters. */
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, p.compress ?? 'gzip', p.level));
