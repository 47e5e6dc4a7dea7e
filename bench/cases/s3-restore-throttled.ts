/** S3 case (s3-common.ts): the bin's restore through the throttled endpoint, a whole process. */
import { runCase } from '../lib/case-runtime.js';
import { s3Case } from './s3-common.js';

runCase((p) => s3Case('restore', p));
