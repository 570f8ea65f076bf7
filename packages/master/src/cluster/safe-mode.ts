/*
 * Safe mode (HDFS FSNamesystem SafeModeInfo): a new leader knows the chunks (from the log)
 * but not yet where their replicas are. Until a threshold fraction of committed chunks has
 * at least one reported replica, or a timeout passes, it makes no re-replication or
 * deletion decision — otherwise every chunk would look missing and trigger a copy storm.
 */
export interface SafeModeOptions {
  /** Fraction of committed chunks that must have a reported replica (HDFS: 0.999). */
  threshold: number;
  /** Leave safe mode after this long regardless. */
  timeoutMs: number;
}

export interface SafeModeStatus {
  active: boolean;
  enteredAtMs: number;
  reportedChunks: number;
  totalChunks: number;
}

export class SafeMode {
  private active = false;
  private enteredAt = 0;
  private total = 0;
  private readonly reported = new Set<number>();
  private known = 0;

  constructor(private readonly opts: SafeModeOptions) {}

  enter(now: number, totalChunks: number): void {
    this.active = true;
    this.enteredAt = now;
    this.total = totalChunks;
    this.known = 0;
    this.reported.clear();
  }

  /** A replica of a chunk the namespace knows (garbage does not count). */
  noteReplica(handle: number): void {
    if (this.active) this.reported.add(handle);
  }

  /**
   * A leader that was a follower already knows `known` chunks with a replica (from the
   * reports every chunkserver sends every master): counted at once, without a per-chunk
   * walk that would hold the event loop on a large namespace right after an election.
   */
  noteKnown(known: number): void {
    if (this.active) this.known = Math.max(this.known, known);
  }

  /** Re-evaluates; returns true when safe mode was left by this call. */
  update(now: number): boolean {
    if (!this.active) return false;
    const needed = Math.ceil(this.opts.threshold * this.total);
    if (Math.max(this.reported.size, this.known) >= needed || now - this.enteredAt >= this.opts.timeoutMs) {
      this.active = false;
      this.known = 0;
      this.reported.clear();
      return true;
    }
    return false;
  }

  isActive(): boolean {
    return this.active;
  }

  status(): SafeModeStatus {
    return { active: this.active, enteredAtMs: this.enteredAt, reportedChunks: Math.max(this.reported.size, this.known), totalChunks: this.total };
  }
}
