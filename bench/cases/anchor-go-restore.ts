/** Anchor case (anchor-common.ts): the Go asbackup/asrestore (aerospike-backup-cli), restore, as a whole process at its best --parallel. */
import { runCase } from '../lib/case-runtime.js';
import { anchorCase } from './anchor-common.js';

runCase((p) => anchorCase('go', 'restore', p));
