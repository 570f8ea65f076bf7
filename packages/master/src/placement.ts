import { DfsError, ErrorCode } from '@dfs/proto';

/*
 * Replica placement (GFS §4.2, HDFS BlockPlacementPolicyDefault, simplified): pure, no I/O,
 * randomness injected. Rules, in order:
 *   1. only eligible nodes: not excluded, not already holding the chunk, free >= minFreeBytes;
 *   2. distinct nodes; spread over racks: each pick comes from the racks used least so far
 *      (racks of existing holders count);
 *   3. within those racks, a random pick weighted by free bytes (favours empty nodes without
 *      sending every new chunk to the single emptiest one), discounted by in-flight load. The
 *      weight is capped at twice the median node's free space, so a new empty node is filled
 *      gradually — at most about twice a typical node's share — rather than swamped (GFS §4.2
 *      limits "recent creations" on a chunkserver for the same reason).
 * Fewer than `count` nodes is acceptable down to `minCount`; below that NOT_ENOUGH_CHUNKSERVERS.
 */

export interface PlacementNode {
  id: string;
  rack: string;
  freeBytes: number;
  /** Writes and copies in flight on the node: its weight is divided by (1 + load). */
  load?: number;
}

export interface PlacementRequest<N extends PlacementNode> {
  /** Live nodes. */
  nodes: readonly N[];
  /** How many new replicas are wanted. */
  count: number;
  /** Fewest acceptable (≤ count). */
  minCount: number;
  /** Nodes the caller must not use (failed for this client, or already targets). */
  exclude?: ReadonlySet<string>;
  /** Nodes that already hold the chunk (re-replication): never chosen, their racks count as used. */
  holders?: readonly PlacementNode[];
  /** Nodes with less free space than this are skipped. */
  minFreeBytes?: number;
  /** Uniform in [0, 1). */
  random?: () => number;
}

export function choosePlacement<N extends PlacementNode>(req: PlacementRequest<N>): N[] {
  const random = req.random ?? Math.random;
  const holderIds = new Set((req.holders ?? []).map((h) => h.id));
  const eligible = req.nodes
    .filter((n) => !req.exclude?.has(n.id) && !holderIds.has(n.id) && n.freeBytes >= (req.minFreeBytes ?? 0))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // a fixed order: results depend only on `random`
  if (eligible.length < req.minCount) {
    throw new DfsError(
      ErrorCode.NOT_ENOUGH_CHUNKSERVERS,
      `need ${req.minCount} chunkservers with space, have ${eligible.length} eligible of ${req.nodes.length} live`,
    );
  }
  const perRack = new Map<string, number>();
  for (const h of req.holders ?? []) perRack.set(h.rack, (perRack.get(h.rack) ?? 0) + 1);
  const cap = 2 * median(eligible.map((n) => Math.max(n.freeBytes, 1)));
  const chosen: N[] = [];
  let pool = eligible;
  const n = Math.min(req.count, eligible.length);
  while (chosen.length < n) {
    const least = Math.min(...pool.map((c) => perRack.get(c.rack) ?? 0));
    const tier = pool.filter((c) => (perRack.get(c.rack) ?? 0) === least);
    const pick = weightedPick(tier, random, cap);
    chosen.push(pick);
    perRack.set(pick.rack, (perRack.get(pick.rack) ?? 0) + 1);
    pool = pool.filter((c) => c !== pick);
  }
  return chosen;
}

function weight(n: PlacementNode, cap: number): number {
  return Math.min(Math.max(n.freeBytes, 1), cap) / (1 + (n.load ?? 0));
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

function weightedPick<N extends PlacementNode>(tier: N[], random: () => number, cap: number): N {
  const total = tier.reduce((s, n) => s + weight(n, cap), 0);
  let r = random() * total;
  for (const n of tier) {
    r -= weight(n, cap);
    if (r < 0) return n;
  }
  return tier[tier.length - 1]!;
}

/** Which replica to drop when a chunk has too many: keep racks spread, then free the fullest node. */
export function chooseExcess<N extends PlacementNode>(holders: readonly N[]): N | undefined {
  if (holders.length === 0) return undefined;
  const perRack = new Map<string, number>();
  for (const h of holders) perRack.set(h.rack, (perRack.get(h.rack) ?? 0) + 1);
  const most = Math.max(...perRack.values());
  return [...holders]
    .filter((h) => perRack.get(h.rack) === most)
    .sort((a, b) => a.freeBytes - b.freeBytes || (a.id < b.id ? -1 : 1))[0];
}
