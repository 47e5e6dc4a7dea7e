/** aerobak export of namespace.set from the cluster to Parquet in a local directory, default codec (snappy). */
import { runCase } from '../lib/case-runtime.js';
import { exportCase } from '../lib/export-case.js';

runCase((p) => exportCase(p, 'parquet', 'cluster'));
