/*
 * Chunk leases (GFS §3.1): the master grants one replica of a chunk — the primary — a lease
 * to order mutations of that chunk. Soft state, held by the leader only, like replica
 * locations: a new leader starts with none, and since no lease outlives `leaseMs`, waiting
 * that long after an election is always safe.
 *
 * - AddChunk grants the new chunk's lease to replicas[0] at version 1.
 * - AppendFile grants the last chunk's lease under a newly allocated version (the version is
 *   bumped on every grant, GFS §4.5, so a replica that misses the mutation is stale).
 * - The lease is renewed by the primary's heartbeats while it has writes in progress, and by
 *   the writer's RenewLease (the writer lease of the file covers its chunks).
 * - CompleteFile and AbandonChunk release it. Lease recovery of a file waits while any of its
 *   chunks holds a live lease (GFS: a new lease is granted only after the old one expired).
 */

export interface ChunkLease {
  readonly handle: number;
  /** Chunkserver id of the primary. */
  readonly primary: string;
  readonly version: number;
  /** The client that holds the file's writer lease. */
  readonly clientId: string;
  expiry: number;
}

export class ChunkLeases {
  private readonly leases = new Map<number, ChunkLease>();

  constructor(private readonly leaseMs: number) {}

  grant(handle: number, primary: string, version: number, clientId: string, now: number): ChunkLease {
    const lease: ChunkLease = { handle, primary, version, clientId, expiry: now + this.leaseMs };
    this.leases.set(handle, lease);
    return lease;
  }

  /** The live lease on `handle`, if any (expired leases are dropped on sight). */
  get(handle: number, now: number): ChunkLease | undefined {
    const lease = this.leases.get(handle);
    if (!lease) return undefined;
    if (lease.expiry <= now) {
      this.leases.delete(handle);
      return undefined;
    }
    return lease;
  }

  release(handle: number): void {
    this.leases.delete(handle);
  }

  /** A heartbeat from `nodeId` with writes in progress extends the leases it is primary of. */
  renewPrimary(nodeId: string, now: number): number {
    let n = 0;
    for (const lease of this.leases.values()) {
      if (lease.primary === nodeId && lease.expiry > now) {
        lease.expiry = now + this.leaseMs;
        n++;
      }
    }
    return n;
  }

  /** The writer renewed its file leases: extend its chunk leases too. */
  renewClient(clientId: string, now: number, capOf?: (handle: number) => number | undefined): void {
    for (const lease of this.leases.values()) {
      if (lease.clientId !== clientId || lease.expiry <= now) continue;
      // A chunk lease never outlives its file's writer lease (which has a hard limit).
      const cap = capOf?.(lease.handle) ?? Infinity;
      lease.expiry = Math.max(lease.expiry, Math.min(now + this.leaseMs, cap));
    }
  }

  /** Drops expired leases; returns how many are live. */
  sweep(now: number): number {
    for (const [h, lease] of this.leases) if (lease.expiry <= now) this.leases.delete(h);
    return this.leases.size;
  }

  clear(): void {
    this.leases.clear();
  }

  get size(): number {
    return this.leases.size;
  }
}
