import {
  DfsError,
  ErrorCode,
  normalizePath,
  type BalanceRequest,
  type BalanceResponse,
  type DecommissionRequest,
  type DecommissionResponse,
  type FsckRequest,
  type FsckResponse,
} from '@dfs/proto';
import type { Logger } from '@dfs/telemetry';
import { Balancer } from './balancer.js';
import { chunksToDrain, queueNodeChunks, updateDecommissions } from './decommission.js';
import { runFsck, type FsckNamespace } from './fsck.js';
import type { ChunkserverNode, ChunkserverRegistry } from './registry.js';
import type { ChunkLookup, ReplicationMonitor } from './replication.js';

/*
 * The operator's side of self-healing, on the leader: fsck, decommission, balance, and the
 * per-node notes `dfs admin report` shows (why a node takes no new chunks). A thin layer over
 * the registry and the replication monitor, driven by Master.tick().
 */

export interface ClusterOperationsDeps {
  registry: ChunkserverRegistry;
  monitor: ReplicationMonitor;
  lookup: ChunkLookup;
  namespace: FsckNamespace;
  safeMode: () => boolean;
  logger: Logger;
  /** A node with less free space than this takes no new chunks. */
  chunkSize: number;
}

export class ClusterOperations {
  readonly balancer: Balancer;
  private readonly full = new Set<string>();

  constructor(private readonly d: ClusterOperationsDeps) {
    this.balancer = new Balancer(d.registry, d.monitor, d.lookup);
  }

  fsck(req: FsckRequest): FsckResponse {
    const path = req.path ? normalizePath(req.path) : '/';
    return runFsck(this.d.namespace, this.d.monitor, path, { maxProblems: req.maxProblems || 1000, safeMode: this.d.safeMode() });
  }

  decommission(req: DecommissionRequest): DecommissionResponse {
    const { registry, monitor, lookup, logger } = this.d;
    const node = registry.node(req.chunkserverId);
    if (!node) throw new DfsError(ErrorCode.NOT_FOUND, `no chunkserver ${JSON.stringify(req.chunkserverId)} is registered`);
    if (req.cancel) {
      if (node.state === 'decommissioning' || node.state === 'decommissioned') {
        registry.setDecommission(node.id, false);
        logger.info({ chunkserver: node.id }, 'decommission cancelled: back in service');
        for (const h of [...registry.handlesOn(node.id)]) monitor.check(h); // may now be over-replicated
      }
    } else if (node.state === 'live') {
      if (registry.liveNodes().length <= 1) {
        throw new DfsError(ErrorCode.NOT_ENOUGH_CHUNKSERVERS, `cannot decommission ${node.id}: no other live chunkserver to drain to`);
      }
      registry.setDecommission(node.id, true);
      logger.info({ chunkserver: node.id, chunks: registry.handlesOn(node.id).size }, 'decommissioning: draining chunks to other nodes');
      queueNodeChunks(registry, monitor, node.id);
      updateDecommissions(registry, monitor, lookup);
    } else if (node.state === 'dead') {
      throw new DfsError(ErrorCode.UNAVAILABLE, `chunkserver ${node.id} is dead; its chunks are re-replicated anyway`);
    }
    return { state: node.state, chunksToDrain: chunksToDrain(registry, monitor, lookup, node.id), chunksHeld: registry.handlesOn(node.id).size };
  }

  balance(req: BalanceRequest): BalanceResponse {
    if (req.stop) this.balancer.stop();
    else if (!req.statusOnly) {
      if (!Number.isFinite(req.threshold) || req.threshold < 0 || req.threshold > 100) {
        throw new DfsError(ErrorCode.INVALID_ARGUMENT, `threshold must be 0..100 percentage points, got ${req.threshold}`);
      }
      this.balancer.start(req.threshold);
      this.d.logger.info({ threshold: this.balancer.status().threshold }, 'balancer started');
    }
    return this.balancer.status();
  }

  /** Background work: drain progress, balancer rounds. */
  tick(now: number): void {
    for (const c of updateDecommissions(this.d.registry, this.d.monitor, this.d.lookup)) {
      this.d.logger.info({ chunkserver: c.id, state: c.state }, c.state === 'decommissioned' ? 'chunkserver drained: safe to stop' : 'chunkserver draining again');
    }
    const wasActive = this.balancer.isActive();
    this.balancer.step(now);
    if (wasActive && !this.balancer.isActive()) this.d.logger.info(this.balancer.status(), 'balancer finished');
  }

  /** After each heartbeat: log when a node fills up or has room again. */
  noteCapacity(node: ChunkserverNode): void {
    const isFull = node.freeBytes < this.d.chunkSize;
    if (isFull && !this.full.has(node.id)) {
      this.full.add(node.id);
      this.d.logger.warn({ chunkserver: node.id, freeBytes: node.freeBytes, capacityBytes: node.capacityBytes }, 'chunkserver is full: no new chunks are placed on it');
    } else if (!isFull && this.full.delete(node.id)) {
      this.d.logger.info({ chunkserver: node.id, freeBytes: node.freeBytes }, 'chunkserver has room again');
    }
  }

  /** Why a node takes no new chunks, for `dfs admin report`. */
  note(node: ChunkserverNode): string {
    if (node.state === 'dead') return 'silent past the dead timeout';
    if (node.state === 'decommissioning') return 'draining: takes no new chunks';
    if (node.state === 'decommissioned') return 'drained: safe to stop';
    if (node.freeBytes < this.d.chunkSize) return `full: ${node.freeBytes} bytes free < chunk size ${this.d.chunkSize}`;
    return '';
  }

  chunksToDrain(node: ChunkserverNode): number {
    if (node.state !== 'decommissioning' && node.state !== 'decommissioned') return 0;
    return chunksToDrain(this.d.registry, this.d.monitor, this.d.lookup, node.id);
  }

  clear(): void {
    this.balancer.clear();
    this.full.clear();
  }
}
