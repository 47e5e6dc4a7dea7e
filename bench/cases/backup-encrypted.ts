/** aerobak backup of namespace.set to a local directory, gzip level 6 and encrypted (AES-256-GCM segments, a random key): the cost of --encrypt. */
import { randomBytes } from 'node:crypto';
import { rawKek } from '../../src/crypto/keys.js';
import { runCase } from '../lib/case-runtime.js';
import { backupCase } from '../lib/backup-case.js';

runCase((p) => backupCase(p, 'gzip', undefined, rawKek(randomBytes(32), 'bench key')));
