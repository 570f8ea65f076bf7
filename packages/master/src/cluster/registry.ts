import type { HeartbeatRequest, RegisterRequest, ReplicaReport } from '@dfs/proto';

/*
 * Soft state (GFS §2.6.2, HDFS DatanodeManager/BlocksMap): which chunkservers exist and
 * which replicas each holds. Every master keeps one, built from the registrations and
 * reports every chunkserver sends to every master (HDFS standby NameNodes); it outlives
 * leader changes and is never written to the log. Invariant: a replica location is
 * recorded only for a registered, live node (a node declared dead loses its locations and
 * must re-register).
 */

/*
 * Node states:
 *
 *   register ──▶ live ──decommission──▶ decommissioning ──drained──▶ decommissioned
 *                 ▲  ◀──────cancel──────────────┘                         │
 *                 └── re-register ◀── dead ◀── silent past deadAfterMs ◀──┘ (any state)
 *
 * Only `live` nodes receive new chunks and copies. Decommissioning and decommissioned nodes
 * still serve reads and act as copy sources; their replicas do not count toward a chunk's
 * target. The decommission mark survives death and re-registration (it is per id).
 */
export type NodeState = 'live' | 'dead' | 'decommissioning' | 'decommissioned';

export interface ChunkserverNode {
  id: string;
  address: string;
  rack: string;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  chunkCount: number;
  activeWrites: number;
  inflightCopies: number;
  lastHeartbeatMs: number;
  state: NodeState;
  /** The id its current registration carried (0: a chunkserver that does not number its heartbeats). */
  registration: number;
  /** The highest heartbeat seq applied since that registration. */
  heartbeatSeq: number;
}

/**
 * What a heartbeat is to the registry: from a node it does not know (or declared dead), which
 * must re-register; late (see `lateness`), so none of it is applied; or applied.
 */
export type HeartbeatVerdict =
  | { kind: 'unknown' }
  | { kind: 'late'; node: ChunkserverNode; why: Lateness }
  | { kind: 'applied'; node: ChunkserverNode };

/** `old-registration`: sent before the node's current registration; `old-seq`: numbered no higher than one applied. */
export type Lateness = 'old-registration' | 'old-seq';

/**
 * Whether `req` is a heartbeat the node sent before one already applied or before it registered
 * again: a call it gave up on at its deadline, delivered later. It no longer waits for the answer,
 * and its reports, load and copy count are out of date. A node that gives no numbers (0) is
 * taken as it comes, as before heartbeats were numbered.
 */
export function lateness(node: ChunkserverNode, req: HeartbeatRequest): Lateness | undefined {
  if (!req.registration || !node.registration) return undefined;
  if (req.registration !== node.registration) return 'old-registration';
  if (req.seq && req.seq <= node.heartbeatSeq) return 'old-seq';
  return undefined;
}

export interface ReplicaInfo {
  version: number;
  length: number;
  crc32c: number;
}

export interface ReplicaLocation {
  node: ChunkserverNode;
  info: ReplicaInfo;
}

export class ChunkserverRegistry {
  private readonly nodesById = new Map<string, ChunkserverNode>();
  private readonly locations = new Map<number, Map<string, ReplicaInfo>>();
  private readonly byNode = new Map<string, Set<number>>();
  /** Ids marked for decommission (kept across death and re-registration). */
  private readonly draining = new Set<string>();
  private lastCheckMs: number | undefined;

  /** A (re)registration: the node's full report replaces whatever was known about it. */
  register(req: RegisterRequest, now: number): ChunkserverNode {
    this.dropLocations(req.id);
    // A node drained under a previous leader says so: the mark survives leader changes.
    if (req.decommissioning) this.draining.add(req.id);
    const node: ChunkserverNode = {
      id: req.id,
      address: req.address,
      rack: req.rack || 'default',
      capacityBytes: req.capacityBytes,
      freeBytes: req.freeBytes,
      usedBytes: req.usedBytes,
      chunkCount: req.replicas.length,
      activeWrites: 0,
      inflightCopies: 0,
      lastHeartbeatMs: now,
      state: this.draining.has(req.id) ? 'decommissioning' : 'live',
      registration: req.registration,
      heartbeatSeq: 0,
    };
    this.nodesById.set(node.id, node);
    for (const r of req.replicas) this.addReplica(node.id, r.handle, infoOf(r));
    return node;
  }

  /** Updates load figures and liveness, unless the node is unknown or dead, or the heartbeat late. */
  heartbeat(req: HeartbeatRequest, now: number): HeartbeatVerdict {
    const node = this.nodesById.get(req.id);
    if (!node || node.state === 'dead') return { kind: 'unknown' };
    const why = lateness(node, req);
    if (why) return { kind: 'late', node, why };
    if (req.seq) node.heartbeatSeq = req.seq;
    node.capacityBytes = req.capacityBytes;
    node.freeBytes = req.freeBytes;
    node.usedBytes = req.usedBytes;
    node.chunkCount = req.chunkCount;
    node.activeWrites = req.activeWrites;
    node.inflightCopies = req.inflightCopies;
    node.lastHeartbeatMs = now;
    return { kind: 'applied', node };
  }

  node(id: string): ChunkserverNode | undefined {
    return this.nodesById.get(id);
  }

  nodes(): ChunkserverNode[] {
    return [...this.nodesById.values()];
  }

  /** Nodes that take new chunks and copies. */
  liveNodes(): ChunkserverNode[] {
    return this.nodes().filter((n) => n.state === 'live');
  }

  /** Starts (or cancels) draining a node. Returns false for an unknown id. */
  setDecommission(id: string, on: boolean): boolean {
    const node = this.nodesById.get(id);
    if (on) this.draining.add(id);
    else this.draining.delete(id);
    if (!node) return false;
    if (node.state !== 'dead') node.state = on ? (node.state === 'decommissioned' ? 'decommissioned' : 'decommissioning') : 'live';
    return true;
  }

  /** True while `id` is marked for decommission. */
  isDraining(id: string): boolean {
    return this.draining.has(id);
  }

  /** Handles recorded on a node. */
  handlesOn(id: string): ReadonlySet<number> {
    return this.byNode.get(id) ?? new Set();
  }

  addReplica(nodeId: string, handle: number, info: ReplicaInfo): void {
    const node = this.nodesById.get(nodeId);
    if (!node || node.state === 'dead') return;
    let at = this.locations.get(handle);
    if (!at) this.locations.set(handle, (at = new Map()));
    at.set(nodeId, info);
    let held = this.byNode.get(nodeId);
    if (!held) this.byNode.set(nodeId, (held = new Set()));
    held.add(handle);
  }

  /** What `nodeId` last reported of its replica of `handle`, if it holds one. */
  replicaOn(nodeId: string, handle: number): ReplicaInfo | undefined {
    return this.locations.get(handle)?.get(nodeId);
  }

  removeReplica(nodeId: string, handle: number): void {
    const at = this.locations.get(handle);
    if (at) {
      at.delete(nodeId);
      if (at.size === 0) this.locations.delete(handle);
    }
    this.byNode.get(nodeId)?.delete(handle);
  }

  /** Every recorded replica of `handle` (on nodes not dead, by the invariant above; decommissioning ones included). */
  replicasOf(handle: number): ReplicaLocation[] {
    const at = this.locations.get(handle);
    if (!at) return [];
    const out: ReplicaLocation[] = [];
    for (const [id, info] of at) {
      const node = this.nodesById.get(id);
      if (node && node.state !== 'dead') out.push({ node, info });
    }
    return out;
  }

  hasReplicas(handle: number): boolean {
    return this.locations.has(handle);
  }

  /** Handles with at least one recorded replica (a live iterator: the GC scan walks it in slices). */
  handles(): IterableIterator<number> {
    return this.locations.keys();
  }

  handleCount(): number {
    return this.locations.size;
  }

  /**
   * Called at the start of each liveness check: if the previous check came more than half the
   * dead timeout later than its period, the master itself was stalled (blocked event loop, SIGSTOP, overloaded
   * box) and heard nobody meanwhile; that gap is credited to every node rather than declaring
   * them all dead at once. Returns the credited milliseconds.
   */
  forgiveStall(now: number, deadAfterMs: number, checkEveryMs = 1000): number {
    const last = this.lastCheckMs;
    this.lastCheckMs = now;
    if (last === undefined) return 0;
    const late = now - last - checkEveryMs;
    if (late <= deadAfterMs / 2) return 0;
    for (const node of this.nodesById.values()) if (node.state !== 'dead') node.lastHeartbeatMs = Math.min(now, node.lastHeartbeatMs + late);
    return late;
  }

  /** Declares silent nodes dead; returns each one with the handles it held (now under-replicated). */
  expire(now: number, deadAfterMs: number): Array<{ node: ChunkserverNode; handles: number[] }> {
    const out: Array<{ node: ChunkserverNode; handles: number[] }> = [];
    for (const node of this.nodesById.values()) {
      if (node.state !== 'dead' && now - node.lastHeartbeatMs >= deadAfterMs) {
        node.state = 'dead';
        out.push({ node, handles: this.dropLocations(node.id) });
      }
    }
    return out;
  }

  /** Forgets everything (a new term of leadership starts from fresh reports). */
  clear(): void {
    this.nodesById.clear();
    this.locations.clear();
    this.byNode.clear();
    this.draining.clear();
    this.lastCheckMs = undefined;
  }

  private dropLocations(nodeId: string): number[] {
    const held = this.byNode.get(nodeId);
    if (!held) return [];
    const handles = [...held];
    for (const h of handles) this.removeReplica(nodeId, h);
    this.byNode.delete(nodeId);
    return handles;
  }
}

export function infoOf(r: ReplicaReport): ReplicaInfo {
  return { version: r.version, length: r.length, crc32c: r.crc32c };
}
