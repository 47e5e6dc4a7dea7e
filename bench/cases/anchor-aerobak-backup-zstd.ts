/** Anchor case (anchor-common.ts): aerobak, backup-zstd, as a whole process at its best --parallel. */
import { runCase } from '../lib/case-runtime.js';
import { anchorCase } from './anchor-common.js';

runCase((p) => anchorCase('aerobak', 'backup-zstd', p));
