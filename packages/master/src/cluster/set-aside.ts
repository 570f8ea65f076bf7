import type { SetAsideReplica } from '@dfs/proto';
import type { RestoredRange } from '../state/metadata-store.js';
import type { ReplicaInfo } from './registry.js';

/**
 * Why a reported replica is from after the backup a restored group started from:
 *   newer-chunk    its handle was allocated after the backup: the namespace does not know it.
 *                  Kept aside: never served, never deleted (a person decides what it was).
 *   newer-version  a backed-up chunk appended after the backup: chunks only grow, so its
 *                  first `length` bytes are the backed-up ones and it is served for those.
 */
export type AfterBackup = 'newer-chunk' | 'newer-version';

/** Pure: classifies one reported replica against the restored range (backup/restore.ts). */
export function afterBackup(handle: number, version: number, known: { version: number } | undefined, range: RestoredRange): AfterBackup | undefined {
  if (!known) return handle >= range.handleFloor && handle < range.handleCeiling ? 'newer-chunk' : undefined;
  return version > known.version && version >= range.versionFloor && version < range.versionCeiling ? 'newer-version' : undefined;
}

/**
 * Soft state, on every master: the replicas chunkservers reported that were written after the
 * backup, by node, as last reported (a node's full report at registration replaces its list).
 * Listed by fsck and the status page.
 */
export class SetAsideReplicas {
  private readonly byNode = new Map<string, Map<number, { info: ReplicaInfo; reason: AfterBackup }>>();

  note(nodeId: string, handle: number, info: ReplicaInfo, reason: AfterBackup): void {
    let m = this.byNode.get(nodeId);
    if (!m) this.byNode.set(nodeId, (m = new Map()));
    m.set(handle, { info, reason });
  }

  forget(nodeId: string, handle: number): void {
    this.byNode.get(nodeId)?.delete(handle);
  }

  forgetNode(nodeId: string): void {
    this.byNode.delete(nodeId);
  }

  count(): number {
    let n = 0;
    for (const m of this.byNode.values()) n += m.size;
    return n;
  }

  /** At most `max` entries, by node then handle. */
  list(max: number): SetAsideReplica[] {
    const out: SetAsideReplica[] = [];
    for (const nodeId of [...this.byNode.keys()].sort()) {
      const m = this.byNode.get(nodeId)!;
      for (const handle of [...m.keys()].sort((a, b) => a - b)) {
        if (out.length >= max) return out;
        const { info, reason } = m.get(handle)!;
        out.push({ chunkserverId: nodeId, handle, version: info.version, length: info.length, reason });
      }
    }
    return out;
  }
}
