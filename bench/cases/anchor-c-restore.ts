/** Anchor case (anchor-common.ts): Aerospike's C asbackup/asrestore, restore, as a whole process at its best --parallel. */
import { runCase } from '../lib/case-runtime.js';
import { anchorCase } from './anchor-common.js';

runCase((p) => anchorCase('c', 'restore', p));
