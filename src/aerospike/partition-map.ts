/**
 * Which node is master of each partition, per namespace.
 *
 * Built from every node's `replicas` info value:
 *
 *   <ns>:<regime>,<replica count>,<base64 bitmap, replica 0>,<bitmap, replica 1>...;<ns>:...
 *
 * (the regime is absent on old servers). Each bitmap has one bit per partition, most
 * significant bit first: partition p is bit (0x80 >> (p & 7)) of byte p >> 3. Replica 0
 * is the master. When two nodes both claim a partition (the map is in transition), the
 * higher regime wins, as in the C client.
 *
 * A PartitionMap is an immutable snapshot; the cluster swaps in a new one after a
 * node's partition generation changes.
 */
import { PARTITION_COUNT } from './types.js';
import { ProtocolError } from './wire/proto.js';

const BITMAP_BYTES = PARTITION_COUNT / 8;

/** One node's claim on one namespace: its regime and the partitions it is master of. */
export interface MasterClaim {
  regime: number;
  /** PARTITION_COUNT bits, most significant bit first. */
  masters: Buffer;
}

export function parseReplicas(value: string): Map<string, MasterClaim> {
  const out = new Map<string, MasterClaim>();
  for (const entry of value.split(';')) {
    if (entry.length === 0) continue;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ProtocolError(`bad replicas entry "${entry.slice(0, 60)}"`);
    const ns = entry.slice(0, colon);
    const parts = entry.slice(colon + 1).split(',');
    // With a regime: regime, count, count bitmaps. Without: count, count bitmaps.
    const withRegime = parts.length === 2 + Number(parts[1]);
    const regime = withRegime ? Number(parts[0]) : 0;
    const count = Number(withRegime ? parts[1] : parts[0]);
    const bitmaps = parts.slice(withRegime ? 2 : 1);
    if (!Number.isInteger(regime) || !Number.isInteger(count) || count < 1 || bitmaps.length !== count) {
      throw new ProtocolError(`bad replicas entry for namespace "${ns}"`);
    }
    const masters = Buffer.from(bitmaps[0]!, 'base64');
    if (masters.length !== BITMAP_BYTES) {
      throw new ProtocolError(`replicas bitmap of namespace "${ns}" has ${masters.length} bytes, expected ${BITMAP_BYTES}`);
    }
    out.set(ns, { regime, masters });
  }
  return out;
}

export function hasPartition(bitmap: Buffer, partitionId: number): boolean {
  return (bitmap[partitionId >> 3]! & (0x80 >> (partitionId & 7))) !== 0;
}

export class PartitionMap<N> {
  private constructor(private readonly owners: ReadonlyMap<string, ReadonlyArray<N | undefined>>) {}

  static readonly empty = new PartitionMap<never>(new Map());

  /** Merges the claims of every node (node → namespace → claim). */
  static build<N>(claims: Iterable<readonly [N, ReadonlyMap<string, MasterClaim>]>): PartitionMap<N> {
    const tables = new Map<string, { owners: Array<N | undefined>; regimes: Uint32Array }>();
    for (const [node, byNamespace] of claims) {
      for (const [ns, claim] of byNamespace) {
        let t = tables.get(ns);
        if (!t) {
          t = { owners: new Array<N | undefined>(PARTITION_COUNT).fill(undefined), regimes: new Uint32Array(PARTITION_COUNT) };
          tables.set(ns, t);
        }
        for (let p = 0; p < PARTITION_COUNT; p++) {
          if (hasPartition(claim.masters, p) && (t.owners[p] === undefined || claim.regime >= t.regimes[p]!)) {
            t.owners[p] = node;
            t.regimes[p] = claim.regime;
          }
        }
      }
    }
    return new PartitionMap(new Map([...tables].map(([ns, t]) => [ns, t.owners])));
  }

  ownerOf(namespace: string, partitionId: number): N | undefined {
    return this.owners.get(namespace)?.[partitionId];
  }

  namespaces(): string[] {
    return [...this.owners.keys()];
  }
}
