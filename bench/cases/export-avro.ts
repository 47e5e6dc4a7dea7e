/** aerobak export of namespace.set from the cluster to Avro in a local directory, default codec (deflate). */
import { runCase } from '../lib/case-runtime.js';
import { exportCase } from '../lib/export-case.js';

runCase((p) => exportCase(p, 'avro', 'cluster'));
