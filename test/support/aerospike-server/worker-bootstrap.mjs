// Worker-thread entry for the test server: worker threads do not inherit the test
// runner's TypeScript loader, so register tsx, then load the TypeScript worker module.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
