/**
 * Not a measured case: the RSS of a case process that has loaded everything the cases
 * load (tsx, the jobs, the official client) and done nothing, for reference.
 */
import '../../src/jobs/backup.js';
import '../../src/jobs/restore.js';
import 'aerospike';
import { Meter, runCase } from '../lib/case-runtime.js';

runCase(async () => new Meter().stop({ records: 0, bytes: 0, bytesWhat: 'n/a' }));
