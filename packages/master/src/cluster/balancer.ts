import type { ChunkserverNode, ChunkserverRegistry } from './registry.js';
import type { ChunkLookup, ReplicationMonitor } from './replication.js';

/*
 * The balancer (HDFS Balancer, GFS §4.3 "rebalances replicas periodically"): evens out disk
 * utilisation (used / capacity) of live chunkservers to within `threshold` percentage points
 * of the cluster mean. It moves replicas from over-utilised to under-utilised nodes as
 * copy-then-delete pairs through the replication monitor, so every move shares the copy
 * throttles with re-replication, and a chunk never has fewer good replicas than its target
 * on the way (the source replica is dropped only after the copy is reported).
 *
 * It works in rounds: a round plans a batch of moves against projected usage and the next
 * round starts when that batch is done, so stale usage figures never cause overshoot.
 * New empty nodes are also filled gradually without it: placement weights by free space.
 */

export interface BalancerStatus {
  active: boolean;
  balanced: boolean;
  averageUtilization: number;
  maxDeviation: number;
  threshold: number;
  movesInflight: number;
  movesDone: number;
  note: string;
}

export const DEFAULT_BALANCE_THRESHOLD = 10;

interface Usage {
  node: ChunkserverNode;
  used: number;
}

export class Balancer {
  private active = false;
  private threshold = DEFAULT_BALANCE_THRESHOLD;
  private note = '';

  constructor(
    private readonly registry: ChunkserverRegistry,
    private readonly monitor: ReplicationMonitor,
    private readonly lookup: ChunkLookup,
    /** Chunks examined per over-utilised node per round. */
    private readonly examinePerNode = 2000,
  ) {}

  start(threshold: number): void {
    this.threshold = threshold > 0 ? threshold : DEFAULT_BALANCE_THRESHOLD;
    this.active = true;
    this.note = '';
  }

  stop(): void {
    this.active = false;
    this.note = 'stopped';
  }

  clear(): void {
    this.active = false;
    this.note = '';
  }

  isActive(): boolean {
    return this.active;
  }

  status(): BalancerStatus {
    const { avg, maxDev } = this.spread(this.usage());
    return {
      active: this.active,
      balanced: maxDev <= this.threshold,
      averageUtilization: avg,
      maxDeviation: maxDev,
      threshold: this.threshold,
      movesInflight: this.monitor.movesInflight(),
      movesDone: this.monitor.stats().movesDone,
      note: this.note,
    };
  }

  /** One round, when active and the previous round's moves are done. */
  step(now: number): void {
    if (!this.active || this.monitor.movesInflight() > 0) return;
    const usage = this.usage();
    if (usage.length < 2) {
      this.finish('fewer than two live chunkservers');
      return;
    }
    const { avg, maxDev } = this.spread(usage);
    if (maxDev <= this.threshold) {
      this.finish(`balanced: every node within ${this.threshold} points of ${avg.toFixed(1)}%`);
      return;
    }
    const pct = (u: Usage): number => (100 * u.used) / u.node.capacityBytes;
    // Sources: above the mean by more than the threshold (HDFS: over-utilised); targets: below the mean.
    const sources = usage.filter((u) => pct(u) > avg + this.threshold).sort((a, b) => pct(b) - pct(a));
    const targets = usage.filter((u) => pct(u) < avg);
    const underTargets = usage.filter((u) => pct(u) < avg - this.threshold);
    // When nobody is over, drain the mean's excess into the under-utilised ones.
    const from = sources.length > 0 ? sources : usage.filter((u) => pct(u) > avg && underTargets.length > 0).sort((a, b) => pct(b) - pct(a));
    let planned = 0;
    for (const src of from) {
      let examined = 0;
      for (const handle of this.registry.handlesOn(src.node.id)) {
        if (examined++ >= this.examinePerNode || pct(src) <= avg) break;
        if (this.monitor.isBusy(handle)) continue;
        const facts = this.lookup(handle);
        if (!facts || !facts.committed) continue;
        const replicas = this.registry.replicasOf(handle);
        const mine = replicas.find((r) => r.node.id === src.node.id);
        if (!mine || mine.info.version < facts.version) continue;
        const holders = new Set(replicas.map((r) => r.node.id));
        const racksBefore = new Set(replicas.map((r) => r.node.rack)).size;
        const dest = targets
          .filter((t) => !holders.has(t.node.id) && t.node.freeBytes > mine.info.length && pct(t) < avg)
          .filter((t) => {
            const racks = new Set(replicas.filter((r) => r.node.id !== src.node.id).map((r) => r.node.rack));
            racks.add(t.node.rack);
            return racks.size >= racksBefore;
          })
          .sort((a, b) => pct(a) - pct(b))[0];
        if (!dest) continue;
        if (!this.monitor.planMove(handle, src.node, dest.node, now)) continue;
        src.used -= mine.info.length;
        dest.used += mine.info.length;
        planned++;
      }
    }
    // Nothing movable while no other copy holds the throttles: give up this session.
    if (planned === 0 && this.monitor.stats().inflight === 0) this.finish(`no replica can be moved without breaking rack spread or throttles (max deviation ${maxDev.toFixed(1)} points)`);
  }

  private finish(note: string): void {
    this.active = false;
    this.note = note;
  }

  private usage(): Usage[] {
    return this.registry.liveNodes().filter((n) => n.capacityBytes > 0).map((node) => ({ node, used: node.usedBytes }));
  }

  private spread(usage: Usage[]): { avg: number; maxDev: number } {
    const cap = usage.reduce((s, u) => s + u.node.capacityBytes, 0);
    if (cap === 0) return { avg: 0, maxDev: 0 };
    const avg = (100 * usage.reduce((s, u) => s + u.used, 0)) / cap;
    const maxDev = Math.max(0, ...usage.map((u) => Math.abs((100 * u.used) / u.node.capacityBytes - avg)));
    return { avg, maxDev };
  }
}
