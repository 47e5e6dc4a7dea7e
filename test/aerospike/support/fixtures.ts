/**
 * Per-test resources for tests that run the data plane against fake nodes: whatever a
 * test starts through these is closed after it, in reverse order, pass or fail.
 */
import { afterEach } from 'vitest';
import { Cluster, type ClusterOptions } from '../../../src/aerospike/cluster.js';
import { startFakeNode, type FakeNode, type FakeNodeOptions } from './fake-node.js';

export function fakeNodeFixture() {
  const cleanup: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });
  return {
    /** Closes `fn`'s resource after the current test. */
    defer(fn: () => Promise<void>): void {
      cleanup.push(fn);
    },
    async fake(opts: FakeNodeOptions): Promise<FakeNode> {
      const node = await startFakeNode(opts);
      cleanup.push(() => node.close());
      return node;
    },
    async connect(hosts: string, extra: Partial<ClusterOptions> = {}): Promise<Cluster> {
      const cluster = await Cluster.connect({ hosts, ...extra });
      cleanup.push(() => cluster.close());
      return cluster;
    },
  };
}
