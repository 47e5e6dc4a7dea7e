import { randomUUID } from 'node:crypto';
import { createStore } from '../../src/storage/index.js';
import { largeObjectMiB } from './data.js';
import { objectStoreConformance } from './suite.js';

objectStoreConformance(
  'memory',
  () => ({ newStore: () => createStore(`mem://conformance/${randomUUID()}`), largeObjectMiB: largeObjectMiB(64) }),
  { hasBuckets: false },
);
