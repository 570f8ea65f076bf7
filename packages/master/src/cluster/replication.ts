import { DfsError, type ReplicateCommand } from '@dfs/proto';
import { chooseExcess, choosePlacement } from '../placement.js';
import type { ChunkserverRegistry, ReplicaInfo, ReplicaLocation } from './registry.js';

/** What the namespace says about a chunk (from the database). */
export interface ChunkFacts {
  version: number;
  committed: boolean;
  replication: number;
}
export type ChunkLookup = (handle: number) => ChunkFacts | undefined;

export interface ReplicationLimits {
  /** Copies a node may be source or target of at once. */
  maxCopiesPerNode: number;
  /** Copies in flight in the whole cluster. */
  maxCopiesCluster: number;
  /** A copy not reported done by then is forgotten and re-planned. */
  copyTimeoutMs: number;
  /** Cap on delete_handles in one heartbeat response. */
  maxDeletesPerHeartbeat: number;
  /** Targets need at least this much free space. */
  minFreeBytes: number;
  /** Queue entries examined per plan() call. */
  maxExaminedPerPlan: number;
}

export const DEFAULT_REPLICATION_LIMITS: ReplicationLimits = {
  maxCopiesPerNode: 2,
  maxCopiesCluster: 32,
  copyTimeoutMs: 5 * 60_000,
  maxDeletesPerHeartbeat: 1000,
  minFreeBytes: 0,
  maxExaminedPerPlan: 5000,
};

export type ReplicaVerdict = 'ok' | 'garbage' | 'stale' | 'writing';

interface Copy {
  target: string;
  source: string;
  startedAt: number;
}

/**
 * The replication monitor (HDFS RedundancyMonitor, GFS §4.3): a priority queue of chunks
 * below their replication target, ordered by fewest good replicas (bucket i holds chunks
 * that had i good replicas when queued), turned into throttled chunkserver-to-chunkserver
 * copies; plus excess and stale replica deletion. All soft state; the caller decides when
 * deletions are allowed (never in safe mode).
 */
export class ReplicationMonitor {
  private readonly buckets: Array<Set<number>> = [];
  private readonly queued = new Map<number, number>();
  private readonly inflight = new Map<number, Copy>();
  private readonly nodeCopies = new Map<string, number>();
  private readonly pendingCopies = new Map<string, ReplicateCommand[]>();
  private readonly pendingDeletes = new Map<string, Set<number>>();
  private corruptSeen = 0;

  constructor(
    private readonly registry: ChunkserverRegistry,
    private readonly lookup: ChunkLookup,
    private readonly deletionsAllowed: () => boolean,
    private readonly limits: ReplicationLimits = DEFAULT_REPLICATION_LIMITS,
    private readonly random: () => number = Math.random,
  ) {}

  /** Replicas on live nodes at (or above) the chunk's version. */
  goodReplicas(handle: number, facts: ChunkFacts): ReplicaLocation[] {
    return this.registry.replicasOf(handle).filter((r) => r.info.version >= facts.version);
  }

  /** How a reported replica relates to the namespace. */
  verdict(handle: number, info: ReplicaInfo): ReplicaVerdict {
    const facts = this.lookup(handle);
    if (!facts) return 'garbage';
    if (info.version < facts.version) return 'stale';
    return facts.committed ? 'ok' : 'writing';
  }

  /** Re-evaluates one chunk: queue it when under-replicated, trim it when over. */
  check(handle: number): void {
    const facts = this.lookup(handle);
    if (!facts) {
      this.dequeue(handle);
      return;
    }
    if (!facts.committed) return;
    const good = this.goodReplicas(handle, facts);
    if (good.length < facts.replication) {
      this.enqueue(handle, good.length);
      return;
    }
    this.dequeue(handle);
    if (good.length > facts.replication && !this.inflight.has(handle)) {
      const victim = chooseExcess(good.map((g) => g.node));
      if (victim) this.scheduleDelete(victim.id, handle);
    }
  }

  /** A replica reported by `nodeId`: finishes the copy that targeted it. */
  onReplicaReported(nodeId: string, handle: number): void {
    const copy = this.inflight.get(handle);
    if (copy && copy.target === nodeId) this.finishCopy(handle);
  }

  /** A replica known bad (scrubber, reader): never served again, deleted, its chunk re-replicated. */
  onCorrupt(nodeId: string, handle: number): void {
    this.corruptSeen++;
    this.registry.removeReplica(nodeId, handle);
    this.addDelete(nodeId, handle);
    this.check(handle);
  }

  /** Garbage, stale or excess replica: delete it (only when deletions are allowed). */
  scheduleDelete(nodeId: string, handle: number): boolean {
    if (!this.deletionsAllowed()) return false;
    this.registry.removeReplica(nodeId, handle);
    this.addDelete(nodeId, handle);
    return true;
  }

  /** Turns queued chunks into copy commands, within the throttles. */
  plan(now: number): void {
    for (const [handle, copy] of [...this.inflight]) {
      if (now - copy.startedAt >= this.limits.copyTimeoutMs) {
        this.finishCopy(handle);
        this.check(handle);
      }
    }
    let budget = this.limits.maxCopiesCluster - this.inflight.size;
    let examined = 0;
    const live = this.registry.liveNodes();
    for (let b = 0; b < this.buckets.length && budget > 0; b++) {
      const bucket = this.buckets[b];
      if (!bucket) continue;
      for (const handle of [...bucket]) {
        if (budget <= 0 || examined++ >= this.limits.maxExaminedPerPlan) return;
        if (this.inflight.has(handle)) continue;
        const facts = this.lookup(handle);
        if (!facts || !facts.committed) {
          this.dequeue(handle);
          continue;
        }
        const good = this.goodReplicas(handle, facts);
        if (good.length >= facts.replication) {
          this.check(handle);
          continue;
        }
        if (good.length !== b) this.enqueue(handle, good.length);
        if (good.length === 0) continue; // missing: nothing to copy from
        const sources = good.filter((g) => this.copiesOn(g.node.id) < this.limits.maxCopiesPerNode);
        if (sources.length === 0) continue;
        const source = sources.sort((x, y) => this.copiesOn(x.node.id) - this.copiesOn(y.node.id))[0]!.node;
        const holders = new Set(this.registry.replicasOf(handle).map((r) => r.node.id));
        let target;
        try {
          [target] = choosePlacement({
            nodes: live
              .filter((n) => this.copiesOn(n.id) < this.limits.maxCopiesPerNode)
              .map((n) => ({ ...n, load: this.copiesOn(n.id) + n.activeWrites })),
            count: 1,
            minCount: 1,
            holders: good.map((g) => g.node),
            exclude: holders,
            minFreeBytes: this.limits.minFreeBytes,
            random: this.random,
          });
        } catch (err) {
          if (err instanceof DfsError) continue; // no eligible target now; retry next round
          throw err;
        }
        if (!target) continue;
        this.inflight.set(handle, { target: target.id, source: source.id, startedAt: now });
        this.bump(target.id, 1);
        this.bump(source.id, 1);
        let q = this.pendingCopies.get(target.id);
        if (!q) this.pendingCopies.set(target.id, (q = []));
        q.push({ handle, version: facts.version, source: { id: source.id, address: source.address, rack: source.rack } });
        this.dequeue(handle);
        budget--;
      }
    }
  }

  /** What to hand a chunkserver in its heartbeat response (drains its queues). */
  takeCommands(nodeId: string): { deleteHandles: number[]; replicate: ReplicateCommand[] } {
    const replicate = this.pendingCopies.get(nodeId) ?? [];
    this.pendingCopies.delete(nodeId);
    const deletes = this.pendingDeletes.get(nodeId);
    const deleteHandles: number[] = [];
    if (deletes) {
      for (const h of deletes) {
        if (deleteHandles.length >= this.limits.maxDeletesPerHeartbeat) break;
        deleteHandles.push(h);
      }
      for (const h of deleteHandles) deletes.delete(h);
      if (deletes.size === 0) this.pendingDeletes.delete(nodeId);
    }
    return { deleteHandles, replicate };
  }

  /** A node died or re-registered: its queued commands and copies are void. */
  forgetNode(nodeId: string): void {
    this.pendingCopies.delete(nodeId);
    this.pendingDeletes.delete(nodeId);
    for (const [handle, copy] of [...this.inflight]) {
      if (copy.target === nodeId || copy.source === nodeId) {
        this.finishCopy(handle);
        this.check(handle);
      }
    }
  }

  stats(): { underReplicated: number; missing: number; inflight: number; corrupt: number; pendingDeletes: number } {
    let pendingDeletes = 0;
    for (const s of this.pendingDeletes.values()) pendingDeletes += s.size;
    return {
      underReplicated: this.queued.size + this.inflight.size,
      missing: this.buckets[0]?.size ?? 0,
      inflight: this.inflight.size,
      corrupt: this.corruptSeen,
      pendingDeletes,
    };
  }

  queueLength(): number {
    return this.queued.size;
  }

  clear(): void {
    this.buckets.length = 0;
    this.queued.clear();
    this.inflight.clear();
    this.nodeCopies.clear();
    this.pendingCopies.clear();
    this.pendingDeletes.clear();
    this.corruptSeen = 0;
  }

  private enqueue(handle: number, good: number): void {
    const was = this.queued.get(handle);
    if (was === good) return;
    if (was !== undefined) this.buckets[was]?.delete(handle);
    while (this.buckets.length <= good) this.buckets.push(new Set());
    this.buckets[good]!.add(handle);
    this.queued.set(handle, good);
  }

  private dequeue(handle: number): void {
    const was = this.queued.get(handle);
    if (was === undefined) return;
    this.buckets[was]?.delete(handle);
    this.queued.delete(handle);
  }

  private addDelete(nodeId: string, handle: number): void {
    let s = this.pendingDeletes.get(nodeId);
    if (!s) this.pendingDeletes.set(nodeId, (s = new Set()));
    s.add(handle);
  }

  private copiesOn(nodeId: string): number {
    return this.nodeCopies.get(nodeId) ?? 0;
  }

  private bump(nodeId: string, by: number): void {
    const v = this.copiesOn(nodeId) + by;
    if (v <= 0) this.nodeCopies.delete(nodeId);
    else this.nodeCopies.set(nodeId, v);
  }

  private finishCopy(handle: number): void {
    const copy = this.inflight.get(handle);
    if (!copy) return;
    this.inflight.delete(handle);
    this.bump(copy.target, -1);
    this.bump(copy.source, -1);
  }
}
