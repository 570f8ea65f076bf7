import { DfsError, type ReplicateCommand } from '@dfs/proto';
import { chooseExcess, choosePlacement } from '../placement.js';
import type { ChunkserverNode, ChunkserverRegistry, ReplicaInfo, ReplicaLocation } from './registry.js';

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
  maxCopiesPerNode: 4,
  maxCopiesCluster: 64,
  copyTimeoutMs: 2 * 60_000,
  maxDeletesPerHeartbeat: 1000,
  minFreeBytes: 0,
  maxExaminedPerPlan: 5000,
};

export type ReplicaVerdict = 'ok' | 'garbage' | 'stale' | 'writing';

interface Copy {
  target: string;
  source: string;
  startedAt: number;
  /** A balancer move: once the copy lands, this node's replica is the one dropped. */
  moveFrom?: string;
  /** Set once the command went out in a heartbeat answer: the target's idle heartbeats since. */
  idleBeats?: number;
}

/**
 * Heartbeats in which the target runs no copy at all before a copy handed to it is deemed lost.
 * Two, not one: a copy that ends while a heartbeat is being built is missing from that
 * heartbeat's count and its report is in the next one (master-link snapshots its reports first).
 */
export const LOST_AFTER_IDLE_BEATS = 2;

/**
 * What became of one copy, for the operator's log: `scheduled`, then one of `done` (the target
 * reported the replica), `failed` (it said so), `timed-out` (copyTimeoutMs passed), `dropped`
 * (its target or source died, re-registered, or holds a corrupt copy), `lost` (the target's
 * heartbeats say it runs no copy, yet it reported nothing), `superseded` (the replica landed,
 * but the chunk was deleted or written to a newer version meanwhile).
 */
export interface CopyEvent {
  kind: 'scheduled' | 'done' | 'failed' | 'timed-out' | 'dropped' | 'lost' | 'superseded';
  handle: number;
  target: string;
  source: string;
  startedAt: number;
  move: boolean;
}

/** One chunk's health as the leader sees it. */
export interface ChunkHealth {
  /** Good replicas on nodes that are not dead (decommissioning ones included: they still serve). */
  good: ReplicaLocation[];
  /** Good replicas on live nodes: what counts toward the target. */
  live: ReplicaLocation[];
  /** Nodes whose replica was reported corrupt and is not deleted yet. */
  corrupt: string[];
}

/**
 * The replication monitor (HDFS RedundancyMonitor, GFS §4.3): a priority queue of chunks
 * below their replication target, ordered by fewest live good replicas (bucket i holds chunks
 * that had i when queued; a chunk down to one copy jumps the queue), turned into throttled
 * chunkserver-to-chunkserver copies; plus excess, stale and corrupt replica deletion. All
 * soft state; the caller decides when deletions are allowed (never in safe mode).
 *
 * Invariants:
 *   - never delete the last good copy: excess trimming needs more live good replicas than
 *     the target, stale deletion needs a good replica elsewhere, and a replica reported
 *     corrupt is only deleted once the chunk is back at its target (HDFS
 *     invalidateCorruptReplicas); until then it is merely not served;
 *   - repairs always finish: when no live node is free to take a copy because every one
 *     already holds the chunk (some copy corrupt), the corrupt copy is deleted first and a
 *     good one copied back to the same node — only while a good copy exists elsewhere;
 *     a stale holder is a valid copy target as it is (the copy replaces it);
 *   - replicas on decommissioning nodes are sources and serve reads, never count.
 *
 * Every master runs one (followers hear every chunkserver too), but only the leader's hands
 * out commands: `leads` and `deletionsAllowed` are false on a follower, and it never plans copies.
 */
export class ReplicationMonitor {
  private readonly buckets: Array<Set<number>> = [];
  private readonly queued = new Map<number, number>();
  private readonly missingSet = new Set<number>();
  private readonly inflight = new Map<number, Copy>();
  private readonly nodeCopies = new Map<string, number>();
  private readonly pendingCopies = new Map<string, ReplicateCommand[]>();
  private readonly pendingDeletes = new Map<string, Set<number>>();
  /** handle → nodes whose replica is known corrupt (not served, not counted). */
  private readonly corrupt = new Map<number, Set<string>>();
  /**
   * handle → the node whose corrupt copy is being replaced in place (deleted, then copied
   * back): its reports stay ignored until the copy to it is under way.
   */
  private readonly repairing = new Map<number, string>();
  private corruptSeen = 0;
  private movesDone = 0;
  /** Re-replication copies that landed (a target reported the replica), since this node led. */
  private copiesDone = 0;

  constructor(
    private readonly registry: ChunkserverRegistry,
    private readonly lookup: ChunkLookup,
    private readonly deletionsAllowed: () => boolean,
    private readonly limits: ReplicationLimits = DEFAULT_REPLICATION_LIMITS,
    private readonly random: () => number = Math.random,
    /** False on a follower: it keeps a view but never queues a command. */
    private readonly leads: () => boolean = () => true,
    private readonly onEvent: (e: CopyEvent) => void = () => {},
  ) {}

  /** Replicas on nodes that are not dead, at (or above) the chunk's version. */
  goodReplicas(handle: number, facts: ChunkFacts): ReplicaLocation[] {
    return this.registry.replicasOf(handle).filter((r) => r.info.version >= facts.version);
  }

  health(handle: number, facts: ChunkFacts): ChunkHealth {
    const good = this.goodReplicas(handle, facts);
    return { good, live: good.filter((r) => r.node.state === 'live'), corrupt: [...(this.corrupt.get(handle) ?? [])] };
  }

  /** How a reported replica relates to the namespace. */
  verdict(handle: number, info: ReplicaInfo): ReplicaVerdict {
    const facts = this.lookup(handle);
    if (!facts) return 'garbage';
    if (info.version < facts.version) return 'stale';
    return facts.committed ? 'ok' : 'writing';
  }

  /** True when this node's replica of `handle` was reported corrupt (its reports are ignored). */
  isCorrupt(nodeId: string, handle: number): boolean {
    if (this.repairing.get(handle) === nodeId && this.inflight.get(handle)?.target !== nodeId) return true;
    return this.corrupt.get(handle)?.has(nodeId) ?? false;
  }

  /** Re-evaluates one chunk: queue it when under-replicated, trim it when over. */
  check(handle: number): void {
    const facts = this.lookup(handle);
    if (!facts) {
      this.dequeue(handle);
      this.forgetCorrupt(handle);
      return;
    }
    if (!facts.committed) return;
    const good = this.goodReplicas(handle, facts);
    const live = good.filter((r) => r.node.state === 'live');
    if (live.length < facts.replication) {
      this.enqueue(handle, live.length, good.length === 0);
      return;
    }
    this.dequeue(handle);
    // Back at its target: corrupt replicas may go now (a follower just forgets them).
    const bad = this.corrupt.get(handle);
    if (bad) {
      for (const id of bad) this.addDelete(id, handle);
      this.corrupt.delete(handle);
    }
    this.repairing.delete(handle);
    if (live.length > facts.replication && !this.inflight.has(handle)) {
      const victim = chooseExcess(live.map((g) => g.node));
      if (victim) this.scheduleDelete(victim.id, handle);
    }
  }

  /** A replica reported by `nodeId`: finishes the copy that targeted it (and completes a move). */
  onReplicaReported(nodeId: string, handle: number): void {
    const copy = this.inflight.get(handle);
    if (!copy || copy.target !== nodeId) return;
    if (this.repairing.get(handle) === nodeId) this.repairing.delete(handle);
    this.finishCopy(handle, 'done');
    this.copiesDone++;
    if (copy.moveFrom) {
      const facts = this.lookup(handle);
      if (facts) {
        const live = this.goodReplicas(handle, facts).filter((r) => r.node.state === 'live');
        if (live.length > facts.replication && live.some((r) => r.node.id === copy.moveFrom)) {
          this.scheduleDelete(copy.moveFrom, handle);
          this.movesDone++;
        }
      }
    }
  }

  /**
   * A chunkserver deleted its replica (it says so in heartbeats to every master): a follower
   * forgets it; a corrupt copy that is gone is no longer corrupt anywhere.
   */
  onDeleted(nodeId: string, handle: number): void {
    this.registry.removeReplica(nodeId, handle);
    const bad = this.corrupt.get(handle);
    if (bad?.delete(nodeId) && bad.size === 0) this.corrupt.delete(handle);
    this.check(handle);
  }

  /**
   * The target reported the replica, but as garbage or stale (the chunk was deleted, or written
   * to a newer version, while the copy ran): the copy is over — the chunk re-checked now, and
   * the two nodes' copy slots freed, not held until the copy would be deemed lost.
   */
  onCopySuperseded(nodeId: string, handle: number): void {
    const copy = this.inflight.get(handle);
    if (!copy || copy.target !== nodeId) return;
    this.finishCopy(handle, 'superseded');
    this.check(handle);
  }

  /** The target could not make the copy: plan it again (from another source if there is one). */
  onCopyFailed(nodeId: string, handle: number): void {
    const copy = this.inflight.get(handle);
    if (!copy || copy.target !== nodeId) return;
    this.finishCopy(handle, 'failed');
    this.check(handle);
  }

  /**
   * A heartbeat of `nodeId`, once its reports were applied: while a node runs no copy at all,
   * a copy handed to it that it has not reported is not under way — the answer carrying it was
   * lost (a deadline passed, the connection broke), or the node already held the replica and
   * had nothing new to report. Such a copy is forgotten after LOST_AFTER_IDLE_BEATS of them
   * and the chunk re-planned, instead of waiting out copyTimeoutMs with the chunk short.
   */
  onTargetHeartbeat(nodeId: string, inflightCopies: number): void {
    if (inflightCopies > 0 || this.inflight.size === 0) return;
    for (const [handle, copy] of [...this.inflight]) {
      if (copy.target !== nodeId || copy.idleBeats === undefined) continue;
      if (++copy.idleBeats < LOST_AFTER_IDLE_BEATS) continue;
      this.finishCopy(handle, 'lost');
      this.check(handle);
    }
  }

  /**
   * A replica known bad (scrubber, reader): never served or counted again, its chunk
   * re-replicated from a good copy; the bad replica itself is deleted once the chunk is
   * back at its target, so the last copy — even a damaged one — is never destroyed here.
   */
  onCorrupt(nodeId: string, handle: number): void {
    this.corruptSeen++;
    this.registry.removeReplica(nodeId, handle);
    if (!this.lookup(handle)) {
      this.addDelete(nodeId, handle); // garbage anyway
      return;
    }
    let s = this.corrupt.get(handle);
    if (!s) this.corrupt.set(handle, (s = new Set()));
    s.add(nodeId);
    const copy = this.inflight.get(handle);
    if (copy && (copy.source === nodeId || copy.target === nodeId)) this.finishCopy(handle, 'dropped');
    this.check(handle);
  }

  /**
   * Garbage, stale or excess replica: delete it (only when deletions are allowed). Never the
   * last good copy; and a stale replica (old version) only once the chunk has its full target
   * of live good replicas — until then it may be a replica whose report of the new version
   * is still on its way (mid-append), and it costs nothing to keep (GC retries every pass).
   */
  scheduleDelete(nodeId: string, handle: number): boolean {
    if (!this.deletionsAllowed()) return false;
    const facts = this.lookup(handle);
    if (facts) {
      const good = this.goodReplicas(handle, facts);
      const others = good.filter((r) => r.node.id !== nodeId);
      if (others.length === 0) return false;
      const mine = this.registry.replicasOf(handle).find((r) => r.node.id === nodeId);
      const stale = mine !== undefined && mine.info.version < facts.version;
      if (stale && others.filter((r) => r.node.state === 'live').length < facts.replication) return false;
    }
    this.registry.removeReplica(nodeId, handle);
    this.addDelete(nodeId, handle);
    return true;
  }

  /** Turns queued chunks into copy commands, within the throttles. */
  plan(now: number): void {
    // Corrupt replicas of chunks deleted meanwhile: garbage now.
    for (const h of [...this.corrupt.keys()]) if (!this.lookup(h)) this.forgetCorrupt(h);
    for (const [handle, copy] of [...this.inflight]) {
      if (now - copy.startedAt >= this.limits.copyTimeoutMs) {
        this.finishCopy(handle, 'timed-out');
        this.check(handle);
      }
    }
    let budget = this.limits.maxCopiesCluster - this.inflight.size;
    let examined = 0;
    const live = this.registry.liveNodes();
    for (let b = 0; b < this.buckets.length && budget > 0; b++) {
      const bucket = this.buckets[b];
      if (!bucket) continue;
      // Iterated in place (no copy per call: plan runs on heartbeats too). Safe: an entry only
      // leaves this bucket or moves to another one while we walk it.
      for (const handle of bucket) {
        if (budget <= 0 || examined++ >= this.limits.maxExaminedPerPlan) return;
        if (this.inflight.has(handle)) continue;
        const facts = this.lookup(handle);
        if (!facts || !facts.committed) {
          this.dequeue(handle);
          continue;
        }
        const good = this.goodReplicas(handle, facts);
        const liveGood = good.filter((g) => g.node.state === 'live');
        if (liveGood.length >= facts.replication) {
          this.check(handle);
          continue;
        }
        if (liveGood.length !== b || (good.length === 0) !== this.missingSet.has(handle)) this.enqueue(handle, liveGood.length, good.length === 0);
        if (good.length === 0) continue; // missing: nothing to copy from
        const sources = good.filter((g) => this.copiesOn(g.node.id) < this.limits.maxCopiesPerNode);
        if (sources.length === 0) continue;
        // Least busy first; a draining node is preferred (it takes no client writes, HDFS does the same).
        const source = sources.sort(
          (x, y) => this.copiesOn(x.node.id) - this.copiesOn(y.node.id) || drainingFirst(x.node) - drainingFirst(y.node),
        )[0]!.node;
        // Not a target: good holders, corrupt ones, and one whose delete of this chunk is not
        // handed out yet. A stale holder may be (the copy replaces it).
        const holders = new Set(good.map((r) => r.node.id));
        for (const id of this.corrupt.get(handle) ?? []) holders.add(id);
        for (const n of live) if (this.deletePending(n.id, handle)) holders.add(n.id);
        let target;
        try {
          [target] = choosePlacement({
            nodes: live
              .filter((n) => this.copiesOn(n.id) < this.limits.maxCopiesPerNode)
              .map((n) => ({ ...n, load: this.copiesOn(n.id) + n.activeWrites })),
            count: 1,
            minCount: 1,
            holders: liveGood.map((g) => g.node),
            exclude: holders,
            minFreeBytes: this.limits.minFreeBytes,
            random: this.random,
          });
        } catch (err) {
          if (!(err instanceof DfsError)) throw err;
          this.repairInPlace(handle, liveGood.length); // no eligible target: maybe every live node holds it
          continue;
        }
        if (!target) {
          this.repairInPlace(handle, liveGood.length);
          continue;
        }
        this.startCopy(handle, facts.version, source, target, now);
        this.dequeue(handle);
        budget--;
      }
    }
  }

  /**
   * No live node without a copy: a live node holding a corrupt copy gets it deleted now; it
   * is an ordinary copy target once that delete was handed out (never in the same answer).
   * Needs a good copy elsewhere, so the last good copy is never what goes.
   */
  private repairInPlace(handle: number, liveGood: number): void {
    if (liveGood === 0 || this.repairing.has(handle) || !this.deletionsAllowed()) return;
    const bad = this.corrupt.get(handle);
    const node = [...(bad ?? [])].map((id) => this.registry.node(id)).find((n) => n?.state === 'live' && this.copiesOn(n.id) < this.limits.maxCopiesPerNode);
    if (!node || !bad) return;
    bad.delete(node.id);
    if (bad.size === 0) this.corrupt.delete(handle);
    this.repairing.set(handle, node.id);
    this.registry.removeReplica(node.id, handle);
    this.addDelete(node.id, handle);
  }

  /** True while a delete of `handle` waits to be handed to `nodeId`. */
  private deletePending(nodeId: string, handle: number): boolean {
    return this.pendingDeletes.get(nodeId)?.has(handle) ?? false;
  }

  /**
   * A balancer move: copy `handle` from `from` to `to`, then drop `from`'s replica. Refused
   * when the chunk is busy or not exactly healthy, or a throttle is full.
   */
  planMove(handle: number, from: ChunkserverNode, to: ChunkserverNode, now: number): boolean {
    if (this.inflight.has(handle) || this.queued.has(handle) || this.corrupt.has(handle)) return false;
    if (this.inflight.size >= this.limits.maxCopiesCluster) return false;
    if (this.copiesOn(from.id) >= this.limits.maxCopiesPerNode || this.copiesOn(to.id) >= this.limits.maxCopiesPerNode) return false;
    const facts = this.lookup(handle);
    if (!facts || !facts.committed) return false;
    const good = this.goodReplicas(handle, facts);
    if (!good.some((g) => g.node.id === from.id) || this.registry.replicasOf(handle).some((r) => r.node.id === to.id)) return false;
    this.startCopy(handle, facts.version, from, to, now, from.id);
    return true;
  }

  /** Copies (and moves) in flight that involve `nodeId`. */
  copiesOn(nodeId: string): number {
    return this.nodeCopies.get(nodeId) ?? 0;
  }

  /**
   * What to hand a chunkserver in its heartbeat response (drains its queues). Deletions stay
   * queued while they are not allowed: one planned earlier may no longer be ours to order
   * (a leader stalled past its lease: see Master.mayDelete).
   */
  takeCommands(nodeId: string): { deleteHandles: number[]; replicate: ReplicateCommand[] } {
    const replicate = this.pendingCopies.get(nodeId) ?? [];
    this.pendingCopies.delete(nodeId);
    for (const c of replicate) {
      const copy = this.inflight.get(c.handle);
      if (copy?.target === nodeId) copy.idleBeats = 0; // handed out: the target's heartbeats count from now
    }
    const deletes = this.deletionsAllowed() ? this.pendingDeletes.get(nodeId) : undefined;
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
    // An in-place repair on it starts over: its copy counts as corrupt again until then.
    for (const [handle, id] of [...this.repairing]) {
      if (id !== nodeId) continue;
      this.repairing.delete(handle);
      let s = this.corrupt.get(handle);
      if (!s) this.corrupt.set(handle, (s = new Set()));
      s.add(nodeId);
    }
    for (const [handle, copy] of [...this.inflight]) {
      if (copy.target === nodeId || copy.source === nodeId) {
        this.finishCopy(handle, 'dropped');
        this.check(handle);
      }
    }
  }

  /** A node is dead: the corrupt replicas it held are gone with it. */
  forgetCorruptOn(nodeId: string): void {
    for (const [handle, nodes] of [...this.corrupt]) {
      if (nodes.delete(nodeId) && nodes.size === 0) this.corrupt.delete(handle);
    }
  }

  stats(): {
    underReplicated: number;
    missing: number;
    inflight: number;
    corrupt: number;
    corruptChunks: number;
    corruptReported: number;
    pendingDeletes: number;
    movesDone: number;
    copiesDone: number;
  } {
    let pendingDeletes = 0;
    for (const s of this.pendingDeletes.values()) pendingDeletes += s.size;
    let moves = 0;
    for (const c of this.inflight.values()) if (c.moveFrom) moves++;
    return {
      underReplicated: this.queued.size + this.inflight.size - moves,
      missing: this.missingSet.size,
      inflight: this.inflight.size,
      corrupt: this.corrupt.size,
      corruptChunks: this.corrupt.size,
      corruptReported: this.corruptSeen,
      pendingDeletes,
      movesDone: this.movesDone,
      copiesDone: this.copiesDone,
    };
  }

  /** Moves (balancer copies) in flight. */
  movesInflight(): number {
    let n = 0;
    for (const c of this.inflight.values()) if (c.moveFrom) n++;
    return n;
  }

  isBusy(handle: number): boolean {
    return this.inflight.has(handle) || this.queued.has(handle);
  }

  queueLength(): number {
    return this.queued.size;
  }

  /**
   * Leadership changed: copies and deletes handed out (or queued) by the old term are not
   * tracked any more; the queue, the corrupt set and every count stay (the view is kept).
   */
  clearCommands(): void {
    this.inflight.clear();
    this.nodeCopies.clear();
    this.pendingCopies.clear();
    this.pendingDeletes.clear();
    for (const [handle, id] of this.repairing) {
      let s = this.corrupt.get(handle);
      if (!s) this.corrupt.set(handle, (s = new Set()));
      s.add(id);
    }
    this.repairing.clear();
  }

  clear(): void {
    this.repairing.clear();
    this.buckets.length = 0;
    this.queued.clear();
    this.missingSet.clear();
    this.inflight.clear();
    this.nodeCopies.clear();
    this.pendingCopies.clear();
    this.pendingDeletes.clear();
    this.corrupt.clear();
    this.corruptSeen = 0;
    this.movesDone = 0;
  }

  private startCopy(handle: number, version: number, source: ChunkserverNode, target: ChunkserverNode, now: number, moveFrom?: string): void {
    const copy: Copy = { target: target.id, source: source.id, startedAt: now, ...(moveFrom ? { moveFrom } : {}) };
    this.inflight.set(handle, copy);
    this.emit('scheduled', handle, copy);
    this.bump(target.id, 1);
    this.bump(source.id, 1);
    let q = this.pendingCopies.get(target.id);
    if (!q) this.pendingCopies.set(target.id, (q = []));
    q.push({ handle, version, source: { id: source.id, address: source.address, rack: source.rack } });
  }

  private enqueue(handle: number, live: number, missing: boolean): void {
    if (missing) this.missingSet.add(handle);
    else this.missingSet.delete(handle);
    const was = this.queued.get(handle);
    if (was === live) return;
    if (was !== undefined) this.buckets[was]?.delete(handle);
    while (this.buckets.length <= live) this.buckets.push(new Set());
    this.buckets[live]!.add(handle);
    this.queued.set(handle, live);
  }

  private dequeue(handle: number): void {
    this.missingSet.delete(handle);
    const was = this.queued.get(handle);
    if (was === undefined) return;
    this.buckets[was]?.delete(handle);
    this.queued.delete(handle);
  }

  private forgetCorrupt(handle: number): void {
    const bad = this.corrupt.get(handle);
    if (!bad) return;
    for (const id of bad) this.addDelete(id, handle);
    this.corrupt.delete(handle);
  }

  private addDelete(nodeId: string, handle: number): void {
    if (!this.leads()) return; // a follower keeps a view; it never queues a command
    let s = this.pendingDeletes.get(nodeId);
    if (!s) this.pendingDeletes.set(nodeId, (s = new Set()));
    s.add(handle);
  }

  private bump(nodeId: string, by: number): void {
    const v = this.copiesOn(nodeId) + by;
    if (v <= 0) this.nodeCopies.delete(nodeId);
    else this.nodeCopies.set(nodeId, v);
  }

  private finishCopy(handle: number, how: CopyEvent['kind']): void {
    const copy = this.inflight.get(handle);
    if (!copy) return;
    this.inflight.delete(handle);
    this.bump(copy.target, -1);
    this.bump(copy.source, -1);
    this.emit(how, handle, copy);
  }

  private emit(kind: CopyEvent['kind'], handle: number, copy: Copy): void {
    this.onEvent({ kind, handle, target: copy.target, source: copy.source, startedAt: copy.startedAt, move: copy.moveFrom !== undefined });
  }
}

function drainingFirst(n: ChunkserverNode): number {
  return n.state === 'live' ? 1 : 0;
}
