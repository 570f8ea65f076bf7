import type { ChunkserverRegistry } from './registry.js';
import type { ChunkLookup, ReplicationMonitor } from './replication.js';

/*
 * Decommissioning (HDFS DatanodeAdminManager): a draining node takes no new chunks or copies,
 * keeps serving reads and acting as a copy source, and its replicas stop counting toward
 * their chunks' targets — so every chunk it holds is queued and copied elsewhere first. Once
 * every committed chunk it holds has its full count of live replicas elsewhere, it is
 * `decommissioned`: safe to stop, and no file loses a replica when it goes.
 */

/** Committed chunks on `nodeId` not yet at their target on live nodes. */
export function chunksToDrain(registry: ChunkserverRegistry, monitor: ReplicationMonitor, lookup: ChunkLookup, nodeId: string): number {
  let n = 0;
  for (const handle of registry.handlesOn(nodeId)) {
    const facts = lookup(handle);
    if (!facts || !facts.committed) continue;
    if (monitor.health(handle, facts).live.length < facts.replication) n++;
  }
  return n;
}

/** Queues every chunk of a node that just started draining (its replicas no longer count). */
export function queueNodeChunks(registry: ChunkserverRegistry, monitor: ReplicationMonitor, nodeId: string): void {
  for (const handle of [...registry.handlesOn(nodeId)]) monitor.check(handle);
}

/**
 * Per tick: draining nodes with nothing left to copy become decommissioned; a decommissioned
 * node that got something new to drain (a chunk lost a replica elsewhere) goes back to draining.
 */
export function updateDecommissions(registry: ChunkserverRegistry, monitor: ReplicationMonitor, lookup: ChunkLookup): Array<{ id: string; state: string }> {
  const changed: Array<{ id: string; state: string }> = [];
  for (const node of registry.nodes()) {
    if (node.state !== 'decommissioning' && node.state !== 'decommissioned') continue;
    const left = chunksToDrain(registry, monitor, lookup, node.id);
    const next = left === 0 ? 'decommissioned' : 'decommissioning';
    if (next !== node.state) {
      node.state = next;
      changed.push({ id: node.id, state: next });
    }
  }
  return changed;
}
